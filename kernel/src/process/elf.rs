//! A loader for the static ring-3 executables under `apps/`: ELF64, little-endian, x86-64,
//! `ET_EXEC`, `PT_LOAD` segments at their link addresses (no relocations, no interpreter).
//!
//! Parsing is `object`'s ELF reader (the crate the boot stub loads the kernel with), which
//! returns an error for any header or table that does not fit the file instead of panicking;
//! its types have alignment 1, so an image is read in place from any buffer address. This
//! loader checks what the reader does not: the file type, machine and `e_version`, the program
//! header size and alignment, and every field of each `PT_LOAD` segment against the user half
//! before anything is mapped, each failure a typed [`ElfError`].

use alloc::vec::Vec;

use object::LittleEndian;
use object::elf::{
    EM_X86_64, ET_EXEC, EV_CURRENT, FileHeader64, PF_W, PF_X, PT_INTERP, PT_LOAD, ProgramHeader64,
};
use object::read::elf::{FileHeader as _, ProgramHeader as _};

use crate::arch::address_space::{AddressSpace, MapUserError, USER_END, UserPageAccess};

const PAGE_SIZE: u64 = 4096;
const PROGRAM_HEADER_SIZE: u64 = 56;
/// Alignment of the program header table in the file: the gABI lays ELF64 structures out at
/// their natural alignment (that of their widest field).
const HEADER_ALIGNMENT: u64 = 8;
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

/// The ELF-64 header and program header types, little-endian.
type ElfHeader = FileHeader64<LittleEndian>;
type ProgramHeader = ProgramHeader64<LittleEndian>;

struct Segment<'image> {
    address: u64,
    memory_size: u64,
    /// The segment's bytes in the file (`p_filesz` of them).
    data: &'image [u8],
    access: UserPageAccess,
}

/// The file header, parsed by `object` (magic, ELFCLASS64, EI_VERSION and a known data
/// encoding) and checked here: little-endian, `ET_EXEC`, x86-64, `e_version` 1, 56-byte
/// program headers.
fn check_header(image: &[u8]) -> Result<&ElfHeader, ElfError> {
    let header = ElfHeader::parse(image).map_err(|_| ElfError::Unsupported("not an ELF file"))?;
    let endian = header
        .endian()
        .map_err(|_| ElfError::Unsupported("not 64-bit little-endian"))?;
    if header.e_type(endian) != ET_EXEC {
        return Err(ElfError::Unsupported("not a static executable (ET_EXEC)"));
    }
    if header.e_machine(endian) != EM_X86_64 {
        return Err(ElfError::Unsupported("not x86-64"));
    }
    if header.e_version(endian) != u32::from(EV_CURRENT.0) {
        return Err(ElfError::Unsupported("unknown ELF version"));
    }
    if u64::from(header.e_phentsize(endian)) != PROGRAM_HEADER_SIZE {
        return Err(ElfError::Unsupported("unexpected program header size"));
    }
    Ok(header)
}

/// The loadable segment `header` describes, checked; `None` for segments not loaded.
fn segment<'image>(
    header: &ProgramHeader,
    image: &'image [u8],
) -> Result<Option<Segment<'image>>, ElfError> {
    let endian = LittleEndian;
    match header.p_type(endian) {
        PT_INTERP => {
            return Err(ElfError::Unsupported(
                "has an interpreter (dynamically linked)",
            ));
        }
        PT_LOAD => {}
        _ => return Ok(None),
    }
    let flags = header.p_flags(endian).0;
    let address = header.p_vaddr(endian);
    let memory_size = header.p_memsz(endian);
    // `object` returns the file bytes or an error if they do not lie inside the image.
    let data = header
        .data(endian, image)
        .map_err(|_| ElfError::BadSegment(address))?;
    let end = address.checked_add(memory_size);
    if data.len() as u64 > memory_size
        || address < LOWEST_LOAD_ADDRESS
        || end.is_none_or(|end| end > USER_END)
    {
        return Err(ElfError::BadSegment(address));
    }
    Ok(Some(Segment {
        address,
        memory_size,
        data,
        access: UserPageAccess {
            writable: flags & PF_W.0 != 0,
            executable: flags & PF_X.0 != 0,
        },
    }))
}

/// The checked entry point and loadable segments of `image`: the program header table inside
/// the file (`object` checks), then at an aligned offset.
fn parse(image: &[u8]) -> Result<(u64, Vec<Segment<'_>>), ElfError> {
    let header = check_header(image)?;
    let program_headers = header
        .program_headers(LittleEndian, image)
        .map_err(|_| ElfError::Truncated)?;
    if !header
        .e_phoff(LittleEndian)
        .is_multiple_of(HEADER_ALIGNMENT)
    {
        return Err(ElfError::Unsupported("misaligned program header table"));
    }
    let mut segments = Vec::new();
    for program_header in program_headers {
        if let Some(segment) = segment(program_header, image)? {
            segments.push(segment);
        }
    }
    let entry = header.e_entry(LittleEndian);
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

/// What [`load`] reports about a loaded executable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoadedImage {
    /// The entry point.
    pub entry: u64,
    /// The user address of the program header table (for the auxiliary vector's AT_PHDR), or
    /// 0 when no `PT_LOAD` segment holds it.
    pub program_headers: u64,
    /// How many program headers there are (AT_PHNUM).
    pub program_header_count: u64,
}

/// The user address of the program header table: inside the `PT_LOAD` segment whose file
/// bytes contain it.
fn program_header_address(image: &[u8]) -> Result<u64, ElfError> {
    let header = check_header(image)?;
    let table = header.e_phoff(LittleEndian);
    let program_headers = header
        .program_headers(LittleEndian, image)
        .map_err(|_| ElfError::Truncated)?;
    let table_end = table + program_headers.len() as u64 * PROGRAM_HEADER_SIZE;
    Ok(program_headers
        .iter()
        .filter(|program_header| program_header.p_type(LittleEndian) == PT_LOAD)
        .find_map(|program_header| {
            let offset = program_header.p_offset(LittleEndian);
            let file_size = program_header.p_filesz(LittleEndian);
            (table >= offset && offset.checked_add(file_size)? >= table_end)
                .then(|| program_header.p_vaddr(LittleEndian) + (table - offset))
        })
        .unwrap_or(0))
}

/// Checks `image` and maps its `PT_LOAD` segments into `space` (zero-filled beyond the file
/// bytes); returns the entry point and where the program headers are.
pub fn load(image: &[u8], space: &mut AddressSpace) -> Result<LoadedImage, ElfError> {
    let (entry, segments) = parse(image)?;
    let program_headers = program_header_address(image)?;
    let program_header_count = u64::from(check_header(image)?.e_phnum(LittleEndian));
    for segment in &segments {
        let first = segment.address & !(PAGE_SIZE - 1);
        let end = (segment.address + segment.memory_size).next_multiple_of(PAGE_SIZE);
        let mut page = first;
        while page < end {
            space.map_zeroed(page, segment.access)?;
            page += PAGE_SIZE;
        }
        space
            .write_with(segment.address, segment.data, true)
            .map_err(|violation| ElfError::BadSegment(violation.address))?;
    }
    Ok(LoadedImage {
        entry,
        program_headers,
        program_header_count,
    })
}
