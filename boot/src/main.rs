//! The dxgos UEFI boot stub.
//!
//! Runs as `\EFI\BOOT\BOOTX64.EFI` on the EFI system partition, under OVMF in QEMU or the
//! Hyper-V Generation 2 firmware. It
//! 1. opens `\EFI\dxgos\kernel.elf` and reads `\EFI\dxgos\cmdline.txt` from its own
//!    partition,
//! 2. loads the kernel's segments into one physically contiguous block, reading the ELF
//!    headers and then each segment straight into its pages (the file is never held whole, so
//!    its debug sections cost no guest memory; see `elf_loader`),
//! 3. builds the kernel's page tables (see `paging`),
//! 4. collects the ACPI RSDP and the GOP framebuffer,
//! 5. exits boot services, converts the final memory map into a [`BootInfo`], and
//! 6. switches to the new page tables and jumps to the kernel entry point.
//!
//! It uses no legacy device (Hyper-V Gen2 has none); its messages go to the UEFI console, and
//! its part of the boot report (`report`: `hvdiag: firmware ...` lines, `docs/boot-report.md`)
//! to the console and COM1. It opens the GOP without taking it (GET_PROTOCOL): an exclusive
//! open would stop the firmware's graphics console, and the stub's later messages would vanish
//! from the screen.
#![no_std]
#![no_main]

extern crate alloc;

mod com1;
mod elf_loader;
mod memory_map;
mod paging;
mod report;

use alloc::vec::Vec;
use boot_info::{
    BOOT_INFO_MAGIC, BOOT_INFO_VERSION, BootInfo, COMMAND_LINE_PATH, Framebuffer, KERNEL_PATH,
    KERNEL_STACK_SIZE, MAX_COMMAND_LINE, PHYSICAL_MEMORY_OFFSET, PixelFormat,
};
use core::arch::x86_64::_rdtsc;
use core::convert::Infallible;
use report::Reporter;
use uefi::boot::{self, AllocateType, MemoryType, OpenProtocolAttributes, OpenProtocolParams};
use uefi::fs::FileSystem;
use uefi::prelude::*;
use uefi::proto::console::gop::{self, GraphicsOutput};
use uefi::proto::media::file::{File, FileAttribute, FileInfo, FileMode, RegularFile};
use uefi::proto::media::fs::SimpleFileSystem;
use uefi::table::cfg::ConfigTableEntry;
use uefi::{CString16, Error};

const PAGE: u64 = 4096;

#[entry]
fn main() -> Status {
    // SAFETY: RDTSC has no memory effects; every x86-64 CPU has it.
    let stub_entry = unsafe { _rdtsc() };
    if uefi::helpers::init().is_err() {
        return Status::ABORTED;
    }
    log::info!("dxgos boot stub");
    let mut reporter = Reporter::new();
    reporter.report_firmware();
    match load_and_enter(stub_entry, &mut reporter) {
        Ok(never) => match never {},
        Err(error) => {
            log::error!("dxgos boot stub: {error}");
            reporter.line(format_args!("result fail stage=firmware reason={error}"));
            error.status()
        }
    }
}

/// A boot failure with the UEFI status to return to the firmware.
struct BootError {
    status: Status,
    what: &'static str,
}

impl BootError {
    fn status(&self) -> Status {
        self.status
    }
}

impl core::fmt::Display for BootError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{} ({:?})", self.what, self.status)
    }
}

fn fail<T: core::fmt::Debug>(what: &'static str) -> impl FnOnce(Error<T>) -> BootError {
    move |error| BootError {
        status: error.status(),
        what,
    }
}

fn read_file(path: &str) -> Result<Vec<u8>, BootError> {
    let image = boot::image_handle();
    let protocol = boot::get_image_file_system(image).map_err(fail("open the boot partition"))?;
    let mut file_system = FileSystem::new(protocol);
    let name = CString16::try_from(path).map_err(|_| BootError {
        status: Status::INVALID_PARAMETER,
        what: "file name is not UCS-2",
    })?;
    file_system.read(name.as_ref()).map_err(|_| BootError {
        status: Status::NOT_FOUND,
        what: "read a file from the boot partition",
    })
}

/// The kernel file, opened on the boot partition, read piece by piece.
struct UefiKernelFile {
    /// Keeps the partition's file system open while the file is.
    _file_system: boot::ScopedProtocol<SimpleFileSystem>,
    file: RegularFile,
    size: u64,
}

