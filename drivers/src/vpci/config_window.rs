//! Config-space access through the trapped 8 KiB window (vpci.md §5).
//!
//! Page 0 offset 0 of the window is the bus's function-select register; page 1 is the
//! selected function's config space. Every access writes the slot to the select register and
//! then accesses `base + 0x1000 + offset` (Linux's procedure: one extra trap per access, but
//! immune to a host that forgot the selection). The select register is shared by the whole
//! bus; `&mut self` makes the select+access pair exclusive.
//!
//! Presence follows PCI: a function that is gone (or a window the host does not back) reads
//! all-ones, so a vendor id of 0xFFFF means "absent". A read whose value is all-ones is
//! confirmed by reading the vendor id; if that is 0xFFFF the read fails with
//! [`ConfigError::FunctionAbsent`] instead of handing all-ones on as data. Every later read of an
//! absent function fails the same way (it reads all-ones again), with no state to go stale when
//! the host puts a new function in the slot. Writes are not checked (PCI drops writes to an
//! absent function; the dxg probe reads the vendor id before its first write).
//!
//! The window is reached through [`MmioAccess`]: volatile loads and stores on real Hyper-V,
//! `MmioRead`/`MmioWrite` frames on the emulated link, a direct call into the emulated host in
//! tests.

// vPCI messages come from the host: nothing here may panic on what they hold.
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]

use super::wire::{
    CONFIG_SPACE_OFFSET, CONFIG_SPACE_SIZE, CONFIG_WINDOW_ALIGNMENT, CONFIG_WINDOW_SIZE, SlotNumber,
};
use hyperv::platform::{MmioAccess, PlatformError};

/// Config offset of the vendor id (low 16 bits of the first dword).
const VENDOR_ID_OFFSET: u16 = 0;
/// The vendor id an absent function reads as (all-ones, as PCI).
const ABSENT_VENDOR_ID: u16 = 0xFFFF;

/// A failed config-space access.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConfigError {
    /// The offset is not dword-aligned or beyond the 4 KiB config space.
    BadOffset(u16),
    /// The slot has reserved bits set.
    BadSlot(u32),
    /// The MMIO access failed.
    Mmio(PlatformError),
    /// The function in this slot is absent: its vendor id reads 0xFFFF.
    FunctionAbsent(u32),
}

impl From<PlatformError> for ConfigError {
    fn from(error: PlatformError) -> Self {
        ConfigError::Mmio(error)
    }
}

impl core::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            ConfigError::BadOffset(offset) => write!(f, "bad config offset {offset:#x}"),
            ConfigError::BadSlot(slot) => write!(f, "bad slot {slot:#x}"),
            ConfigError::Mmio(error) => write!(f, "config window access failed: {error}"),
            ConfigError::FunctionAbsent(slot) => {
                write!(f, "no function in slot {slot:#x} (vendor id 0xffff)")
            }
        }
    }
}

/// The config window of one vPCI bus.
#[derive(Debug)]
pub struct ConfigWindow<A: MmioAccess> {
    access: A,
    base: u64,
}

impl<A: MmioAccess> ConfigWindow<A> {
    /// The window at `base` (the GPA sent in BUS_D0ENTRY). `None` when `base` is not 4 KiB
    /// aligned or the window would wrap.
    pub fn new(access: A, base: u64) -> Option<Self> {
        if !base.is_multiple_of(CONFIG_WINDOW_ALIGNMENT)
            || base.checked_add(CONFIG_WINDOW_SIZE).is_none()
        {
            return None;
        }
        Some(Self { access, base })
    }

    /// The window's base GPA.
    pub fn base(&self) -> u64 {
        self.base
    }

    /// The MMIO access (e.g. to inspect a test double).
    pub fn access(&mut self) -> &mut A {
        &mut self.access
    }

    fn data_address(&mut self, slot: SlotNumber, offset: u16) -> Result<u64, ConfigError> {
        if !slot.is_valid() {
            return Err(ConfigError::BadSlot(slot.0));
        }
        if !offset.is_multiple_of(4) || u64::from(offset) >= CONFIG_SPACE_SIZE {
            return Err(ConfigError::BadOffset(offset));
        }
        self.access.mmio_write(self.base, 4, u64::from(slot.0))?;
        #[allow(
            clippy::arithmetic_side_effects,
            reason = "`new` checked base + CONFIG_WINDOW_SIZE (0x2000) fits a u64, and \
                      CONFIG_SPACE_OFFSET (0x1000) + offset (< CONFIG_SPACE_SIZE, 0x1000, \
                      checked above) < CONFIG_WINDOW_SIZE"
        )]
        let address = self.base + CONFIG_SPACE_OFFSET + u64::from(offset);
        Ok(address)
    }

    /// Reads the dword at `offset` of `slot`'s config space. An all-ones value (or a vendor id
    /// of 0xFFFF at offset 0) is checked against the vendor id:
    /// [`ConfigError::FunctionAbsent`] when the function is not there.
    pub fn read_u32(&mut self, slot: SlotNumber, offset: u16) -> Result<u32, ConfigError> {
        let value = self.read_raw(slot, offset)?;
        let vendor = if offset == VENDOR_ID_OFFSET {
            value as u16
        } else if value == u32::MAX {
            self.read_raw(slot, VENDOR_ID_OFFSET)? as u16
        } else {
            return Ok(value);
        };
        if vendor == ABSENT_VENDOR_ID {
            return Err(ConfigError::FunctionAbsent(slot.0));
        }
        Ok(value)
    }

    fn read_raw(&mut self, slot: SlotNumber, offset: u16) -> Result<u32, ConfigError> {
        let address = self.data_address(slot, offset)?;
        Ok(self.access.mmio_read(address, 4)? as u32)
    }

    /// Writes the dword at `offset` of `slot`'s config space.
    pub fn write_u32(
        &mut self,
        slot: SlotNumber,
        offset: u16,
        value: u32,
    ) -> Result<(), ConfigError> {
        let address = self.data_address(slot, offset)?;
        self.access.mmio_write(address, 4, u64::from(value))?;
        Ok(())
    }

    /// `slot`'s config space as a [`dxg::core::ConfigSpace`].
    pub fn function(&mut self, slot: SlotNumber) -> FunctionConfig<'_, A> {
        FunctionConfig { window: self, slot }
    }
}

/// One function's config space through its bus's window; what the dxg core probes.
#[derive(Debug)]
pub struct FunctionConfig<'a, A: MmioAccess> {
    window: &'a mut ConfigWindow<A>,
    slot: SlotNumber,
}

impl<A: MmioAccess> dxg::core::ConfigSpace for FunctionConfig<'_, A> {
    fn read_u32(&mut self, offset: u16) -> Result<u32, dxg::core::ConfigSpaceError> {
        self.window.read_u32(self.slot, offset).map_err(|error| {
            log::warn!(
                "vpci: config read {offset:#x} of slot {:#x}: {error}",
                self.slot.0
            );
            dxg::core::ConfigSpaceError
        })
    }

    fn write_u32(&mut self, offset: u16, value: u32) -> Result<(), dxg::core::ConfigSpaceError> {
        self.window
            .write_u32(self.slot, offset, value)
            .map_err(|error| {
                log::warn!(
                    "vpci: config write {offset:#x} of slot {:#x}: {error}",
                    self.slot.0
                );
                dxg::core::ConfigSpaceError
            })
    }
}
