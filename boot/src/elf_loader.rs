//! Loading the kernel ELF into physical memory, segment by segment, straight from the file.
//!
//! The stub never holds the whole file: it reads the 64-byte ELF header, then the program
//! header table, then each `PT_LOAD` segment's file bytes directly into the pages that segment
//! occupies. So the memory the kernel file needs at boot is its loaded image, not the file
//! (whose debug sections can be many times larger).
//!
//! All `PT_LOAD` segments go into one physically contiguous block that spans the image from its
//! lowest to its highest virtual page, so that virtual = physical + constant inside the kernel.
//!
//! Every field the loader uses is checked before use (the file is input like any other): the
//! identification bytes (ELFCLASS64, ELFDATA2LSB, EV_CURRENT), `e_type` (ET_EXEC), `e_machine`
//! (EM_X86_64), `e_phentsize` (56), `e_phnum` (at most [`MAX_PROGRAM_HEADERS`]), the table's
//! place in the file, and for each segment `p_filesz ≤ p_memsz`, its bytes inside the file, its
//! addresses inside the kernel area without overflow, ascending and non-overlapping pages, and
//! the entry point inside the image. Offsets and values are those of the System V ABI's ELF-64
//! object file format (gABI "ELF Header" and "Program Header" chapters).

use crate::{BootError, PAGE};
use uefi::Status;

/// Size of the ELF-64 file header.
const HEADER_SIZE: usize = 64;
/// Size of one ELF-64 program header (`e_phentsize`).
const PROGRAM_HEADER_SIZE: usize = 56;
/// Most program headers accepted (the kernel has about five).
const MAX_PROGRAM_HEADERS: usize = 32;
/// Most `PT_LOAD` segments accepted.
const MAX_SEGMENTS: usize = 16;
/// `PT_LOAD`.
const PT_LOAD: u32 = 1;
/// `PF_X`, `PF_W`.
const PF_X: u32 = 1;
const PF_W: u32 = 2;
/// The largest kernel image accepted (from its lowest to its highest page).
const MAX_IMAGE_SIZE: u64 = 256 * 1024 * 1024;

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
    pub segments: [Option<Segment>; MAX_SEGMENTS],
}

/// Random access to the kernel file.
pub trait KernelFile {
    /// The file's size in bytes.
    fn size(&self) -> u64;
    /// Fills `buffer` with the file's bytes from `offset`; an error if fewer are there.
    fn read_exact_at(&mut self, offset: u64, buffer: &mut [u8]) -> Result<(), BootError>;
}

fn invalid(what: &'static str) -> BootError {
    BootError {
        status: Status::LOAD_ERROR,
        what,
    }
}

/// Little-endian field readers over a header already read into memory; `None` past its end.
fn u16_at(bytes: &[u8], offset: usize) -> Option<u16> {
    Some(u16::from_le_bytes(
        bytes.get(offset..offset + 2)?.try_into().ok()?,
    ))
}
fn u32_at(bytes: &[u8], offset: usize) -> Option<u32> {
    Some(u32::from_le_bytes(
        bytes.get(offset..offset + 4)?.try_into().ok()?,
    ))
}
fn u64_at(bytes: &[u8], offset: usize) -> Option<u64> {
    Some(u64::from_le_bytes(
        bytes.get(offset..offset + 8)?.try_into().ok()?,
    ))
}

/// The fields of the ELF header the loader uses.
struct FileHeader {
    entry: u64,
    program_header_offset: u64,
    program_header_count: usize,
}

