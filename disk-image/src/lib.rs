//! Builds the dxgos boot disk: a GPT disk holding one FAT EFI system partition with
//!
//! - `\EFI\BOOT\BOOTX64.EFI`: the UEFI boot stub (the removable-media default path, so neither
//!   OVMF nor Hyper-V needs a boot entry),
//! - `\EFI\dxgos\kernel.elf`: the kernel,
//! - `\EFI\dxgos\cmdline.txt`: the kernel command line.
//!
//! Pure Rust (the `fatfs` and `gpt` crates): no mtools, no loop devices, no root. The root
//! package's `build.rs` uses it for `target/dxgos.img`, and the runner uses it to make a copy of
//! the disk with another command line for each run.
#![forbid(unsafe_code)]

use std::fs::{self, File};
use std::io::{self, Cursor, Seek, SeekFrom, Write};
use std::path::Path;

const SECTOR: u64 = 512;
const MIB: u64 = 1024 * 1024;

/// What goes on the EFI system partition.
pub struct DiskContents<'a> {
    /// The UEFI boot stub (PE32+).
    pub boot_stub: &'a [u8],
    /// The kernel ELF.
    pub kernel: &'a [u8],
    /// The kernel command line.
    pub command_line: &'a str,
}

/// A failure to build the disk image.
#[derive(Debug)]
pub enum DiskImageError {
    /// Reading or writing a file failed.
    Io(io::Error),
    /// The GPT library refused the layout.
    PartitionTable(String),
}

impl std::fmt::Display for DiskImageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DiskImageError::Io(error) => write!(f, "disk image I/O: {error}"),
            DiskImageError::PartitionTable(error) => write!(f, "GPT: {error}"),
        }
    }
}

impl std::error::Error for DiskImageError {}

impl From<io::Error> for DiskImageError {
    fn from(error: io::Error) -> Self {
        DiskImageError::Io(error)
    }
}

/// Builds the FAT file system of the EFI system partition in memory.
fn fat_partition(contents: &DiskContents<'_>) -> Result<Vec<u8>, DiskImageError> {
    let payload =
        (contents.boot_stub.len() + contents.kernel.len() + contents.command_line.len()) as u64;
    // Room for the files plus FAT overhead; at least 64 MiB so the volume is FAT32-sized,
    // which UEFI firmware always reads.
    let size = (payload * 5 / 4 + 8 * MIB)
        .next_multiple_of(MIB)
        .max(64 * MIB);
    let mut image = Cursor::new(vec![0u8; size as usize]);
    fatfs::format_volume(
        &mut image,
        fatfs::FormatVolumeOptions::new().volume_label(*b"DXGOS ESP  "),
    )?;
    {
        let file_system = fatfs::FileSystem::new(&mut image, fatfs::FsOptions::new())?;
        let root = file_system.root_dir();
        let efi = root.create_dir("EFI")?;
        let boot = efi.create_dir("BOOT")?;
        boot.create_file("BOOTX64.EFI")?
            .write_all(contents.boot_stub)?;
        let dxgos = efi.create_dir("dxgos")?;
        dxgos
            .create_file("kernel.elf")?
            .write_all(contents.kernel)?;
        dxgos
            .create_file("cmdline.txt")?
            .write_all(contents.command_line.as_bytes())?;
    }
    Ok(image.into_inner())
}

/// Builds the whole disk image in memory.
pub fn build(contents: &DiskContents<'_>) -> Result<Vec<u8>, DiskImageError> {
    let partition = fat_partition(contents)?;
    let partition_size = partition.len() as u64;
    // 1 MiB before the partition (GPT + alignment) and 1 MiB after it (backup GPT).
    let disk_size = partition_size + 2 * MIB;
    let mut disk = Cursor::new(vec![0u8; disk_size as usize]);
    let table_error = |error: gpt::GptError| DiskImageError::PartitionTable(error.to_string());
    let mbr = gpt::mbr::ProtectiveMBR::with_lb_size(
        u32::try_from(disk_size / SECTOR - 1).unwrap_or(u32::MAX),
    );
    mbr.overwrite_lba0(&mut disk)
        .map_err(|error| DiskImageError::PartitionTable(format!("{error:?}")))?;
    let mut table = gpt::GptConfig::new()
        .writable(true)
        .logical_block_size(gpt::disk::LogicalBlockSize::Lb512)
        .create_from_device(disk, None)
        .map_err(table_error)?;
    let id = table
        .add_partition(
            "EFI system partition",
            partition_size,
            gpt::partition_types::EFI,
            0,
            Some(MIB / SECTOR),
        )
        .map_err(table_error)?;
    let first_byte = table
        .partitions()
        .get(&id)
        .map(|entry| entry.first_lba * SECTOR)
        .ok_or_else(|| DiskImageError::PartitionTable("partition vanished".into()))?;
    let mut disk = table.write().map_err(table_error)?;
    disk.seek(SeekFrom::Start(first_byte))?;
    disk.write_all(&partition)?;
    Ok(disk.into_inner())
}

/// Builds the disk image and writes it to `path` (replacing any file there).
pub fn write(contents: &DiskContents<'_>, path: &Path) -> Result<(), DiskImageError> {
    let image = build(contents)?;
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent)?;
    }
    let temporary = path.with_extension("partial");
    File::create(&temporary)?.write_all(&image)?;
    fs::rename(&temporary, path)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn disk_has_protective_mbr_gpt_and_readable_files() {
        let contents = DiskContents {
            boot_stub: b"MZ stub",
            kernel: &[0x7f, b'E', b'L', b'F'],
            command_line: "mode=test",
        };
        let image = build(&contents).unwrap();
        // Protective MBR: boot signature and one partition of type 0xEE.
        assert_eq!(&image[510..512], &[0x55, 0xaa]);
        assert_eq!(image[446 + 4], 0xee);
        // Primary GPT header at LBA 1.
        assert_eq!(&image[512..520], b"EFI PART");
        // The first partition entry (LBA 2) has the EFI system partition type GUID
        // C12A7328-F81F-11D2-BA4B-00A0C93EC93B in its mixed-endian encoding.
        let entry = &image[1024..1024 + 128];
        assert_eq!(
            &entry[..16],
            &[
                0x28, 0x73, 0x2a, 0xc1, 0x1f, 0xf8, 0xd2, 0x11, 0xba, 0x4b, 0x00, 0xa0, 0xc9, 0x3e,
                0xc9, 0x3b
            ]
        );
        let first_lba = u64::from_le_bytes(entry[32..40].try_into().unwrap());
        let start = (first_lba * SECTOR) as usize;
        assert_eq!(start as u64 % MIB, 0, "partition is 1 MiB aligned");
        let mut partition = Cursor::new(image[start..image.len() - MIB as usize].to_vec());
        let file_system = fatfs::FileSystem::new(&mut partition, fatfs::FsOptions::new()).unwrap();
        let mut text = String::new();
        file_system
            .root_dir()
            .open_file("EFI/dxgos/cmdline.txt")
            .unwrap()
            .read_to_string(&mut text)
            .unwrap();
        assert_eq!(text, "mode=test");
        let mut stub = Vec::new();
        file_system
            .root_dir()
            .open_file("EFI/BOOT/BOOTX64.EFI")
            .unwrap()
            .read_to_end(&mut stub)
            .unwrap();
        assert_eq!(stub, b"MZ stub");
    }
}
