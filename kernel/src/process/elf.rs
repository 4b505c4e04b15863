//! A loader for the static ring-3 executables under `apps/`: ELF64, little-endian, x86-64,
//! `ET_EXEC`, `PT_LOAD` segments at their link addresses (no relocations, no interpreter).
//!
//! Parsing is `xmas-elf`'s (the crate and version the boot stub loads the kernel with). The
//! crate trusts its input in two places, which this loader checks first so that no image can
//! make it panic: a program header outside the file (it slices without a bound), and a header
//! not aligned for its type (its reader asserts alignment; an unaligned image is copied into an
//! aligned buffer). Every field the loader uses is then checked against the file and the user
//! half before anything is mapped, each failure a typed [`ElfError`].

use alloc::vec::Vec;

use xmas_elf::ElfFile;
use xmas_elf::header::{Class, Data, Machine, Type};
use xmas_elf::program::{self, ProgramHeader};

use crate::arch::address_space::{AddressSpace, MapUserError, USER_END, UserPageAccess};

const PAGE_SIZE: u64 = 4096;
const PROGRAM_HEADER_SIZE: u64 = 56;
/// Alignment of the ELF64 headers (their widest field).
const HEADER_ALIGNMENT: usize = 8;
/// Segments may not start below 64 KiB (keeps null-pointer dereferences faulting).
const LOWEST_LOAD_ADDRESS: u64 = 0x1_0000;

/// Why an executable was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ElfError {
    /// Shorter than its headers say.
    Truncated,
    /// Not ELF64 little-endian x86-64 `ET_EXEC` (e.g. a PIE or a 32-bit file).
    Unsupported(&'static str),
    /// A segment or the entry point lies outside the user range, or sizes are inconsistent.
    BadSegment(u64),
    /// No memory for the process's pages.
    OutOfMemory,
}

impl From<MapUserError> for ElfError {
    fn from(error: MapUserError) -> Self {
        match error {
            MapUserError::NotUserPage(address) | MapUserError::AlreadyMapped(address) => {
                ElfError::BadSegment(address)
            }
            MapUserError::OutOfMemory => ElfError::OutOfMemory,
        }
    }
}

struct Segment {
    offset: u64,
    address: u64,
    file_size: u64,
    memory_size: u64,
    access: UserPageAccess,
}

/// The file header, checked: ELF64, little-endian, `ET_EXEC`, x86-64, 56-byte program headers
/// whose table lies inside the file at an aligned offset (so `xmas-elf` may read it).
fn check_header(file: &ElfFile<'_>) -> Result<(), ElfError> {
    let header = &file.header;
    if header.pt1.class() != Class::SixtyFour || header.pt1.data() != Data::LittleEndian {
        return Err(ElfError::Unsupported("not 64-bit little-endian"));
    }
    if header.pt2.type_().as_type() != Type::Executable {
        return Err(ElfError::Unsupported("not a static executable (ET_EXEC)"));
    }
    if header.pt2.machine().as_machine() != Machine::X86_64 {
        return Err(ElfError::Unsupported("not x86-64"));
    }
    if u64::from(header.pt2.ph_entry_size()) != PROGRAM_HEADER_SIZE {
        return Err(ElfError::Unsupported("unexpected program header size"));
    }
    let table = header.pt2.ph_offset();
    let table_end = u64::from(header.pt2.ph_count())
        .checked_mul(PROGRAM_HEADER_SIZE)
        .and_then(|size| table.checked_add(size));
    if table_end.is_none_or(|end| end > file.input.len() as u64) {
        return Err(ElfError::Truncated);
    }
    if !table.is_multiple_of(HEADER_ALIGNMENT as u64) {
        return Err(ElfError::Unsupported("misaligned program header table"));
    }
    Ok(())
}

/// The loadable segment `header` describes, checked; `None` for segments not loaded.
fn segment(header: ProgramHeader<'_>, image_length: u64) -> Result<Option<Segment>, ElfError> {
    match header.get_type() {
        Ok(program::Type::Interp) => {
            return Err(ElfError::Unsupported(
                "has an interpreter (dynamically linked)",
            ));
        }
        Ok(program::Type::Load) => {}
        _ => return Ok(None),
    }
    let flags = header.flags();
    let segment = Segment {
        offset: header.offset(),
        address: header.virtual_addr(),
        file_size: header.file_size(),
        memory_size: header.mem_size(),
        access: UserPageAccess {
            writable: flags.is_write(),
            executable: flags.is_execute(),
        },
    };
    let end = segment.address.checked_add(segment.memory_size);
    let file_end = segment.offset.checked_add(segment.file_size);
    if segment.file_size > segment.memory_size
        || segment.address < LOWEST_LOAD_ADDRESS
        || end.is_none_or(|end| end > USER_END)
        || file_end.is_none_or(|end| end > image_length)
    {
        return Err(ElfError::BadSegment(segment.address));
    }
    Ok(Some(segment))
}

/// The checked entry point and loadable segments of `image` (which is 8-byte aligned).
fn parse(image: &[u8]) -> Result<(u64, Vec<Segment>), ElfError> {
    let file = ElfFile::new(image).map_err(|_| ElfError::Unsupported("not an ELF file"))?;
    check_header(&file)?;
    let mut segments = Vec::new();
    for index in 0..file.header.pt2.ph_count() {
        let header = file
            .program_header(index)
            .map_err(|_| ElfError::Truncated)?;
        if let Some(segment) = segment(header, image.len() as u64)? {
            segments.push(segment);
        }
    }
    let entry = file.header.pt2.entry_point();
    let entry_is_loaded = segments.iter().any(|segment| {
        segment.access.executable
            && entry >= segment.address
            && entry < segment.address + segment.memory_size
    });
    if segments.is_empty() || !entry_is_loaded {
        return Err(ElfError::BadSegment(entry));
    }
    Ok((entry, segments))
}

/// Checks `image` and maps its `PT_LOAD` segments into `space` (zero-filled beyond the file
/// bytes); returns the entry point.
pub fn load(image: &[u8], space: &mut AddressSpace) -> Result<u64, ElfError> {
    let aligned_copy: Vec<u64>;
    let image = if (image.as_ptr() as usize).is_multiple_of(HEADER_ALIGNMENT) {
        image
    } else {
        aligned_copy = image
            .chunks(HEADER_ALIGNMENT)
            .map(|chunk| {
                let mut word = [0u8; HEADER_ALIGNMENT];
                word[..chunk.len()].copy_from_slice(chunk);
                u64::from_ne_bytes(word)
            })
            .collect();
        let bytes: &[u8] = zerocopy::IntoBytes::as_bytes(aligned_copy.as_slice());
        &bytes[..image.len()]
    };
    let (entry, segments) = parse(image)?;
    for segment in &segments {
        let first = segment.address & !(PAGE_SIZE - 1);
        let end = (segment.address + segment.memory_size).next_multiple_of(PAGE_SIZE);
        let mut page = first;
        while page < end {
            space.map_zeroed(page, segment.access)?;
            page += PAGE_SIZE;
        }
        let start = segment.offset as usize;
        let data = &image[start..start + segment.file_size as usize];
        space
            .write_with(segment.address, data, true)
            .map_err(|violation| ElfError::BadSegment(violation.address))?;
    }
    Ok(entry)
}
