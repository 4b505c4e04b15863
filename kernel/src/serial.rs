//! COM1 (16550 UART at I/O port 0x3F8): the kernel's console.
//!
//! On Hyper-V Gen2 COM1 exists only when the VM has it configured; when the scratch register
//! does not hold what was written, the port is treated as absent and output is dropped.

use core::fmt::Write;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use spin::Mutex;
use x86_64::instructions::port::Port;

const COM1: u16 = 0x3f8;
static PRESENT: AtomicBool = AtomicBool::new(false);
static LOCK: Mutex<()> = Mutex::new(());
static BYTES_WRITTEN: AtomicU64 = AtomicU64::new(0);
static AT_LINE_START: AtomicBool = AtomicBool::new(true);

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

fn write_byte(byte: u8) {
    // SAFETY: port I/O to COM1's line-status and data registers.
    unsafe {
        let mut status: Port<u8> = Port::new(COM1 + 5);
        let mut spins = 0u32;
        while status.read() & 0x20 == 0 && spins < 100_000 {
            spins += 1;
            core::hint::spin_loop();
        }
        Port::<u8>::new(COM1).write(byte);
    }
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
