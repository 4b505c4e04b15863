//! Finding the VMBus MMIO gaps in the ACPI namespace, as Linux does.
//!
//! On a Hyper-V Generation 2 VM the firmware (microsoft/mu_msvm, `MsvmPkg/AcpiTables/Dsdt.asl`)
//! describes VMBus as `\_SB.VMOD.VMBS` (`_HID "MSFT1000"`, `_CID "VMBus"`) whose `_CRS` holds
//! only its interrupt. The gaps sit in the `_CRS` of the parent module device `\_SB.VMOD`
//! (`_HID "ACPI0004"`): a DWordMemory descriptor for the low gap and a QWordMemory descriptor
//! for the high gap, both zero in the static AML and filled by `VMOD._INI` from a firmware data
//! block (`OperationRegion (BIOS, SystemMemory, ...)`, `MsvmPkg/AcpiPlatformDxe/Dsdt.c`).
//!
//! [`find_vmbus_mmio_gaps`] follows Linux (`drivers/hv/vmbus_drv.c`: `vmbus_acpi_add`,
//! `vmbus_walk_resources`): find the VMBus device by its ids ("VMBUS"/"VMBus" as `_CID`, or
//! `_HID "MSFT1000"`), run the `_INI` methods of it and its ancestors (parents first, as ACPICA
//! does at namespace initialisation), then walk `_CRS` of the device and of each ancestor in
//! turn; the first one whose resource template holds memory address-space descriptors gives the
//! gaps. Like Linux it uses only DWord/QWord address descriptors (start `_MIN`, end `_MAX`),
//! ignores ranges ending below 1 MiB and ends a range that spans the vTPM base (0xFED40000)
//! just below it. Unlike Linux it treats a descriptor whose `_LEN` is zero as absent (the newer
//! firmware leaves `_MIN` 0 and `_MAX` 0xFFFFFFFF there for a gap of size zero) and skips
//! address descriptors whose resource type is not memory (I/O or bus-number windows).
//!
//! The AML comes from the host, so it runs in the bounded evaluator of [`aml`] (see
//! `docs/hyperv.md`, "Finding the MMIO gaps" for why not the `acpi` crate's interpreter). Physical memory (the
//! firmware data block) is read through the [`PhysicalMemory`] trait, so this module is free
//! of `unsafe` and runs in host tests and fuzzers.

pub mod aml;
pub mod resource;

use alloc::vec::Vec;
use core::fmt;

use hyperv::mmio::{FOUR_GIB, MmioGaps, MmioRange};

use aml::{AmlError, AmlPath, Interpreter, TABLE_HEADER_LENGTH, Value};
use resource::ResourceError;

/// Largest DSDT or SSDT accepted.
pub const MAXIMUM_TABLE_LENGTH: usize = 1024 * 1024;
/// Most tables (the DSDT and the SSDTs) accepted.
pub const MAXIMUM_TABLES: usize = 64;
/// Linux ignores VMBus ranges that end below 1 MiB (`vmbus_walk_resources`).
const ONE_MIB: u64 = 1 << 20;
/// Base of the Hyper-V vTPM registers; Linux ends a range that spans it just below it.
pub const VTPM_BASE_ADDRESS: u64 = 0xFED4_0000;
/// The ids Linux binds the VMBus driver to (`vmbus_acpi_device_ids`), and the firmware's `_HID`.
const VMBUS_IDS: [&[u8]; 3] = [b"VMBUS", b"VMBus", b"MSFT1000"];

/// A read of guest-physical memory failed (unmapped or outside what the reader allows).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemoryReadError {
    /// First address of the failed read.
    pub address: u64,
    /// Its length in bytes.
    pub length: usize,
}

impl fmt::Display for MemoryReadError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            formatter,
            "cannot read {} byte(s) of physical memory at {:#x}",
            self.length, self.address
        )
    }
}

/// Reads guest-physical memory (the AML's SystemMemory operation regions).
pub trait PhysicalMemory {
    /// Fills `bytes` from physical address `address`.
    fn read(&self, address: u64, bytes: &mut [u8]) -> Result<(), MemoryReadError>;
}

/// Why a table was not accepted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TableError {
    /// Shorter than a header, or its header length disagrees with the bytes given.
    BadLength,
    /// Larger than [`MAXIMUM_TABLE_LENGTH`].
    TooLarge,
    /// Neither "DSDT" nor "SSDT".
    NotAml,
}

