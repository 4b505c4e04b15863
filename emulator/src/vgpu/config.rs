//! The vGPU PCI function's configuration words (dxg.md §1.2), exposed as data for the vPCI
//! emulation: 0xC0 channel instance GUID, 0xD0 interface version, 0xD4 vGPU LUID (read) /
//! guest caps (write), 0xDC host caps.

use dxg::wire::{
    Guid, INTERFACE_VERSION, Luid, PCI_CONFIG_GUID, PCI_CONFIG_HOST_CAPS,
    PCI_CONFIG_LUID_OR_GUEST_CAPS, PCI_CONFIG_VERSION,
};

/// Config-space state of one GPU-PV PCI function.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VgpuPciConfig {
    /// vGPU channel instance GUID (its first 8 bytes are the adapter LUID).
    pub channel_instance: Guid,
    /// Interface version the host reports at 0xD0.
    pub host_version: u32,
    /// Host vGPU LUID returned at 0xD4..0xDB.
    pub vgpu_luid: Luid,
    /// Host capability word at 0xDC (bit 0 = map_guest_memory).
    pub host_caps: u32,
    /// The version the guest wrote at 0xD0 (0 until written).
    pub guest_version: u32,
    /// The guest caps the guest wrote at 0xD4 (0 until written).
    pub guest_caps: u32,
}

impl VgpuPciConfig {
    /// A function reporting interface version 40 and no host caps.
    pub fn new(channel_instance: Guid, vgpu_luid: Luid) -> Self {
        Self {
            channel_instance,
            host_version: INTERFACE_VERSION,
            vgpu_luid,
            host_caps: 0,
            guest_version: 0,
            guest_caps: 0,
        }
    }

    /// Reads the dword at `offset` (0 for offsets this function does not define).
    pub fn read_u32(&self, offset: u16) -> u32 {
        let guid = &self.channel_instance.bytes;
        match offset {
            o if o >= PCI_CONFIG_GUID && o % 4 == 0 => {
                // The GUID's 16 bytes are the dwords at 0xC0..0xCF; past them, 0.
                let start = usize::from(o.saturating_sub(PCI_CONFIG_GUID));
                guid.get(start..start.saturating_add(4))
                    .and_then(|bytes| bytes.try_into().ok())
                    .map_or_else(|| self.read_register(o), u32::from_le_bytes)
            }
            _ => self.read_register(offset),
        }
    }

    /// The dwords after the GUID (0 for offsets this function does not define).
    fn read_register(&self, offset: u16) -> u32 {
        match offset {
            PCI_CONFIG_VERSION => self.host_version,
            PCI_CONFIG_LUID_OR_GUEST_CAPS => self.vgpu_luid.low,
            o if Some(o) == PCI_CONFIG_LUID_OR_GUEST_CAPS.checked_add(4) => self.vgpu_luid.high,
            PCI_CONFIG_HOST_CAPS => self.host_caps,
            _ => 0,
        }
    }

    /// Writes the dword at `offset`: 0xD0 records the guest version, 0xD4 the guest caps (the
    /// LUID read back at 0xD4 is unchanged); other writes are ignored.
    pub fn write_u32(&mut self, offset: u16, value: u32) {
        match offset {
            PCI_CONFIG_VERSION => self.guest_version = value,
            PCI_CONFIG_LUID_OR_GUEST_CAPS => self.guest_caps = value,
            _ => {}
        }
    }

    /// The config words 0xC0..0xDF as bytes (reads view), for a vPCI config-space image.
    pub fn words(&self) -> [u32; 8] {
        let mut words = [0u32; 8];
        let offsets = (PCI_CONFIG_GUID..=u16::MAX).step_by(4);
        for (word, offset) in words.iter_mut().zip(offsets) {
            *word = self.read_u32(offset);
        }
        words
    }
}

impl dxg::core::ConfigSpace for VgpuPciConfig {
    fn read_u32(&mut self, offset: u16) -> Result<u32, dxg::core::ConfigSpaceError> {
        Ok(VgpuPciConfig::read_u32(self, offset))
    }
    fn write_u32(&mut self, offset: u16, value: u32) -> Result<(), dxg::core::ConfigSpaceError> {
        VgpuPciConfig::write_u32(self, offset, value);
        Ok(())
    }
}
