//! Naming the functions of several vPCI buses apart.
//!
//! Every vPCI channel is a PCI bus of its own, and slot numbers restart at 0 on each, so a
//! slot alone does not name a function once a VM has several buses (a NIC VF, an assigned
//! device, two GPU partitions). Linux gives each bus a PCI domain ("segment") number taken
//! from bytes 4 and 5 of the channel's instance GUID (`b[5] << 8 | b[4]`), never 0 (Gen1 VMs
//! use domain 0 for the emulated bus), and picks another unused number on a collision
//! (torvalds/linux `drivers/pci/controller/pci-hyperv.c`, `hv_pci_probe`). [`PciDomains`]
//! does the same; [`FunctionAddress`] is the bus-qualified name of one function.

// vPCI messages come from the host: nothing here may panic on what they hold.
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]

use super::wire::SlotNumber;
use alloc::collections::BTreeSet;

/// The domain number a bus asks for: bytes 4 and 5 of its channel's instance GUID (as stored
/// on the wire), little-endian.
pub fn requested_domain(instance: &[u8; 16]) -> u16 {
    u16::from_le_bytes([instance[4], instance[5]])
}

/// The domain numbers of the buses present, handed out as Linux does (see the module docs).
#[derive(Clone, Debug, Default)]
pub struct PciDomains {
    used: BTreeSet<u16>,
}

impl PciDomains {
    /// No bus yet.
    pub fn new() -> Self {
        PciDomains::default()
    }

    /// A domain for the bus of channel `instance`: the one it asks for when free and not 0,
    /// otherwise the lowest free non-zero number. `None` when all 65535 are taken.
    pub fn allocate(&mut self, instance: &[u8; 16]) -> Option<u16> {
        let requested = requested_domain(instance);
        let domain = if requested != 0 && !self.used.contains(&requested) {
            requested
        } else {
            (1..=u16::MAX).find(|candidate| !self.used.contains(candidate))?
        };
        self.used.insert(domain);
        Some(domain)
    }

    /// The bus of `domain` went away; its number may be reused.
    pub fn release(&mut self, domain: u16) {
        self.used.remove(&domain);
    }
}

/// A function's bus-qualified address: its bus's domain and its slot on that bus.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct FunctionAddress {
    /// The bus's PCI domain ([`PciDomains`]).
    pub domain: u16,
    /// The slot on the bus (device | function << 5).
    pub slot: SlotNumber,
}

impl FunctionAddress {
    /// One number for the address: domain in bits 16–31, slot in bits 0–15 (a valid slot uses
    /// only bits 0–7). Distinct addresses with valid slots give distinct numbers; this is the
    /// id the dxg core keeps for the function (`Driver::probe_pci_function`).
    pub const fn as_u32(self) -> u32 {
        (self.domain as u32) << 16 | (self.slot.0 & 0xFFFF)
    }
}
