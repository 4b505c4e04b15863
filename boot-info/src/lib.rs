//! The typed hand-off from the UEFI boot stub to the kernel.
//!
//! The stub fills one [`BootInfo`] in memory it allocated as loader data, exits boot services
//! and jumps to the kernel entry point with the *virtual* address of that struct (inside the
//! physical-memory window) in the first argument register. Both sides are built from this crate,
//! and the struct has a fixed `#[repr(C)]` layout with a magic and a version so that a mismatched
//! stub and kernel are caught at entry instead of misread.
//!
//! # Address space at kernel entry
//! - All physical memory, and at least the first 4 GiB (APIC MMIO lives there), is mapped
//!   writable at [`PHYSICAL_MEMORY_OFFSET`] with 2 MiB pages.
//! - The same physical memory is identity-mapped, so the stub can switch page tables; the kernel
//!   removes that identity map once it runs.
//! - The kernel's ELF segments are mapped at their link addresses (top 2 GiB, [`KERNEL_BASE`]).
//! - The stack pointer points to the top of a [`KERNEL_STACK_SIZE`] stack inside the window.
#![no_std]
#![forbid(unsafe_code)]

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// Identifies a [`BootInfo`]: "DXGOSBI" followed by a zero byte, little-endian.
pub const BOOT_INFO_MAGIC: u64 = u64::from_le_bytes(*b"DXGOSBI\0");
/// Layout version of [`BootInfo`]; bumped whenever the struct changes.
pub const BOOT_INFO_VERSION: u32 = 1;
/// Virtual address at which physical address 0 is mapped.
pub const PHYSICAL_MEMORY_OFFSET: u64 = 0xffff_8000_0000_0000;
/// Lowest virtual address of the kernel image (the `kernel` code model's top 2 GiB).
pub const KERNEL_BASE: u64 = 0xffff_ffff_8000_0000;
/// Size of the boot stack the stub gives the kernel.
pub const KERNEL_STACK_SIZE: u64 = 256 * 1024;
/// Most memory regions a [`BootInfo`] carries; the stub merges adjacent regions of one kind.
pub const MAX_MEMORY_REGIONS: usize = 512;
/// Longest command line, in bytes.
pub const MAX_COMMAND_LINE: usize = 512;
/// Name of the command-line file on the EFI system partition (next to the stub).
pub const COMMAND_LINE_PATH: &str = "\\EFI\\dxgos\\cmdline.txt";
/// Name of the kernel ELF on the EFI system partition.
pub const KERNEL_PATH: &str = "\\EFI\\dxgos\\kernel.elf";

/// What a physical memory region may be used for, from the UEFI memory map.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemoryKind {
    /// Free RAM the kernel may allocate (conventional memory and boot-services memory).
    Usable = 1,
    /// RAM the stub allocated for the kernel: image, page tables, stack, this struct.
    KernelReserved = 2,
    /// ACPI tables; usable once the kernel no longer needs them.
    AcpiReclaimable = 3,
    /// ACPI non-volatile storage.
    AcpiNvs = 4,
    /// UEFI runtime services code and data.
    UefiRuntime = 5,
    /// Memory-mapped I/O or anything else that is not RAM for the kernel.
    Reserved = 6,
}

/// One physical memory region.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct MemoryRegion {
    /// Physical start address (4 KiB aligned).
    pub start: u64,
    /// Length in bytes (a multiple of 4 KiB).
    pub length: u64,
    /// A [`MemoryKind`] as its `u32` value; read it with [`MemoryRegion::kind`].
    pub kind: u32,
    /// Zero.
    pub reserved: u32,
}

impl MemoryRegion {
    /// The kind of this region; an unknown value reads as [`MemoryKind::Reserved`].
    pub fn kind(&self) -> MemoryKind {
        match self.kind {
            1 => MemoryKind::Usable,
            2 => MemoryKind::KernelReserved,
            3 => MemoryKind::AcpiReclaimable,
            4 => MemoryKind::AcpiNvs,
            5 => MemoryKind::UefiRuntime,
            _ => MemoryKind::Reserved,
        }
    }
    /// One past the last physical address of the region.
    pub fn end(&self) -> u64 {
        self.start.saturating_add(self.length)
    }
}

/// Pixel layout of the framebuffer.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PixelFormat {
    /// Byte order red, green, blue, reserved.
    Rgb = 1,
    /// Byte order blue, green, red, reserved.
    Bgr = 2,
}

