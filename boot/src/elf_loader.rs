//! Loading the kernel ELF into physical memory, segment by segment, straight from the file.
//!
//! The stub never holds the whole file: it reads the 64-byte ELF header, then the rest of the
//! header block (the file's first bytes up to the end of the program header table, at most
//! [`HEADER_BLOCK_SIZE`]), then each `PT_LOAD` segment's file bytes directly into the pages that
//! segment occupies. So the memory the kernel file needs at boot is its loaded image, not the
//! file (whose debug sections can be many times larger).
//!
//! All `PT_LOAD` segments go into one physically contiguous block that spans the image from its
//! lowest to its highest virtual page, so that virtual = physical + constant inside the kernel.
//!
//! The header block is parsed with `object`'s ELF reader (`FileHeader64`, `program_headers`;
//! the crate the kernel's process loader uses too), which returns errors, never panics, on
//! malformed input. Every field the loader uses is checked before use (the file is input like
//! any other): the identification bytes (ELFCLASS64, ELFDATA2LSB, EV_CURRENT), `e_type`
//! (ET_EXEC), `e_machine` (EM_X86_64), `e_version`, `e_phentsize` (56), `e_phnum` (at most
//! [`MAX_PROGRAM_HEADERS`]), the table's place in the file, and for each segment
//! `p_filesz ≤ p_memsz`, its bytes inside the file, its addresses inside the kernel area without
//! overflow, ascending and non-overlapping pages, and the entry point inside the image. Values
//! are those of the System V ABI's ELF-64 object file format (gABI "ELF Header" and "Program
//! Header" chapters).

use object::LittleEndian;
use object::elf::{
    EM_X86_64, ET_EXEC, EV_CURRENT, FileHeader64, PF_W, PF_X, PT_LOAD, ProgramHeader64,
};
use object::read::elf::{FileHeader as _, ProgramHeader as _};
use uefi::Status;

use crate::{BootError, PAGE};

/// Size of the ELF-64 file header.
const HEADER_SIZE: usize = 64;
/// Size of one ELF-64 program header (`e_phentsize`).
const PROGRAM_HEADER_SIZE: usize = 56;
/// Most program headers accepted (the kernel has about five).
const MAX_PROGRAM_HEADERS: usize = 32;
/// The header block: the file's first bytes, holding the ELF header and the program header
/// table (linkers put the table right after the header).
const HEADER_BLOCK_SIZE: usize = 4096;
/// Most `PT_LOAD` segments accepted.
const MAX_SEGMENTS: usize = 16;
/// The largest kernel image accepted (from its lowest to its highest page).
const MAX_IMAGE_SIZE: u64 = 256 * 1024 * 1024;

/// The ELF-64 header and program header types, little-endian (`object`'s, alignment 1).
type ElfHeader = FileHeader64<LittleEndian>;
type ProgramHeader = ProgramHeader64<LittleEndian>;

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

/// The header block: the file's first bytes, up to the end of the program header table.
struct HeaderBlock {
    bytes: [u8; HEADER_BLOCK_SIZE],
    /// Bytes read (the end of the program header table).
    length: usize,
}

impl HeaderBlock {
    /// The ELF header, parsed by `object` (magic, ELFCLASS64, EI_VERSION = EV_CURRENT and a
    /// known data encoding), then checked here: little-endian, `ET_EXEC`, `EM_X86_64`,
    /// `e_version` = EV_CURRENT.
    fn header(&self) -> Result<&ElfHeader, BootError> {
        let bytes = self
            .bytes
            .get(..self.length.max(HEADER_SIZE))
            .unwrap_or(&[]);
        let header =
            ElfHeader::parse(bytes).map_err(|_| invalid("kernel.elf is not an ELF-64 file"))?;
        let endian = header
            .endian()
            .map_err(|_| invalid("kernel.elf is not a little-endian ELF-64 file"))?;
        if header.e_type(endian) != ET_EXEC {
            return Err(invalid("kernel.elf is not an executable"));
        }
        if header.e_machine(endian) != EM_X86_64 {
            return Err(invalid("kernel.elf is not an x86-64 ELF"));
        }
        if header.e_version(endian) != u32::from(EV_CURRENT.0) {
            return Err(invalid("kernel.elf has an unknown ELF version"));
        }
        Ok(header)
    }

