//! COM2 (16550 UART at I/O port 0x2F8, ISA IRQ 3) as the byte link to the emulated host.
//!
//! Requests are synchronous (send a frame, poll for the reply); the host's unsolicited
//! `Interrupt` frames raise IRQ 3 (receive-data interrupt), whose handler only raises a signal:
//! the platform task then drains the bytes here.

use hyperv::emulated_link::SerialLink;
use hyperv::platform::PlatformError;

use crate::arch::cpu;
use crate::clock;

const BASE: u16 = 0x2f8;
const DATA: u16 = BASE;
const INTERRUPT_ENABLE: u16 = BASE + 1;
const FIFO_CONTROL: u16 = BASE + 2;
const LINE_CONTROL: u16 = BASE + 3;
const MODEM_CONTROL: u16 = BASE + 4;
const LINE_STATUS: u16 = BASE + 5;
const SCRATCH: u16 = BASE + 7;
const DATA_READY: u8 = 1;
const TRANSMIT_EMPTY: u8 = 1 << 5;
/// ISA IRQ of COM2.
pub const IRQ: u8 = 3;
/// How long a request waits for its reply.
const REPLY_TIMEOUT_MICROSECONDS: u64 = 5_000_000;

/// Reads a COM2 register.
fn read_port_u8(port: u16) -> u8 {
    debug_assert!((BASE..=SCRATCH).contains(&port));
    // SAFETY: only COM2's own registers (BASE..=SCRATCH, constants of this module) are read;
    // this module owns the UART, which has no DMA, so a read affects nothing but its FIFO.
    unsafe { cpu::read_port_u8(port) }
}

/// Writes a COM2 register.
fn write_port_u8(port: u16, value: u8) {
    debug_assert!((BASE..=SCRATCH).contains(&port));
    // SAFETY: as `read_port_u8`: COM2's own registers; a UART cannot reach memory.
    unsafe { cpu::write_port_u8(port, value) }
}

/// The COM2 UART. Holds no state: the port is the state.
pub struct Com2Link {
    _private: (),
}

impl Com2Link {
    /// Checks that COM2 exists, programs it (115200 8N1, FIFO, receive interrupt on, OUT2 so
    /// the UART drives its IRQ line) and discards what the firmware left in it.
    pub fn probe() -> Option<Com2Link> {
        write_port_u8(SCRATCH, 0xa5);
        if read_port_u8(SCRATCH) != 0xa5 {
            return None;
        }
        write_port_u8(INTERRUPT_ENABLE, 0);
        write_port_u8(LINE_CONTROL, 0x80);
        write_port_u8(DATA, 1);
        write_port_u8(INTERRUPT_ENABLE, 0);
        write_port_u8(LINE_CONTROL, 0x03);
        write_port_u8(FIFO_CONTROL, 0x07);
        write_port_u8(MODEM_CONTROL, 0x0b);
        let mut scratch = [0u8; 16];
        while Self::drain(&mut scratch) > 0 {}
        write_port_u8(INTERRUPT_ENABLE, 0x01);
        Some(Com2Link { _private: () })
    }

    /// Reads the bytes waiting in the receive FIFO into `buffer`; returns how many.
    fn drain(buffer: &mut [u8]) -> usize {
        let mut count = 0;
        while count < buffer.len() && read_port_u8(LINE_STATUS) & DATA_READY != 0 {
            buffer[count] = read_port_u8(DATA);
            count += 1;
        }
        count
    }
}

impl SerialLink for Com2Link {
    fn send(&mut self, bytes: &[u8]) -> Result<(), PlatformError> {
        for &byte in bytes {
            let deadline = clock::nanoseconds_since_boot() + REPLY_TIMEOUT_MICROSECONDS * 1000;
            while read_port_u8(LINE_STATUS) & TRANSMIT_EMPTY == 0 {
                if clock::nanoseconds_since_boot() > deadline {
                    return Err(PlatformError::LinkFailure);
                }
                core::hint::spin_loop();
            }
            write_port_u8(DATA, byte);
        }
        Ok(())
    }

    fn try_receive(&mut self) -> Option<u8> {
        (read_port_u8(LINE_STATUS) & DATA_READY != 0).then(|| read_port_u8(DATA))
    }

    fn receive(&mut self) -> Result<u8, PlatformError> {
        let deadline = clock::nanoseconds_since_boot() + REPLY_TIMEOUT_MICROSECONDS * 1000;
        loop {
            if read_port_u8(LINE_STATUS) & DATA_READY != 0 {
                return Ok(read_port_u8(DATA));
            }
            if clock::nanoseconds_since_boot() > deadline {
                return Err(PlatformError::LinkFailure);
            }
            core::hint::spin_loop();
        }
    }
}