/// Why the VMBus MMIO gaps were not found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GapsError {
    /// A table's header is unusable.
    InvalidTable {
        /// Position in the list given.
        index: usize,
        /// What is wrong with it.
        reason: TableError,
    },
    /// More than [`MAXIMUM_TABLES`] tables.
    TooManyTables,
    /// No present device with `_HID "MSFT1000"` or `_CID "VMBus"`. `load_error` is the first
    /// AML error met while loading the tables (a block that could not be loaded).
    NoVmbusDevice {
        /// First load error, if any.
        load_error: Option<AmlError>,
    },
    /// The VMBus device's `_STA` or an ancestor's `_INI` failed.
    Evaluation {
        /// The object evaluated.
        path: AmlPath,
        /// Why it failed.
        error: AmlError,
    },
    /// A `_CRS` that did not evaluate to a valid resource template.
    InvalidResources {
        /// The device whose `_CRS` it is.
        path: AmlPath,
        /// Why it is invalid.
        error: ResourceError,
    },
    /// A memory descriptor with `_MAX` below `_MIN`, or reaching the last address (2^64 - 1).
    InvalidRange {
        /// The device whose `_CRS` holds it.
        path: AmlPath,
        /// Its `_MIN`.
        minimum: u64,
        /// Its `_MAX`.
        maximum: u64,
    },
    /// More ranges than one low and one high gap, not adjacent to each other.
    TooManyRanges(AmlPath),
    /// A range starting below 4 GiB that reaches into the range above it.
    OverlappingRanges(AmlPath),
    /// The VMBus device was found, but neither it nor any ancestor has memory descriptors in
    /// its `_CRS`.
    NoMmioRanges {
        /// The VMBus device.
        device: AmlPath,
    },
}

impl fmt::Display for GapsError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GapsError::InvalidTable { index, reason } => {
                write!(formatter, "ACPI table {index} unusable: {reason:?}")
            }
            GapsError::TooManyTables => formatter.write_str("too many ACPI tables"),
            GapsError::NoVmbusDevice { load_error: None } => {
                formatter.write_str("no VMBus device (_HID MSFT1000 / _CID VMBus) in ACPI")
            }
            GapsError::NoVmbusDevice {
                load_error: Some(error),
            } => write!(
                formatter,
                "no VMBus device (_HID MSFT1000 / _CID VMBus) in ACPI (first AML error: {error})"
            ),
            GapsError::Evaluation { path, error } => write!(formatter, "{path}: {error}"),
            GapsError::InvalidResources { path, error } => {
                write!(formatter, "{path}._CRS: {error}")
            }
            GapsError::InvalidRange {
                path,
                minimum,
                maximum,
            } => write!(
                formatter,
                "{path}._CRS: invalid memory range {minimum:#x}..={maximum:#x}"
            ),
            GapsError::TooManyRanges(path) => {
                write!(
                    formatter,
                    "{path}._CRS: more than one low and one high range"
                )
            }
            GapsError::OverlappingRanges(path) => {
                write!(formatter, "{path}._CRS: the low and high ranges overlap")
            }
            GapsError::NoMmioRanges { device } => write!(
                formatter,
                "no VMBus MMIO ranges: neither {device} nor its ancestors have memory in _CRS"
            ),
        }
    }
}

/// Finds the VMBus MMIO gaps in `tables` (the DSDT first, then the SSDTs, each with its
/// header), reading operation regions through `memory`. Returns the gaps as the firmware
/// describes them (after Linux's filtering, see the module docs); the caller reserves the
/// framebuffer.
pub fn find_vmbus_mmio_gaps(
    tables: &[&[u8]],
    memory: &dyn PhysicalMemory,
) -> Result<MmioGaps, GapsError> {
    if tables.len() > MAXIMUM_TABLES {
        return Err(GapsError::TooManyTables);
    }
    let mut interpreter = Interpreter::new(memory);
    for (index, table) in tables.iter().enumerate() {
        let revision =
            check_table(table).map_err(|reason| GapsError::InvalidTable { index, reason })?;
        interpreter.load_table(table, revision);
    }
    let device = find_vmbus_device(&mut interpreter)?;
    run_initialisation(&mut interpreter, &device)?;
    let mut node = Some(device.clone());
    while let Some(path) = node {
        if let Some(gaps) = gaps_from_resources(&mut interpreter, &path)? {
            log::debug!("VMBus {device}: MMIO gaps from {path}._CRS: {gaps:?}");
            return Ok(gaps);
        }
        node = path.parent();
    }
    Err(GapsError::NoMmioRanges { device })
}

/// Checks a table's header and returns its revision.
fn check_table(table: &[u8]) -> Result<u8, TableError> {
    if table.len() < TABLE_HEADER_LENGTH {
        return Err(TableError::BadLength);
    }
    if &table[0..4] != b"DSDT" && &table[0..4] != b"SSDT" {
        return Err(TableError::NotAml);
    }
    let length = u32::from_le_bytes([table[4], table[5], table[6], table[7]]);
    if usize::try_from(length).map_or(true, |length| length > MAXIMUM_TABLE_LENGTH)
        || table.len() > MAXIMUM_TABLE_LENGTH
    {
        return Err(TableError::TooLarge);
    }
    if usize::try_from(length) != Ok(table.len()) {
        return Err(TableError::BadLength);
    }
    let checksum = table.iter().fold(0u8, |sum, byte| sum.wrapping_add(*byte));
    if checksum != 0 {
        // Linux only warns about a bad checksum; so do we.
        log::warn!(
            "ACPI {} checksum is wrong",
            core::str::from_utf8(&table[0..4]).unwrap_or("?")
        );
    }
    Ok(table[8])
}

