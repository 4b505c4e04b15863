//! COM1 (16550 UART at I/O port 0x3F8) driven by the stub itself, for the boot report when the
//! firmware's console does not reach a serial port (the Hyper-V Gen2 default).
//!
//! The port is taken only when its scratch register holds what was written (COM1 exists only
//! when the VM has it configured). Each byte waits at most [`BYTE_WAIT`] for the transmitter
//! (timed with the firmware's `Stall`), so a stuck port costs a bounded time and the line is
//! dropped.

use core::arch::asm;
use core::fmt;
use core::time::Duration;

const COM1: u16 = 0x3f8;
/// Longest wait for the transmitter to take one byte (115200 baud needs ~87 µs).
const BYTE_WAIT: Duration = Duration::from_millis(2);
/// Polling step while waiting for the transmitter.
const POLL_STEP: Duration = Duration::from_micros(10);

/// COM1, found and programmed for 115200 8N1.
pub struct Com1 {
    /// Set when a byte timed out: later writes are dropped at once.
    stuck: bool,
}

fn read(port: u16) -> u8 {
    let value: u8;
    // SAFETY: `in` from a 16550 register of COM1; no memory is touched.
    unsafe {
        asm!("in al, dx", in("dx") port, out("al") value, options(nomem, nostack, preserves_flags))
    };
    value
}

fn write(port: u16, value: u8) {
    // SAFETY: `out` to a 16550 register of COM1; no memory is touched.
    unsafe {
        asm!("out dx, al", in("dx") port, in("al") value, options(nomem, nostack, preserves_flags))
    };
}

impl Com1 {
    /// COM1 when it answers (scratch register check), programmed for 115200 8N1, no interrupts.
    pub fn probe() -> Option<Com1> {
        write(COM1 + 7, 0x5a);
        if read(COM1 + 7) != 0x5a {
            return None;
        }
        write(COM1 + 1, 0x00); // no interrupts
        write(COM1 + 3, 0x80); // DLAB
        write(COM1, 0x01); // divisor 1: 115200 baud
        write(COM1 + 1, 0x00);
        write(COM1 + 3, 0x03); // 8N1
        write(COM1 + 2, 0xc7); // FIFO on, cleared
        write(COM1 + 4, 0x03); // DTR, RTS
        Some(Com1 { stuck: false })
    }

    fn write_byte(&mut self, byte: u8) {
        if self.stuck {
            return;
        }
        let mut waited = Duration::ZERO;
        while read(COM1 + 5) & 0x20 == 0 {
            if waited >= BYTE_WAIT {
                self.stuck = true;
                return;
            }
            uefi::boot::stall(POLL_STEP);
            waited += POLL_STEP;
        }
        write(COM1, byte);
    }
}

impl fmt::Write for Com1 {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        for byte in text.bytes() {
            self.write_byte(byte);
        }
        Ok(())
    }
}
