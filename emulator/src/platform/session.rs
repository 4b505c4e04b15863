//! The emulated-link protocol engine (sans-I/O): bytes from the guest's COM2 in, bytes to it
//! out, driving a [`SynicHost`] and a [`HostEventHandler`].
//!
//! The link carries one VP (index 0): COM2 is a single channel. Each request frame gets its
//! reply frame first; `Interrupt` frames for SINTs raised while handling it (memory already
//! updated) follow. A second `Hello` means the guest rebooted: the partition state is reset.
//!
//! Firmware (OVMF) prints its boot text on the same port, so the decoder skips many runs of
//! non-frame bytes. They are counted and traced as one summary line when the next frame
//! decodes (or when the session ends), never once per read.

use super::events::{HostEventHandler, dispatch_host_events};
use super::synic_host::SynicHost;
use super::trace::Trace;
use hyperv::emulated_link::{
    DecoderStatistics, Frame, FrameDecoder, MMIO_STATUS_OK, MMIO_STATUS_UNHANDLED,
    MSR_STATUS_GENERAL_PROTECTION, MSR_STATUS_OK, PROTOCOL_VERSION,
};
use hyperv::memory::GuestMemory;

/// The VP the link serves.
pub const LINK_VP_INDEX: u32 = 0;

/// Counters of a session.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SessionStatistics {
    /// Frames sent to the guest.
    pub frames_sent: u64,
    /// Hypercalls handled.
    pub hypercalls: u64,
    /// Interrupt frames sent.
    pub interrupts: u64,
    /// Host → guest kinds received from the guest (ignored).
    pub misdirected_frames: u64,
    /// Hello frames received.
    pub hellos: u64,
}

/// One guest connection.
pub struct LinkSession {
    decoder: FrameDecoder,
    host: SynicHost,
    trace: Trace,
    statistics: SessionStatistics,
    /// The decoder's `discarded_bytes` already reported in a summary line.
    reported_discarded_bytes: u64,
}

impl LinkSession {
    /// A session over `host`, tracing into `trace`.
    pub fn new(mut host: SynicHost, trace: Trace) -> Self {
        if trace.is_enabled() {
            host.enable_journal();
        }
        Self {
            decoder: FrameDecoder::new(),
            host,
            trace,
            statistics: SessionStatistics::default(),
            reported_discarded_bytes: 0,
        }
    }

    /// The host model.
    pub fn host(&mut self) -> &mut SynicHost {
        &mut self.host
    }

    /// Session counters.
    pub fn statistics(&self) -> SessionStatistics {
        self.statistics
    }

    /// Decoder counters (garbage skipped, CRC failures).
    pub fn decoder_statistics(&self) -> DecoderStatistics {
        self.decoder.statistics()
    }

    /// Consumes bytes from the guest and appends the bytes to send back to `out`.
    pub fn receive(
        &mut self,
        bytes: &[u8],
        memory: &dyn GuestMemory,
        handler: &mut dyn HostEventHandler,
        out: &mut Vec<u8>,
    ) {
        let mut input = bytes;
        loop {
            let frame = match self.decoder.pull() {
                Some(frame) => frame,
                None => {
                    let Some((&byte, rest)) = input.split_first() else {
                        break;
                    };
                    input = rest;
                    match self.decoder.push(byte) {
                        Some(frame) => frame,
                        None => continue,
                    }
                }
            };
            let number = self.decoder.statistics().frames;
            self.report_skipped_bytes(|| format!("before frame {number}"));
            self.trace.line(|| format!("rx {frame:x?}"));
            if let Some(reply) = self.handle(frame, memory, handler) {
                self.send(reply, out);
            }
            dispatch_host_events(&mut self.host, memory, handler);
            self.flush(out);
        }
    }

    /// Ends the session: reports the non-frame bytes skipped since the last frame. Dropping
    /// the session does the same.
    pub fn finish(&mut self) {
        self.report_skipped_bytes(|| "at session end".to_string());
    }

    /// Traces the bytes skipped since the last report as one line (and logs it at debug),
    /// `when` saying where the run ended.
    fn report_skipped_bytes(&mut self, when: impl FnOnce() -> String) {
        let discarded = self.decoder.statistics().discarded_bytes;
        let skipped = discarded - self.reported_discarded_bytes;
        if skipped == 0 {
            return;
        }
        self.reported_discarded_bytes = discarded;
        let text = format!(
            "skipped {skipped} non-frame bytes (firmware output) {}",
            when()
        );
        log::debug!("{text}");
        self.trace.line(|| text);
    }

