//! Loading the kernel ELF into physical memory.
//!
//! All `PT_LOAD` segments go into one physically contiguous block that spans the image from its
//! lowest to its highest virtual page, so that virtual = physical + constant inside the kernel.

use crate::{BootError, PAGE};
use uefi::Status;
use xmas_elf::ElfFile;
use xmas_elf::program::{ProgramHeader, Type};

/// A segment's mapping rule.
#[derive(Clone, Copy)]
pub struct Segment {
    /// First virtual address (page aligned).
    pub virtual_start: u64,
    /// Bytes mapped (page multiple).
    pub size: u64,
    /// Writable mapping.
    pub writable: bool,
    /// Executable mapping.
    pub executable: bool,
}

/// The loaded kernel.
pub struct LoadedKernel {
    /// Physical address of the image's lowest virtual page.
    pub physical_start: u64,
    /// Virtual address that `physical_start` maps to.
    pub virtual_start: u64,
    /// Bytes of the whole image (page multiple).
    pub physical_size: u64,
    /// Entry point (virtual).
    pub entry: u64,
    /// The loadable segments, at most 16.
    pub segments: [Option<Segment>; 16],
}

fn invalid(what: &'static str) -> BootError {
    BootError {
        status: Status::LOAD_ERROR,
        what,
    }
}

/// Parses `file` and copies its loadable segments into memory from `allocate` (zeroed pages).
pub fn load(
    file: &[u8],
    allocate: impl Fn(u64) -> Result<u64, BootError>,
) -> Result<LoadedKernel, BootError> {
    let elf = ElfFile::new(file).map_err(|_| invalid("kernel.elf is not an ELF file"))?;
    if elf.header.pt2.machine().as_machine() != xmas_elf::header::Machine::X86_64 {
        return Err(invalid("kernel.elf is not an x86-64 ELF"));
    }
    let loads = || {
        elf.program_iter()
            .filter(|header| matches!(header.get_type(), Ok(Type::Load)) && header.mem_size() > 0)
    };
    let lowest = loads()
        .map(|h| h.virtual_addr() & !(PAGE - 1))
        .min()
        .ok_or(invalid("kernel.elf has no segments"))?;
    let highest = loads()
        .map(|h| (h.virtual_addr() + h.mem_size()).next_multiple_of(PAGE))
        .max()
        .unwrap_or(lowest);
    if lowest < boot_info::KERNEL_BASE || highest <= lowest || highest - lowest > 256 * 1024 * 1024
    {
        return Err(invalid("kernel.elf segments are outside the kernel area"));
    }
    let size = highest - lowest;
    let physical_start = allocate(size / PAGE)?;
    let mut segments = [None; 16];
    for (index, header) in loads().enumerate() {
        let slot = segments
            .get_mut(index)
            .ok_or(invalid("kernel.elf has too many segments"))?;
        copy_segment(
            file,
            &header,
            physical_start + (header.virtual_addr() - lowest),
        )?;
        let flags = header.flags();
        let start = header.virtual_addr() & !(PAGE - 1);
        *slot = Some(Segment {
            virtual_start: start,
            size: (header.virtual_addr() + header.mem_size()).next_multiple_of(PAGE) - start,
            writable: flags.is_write(),
            executable: flags.is_execute(),
        });
    }
    let entry = elf.header.pt2.entry_point();
    if !(lowest..highest).contains(&entry) {
        return Err(invalid("kernel.elf entry point is outside its image"));
    }
    Ok(LoadedKernel {
        physical_start,
        virtual_start: lowest,
        physical_size: size,
        entry,
        segments,
    })
}

fn copy_segment(
    file: &[u8],
    header: &ProgramHeader<'_>,
    destination: u64,
) -> Result<(), BootError> {
    let offset = header.offset() as usize;
    let length = header.file_size() as usize;
    if length as u64 > header.mem_size() {
        return Err(invalid(
            "kernel.elf segment is larger in the file than in memory",
        ));
    }
    let bytes = offset
        .checked_add(length)
        .and_then(|end| file.get(offset..end))
        .ok_or(invalid("kernel.elf segment lies outside the file"))?;
    // SAFETY: `destination` lies inside the zeroed block we allocated for the whole image
    // (checked against its span above) and UEFI identity-maps it; the rest of the segment (bss)
    // stays zero.
    unsafe { core::ptr::copy_nonoverlapping(bytes.as_ptr(), destination as *mut u8, length) };
    Ok(())
}