fn parse_file_header(header: &[u8; HEADER_SIZE]) -> Result<FileHeader, BootError> {
    let field = |value: Option<u64>| value.ok_or(invalid("kernel.elf header is truncated"));
    // e_ident: magic, EI_CLASS = ELFCLASS64 (2), EI_DATA = ELFDATA2LSB (1), EI_VERSION = 1.
    if header.get(..4) != Some(b"\x7fELF".as_slice()) {
        return Err(invalid("kernel.elf is not an ELF file"));
    }
    if header.get(4..7) != Some([2u8, 1, 1].as_slice()) {
        return Err(invalid("kernel.elf is not a little-endian ELF-64 file"));
    }
    // e_type (16) = ET_EXEC (2), e_machine (18) = EM_X86_64 (62), e_version (20) = 1.
    if field(u16_at(header, 16).map(u64::from))? != 2 {
        return Err(invalid("kernel.elf is not an executable"));
    }
    if field(u16_at(header, 18).map(u64::from))? != 62 {
        return Err(invalid("kernel.elf is not an x86-64 ELF"));
    }
    if field(u32_at(header, 20).map(u64::from))? != 1 {
        return Err(invalid("kernel.elf has an unknown ELF version"));
    }
    // e_entry (24), e_phoff (32), e_phentsize (54), e_phnum (56).
    let entry = field(u64_at(header, 24))?;
    let program_header_offset = field(u64_at(header, 32))?;
    if field(u16_at(header, 54).map(u64::from))? != PROGRAM_HEADER_SIZE as u64 {
        return Err(invalid("kernel.elf program headers have the wrong size"));
    }
    let program_header_count = field(u16_at(header, 56).map(u64::from))? as usize;
    if program_header_count == 0 || program_header_count > MAX_PROGRAM_HEADERS {
        return Err(invalid("kernel.elf has no or too many program headers"));
    }
    Ok(FileHeader {
        entry,
        program_header_offset,
        program_header_count,
    })
}

/// A `PT_LOAD` program header, checked against the file.
#[derive(Clone, Copy)]
struct LoadSegment {
    file_offset: u64,
    file_size: u64,
    virtual_address: u64,
    memory_size: u64,
    flags: u32,
}

impl LoadSegment {
    fn first_page(&self) -> u64 {
        self.virtual_address & !(PAGE - 1)
    }

    /// The end of its last page; `parse_load_segment` checked the sum cannot overflow.
    fn end_page(&self) -> u64 {
        (self.virtual_address + self.memory_size).next_multiple_of(PAGE)
    }
}

/// Parses program header `bytes` (56 bytes); `None` for headers other than a non-empty
/// `PT_LOAD`.
fn parse_load_segment(bytes: &[u8], file_size: u64) -> Result<Option<LoadSegment>, BootError> {
    let field = |value: Option<u64>| value.ok_or(invalid("kernel.elf program header is truncated"));
    // p_type (0), p_flags (4), p_offset (8), p_vaddr (16), p_filesz (32), p_memsz (40).
    if field(u32_at(bytes, 0).map(u64::from))? != u64::from(PT_LOAD) {
        return Ok(None);
    }
    let segment = LoadSegment {
        flags: field(u32_at(bytes, 4).map(u64::from))? as u32,
        file_offset: field(u64_at(bytes, 8))?,
        virtual_address: field(u64_at(bytes, 16))?,
        file_size: field(u64_at(bytes, 32))?,
        memory_size: field(u64_at(bytes, 40))?,
    };
    if segment.memory_size == 0 {
        return Ok(None);
    }
    if segment.file_size > segment.memory_size {
        return Err(invalid(
            "kernel.elf segment is larger in the file than in memory",
        ));
    }
    match segment.file_offset.checked_add(segment.file_size) {
        Some(end) if end <= file_size => {}
        _ => return Err(invalid("kernel.elf segment lies outside the file")),
    }
    let end = segment
        .virtual_address
        .checked_add(segment.memory_size)
        .and_then(|end| end.checked_next_multiple_of(PAGE));
    if segment.virtual_address < boot_info::KERNEL_BASE || end.is_none() {
        return Err(invalid("kernel.elf segments are outside the kernel area"));
    }
    Ok(Some(segment))
}