/// The UEFI Graphics Output Protocol framebuffer, when there is one.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct Framebuffer {
    /// Physical address of the first pixel; 0 when there is no framebuffer.
    pub physical_address: u64,
    /// Size in bytes.
    pub size: u64,
    /// Visible width in pixels.
    pub width: u32,
    /// Visible height in pixels.
    pub height: u32,
    /// Pixels per scan line (at least `width`).
    pub stride: u32,
    /// A [`PixelFormat`] as its `u32` value (4 bytes per pixel).
    pub pixel_format: u32,
}

/// Time stamps (TSC) of the boot phases the stub sees.
#[repr(C)]
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Default, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
pub struct BootTimestamps {
    /// TSC at the stub's entry point.
    pub stub_entry: u64,
    /// TSC just before the jump to the kernel.
    pub stub_exit: u64,
}

/// Everything the kernel learns from the firmware.
#[repr(C)]
#[derive(Clone, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct BootInfo {
    /// [`BOOT_INFO_MAGIC`].
    pub magic: u64,
    /// [`BOOT_INFO_VERSION`].
    pub version: u32,
    /// Number of valid entries in `memory_regions`.
    pub memory_region_count: u32,
    /// Virtual address of physical address 0 ([`PHYSICAL_MEMORY_OFFSET`]).
    pub physical_memory_offset: u64,
    /// Physical address of the ACPI RSDP (2.0 preferred), or 0 when the firmware gave none.
    pub rsdp_address: u64,
    /// Physical address where the kernel image was loaded.
    pub kernel_physical_start: u64,
    /// Bytes of physical memory the kernel image occupies.
    pub kernel_physical_size: u64,
    /// The physical memory map, sorted by address, adjacent regions of one kind merged.
    pub memory_regions: [MemoryRegion; MAX_MEMORY_REGIONS],
    /// The framebuffer; `physical_address == 0` when absent.
    pub framebuffer: Framebuffer,
    /// Boot-phase time stamps.
    pub timestamps: BootTimestamps,
    /// Number of valid bytes in `command_line`.
    pub command_line_length: u32,
    /// Zero.
    pub reserved: u32,
    /// The command line read from [`COMMAND_LINE_PATH`] (UTF-8, not NUL-terminated).
    pub command_line: [u8; MAX_COMMAND_LINE],
}

impl BootInfo {
    /// The valid memory regions.
    pub fn memory_regions(&self) -> &[MemoryRegion] {
        let count = (self.memory_region_count as usize).min(MAX_MEMORY_REGIONS);
        &self.memory_regions[..count]
    }
    /// The command line, or `""` when it is not valid UTF-8.
    pub fn command_line(&self) -> &str {
        let length = (self.command_line_length as usize).min(MAX_COMMAND_LINE);
        core::str::from_utf8(&self.command_line[..length]).unwrap_or("")
    }
    /// The framebuffer, when the firmware had one.
    pub fn framebuffer(&self) -> Option<&Framebuffer> {
        (self.framebuffer.physical_address != 0).then_some(&self.framebuffer)
    }
    /// Whether magic and version match this build.
    pub fn is_valid(&self) -> bool {
        self.magic == BOOT_INFO_MAGIC && self.version == BOOT_INFO_VERSION
    }
}

/// A parsed command line: space-separated `key=value` words (a bare word is `key=`).
///
/// Keys used by dxgos: `log=<error|warn|info|debug|trace>`, `tests=<all|none|name,name,...>`,
/// `fault=<name,...>` (fault injection), `mode=<run|test|bench>`.
pub fn command_line_value<'a>(command_line: &'a str, key: &str) -> Option<&'a str> {
    command_line.split_ascii_whitespace().find_map(|word| {
        let (name, value) = word.split_once('=').unwrap_or((word, ""));
        (name == key).then_some(value)
    })
}

const _: () = assert!(core::mem::size_of::<MemoryRegion>() == 24);
const _: () = assert!(core::mem::size_of::<Framebuffer>() == 32);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_line_lookup() {
        let line = "log=debug tests=all  quiet mode=test";
        assert_eq!(command_line_value(line, "log"), Some("debug"));
        assert_eq!(command_line_value(line, "tests"), Some("all"));
        assert_eq!(command_line_value(line, "quiet"), Some(""));
        assert_eq!(command_line_value(line, "fault"), None);
    }

    #[test]
    fn unknown_region_kind_is_reserved() {
        let region = MemoryRegion {
            start: 0,
            length: 4096,
            kind: 99,
            reserved: 0,
        };
        assert_eq!(region.kind(), MemoryKind::Reserved);
        assert_eq!(region.end(), 4096);
    }
}