    /// The program header table, read by `object` from the block (it checks `e_phentsize`
    /// and that the table lies inside the block).
    fn program_headers(&self) -> Result<&[ProgramHeader], BootError> {
        let bytes = self.bytes.get(..self.length).unwrap_or(&[]);
        self.header()?
            .program_headers(LittleEndian, bytes)
            .map_err(|_| invalid("kernel.elf program headers are malformed"))
    }
}

/// Reads the ELF header, checks it, then reads the rest of the block up to the end of the
/// program header table (which must lie in the file's first [`HEADER_BLOCK_SIZE`] bytes).
fn read_header_block(file: &mut impl KernelFile) -> Result<HeaderBlock, BootError> {
    if file.size() < HEADER_SIZE as u64 {
        return Err(invalid("kernel.elf is shorter than an ELF header"));
    }
    let mut block = HeaderBlock {
        bytes: [0; HEADER_BLOCK_SIZE],
        length: HEADER_SIZE,
    };
    file.read_exact_at(0, &mut block.bytes[..HEADER_SIZE])?;
    let header = block.header()?;
    if usize::from(header.e_phentsize(LittleEndian)) != PROGRAM_HEADER_SIZE {
        return Err(invalid("kernel.elf program headers have the wrong size"));
    }
    let count = usize::from(header.e_phnum(LittleEndian));
    if count == 0 || count > MAX_PROGRAM_HEADERS {
        return Err(invalid("kernel.elf has no or too many program headers"));
    }
    let table_end = header
        .e_phoff(LittleEndian)
        .checked_add((count * PROGRAM_HEADER_SIZE) as u64);
    let length = match table_end {
        Some(end) if end <= file.size() && end <= HEADER_BLOCK_SIZE as u64 => end as usize,
        _ => {
            return Err(invalid(
                "kernel.elf program headers lie outside its first page",
            ));
        }
    };
    if length > HEADER_SIZE {
        file.read_exact_at(HEADER_SIZE as u64, &mut block.bytes[HEADER_SIZE..length])?;
        block.length = length;
    }
    Ok(block)
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

/// Checks program header `header`; `None` for headers other than a non-empty `PT_LOAD`.
fn parse_load_segment(
    header: &ProgramHeader,
    file_size: u64,
) -> Result<Option<LoadSegment>, BootError> {
    if header.p_type(LittleEndian) != PT_LOAD {
        return Ok(None);
    }
    let segment = LoadSegment {
        flags: header.p_flags(LittleEndian).0,
        file_offset: header.p_offset(LittleEndian),
        virtual_address: header.p_vaddr(LittleEndian),
        file_size: header.p_filesz(LittleEndian),
        memory_size: header.p_memsz(LittleEndian),
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

/// Checks the program header table; returns the `PT_LOAD` segments in order.
fn load_segments(
    program_headers: &[ProgramHeader],
    file_size: u64,
) -> Result<([Option<LoadSegment>; MAX_SEGMENTS], usize), BootError> {
    let mut segments = [None; MAX_SEGMENTS];
    let mut count = 0;
    let mut previous_end = 0;
    for header in program_headers {
        let Some(segment) = parse_load_segment(header, file_size)? else {
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
    let block = read_header_block(file)?;
    let entry = block.header()?.e_entry(LittleEndian);
    let (loads, count) = load_segments(block.program_headers()?, file.size())?;
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
    if !(lowest..highest).contains(&entry) {
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
            writable: segment.flags & PF_W.0 != 0,
            executable: segment.flags & PF_X.0 != 0,
        });
    }
    Ok(LoadedKernel {
        physical_start,
        virtual_start: lowest,
        physical_size: size,
        entry,
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
