//! COM1 (16550 UART at I/O port 0x3F8): the kernel's console.
//!
//! On Hyper-V Gen2 COM1 exists only when the VM has it configured; when the scratch register
//! does not hold what was written, the port is treated as absent and output is dropped.
//!
//! Each byte waits for "transmitter holding register empty" at most
//! [`TRANSMIT_TIMEOUT_MICROSECONDS`] by the TSC once it is calibrated, and at most
//! [`TRANSMIT_SPINS_BEFORE_CALIBRATION`] polls before. A wait that runs out marks the port
//! stalled: from then on a byte is sent only if the transmitter is already empty (one poll,
//! no wait), else dropped, until the port drains again. So a wedged UART costs one bounded
//! wait, not one per byte of every log line.

use core::fmt::Write;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use spin::Mutex;
use x86_64::instructions::port::Port;

const COM1: u16 = 0x3f8;
static PRESENT: AtomicBool = AtomicBool::new(false);
static LOCK: Mutex<()> = Mutex::new(());
static BYTES_WRITTEN: AtomicU64 = AtomicU64::new(0);
static AT_LINE_START: AtomicBool = AtomicBool::new(true);
static STALLED: AtomicBool = AtomicBool::new(false);
static BYTES_DROPPED: AtomicU64 = AtomicU64::new(0);

/// Line status register bit 5: the transmitter holding register (the FIFO) is empty.
const TRANSMIT_EMPTY: u8 = 1 << 5;
/// How long one byte may wait for the transmitter once the TSC is calibrated: a byte takes
/// 87 µs at 115200 baud, so this covers a full 16-byte FIFO draining even at 9600 baud.
pub const TRANSMIT_TIMEOUT_MICROSECONDS: u64 = 20_000;
/// Polls of the line status before the TSC is calibrated. A port read takes at least ~100 ns
/// (an I/O cycle; a VM exit on Hyper-V), so this is at least 10 ms (over 100 byte times) and
/// at most a few hundred milliseconds, once.
pub const TRANSMIT_SPINS_BEFORE_CALIBRATION: u64 = 100_000;

/// Programs COM1 for 115200 8N1 and checks that it exists.
pub fn init() {
    // SAFETY: port I/O to the standard COM1 registers; no memory is touched.
    unsafe {
        let mut scratch: Port<u8> = Port::new(COM1 + 7);
        scratch.write(0x5a);
        if scratch.read() != 0x5a {
            return;
        }
        Port::<u8>::new(COM1 + 1).write(0x00); // no interrupts
        Port::<u8>::new(COM1 + 3).write(0x80); // DLAB
        Port::<u8>::new(COM1).write(0x01); // divisor 1: 115200 baud
        Port::<u8>::new(COM1 + 1).write(0x00);
        Port::<u8>::new(COM1 + 3).write(0x03); // 8N1
        Port::<u8>::new(COM1 + 2).write(0xc7); // FIFO on, cleared
        Port::<u8>::new(COM1 + 4).write(0x03); // DTR, RTS
    }
    PRESENT.store(true, Ordering::Release);
}

fn transmitter_empty() -> bool {
    // SAFETY: reading COM1's line-status register has no side effect on memory.
    unsafe { Port::<u8>::new(COM1 + 5).read() & TRANSMIT_EMPTY != 0 }
}

/// Waits (bounded) for the transmitter, then sends `byte`; drops it when the port stalled.
fn write_byte(byte: u8) {
    if STALLED.load(Ordering::Relaxed) {
        if !transmitter_empty() {
            BYTES_DROPPED.fetch_add(1, Ordering::Relaxed);
            return;
        }
        STALLED.store(false, Ordering::Relaxed);
    }
    let mut budget = crate::clock::wait_budget(
        TRANSMIT_TIMEOUT_MICROSECONDS,
        TRANSMIT_SPINS_BEFORE_CALIBRATION,
    );
    while !transmitter_empty() {
        if crate::clock::budget_expired(&mut budget) {
            STALLED.store(true, Ordering::Relaxed);
            BYTES_DROPPED.fetch_add(1, Ordering::Relaxed);
            return;
        }
        core::hint::spin_loop();
    }
    // SAFETY: writing COM1's data register sends the byte; no memory is touched.
    unsafe { Port::<u8>::new(COM1).write(byte) }
}

/// Bytes dropped because COM1's transmitter did not empty in time.
pub fn bytes_dropped() -> u64 {
    BYTES_DROPPED.load(Ordering::Relaxed)
}

struct Writer;

impl Write for Writer {
    fn write_str(&mut self, text: &str) -> core::fmt::Result {
        if let Some(last) = text.bytes().last() {
            BYTES_WRITTEN.fetch_add(text.len() as u64, Ordering::Relaxed);
            AT_LINE_START.store(last == b'\n', Ordering::Relaxed);
        }
        for byte in text.bytes() {
            if byte == b'\n' {
                write_byte(b'\r');
            }
            write_byte(byte);
        }
        Ok(())
    }
}

/// Writes a string to COM1 (dropped when COM1 is absent).
pub fn write_str(text: &str) {
    write_fmt(format_args!("{text}"));
}

/// Writes formatted text to COM1 (dropped when COM1 is absent).
pub fn write_fmt(arguments: core::fmt::Arguments<'_>) {
    if !PRESENT.load(Ordering::Acquire) {
        return;
    }
    x86_64::instructions::interrupts::without_interrupts(|| {
        let _guard = LOCK.lock();
        let _ = Writer.write_fmt(arguments);
    });
}

/// Whether COM1 answered during [`init`].
pub fn is_present() -> bool {
    PRESENT.load(Ordering::Acquire)
}

/// Enables or disables COM1's "transmitter holding register empty" interrupt (IRQ 4), which
/// fires at once when the transmitter is idle: used to test ISA interrupt routing.
pub fn set_transmit_interrupt(enabled: bool) {
    if !is_present() {
        return;
    }
    x86_64::instructions::interrupts::without_interrupts(|| {
        let _guard = LOCK.lock();
        // SAFETY: port I/O to COM1's interrupt-enable and modem-control registers; OUT2 (bit 3
        // of MCR) gates the UART's interrupt line on PC-compatible boards.
        unsafe {
            Port::<u8>::new(COM1 + 4).write(if enabled { 0x0b } else { 0x03 });
            Port::<u8>::new(COM1 + 1).write(if enabled { 0x02 } else { 0x00 });
        }
    });
}

/// Bytes written so far (lets the test runner notice output in the middle of a test line).
pub fn bytes_written() -> u64 {
    BYTES_WRITTEN.load(Ordering::Relaxed)
}

/// Ends the current line unless the last byte written was a newline.
pub fn finish_line() {
    if !AT_LINE_START.load(Ordering::Relaxed) {
        write_str("\n");
    }
}
