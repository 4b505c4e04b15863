//! ACPI table parsing with the `acpi` crate (tables only, no AML): the MADT gives the local APIC,
//! the I/O APICs and the ISA interrupt source overrides, the FADT the PM timer, the HPET table
//! the HPET.
//!
//! [`KernelAcpiHandler`] implements the crate's `Handler` honestly: tables are read through the
//! physical-memory window (so unmapping is a no-op), port I/O and PCI configuration mechanism #1
//! are real, and the timing functions use the calibrated TSC.

use alloc::vec::Vec;
use core::ptr::NonNull;

use acpi::sdt::fadt::Fadt;
use acpi::sdt::madt::{Madt, MadtEntry};
use acpi::{AcpiTables, Handler, HpetInfo, PciAddress, PhysicalMapping};
use x86_64::PhysAddr;

use super::PlatformError;
use crate::arch::cpu;
use crate::memory::physical_to_virtual;

/// An I/O APIC from the MADT.
#[derive(Debug, Clone, Copy)]
pub struct IoApicInfo {
    /// Its APIC id.
    pub id: u8,
    /// Physical address of its registers.
    pub address: u64,
    /// First global system interrupt it serves.
    pub gsi_base: u32,
}

/// An ISA IRQ that the MADT remaps.
#[derive(Debug, Clone, Copy)]
pub struct InterruptOverride {
    /// ISA IRQ.
    pub isa_irq: u8,
    /// Global system interrupt it arrives on.
    pub gsi: u32,
    /// MPS INTI flags (polarity bits 0–1, trigger mode bits 2–3).
    pub flags: u16,
}

/// Where the ACPI PM timer lives.
#[derive(Debug, Clone, Copy)]
pub struct PmTimer {
    /// I/O port of the counter.
    pub port: u16,
    /// Whether the counter has 32 bits (else 24).
    pub is_32_bit: bool,
}

/// What the kernel learned from ACPI.
#[derive(Debug, Clone)]
pub struct PlatformInfo {
    /// Physical address of the local APIC registers.
    pub local_apic_address: u64,
    /// APIC ids of the enabled processors.
    pub processor_apic_ids: Vec<u32>,
    /// The I/O APICs.
    pub io_apics: Vec<IoApicInfo>,
    /// ISA interrupt source overrides.
    pub overrides: Vec<InterruptOverride>,
    /// The PM timer, when the FADT has one.
    pub pm_timer: Option<PmTimer>,
    /// Physical address of the HPET registers, when there is an HPET.
    pub hpet_address: Option<u64>,
    /// Whether the MADT says dual 8259 PICs are present.
    pub has_8259: bool,
}

/// The `acpi` crate's view of the machine.
#[derive(Debug, Clone, Copy)]
pub struct KernelAcpiHandler;

fn window_pointer<T>(address: usize) -> *mut T {
    physical_to_virtual(PhysAddr::new(address as u64)).as_mut_ptr()
}

impl Handler for KernelAcpiHandler {
    unsafe fn map_physical_region<T>(
        &self,
        physical_address: usize,
        size: usize,
    ) -> PhysicalMapping<Self, T> {
        PhysicalMapping {
            physical_start: physical_address,
            // The window maps all physical memory, and the address is never 0 + offset = null.
            virtual_start: NonNull::new(window_pointer(physical_address))
                .expect("the physical-memory window is never at address zero"),
            region_length: size,
            mapped_length: size,
            handler: *self,
        }
    }

    fn unmap_physical_region<T>(_region: &PhysicalMapping<Self, T>) {}

    fn read_u8(&self, address: usize) -> u8 {
        // SAFETY: the `acpi` crate asks for registers/tables in physical memory, which the
        // window maps; volatile because they may be device registers.
        unsafe { core::ptr::read_volatile(window_pointer(address)) }
    }
    fn read_u16(&self, address: usize) -> u16 {
        // SAFETY: as in `read_u8`.
        unsafe { core::ptr::read_volatile(window_pointer(address)) }
    }
    fn read_u32(&self, address: usize) -> u32 {
        // SAFETY: as in `read_u8`.
        unsafe { core::ptr::read_volatile(window_pointer(address)) }
    }
    fn read_u64(&self, address: usize) -> u64 {
        // SAFETY: as in `read_u8`.
        unsafe { core::ptr::read_volatile(window_pointer(address)) }
    }
    fn write_u8(&self, address: usize, value: u8) {
        // SAFETY: as in `read_u8`; ACPI only writes registers it owns.
        unsafe { core::ptr::write_volatile(window_pointer(address), value) }
    }
    fn write_u16(&self, address: usize, value: u16) {
        // SAFETY: as in `write_u8`.
        unsafe { core::ptr::write_volatile(window_pointer(address), value) }
    }
    fn write_u32(&self, address: usize, value: u32) {
        // SAFETY: as in `write_u8`.
        unsafe { core::ptr::write_volatile(window_pointer(address), value) }
    }
    fn write_u64(&self, address: usize, value: u64) {
        // SAFETY: as in `write_u8`.
        unsafe { core::ptr::write_volatile(window_pointer(address), value) }
    }
    fn read_io_u8(&self, port: u16) -> u8 {
        cpu::read_port_u8(port)
    }
    fn read_io_u16(&self, port: u16) -> u16 {
        cpu::read_port_u16(port)
    }
    fn read_io_u32(&self, port: u16) -> u32 {
        cpu::read_port_u32(port)
    }
    fn write_io_u8(&self, port: u16, value: u8) {
        cpu::write_port_u8(port, value)
    }
    fn write_io_u16(&self, port: u16, value: u16) {
        cpu::write_port_u16(port, value)
    }
    fn write_io_u32(&self, port: u16, value: u32) {
        cpu::write_port_u32(port, value)
    }
    fn read_pci_u8(&self, address: PciAddress, offset: u16) -> u8 {
        let shift = (offset & 3) * 8;
        (pci_read(address, offset) >> shift) as u8
    }
    fn read_pci_u16(&self, address: PciAddress, offset: u16) -> u16 {
        let shift = (offset & 2) * 8;
        (pci_read(address, offset) >> shift) as u16
    }
    fn read_pci_u32(&self, address: PciAddress, offset: u16) -> u32 {
        pci_read(address, offset)
    }
    fn write_pci_u8(&self, address: PciAddress, offset: u16, value: u8) {
        let shift = (offset & 3) * 8;
        let old = pci_read(address, offset) & !(0xff << shift);
        pci_write(address, offset, old | (u32::from(value) << shift));
    }
    fn write_pci_u16(&self, address: PciAddress, offset: u16, value: u16) {
        let shift = (offset & 2) * 8;
        let old = pci_read(address, offset) & !(0xffff << shift);
        pci_write(address, offset, old | (u32::from(value) << shift));
    }
    fn write_pci_u32(&self, address: PciAddress, offset: u16, value: u32) {
        pci_write(address, offset, value);
    }
    fn nanos_since_boot(&self) -> u64 {
        crate::clock::nanoseconds_since_boot()
    }
    fn stall(&self, microseconds: u64) {
        crate::clock::busy_wait_microseconds(microseconds);
    }
    fn sleep(&self, milliseconds: u64) {
        crate::clock::busy_wait_microseconds(milliseconds.saturating_mul(1000));
    }
}