/// Reads and checks the program header table; returns the `PT_LOAD` segments in order.
fn read_segments(
    file: &mut impl KernelFile,
    header: &FileHeader,
) -> Result<([Option<LoadSegment>; MAX_SEGMENTS], usize), BootError> {
    let mut table = [0u8; MAX_PROGRAM_HEADERS * PROGRAM_HEADER_SIZE];
    let table = table
        .get_mut(..header.program_header_count * PROGRAM_HEADER_SIZE)
        .ok_or(invalid("kernel.elf has too many program headers"))?;
    match header.program_header_offset.checked_add(table.len() as u64) {
        Some(end) if end <= file.size() => {}
        _ => return Err(invalid("kernel.elf program headers lie outside the file")),
    }
    file.read_exact_at(header.program_header_offset, table)?;
    let mut segments = [None; MAX_SEGMENTS];
    let mut count = 0;
    let mut previous_end = 0;
    for bytes in table.chunks_exact(PROGRAM_HEADER_SIZE) {
        let Some(segment) = parse_load_segment(bytes, file.size())? else {
            continue;
        };
        // The gABI requires PT_LOAD entries sorted by p_vaddr; overlapping pages would be
        // loaded and mapped twice.
        if segment.first_page() < previous_end {
            return Err(invalid("kernel.elf segments overlap or are out of order"));
        }
        previous_end = segment.end_page();
        *segments
            .get_mut(count)
            .ok_or(invalid("kernel.elf has too many segments"))? = Some(segment);
        count += 1;
    }
    if count == 0 {
        return Err(invalid("kernel.elf has no segments"));
    }
    Ok((segments, count))
}

/// Reads the headers of `file`, then copies its loadable segments into memory from
/// `allocate` (zeroed pages), reading each segment's bytes straight into its pages.
pub fn load(
    file: &mut impl KernelFile,
    allocate: impl Fn(u64) -> Result<u64, BootError>,
) -> Result<LoadedKernel, BootError> {
    let mut header_bytes = [0u8; HEADER_SIZE];
    if file.size() < HEADER_SIZE as u64 {
        return Err(invalid("kernel.elf is shorter than an ELF header"));
    }
    file.read_exact_at(0, &mut header_bytes)?;
    let header = parse_file_header(&header_bytes)?;
    let (loads, count) = read_segments(file, &header)?;
    let loads = loads.iter().take(count).flatten();
    // Sorted and non-overlapping (checked above): the first starts lowest, the last ends highest.
    let lowest = loads.clone().next().map(LoadSegment::first_page);
    let highest = loads.clone().last().map(LoadSegment::end_page);
    let (Some(lowest), Some(highest)) = (lowest, highest) else {
        return Err(invalid("kernel.elf has no segments"));
    };
    if highest - lowest > MAX_IMAGE_SIZE {
        return Err(invalid("kernel.elf segments are outside the kernel area"));
    }
    if !(lowest..highest).contains(&header.entry) {
        return Err(invalid("kernel.elf entry point is outside its image"));
    }
    let size = highest - lowest;
    let physical_start = allocate(size / PAGE)?;
    let mut segments = [None; MAX_SEGMENTS];
    for (slot, segment) in segments.iter_mut().zip(loads) {
        read_segment(
            file,
            segment,
            physical_start + (segment.virtual_address - lowest),
        )?;
        let start = segment.first_page();
        *slot = Some(Segment {
            virtual_start: start,
            size: segment.end_page() - start,
            writable: segment.flags & PF_W != 0,
            executable: segment.flags & PF_X != 0,
        });
    }
    Ok(LoadedKernel {
        physical_start,
        virtual_start: lowest,
        physical_size: size,
        entry: header.entry,
        segments,
    })
}

/// Reads `segment`'s file bytes to `destination`; the rest of it (bss) stays zero.
fn read_segment(
    file: &mut impl KernelFile,
    segment: &LoadSegment,
    destination: u64,
) -> Result<(), BootError> {
    let length = usize::try_from(segment.file_size)
        .map_err(|_| invalid("kernel.elf segment is too large"))?;
    // SAFETY: `destination..destination + file_size` lies inside the zeroed block allocated for
    // the whole image (the segment's pages lie between `lowest` and `highest`, checked in
    // `load`, and file_size ≤ memory_size), which UEFI identity-maps and nothing else uses.
    let pages = unsafe { core::slice::from_raw_parts_mut(destination as *mut u8, length) };
    file.read_exact_at(segment.file_offset, pages)
}