/// The first present device whose `_HID` or `_CID` is a VMBus id.
fn find_vmbus_device(interpreter: &mut Interpreter<'_>) -> Result<AmlPath, GapsError> {
    let candidates: Vec<AmlPath> = interpreter.devices().cloned().collect();
    for device in candidates {
        let mut is_vmbus = false;
        for id_name in [*b"_HID", *b"_CID"] {
            let id_path = device.child(id_name);
            if interpreter.is_method(&id_path) {
                continue; // ids are data objects on Hyper-V; methods are not run for matching
            }
            if let Ok(Some(Value::String(id))) = interpreter.evaluate(&id_path) {
                is_vmbus |= VMBUS_IDS.contains(&id.as_slice());
            }
        }
        if !is_vmbus {
            continue;
        }
        let status_path = device.child(*b"_STA");
        let status = match interpreter.evaluate(&status_path) {
            Ok(None) => 0x0F,
            Ok(Some(Value::Integer(status))) => status,
            Ok(Some(_)) => {
                return Err(GapsError::Evaluation {
                    path: status_path,
                    error: AmlError::TypeMismatch(0),
                });
            }
            Err(error) => {
                return Err(GapsError::Evaluation {
                    path: status_path,
                    error,
                });
            }
        };
        if status & 1 != 0 {
            return Ok(device);
        }
        log::debug!("VMBus device {device} is not present (_STA {status:#x})");
    }
    Err(GapsError::NoVmbusDevice {
        load_error: interpreter.first_load_error.clone(),
    })
}

/// Runs `_INI` of every device from the outermost ancestor down to `device`.
fn run_initialisation(
    interpreter: &mut Interpreter<'_>,
    device: &AmlPath,
) -> Result<(), GapsError> {
    for length in 1..=device.0.len() {
        let node = AmlPath(device.0[..length].to_vec());
        let initialise = node.child(*b"_INI");
        if interpreter.is_device(&node) && interpreter.is_method(&initialise) {
            interpreter
                .evaluate(&initialise)
                .map_err(|error| GapsError::Evaluation {
                    path: initialise,
                    error,
                })?;
        }
    }
    Ok(())
}

/// The gaps in `path._CRS`, or `None` when it has no usable memory descriptor (or no
/// `_CRS`, or one that cannot be evaluated: Linux moves on to the parent then too).
fn gaps_from_resources(
    interpreter: &mut Interpreter<'_>,
    path: &AmlPath,
) -> Result<Option<MmioGaps>, GapsError> {
    let resources_path = path.child(*b"_CRS");
    let template = match interpreter.evaluate(&resources_path) {
        Ok(Some(Value::Buffer(bytes))) => bytes,
        Ok(_) => return Ok(None),
        Err(error) => {
            log::debug!("{resources_path}: {error}");
            return Ok(None);
        }
    };
    let windows =
        resource::memory_windows(&template).map_err(|error| GapsError::InvalidResources {
            path: path.clone(),
            error,
        })?;
    let mut gaps = MmioGaps::default();
    let mut found = false;
    for window in windows {
        if window.length == 0 {
            continue;
        }
        let invalid = || GapsError::InvalidRange {
            path: path.clone(),
            minimum: window.minimum,
            maximum: window.maximum,
        };
        if window.maximum < window.minimum {
            return Err(invalid());
        }
        if window.maximum < ONE_MIB {
            continue;
        }
        let mut maximum = window.maximum;
        if window.minimum < VTPM_BASE_ADDRESS && maximum >= VTPM_BASE_ADDRESS {
            maximum = VTPM_BASE_ADDRESS - 1;
        }
        let length = (maximum - window.minimum)
            .checked_add(1)
            .ok_or_else(invalid)?;
        let range = MmioRange::new(window.minimum, length);
        if range.end().is_none() {
            return Err(invalid());
        }
        let slot = if range.base < FOUR_GIB {
            &mut gaps.low
        } else {
            &mut gaps.high
        };
        *slot = Some(match *slot {
            None => range,
            Some(existing) => merge_adjacent(existing, range)
                .ok_or_else(|| GapsError::TooManyRanges(path.clone()))?,
        });
        found = true;
    }
    if let (Some(low), Some(high)) = (gaps.low, gaps.high)
        && low.overlaps(&high)
    {
        return Err(GapsError::OverlappingRanges(path.clone()));
    }
    Ok(found.then_some(gaps))
}

/// The union of two ranges that touch (Linux merges adjacent VMBus ranges), else `None`.
fn merge_adjacent(first: MmioRange, second: MmioRange) -> Option<MmioRange> {
    let (lower, upper) = if first.base <= second.base {
        (first, second)
    } else {
        (second, first)
    };
    if lower.end()? != upper.base {
        return None;
    }
    Some(MmioRange::new(
        lower.base,
        lower.length.checked_add(upper.length)?,
    ))
}

#[cfg(test)]
mod tests;
