//! Finding QEMU and the OVMF firmware, with a clear message when either is missing.

use std::path::{Path, PathBuf};

/// The apt-get line that installs everything the runner needs on Debian or Ubuntu.
pub const INSTALL_HINT: &str = "install them with: sudo apt-get install -y qemu-system-x86 ovmf";

/// OVMF firmware files: the code (read-only) and a template of the variable store.
#[derive(Debug, Clone)]
pub struct Firmware {
    /// OVMF code volume, mapped read-only.
    pub code: PathBuf,
    /// Variable-store template; each run gets a writable copy.
    pub variables: PathBuf,
}

/// QEMU or OVMF could not be found.
#[derive(Debug)]
pub enum FirmwareError {
    /// No `qemu-system-x86_64` on the PATH (or at `$DXGOS_QEMU`).
    QemuMissing,
    /// No OVMF at the usual Debian paths (or at `$DXGOS_OVMF_CODE`/`$DXGOS_OVMF_VARS`).
    OvmfMissing {
        /// The paths that were tried.
        tried: Vec<PathBuf>,
    },
}

impl std::fmt::Display for FirmwareError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FirmwareError::QemuMissing => {
                write!(
                    f,
                    "qemu-system-x86_64 was not found on the PATH (or at $DXGOS_QEMU); {INSTALL_HINT}"
                )
            }
            FirmwareError::OvmfMissing { tried } => {
                let tried: Vec<String> = tried
                    .iter()
                    .map(|path| path.display().to_string())
                    .collect();
                write!(
                    f,
                    "OVMF UEFI firmware was not found (tried {}; set DXGOS_OVMF_CODE and DXGOS_OVMF_VARS to use another); {INSTALL_HINT}",
                    tried.join(", ")
                )
            }
        }
    }
}

impl std::error::Error for FirmwareError {}

/// Finds `qemu-system-x86_64`: `$DXGOS_QEMU`, else the PATH.
pub fn find_qemu() -> Result<PathBuf, FirmwareError> {
    if let Some(path) = std::env::var_os("DXGOS_QEMU") {
        let path = PathBuf::from(path);
        return if path.is_file() {
            Ok(path)
        } else {
            Err(FirmwareError::QemuMissing)
        };
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|directory| directory.join("qemu-system-x86_64"))
        .find(|candidate| candidate.is_file())
        .ok_or(FirmwareError::QemuMissing)
}

/// Finds OVMF: `$DXGOS_OVMF_CODE` + `$DXGOS_OVMF_VARS`, else Debian's 4 MiB then 2 MiB builds.
pub fn find_firmware() -> Result<Firmware, FirmwareError> {
    if let (Some(code), Some(variables)) = (
        std::env::var_os("DXGOS_OVMF_CODE"),
        std::env::var_os("DXGOS_OVMF_VARS"),
    ) {
        return firmware_at(&[(PathBuf::from(code), PathBuf::from(variables))]);
    }
    let pairs: Vec<(PathBuf, PathBuf)> = [
        (
            "/usr/share/OVMF/OVMF_CODE_4M.fd",
            "/usr/share/OVMF/OVMF_VARS_4M.fd",
        ),
        (
            "/usr/share/OVMF/OVMF_CODE.fd",
            "/usr/share/OVMF/OVMF_VARS.fd",
        ),
        (
            "/usr/share/edk2/ovmf/OVMF_CODE.fd",
            "/usr/share/edk2/ovmf/OVMF_VARS.fd",
        ),
        (
            "/usr/share/edk2/x64/OVMF_CODE.4m.fd",
            "/usr/share/edk2/x64/OVMF_VARS.4m.fd",
        ),
    ]
    .iter()
    .map(|(code, variables)| (PathBuf::from(code), PathBuf::from(variables)))
    .collect();
    firmware_at(&pairs)
}

fn firmware_at(pairs: &[(PathBuf, PathBuf)]) -> Result<Firmware, FirmwareError> {
    pairs
        .iter()
        .find(|(code, variables)| is_file(code) && is_file(variables))
        .map(|(code, variables)| Firmware {
            code: code.clone(),
            variables: variables.clone(),
        })
        .ok_or_else(|| FirmwareError::OvmfMissing {
            tried: pairs.iter().map(|(code, _)| code.clone()).collect(),
        })
}

fn is_file(path: &Path) -> bool {
    path.is_file()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_firmware_names_the_paths_and_the_install_line() {
        let error = firmware_at(&[(
            PathBuf::from("/nonexistent/CODE.fd"),
            PathBuf::from("/nonexistent/VARS.fd"),
        )])
        .unwrap_err();
        let text = error.to_string();
        assert!(text.contains("/nonexistent/CODE.fd"), "{text}");
        assert!(
            text.contains("apt-get install -y qemu-system-x86 ovmf"),
            "{text}"
        );
        assert!(
            FirmwareError::QemuMissing
                .to_string()
                .contains("apt-get install")
        );
    }
}
