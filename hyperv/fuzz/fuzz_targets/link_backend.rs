//! Fuzzes the guest side of the emulated link, [`EmulatedLinkBackend`], against a hostile
//! host: the bytes the host "sends" are a script of garbage, valid frames of any kind
//! (including replies to the wrong request), corrupted and torn frames; the guest runs an
//! arbitrary sequence of MSR accesses, hypercalls, MMIO accesses and interrupt servicing.
//!
//! Checks: no panic and no hang (a dry link fails the request); every byte the guest sends
//! decodes cleanly as guest-to-host frames, one per request that reached the link; invalid
//! MMIO sizes never reach the link; latched vectors come out lowest first, and only for
//! Interrupt frames the host sent.
#![no_main]

use hyperv::emulated_link::{EmulatedLinkBackend, Frame, FrameDecoder, SerialLink};
use hyperv::hypercall::HypercallInput;
use hyperv::platform::{HypervisorBackend, MmioAccess, PlatformError};
use hyperv_fuzz::{append_traffic, arbitrary_frame, msr_number};
use libfuzzer_sys::arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;

/// The wire: the host script still to be received, how many of its bytes have "arrived"
/// (visible to `try_receive`), and what the guest sent.
#[derive(Default)]
struct Wire {
    inbound: VecDeque<u8>,
    arrived: usize,
    sent: Vec<u8>,
}

/// The guest's serial port over a shared [`Wire`] (the backend owns the port).
struct ScriptedLink(Rc<RefCell<Wire>>);

impl SerialLink for ScriptedLink {
    fn send(&mut self, bytes: &[u8]) -> std::result::Result<(), PlatformError> {
        self.0.borrow_mut().sent.extend_from_slice(bytes);
        Ok(())
    }

    fn receive(&mut self) -> std::result::Result<u8, PlatformError> {
        let mut wire = self.0.borrow_mut();
        wire.arrived = wire.arrived.saturating_sub(1);
        wire.inbound.pop_front().ok_or(PlatformError::LinkFailure)
    }

    fn try_receive(&mut self) -> Option<u8> {
        let mut wire = self.0.borrow_mut();
        if wire.arrived == 0 {
            return None;
        }
        wire.arrived -= 1;
        wire.inbound.pop_front()
    }
}

fn run(input: &mut Unstructured) -> Result<()> {
    // The host's bytes first, so the operation script can be as long as the rest allows.
    let pieces = input.int_in_range(0..=48u8)?;
    let mut inbound = Vec::new();
    let mut interrupt_vectors = [false; 256];
    for _ in 0..pieces {
        if let Some(Frame::Interrupt { vector }) =
            append_traffic(input, &mut inbound, arbitrary_frame)?
            && let Ok(vector) = u8::try_from(vector)
        {
            interrupt_vectors[usize::from(vector)] = true;
        }
    }
    // Garbage and torn frames can hold (or join into) whole valid frames: what the host sent
    // is every Interrupt frame a decoder finds in its bytes, not only the frames appended whole.
    let mut host_decoder = FrameDecoder::new();
    for frame in host_decoder.decode(&inbound) {
        if let Frame::Interrupt { vector } = frame
            && let Ok(vector) = u8::try_from(vector)
        {
            interrupt_vectors[usize::from(vector)] = true;
        }
    }
    let wire = Rc::new(RefCell::new(Wire {
        inbound: inbound.into(),
        ..Wire::default()
    }));
    let Ok(mut backend) = EmulatedLinkBackend::connect(ScriptedLink(Rc::clone(&wire))) else {
        return Ok(());
    };
    let mut requests = 1u64; // Hello
    let mut taken = Vec::new();
    while !input.is_empty() {
        match input.int_in_range(0..=7u8)? {
            0 => {
                let _ = backend.read_msr(msr_number(input)?);
                requests += 1;
            }
            1 => {
                let _ = backend.write_msr(msr_number(input)?, input.arbitrary()?);
                requests += 1;
            }
            2 => {
                let call = HypercallInput::from_bits(input.arbitrary()?)
                    .unwrap_or(HypercallInput::fast(0x5D));
                let _ = backend.hypercall(call, input.arbitrary()?, input.arbitrary()?);
                requests += 1;
            }
            3 | 4 => {
                let size: u8 = input.int_in_range(0..=9)?;
                let gpa = input.arbitrary()?;
                let result = if input.arbitrary()? {
                    backend.mmio_read(gpa, size).map(|_| ())
                } else {
                    backend.mmio_write(gpa, size, input.arbitrary()?)
                };
                if matches!(size, 1 | 2 | 4 | 8) {
                    requests += 1;
                } else {
                    assert_eq!(result, Err(PlatformError::InvalidAccessSize));
                }
            }
            5 => {
                // Bytes "arrive" and the COM2 interrupt handler drains them.
                let count = input.int_in_range(0..=64usize)?;
                wire.borrow_mut().arrived += count;
                backend.service_receive_interrupt();
            }
            _ => {
                if let Some(vector) = backend.take_pending_vector() {
                    taken.push(vector);
                }
            }
        }
    }
    // Draining with nothing arriving: strictly increasing, so each vector comes out once.
    let mut drained: Vec<u8> = Vec::new();
    while let Some(vector) = backend.take_pending_vector() {
        assert!(drained.last().is_none_or(|last| *last < vector));
        drained.push(vector);
    }
    taken.extend(drained);
    for vector in &taken {
        assert!(
            interrupt_vectors[usize::from(*vector)],
            "vector {vector} never sent"
        );
    }

    // What the guest sent: exactly its requests, as clean guest-to-host frames.
    let sent = std::mem::take(&mut wire.borrow_mut().sent);
    let mut decoder = FrameDecoder::new();
    let frames: Vec<Frame> = decoder.decode(&sent).collect();
    assert_eq!(decoder.statistics().discarded_bytes, 0);
    assert_eq!(decoder.buffered(), 0);
    assert!(frames.iter().all(|frame| frame.kind().is_guest_to_host()));
    assert_eq!(frames.len() as u64, requests);
    Ok(())
}

fuzz_target!(|data: &[u8]| {
    let _ = run(&mut Unstructured::new(data));
});