/// PCI configuration mechanism #1 (ports 0xCF8/0xCFC), segment 0 only.
fn pci_config_address(address: PciAddress, offset: u16) -> u32 {
    0x8000_0000
        | (u32::from(address.bus()) << 16)
        | (u32::from(address.device()) << 11)
        | (u32::from(address.function()) << 8)
        | u32::from(offset & 0xfc)
}

fn pci_read(address: PciAddress, offset: u16) -> u32 {
    if address.segment() != 0 {
        return u32::MAX;
    }
    x86_64::instructions::interrupts::without_interrupts(|| {
        cpu::write_port_u32(0xcf8, pci_config_address(address, offset));
        cpu::read_port_u32(0xcfc)
    })
}

fn pci_write(address: PciAddress, offset: u16, value: u32) {
    if address.segment() != 0 {
        return;
    }
    x86_64::instructions::interrupts::without_interrupts(|| {
        cpu::write_port_u32(0xcf8, pci_config_address(address, offset));
        cpu::write_port_u32(0xcfc, value);
    })
}

/// Reads MADT, FADT and HPET from the tables at `rsdp_address`.
pub fn parse(rsdp_address: u64) -> Result<PlatformInfo, PlatformError> {
    // SAFETY: the RSDP address comes from the UEFI configuration table via the boot stub.
    let tables = unsafe { AcpiTables::from_rsdp(KernelAcpiHandler, rsdp_address as usize) }
        .map_err(|_| PlatformError::Acpi("invalid RSDP or RSDT/XSDT"))?;
    let madt = tables
        .find_table::<Madt>()
        .ok_or(PlatformError::Acpi("no MADT"))?;
    let madt_table = madt.get();
    let mut info = PlatformInfo {
        local_apic_address: u64::from(madt_table.local_apic_address),
        processor_apic_ids: Vec::new(),
        io_apics: Vec::new(),
        overrides: Vec::new(),
        pm_timer: None,
        hpet_address: None,
        has_8259: madt_table.supports_8259(),
    };
    for entry in madt_table.entries() {
        match entry {
            MadtEntry::LocalApic(local) if local.flags & 1 != 0 => {
                info.processor_apic_ids.push(u32::from(local.apic_id));
            }
            MadtEntry::LocalX2Apic(local) if local.flags & 1 != 0 => {
                info.processor_apic_ids.push(local.x2apic_id);
            }
            MadtEntry::IoApic(io_apic) => info.io_apics.push(IoApicInfo {
                id: io_apic.io_apic_id,
                address: u64::from(io_apic.io_apic_address),
                gsi_base: io_apic.global_system_interrupt_base,
            }),
            MadtEntry::InterruptSourceOverride(entry) if entry.bus == 0 => {
                info.overrides.push(InterruptOverride {
                    isa_irq: entry.irq,
                    gsi: entry.global_system_interrupt,
                    flags: entry.flags,
                });
            }
            MadtEntry::LocalApicAddressOverride(entry) => {
                info.local_apic_address = entry.local_apic_address;
            }
            _ => {}
        }
    }
    drop(madt);
    if let Some(fadt) = tables.find_table::<Fadt>()
        && let Ok(Some(block)) = fadt.pm_timer_block()
        && block.address_space == acpi::address::AddressSpace::SystemIo
    {
        info.pm_timer = Some(PmTimer {
            port: block.address as u16,
            is_32_bit: { fadt.flags }.pm_timer_is_32_bit(),
        });
    }
    if let Ok(hpet) = HpetInfo::new(&tables) {
        info.hpet_address = Some(hpet.base_address as u64);
    }
    log::debug!(
        "ACPI: local APIC {:#x}, {} processor(s), {} I/O APIC(s), {} override(s), PM timer {:?}, HPET {:?}, 8259 {}",
        info.local_apic_address,
        info.processor_apic_ids.len(),
        info.io_apics.len(),
        info.overrides.len(),
        info.pm_timer,
        info.hpet_address,
        info.has_8259
    );
    Ok(info)
}