    /// Runs the handler's periodic work and sends what it raised.
    pub fn poll(
        &mut self,
        memory: &dyn GuestMemory,
        handler: &mut dyn HostEventHandler,
        out: &mut Vec<u8>,
    ) {
        handler.poll(&mut self.host, memory);
        dispatch_host_events(&mut self.host, memory, handler);
        self.flush(out);
    }

    fn handle(
        &mut self,
        frame: Frame,
        memory: &dyn GuestMemory,
        handler: &mut dyn HostEventHandler,
    ) -> Option<Frame> {
        let vp = LINK_VP_INDEX;
        Some(match frame {
            Frame::Hello { version } => {
                self.statistics.hellos += 1;
                if self.statistics.hellos > 1 {
                    log::info!("guest said Hello again (reboot): resetting the partition");
                    self.host.reset_partition();
                    handler.partition_reset();
                }
                if version != PROTOCOL_VERSION {
                    log::warn!("guest speaks link protocol {version}, we speak {PROTOCOL_VERSION}");
                }
                Frame::HelloReply {
                    version: PROTOCOL_VERSION,
                    vp_index: vp,
                    privileges: self.host.config().privileges.bits(),
                }
            }
            Frame::WriteMsr { msr, value } => {
                let result = self.host.write_msr(vp, msr, value, memory);
                if let Err(error) = result {
                    log::warn!("guest wrmsr {msr:#x} = {value:#x}: {error:?} (#GP)");
                }
                self.trace
                    .line(|| format!("wrmsr {msr:#x} = {value:#x} -> {result:?}"));
                Frame::MsrResult {
                    msr,
                    status: if result.is_ok() {
                        MSR_STATUS_OK
                    } else {
                        MSR_STATUS_GENERAL_PROTECTION
                    },
                    value: 0,
                }
            }
            Frame::ReadMsr { msr } => {
                let result = self.host.read_msr(vp, msr);
                if let Err(error) = result {
                    log::warn!("guest rdmsr {msr:#x}: {error:?} (#GP)");
                }
                self.trace.line(|| format!("rdmsr {msr:#x} -> {result:x?}"));
                match result {
                    Ok(value) => Frame::MsrResult {
                        msr,
                        status: MSR_STATUS_OK,
                        value,
                    },
                    Err(_) => Frame::MsrResult {
                        msr,
                        status: MSR_STATUS_GENERAL_PROTECTION,
                        value: 0,
                    },
                }
            }
            Frame::Hypercall {
                input,
                input_parameter,
                output_parameter,
            } => {
                self.statistics.hypercalls += 1;
                let output =
                    self.host
                        .hypercall(vp, input, input_parameter, output_parameter, memory);
                Frame::HypercallResult { output: output.0 }
            }
            Frame::MmioRead { gpa, size } => {
                let value = u8::try_from(size)
                    .ok()
                    .and_then(|size| handler.mmio_read(gpa, size, memory));
                self.trace
                    .line(|| format!("mmio read {gpa:#x}/{size} -> {value:x?}"));
                match value {
                    Some(value) => Frame::MmioResult {
                        status: MMIO_STATUS_OK,
                        value,
                    },
                    None => Frame::MmioResult {
                        status: MMIO_STATUS_UNHANDLED,
                        value: u64::MAX,
                    },
                }
            }
            Frame::MmioWrite { gpa, size, value } => {
                let handled = u8::try_from(size)
                    .is_ok_and(|size| handler.mmio_write(gpa, size, value, memory));
                self.trace
                    .line(|| format!("mmio write {gpa:#x}/{size} = {value:#x} -> {handled}"));
                Frame::MmioResult {
                    status: if handled {
                        MMIO_STATUS_OK
                    } else {
                        MMIO_STATUS_UNHANDLED
                    },
                    value: 0,
                }
            }
            other => {
                self.statistics.misdirected_frames += 1;
                log::warn!("guest sent a host-to-guest frame {other:?}; ignored");
                return None;
            }
        })
    }

    fn flush(&mut self, out: &mut Vec<u8>) {
        for line in self.host.take_journal() {
            self.trace.line(|| line);
        }
        for interrupt in self.host.take_interrupts() {
            if interrupt.vp_index != LINK_VP_INDEX {
                log::warn!(
                    "interrupt for vp {} has no link; dropped",
                    interrupt.vp_index
                );
                continue;
            }
            self.statistics.interrupts += 1;
            self.send(
                Frame::Interrupt {
                    vector: u32::from(interrupt.vector),
                },
                out,
            );
        }
    }

    fn send(&mut self, frame: Frame, out: &mut Vec<u8>) {
        self.trace.line(|| format!("tx {frame:x?}"));
        self.statistics.frames_sent += 1;
        out.extend_from_slice(frame.encode().as_bytes());
    }
}

impl Drop for LinkSession {
    fn drop(&mut self) {
        self.finish();
    }
}
