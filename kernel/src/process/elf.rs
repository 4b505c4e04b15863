//! A loader for the static ring-3 executables under `apps/`: ELF64, little-endian, x86-64,
//! `ET_EXEC`, `PT_LOAD` segments at their link addresses (no relocations, no interpreter).
//! Every field is checked against the file and the user half before anything is mapped.

use crate::arch::address_space::{AddressSpace, MapUserError, USER_END, UserPageAccess};

const PAGE_SIZE: u64 = 4096;
const HEADER_SIZE: usize = 64;
const PROGRAM_HEADER_SIZE: usize = 56;
const PT_LOAD: u32 = 1;
const PT_INTERP: u32 = 3;
const PF_X: u32 = 1;
const PF_W: u32 = 2;
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

fn bytes<const N: usize>(image: &[u8], offset: usize) -> Result<[u8; N], ElfError> {
    image
        .get(offset..offset.checked_add(N).ok_or(ElfError::Truncated)?)
        .and_then(|slice| slice.try_into().ok())
        .ok_or(ElfError::Truncated)
}

fn u16_at(image: &[u8], offset: usize) -> Result<u16, ElfError> {
    bytes::<2>(image, offset).map(u16::from_le_bytes)
}

fn u32_at(image: &[u8], offset: usize) -> Result<u32, ElfError> {
    bytes::<4>(image, offset).map(u32::from_le_bytes)
}

fn u64_at(image: &[u8], offset: usize) -> Result<u64, ElfError> {
    bytes::<8>(image, offset).map(u64::from_le_bytes)
}

struct Segment {
    offset: u64,
    address: u64,
    file_size: u64,
    memory_size: u64,
    access: UserPageAccess,
}

fn segment(image: &[u8], header: usize) -> Result<Option<Segment>, ElfError> {
    let kind = u32_at(image, header)?;
    if kind == PT_INTERP {
        return Err(ElfError::Unsupported(
            "has an interpreter (dynamically linked)",
        ));
    }
    if kind != PT_LOAD {
        return Ok(None);
    }
    let flags = u32_at(image, header + 4)?;
    let segment = Segment {
        offset: u64_at(image, header + 8)?,
        address: u64_at(image, header + 16)?,
        file_size: u64_at(image, header + 32)?,
        memory_size: u64_at(image, header + 40)?,
        access: UserPageAccess {
            writable: flags & PF_W != 0,
            executable: flags & PF_X != 0,
        },
    };
    let end = segment.address.checked_add(segment.memory_size);
    let file_end = segment.offset.checked_add(segment.file_size);
    if segment.file_size > segment.memory_size
        || segment.address < LOWEST_LOAD_ADDRESS
        || end.is_none_or(|end| end > USER_END)
        || file_end.is_none_or(|end| end > image.len() as u64)
    {
        return Err(ElfError::BadSegment(segment.address));
    }
    Ok(Some(segment))
}

/// Checks `image` and maps its `PT_LOAD` segments into `space` (zero-filled beyond the file
/// bytes); returns the entry point.
pub fn load(image: &[u8], space: &mut AddressSpace) -> Result<u64, ElfError> {
    if image.len() < HEADER_SIZE || image[..4] != [0x7f, b'E', b'L', b'F'] {
        return Err(ElfError::Unsupported("not an ELF file"));
    }
    if image[4] != 2 || image[5] != 1 {
        return Err(ElfError::Unsupported("not 64-bit little-endian"));
    }
    if u16_at(image, 16)? != 2 {
        return Err(ElfError::Unsupported("not a static executable (ET_EXEC)"));
    }
    if u16_at(image, 18)? != 62 {
        return Err(ElfError::Unsupported("not x86-64"));
    }
    let entry = u64_at(image, 24)?;
    let table = usize::try_from(u64_at(image, 32)?).map_err(|_| ElfError::Truncated)?;
    let entry_size = usize::from(u16_at(image, 54)?);
    let count = usize::from(u16_at(image, 56)?);
    if entry_size != PROGRAM_HEADER_SIZE {
        return Err(ElfError::Unsupported("unexpected program header size"));
    }
    let mut segments = alloc::vec::Vec::new();
    for index in 0..count {
        let header = table
            .checked_add(index * PROGRAM_HEADER_SIZE)
            .ok_or(ElfError::Truncated)?;
        if let Some(segment) = segment(image, header)? {
            segments.push(segment);
        }
    }
    let entry_is_loaded = segments.iter().any(|segment| {
        segment.access.executable
            && entry >= segment.address
            && entry < segment.address + segment.memory_size
    });
    if segments.is_empty() || !entry_is_loaded {
        return Err(ElfError::BadSegment(entry));
    }
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