impl UefiKernelFile {
    fn open(path: &str) -> Result<Self, BootError> {
        let image = boot::image_handle();
        let mut file_system =
            boot::get_image_file_system(image).map_err(fail("open the boot partition"))?;
        let mut root = file_system
            .open_volume()
            .map_err(fail("open the boot partition's root directory"))?;
        let name = CString16::try_from(path).map_err(|_| BootError {
            status: Status::INVALID_PARAMETER,
            what: "file name is not UCS-2",
        })?;
        let mut file = root
            .open(&name, FileMode::Read, FileAttribute::empty())
            .map_err(fail("open kernel.elf"))?
            .into_regular_file()
            .ok_or(BootError {
                status: Status::NOT_FOUND,
                what: "kernel.elf is a directory",
            })?;
        let size = file
            .get_boxed_info::<FileInfo>()
            .map_err(fail("read kernel.elf's size"))?
            .file_size();
        Ok(UefiKernelFile {
            _file_system: file_system,
            file,
            size,
        })
    }
}

impl elf_loader::KernelFile for UefiKernelFile {
    fn size(&self) -> u64 {
        self.size
    }

    fn read_exact_at(&mut self, offset: u64, buffer: &mut [u8]) -> Result<(), BootError> {
        self.file
            .set_position(offset)
            .map_err(fail("seek in kernel.elf"))?;
        let mut done = 0;
        while let Some(rest) = buffer.get_mut(done..).filter(|rest| !rest.is_empty()) {
            match self.file.read(rest).map_err(fail("read kernel.elf"))? {
                0 => {
                    return Err(BootError {
                        status: Status::END_OF_FILE,
                        what: "kernel.elf ends early",
                    });
                }
                read => done += read,
            }
        }
        Ok(())
    }
}

fn allocate_zeroed(pages: u64) -> Result<u64, BootError> {
    let pointer = boot::allocate_pages(
        AllocateType::AnyPages,
        MemoryType::LOADER_DATA,
        pages as usize,
    )
    .map_err(fail("allocate pages"))?;
    // SAFETY: UEFI just gave us `pages` pages at this (identity-mapped) address.
    unsafe { core::ptr::write_bytes(pointer.as_ptr(), 0, (pages * PAGE) as usize) };
    Ok(pointer.as_ptr() as u64)
}

fn find_rsdp() -> u64 {
    uefi::system::with_config_table(|entries| {
        let find = |guid| {
            entries
                .iter()
                .find(|entry| entry.guid == guid)
                .map(|entry| entry.address as u64)
        };
        find(ConfigTableEntry::ACPI2_GUID)
            .or_else(|| find(ConfigTableEntry::ACPI_GUID))
            .unwrap_or(0)
    })
}

/// The GOP framebuffer, and a report line on it. The GOP is opened with GET_PROTOCOL, which
/// leaves the drivers that use it (the graphics console) connected.
fn find_framebuffer(reporter: &mut Reporter) -> Framebuffer {
    let none = Framebuffer {
        physical_address: 0,
        size: 0,
        width: 0,
        height: 0,
        stride: 0,
        pixel_format: 0,
    };
    let Ok(handle) = boot::get_handle_for_protocol::<GraphicsOutput>() else {
        reporter.line(format_args!("firmware gop none"));
        return none;
    };
    // SAFETY: GET_PROTOCOL does not take the GOP from its users; the GOP driver stays
    // connected (nothing here disconnects drivers), so the interface stays valid while
    // `output` lives, and it is only read.
    let opened = unsafe {
        boot::open_protocol::<GraphicsOutput>(
            OpenProtocolParams {
                handle,
                agent: boot::image_handle(),
                controller: None,
            },
            OpenProtocolAttributes::GetProtocol,
        )
    };
    let Ok(mut output) = opened else {
        reporter.line(format_args!("firmware gop unavailable"));
        return none;
    };
    let mode = output.current_mode_info();
    let (width, height) = mode.resolution();
    let mut buffer = output.frame_buffer();
    reporter.line(format_args!(
        "firmware gop resolution={width}x{height} stride={} format={:?} framebuffer=0x{:x}+0x{:x} open=shared console-on-gop={}",
        mode.stride(),
        mode.pixel_format(),
        buffer.as_mut_ptr() as u64,
        buffer.size(),
        u8::from(report::has_text_output(handle))
    ));
    let pixel_format = match mode.pixel_format() {
        gop::PixelFormat::Rgb => PixelFormat::Rgb,
        gop::PixelFormat::Bgr => PixelFormat::Bgr,
        _ => return none,
    };
    Framebuffer {
        physical_address: buffer.as_mut_ptr() as u64,
        size: buffer.size() as u64,
        width: width as u32,
        height: height as u32,
        stride: mode.stride() as u32,
        pixel_format: pixel_format as u32,
    }
}

