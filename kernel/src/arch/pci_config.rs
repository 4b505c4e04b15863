//! PCI configuration mechanism #1 (I/O ports 0xCF8 and 0xCFC; PCI Local Bus 3.0 §3.2.2.3.2),
//! segment 0 only: the one place the kernel drives those ports. The ACPI handler (AML reading
//! and writing configuration space) and the emulated platform's ivshmem link (finding and
//! programming its device) both go through it.
//!
//! Each access writes the address port, then touches the data port, with interrupts off, so no
//! other configuration access on this CPU comes between the two. Reads are safe: a
//! configuration read has no memory effect. Writes are `unsafe`: a write to the command
//! register, a BAR or the expansion ROM BAR can make a function decode or reach memory, so the
//! caller answers for what it writes.

use super::cpu;

const ADDRESS_PORT: u16 = 0xcf8;
const DATA_PORT: u16 = 0xcfc;
/// The mechanism reaches the first 256 bytes of a function's configuration space.
const SPACE_SIZE: u16 = 0x100;

/// Whether `port` is one of the mechanism's ports (0xCF8–0xCFF).
pub fn is_configuration_port(port: u16) -> bool {
    (ADDRESS_PORT..=DATA_PORT + 3).contains(&port)
}

/// A PCI function on segment 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PciFunction {
    /// Bus number.
    pub bus: u8,
    /// Device number (0–31).
    pub device: u8,
    /// Function number (0–7).
    pub function: u8,
}

impl PciFunction {
    /// The address-port value for the dword holding `offset` (`offset` < 256).
    fn address(self, offset: u16) -> u32 {
        0x8000_0000
            | (u32::from(self.bus) << 16)
            | (u32::from(self.device & 0x1f) << 11)
            | (u32::from(self.function & 0x7) << 8)
            | u32::from(offset & 0xfc)
    }

    /// Reads the configuration dword holding `offset`; all ones (what an absent function
    /// answers) for an offset the mechanism cannot reach (256 and above).
    pub fn read_u32(self, offset: u16) -> u32 {
        if offset >= SPACE_SIZE {
            return u32::MAX;
        }
        x86_64::instructions::interrupts::without_interrupts(|| {
            // SAFETY: the two configuration ports, with interrupts off so that no other access
            // comes between the address and the data; a configuration read has no memory effect.
            unsafe {
                cpu::write_port_u32(ADDRESS_PORT, self.address(offset));
                cpu::read_port_u32(DATA_PORT)
            }
        })
    }

    /// Writes the configuration dword holding `offset`; ignored for an offset the mechanism
    /// cannot reach (256 and above).
    ///
    /// # Safety
    /// The write must not let the function decode or reach memory the kernel has not given it:
    /// a write to the command register (0x04), a BAR (0x10–0x27) or the expansion ROM BAR
    /// (0x30; 0x38 for a bridge) is for the caller to justify.
    pub unsafe fn write_u32(self, offset: u16, value: u32) {
        if offset >= SPACE_SIZE {
            return;
        }
        x86_64::instructions::interrupts::without_interrupts(|| {
            // SAFETY: the two configuration ports, with interrupts off (no access in between);
            // what the write does to the function is the caller's contract (above).
            unsafe {
                cpu::write_port_u32(ADDRESS_PORT, self.address(offset));
                cpu::write_port_u32(DATA_PORT, value);
            }
        })
    }
}
