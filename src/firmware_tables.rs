//! The emulated firmware's share of a run: the file behind the high-gap dimm (with the `BIOS`
//! OperationRegion in its tail, as mu_msvm fills it at boot) and the SSDT that describes the
//! VMBus module device to the guest (`-acpitable`).

use crate::platform_layout::MemoryLayout;
use crate::qemu::RunnerError;
use std::fs::OpenOptions;
use std::io::{Seek, SeekFrom, Write};
use std::path::Path;

/// Creates the dimm's backing file (sparse, zero-filled) and writes the `BIOS` region and the
/// SSDT for `layout`.
pub fn write(layout: &MemoryLayout, dimm_file: &Path, ssdt_file: &Path) -> Result<(), RunnerError> {
    let failure = |what: &str, path: &Path| {
        let context = format!("{what} {}", path.display());
        move |error: std::io::Error| RunnerError::Io(format!("{context}: {error}"))
    };
    let mut file = OpenOptions::new()
        .create(true)
        .truncate(true)
        .read(true)
        .write(true)
        .open(dimm_file)
        .map_err(failure("create", dimm_file))?;
    file.set_len(layout.dimm.length)
        .map_err(failure("size", dimm_file))?;
    let region = emulator::acpi_tables::bios_region(&layout.gaps);
    file.seek(SeekFrom::Start(layout.bios_region_file_offset()))
        .and_then(|_| file.write_all(&region))
        .map_err(failure("write the BIOS region to", dimm_file))?;
    let ssdt = emulator::acpi_tables::vmbus_ssdt(layout.bios_region_address());
    std::fs::write(ssdt_file, ssdt).map_err(failure("write", ssdt_file))
}