fn load_and_enter(stub_entry: u64, reporter: &mut Reporter) -> Result<Infallible, BootError> {
    // The command line first: the kernel file holds the partition's file system open
    // (exclusively) until it is dropped.
    // No command line file is normal (a disk made without one): the kernel's defaults apply.
    // It is said, so that a file that exists but cannot be read is not taken silently for none.
    let command_line = read_file(COMMAND_LINE_PATH).unwrap_or_else(|error| {
        log::warn!(
            "no command line from {COMMAND_LINE_PATH} ({}: {:?}); the kernel's defaults apply",
            error.what,
            error.status
        );
        Vec::new()
    });
    let mut kernel_file = UefiKernelFile::open(KERNEL_PATH)?;
    let kernel = elf_loader::load(&mut kernel_file, allocate_zeroed)?;
    drop(kernel_file);
    log::info!(
        "kernel: {} KiB at physical {:#x}, entry {:#x}",
        kernel.physical_size / 1024,
        kernel.physical_start,
        kernel.entry
    );

    let stack = allocate_zeroed(KERNEL_STACK_SIZE / PAGE)?;
    let info_pages = (core::mem::size_of::<BootInfo>() as u64).div_ceil(PAGE);
    let info_physical = allocate_zeroed(info_pages)?;
    // SAFETY: the pages are ours, zeroed, large and aligned enough for a BootInfo, and BootInfo
    // is plain data for which all-zero bytes are valid.
    let info = unsafe { &mut *(info_physical as *mut BootInfo) };
    info.magic = BOOT_INFO_MAGIC;
    info.version = BOOT_INFO_VERSION;
    info.physical_memory_offset = PHYSICAL_MEMORY_OFFSET;
    info.rsdp_address = find_rsdp();
    info.kernel_physical_start = kernel.physical_start;
    info.kernel_physical_size = kernel.physical_size;
    reporter.line(format_args!("firmware rsdp=0x{:x}", info.rsdp_address));
    info.framebuffer = find_framebuffer(reporter);
    let text = core::str::from_utf8(&command_line)
        .unwrap_or_else(|_| {
            log::warn!("the command line is not UTF-8; the kernel's defaults apply");
            ""
        })
        .trim();
    let length = text.len().min(MAX_COMMAND_LINE);
    info.command_line[..length].copy_from_slice(&text.as_bytes()[..length]);
    info.command_line_length = length as u32;
    log::info!("command line: {}", &text[..length]);

    // Page tables cover all memory in the map as it is now; what exit_boot_services changes
    // afterwards only re-types memory, it does not add any.
    let highest = memory_map::highest_address()?;
    let page_tables = paging::build(&kernel, highest, allocate_zeroed)?;
    reporter.report_memory_map();
    reporter.line(format_args!(
        "firmware kernel=0x{:x}+0x{:x} entry=0x{:x}; leaving boot services",
        kernel.physical_start, kernel.physical_size, kernel.entry
    ));

    // SAFETY: nothing uses boot services after this point; the final map is converted into
    // the BootInfo we allocated as LOADER_DATA above.
    let final_map = unsafe { boot::exit_boot_services(Some(MemoryType::LOADER_DATA)) };
    info.memory_region_count = memory_map::convert(&final_map, &mut info.memory_regions) as u32;
    // SAFETY: RDTSC has no memory effects.
    info.timestamps.stub_entry = stub_entry;
    info.timestamps.stub_exit = unsafe { _rdtsc() };

    let info_virtual = PHYSICAL_MEMORY_OFFSET + info_physical;
    let stack_top = PHYSICAL_MEMORY_OFFSET + stack + KERNEL_STACK_SIZE;
    // SAFETY: the page tables map this code (identity), the stack and the BootInfo (window) and
    // the kernel (its link addresses); interrupts are masked so no firmware handler runs on the
    // new tables; the kernel entry never returns.
    unsafe { paging::enter_kernel(page_tables, stack_top, kernel.entry, info_virtual) }
}
