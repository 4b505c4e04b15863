//! ACPI table parsing with the `acpi` crate (tables only, no AML): the MADT gives the local APIC,
//! the I/O APICs and the ISA interrupt source overrides, the FADT the PM timer, the HPET table
//! the HPET.
//!
//! The VMBus MMIO gaps come from AML (`\_SB.VMOD._CRS`, filled by its `_INI`): this module copies
//! the DSDT and SSDTs out of firmware memory (bounded in size) and hands them to the host-tested,
//! bounded AML evaluator in `drivers::acpi_mmio`, with [`FirmwareMemory`] as its reader of the
//! firmware's data block. The `acpi` crate's own AML interpreter is not used: it may panic on
//! malformed AML and has no loop bound (see `docs/hyperv.md`, "Finding the MMIO gaps").
//!
//! [`KernelAcpiHandler`] implements the crate's `Handler` honestly: tables are read through the
//! physical-memory window (so unmapping is a no-op), port I/O and PCI configuration mechanism #1
//! are real, and the timing functions use the calibrated TSC.

use alloc::vec::Vec;
use core::cell::RefCell;
use core::ptr::NonNull;

use crate::arch::pci_config::PciFunction;
use acpi::sdt::fadt::Fadt;
use acpi::sdt::madt::{Madt, MadtEntry};
use acpi::{AcpiTables, AmlTable, Handler, HpetInfo, PciAddress, PhysicalMapping};
use drivers::acpi_mmio::{
    self, GapsError, MAXIMUM_TABLE_LENGTH, MAXIMUM_TABLES, MemoryReadError, PhysicalMemory,
};
use drivers::acpi_sleep::{SleepTypeError, SleepTypes};
use hyperv::mmio::MmioGaps;
use x86_64::PhysAddr;

use super::PlatformError;
use crate::arch::cpu;
use crate::memory::physical_to_virtual;
use crate::memory::registers::RegisterBlock;

/// Most bytes of AML (DSDT and SSDTs together) copied for the VMBus gap search.
const MAXIMUM_AML_BYTES: usize = 2 * 1024 * 1024;
/// Most pages outside the physical-memory window the gap search may map (the firmware's data
/// block is one page or two).
const MAXIMUM_REGION_PAGES: usize = 8;
/// Size of the ACPI table header.
const TABLE_HEADER_LENGTH: usize = 36;

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
    /// The VMBus MMIO gaps from `_CRS` of the VMBus device's ancestors (the framebuffer is not
    /// yet taken out), or why they were not found.
    pub vmbus_mmio: Result<MmioGaps, GapsError>,
    /// How to power off and reset (FADT registers, `\_S5`).
    pub power: PowerControl,
}

/// An ACPI register the kernel can write: only SystemIO ports are supported (the PM1 control
/// and reset registers are I/O ports on Hyper-V Gen2 and QEMU's q35).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IoRegister {
    /// The port.
    pub port: u16,
}

/// What the FADT and `\_S5` say about powering off and resetting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PowerControl {
    /// PM1a control register.
    pub pm1a_control: Option<IoRegister>,
    /// PM1b control register, if any.
    pub pm1b_control: Option<IoRegister>,
    /// `\_S5`'s sleep types.
    pub s5: Result<SleepTypes, SleepTypeError>,
    /// The reset register and value, when the FADT says reset through it is supported.
    pub reset: Option<(IoRegister, u8)>,
}

impl Default for PowerControl {
    fn default() -> Self {
        PowerControl {
            pm1a_control: None,
            pm1b_control: None,
            s5: Err(SleepTypeError::NotFound),
            reset: None,
        }
    }
}

/// The port of a SystemIO generic address.
fn io_register(address: &acpi::address::GenericAddress) -> Option<IoRegister> {
    (address.address_space == acpi::address::AddressSpace::SystemIo)
        .then(|| u16::try_from(address.address).ok())
        .flatten()
        .map(|port| IoRegister { port })
}

/// The `acpi` crate's view of the machine.
#[derive(Debug, Clone, Copy)]
pub struct KernelAcpiHandler;

fn window_pointer<T>(address: usize) -> *mut T {
    physical_to_virtual(PhysAddr::new(address as u64)).as_mut_ptr()
}

/// The `T`-sized register or table field at physical `address`, through the window.
fn window_register<T>(address: usize) -> Option<RegisterBlock> {
    let physical = PhysAddr::try_new(address as u64).ok()?;
    // SAFETY: the `acpi` crate asks for registers and tables in physical memory, which the
    // window maps permanently; no Rust reference covers them; ACPI only writes registers it
    // owns.
    unsafe { RegisterBlock::new(physical_to_virtual(physical), size_of::<T>()) }
}

/// A volatile read for the `acpi` crate (registers may be device registers); 0 when the
/// address is outside physical memory or misaligned.
fn window_read<T: Copy + Default>(address: usize) -> T {
    let value = window_register::<T>(address).map(|register| register.read_at::<T>(0));
    match value {
        Some(Ok(value)) => value,
        Some(Err(error)) => {
            log::warn!("ACPI: read at {address:#x}: {error}");
            T::default()
        }
        None => T::default(),
    }
}

/// A volatile write for the `acpi` crate; ignored (logged) when the address is unusable.
fn window_write<T: Copy>(address: usize, value: T) {
    let result = window_register::<T>(address).map(|register| register.write_at(0, value));
    if !matches!(result, Some(Ok(()))) {
        log::warn!("ACPI: write at {address:#x} refused");
    }
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
        window_read(address)
    }
    fn read_u16(&self, address: usize) -> u16 {
        window_read(address)
    }
    fn read_u32(&self, address: usize) -> u32 {
        window_read(address)
    }
    fn read_u64(&self, address: usize) -> u64 {
        window_read(address)
    }
    fn write_u8(&self, address: usize, value: u8) {
        window_write(address, value);
    }
    fn write_u16(&self, address: usize, value: u16) {
        window_write(address, value);
    }
    fn write_u32(&self, address: usize, value: u32) {
        window_write(address, value);
    }
    fn write_u64(&self, address: usize, value: u64) {
        window_write(address, value);
    }
    fn read_io_u8(&self, port: u16) -> u8 {
        // SAFETY: the `acpi` crate's `Handler` I/O methods serve AML only (this kernel does not
        // run the crate's AML interpreter, module docs); a read of a port the firmware's AML
        // names for its own devices has no memory effect.
        unsafe { cpu::read_port_u8(port) }
    }
    fn read_io_u16(&self, port: u16) -> u16 {
        // SAFETY: the `acpi` crate's `Handler` I/O methods serve AML only (this kernel does not
        // run the crate's AML interpreter, module docs); a read of a port the firmware's AML
        // names for its own devices has no memory effect.
        unsafe { cpu::read_port_u16(port) }
    }
    fn read_io_u32(&self, port: u16) -> u32 {
        // SAFETY: the `acpi` crate's `Handler` I/O methods serve AML only (this kernel does not
        // run the crate's AML interpreter, module docs); a read of a port the firmware's AML
        // names for its own devices has no memory effect.
        unsafe { cpu::read_port_u32(port) }
    }
    fn write_io_u8(&self, port: u16, value: u8) {
        if is_pci_configuration_port(port) {
            log::warn!("acpi: refused a write to PCI configuration port {port:#x}");
            return;
        }
        // SAFETY: the `acpi` crate's `Handler` I/O methods serve AML only (this kernel does not
        // run the crate's AML interpreter, module docs); the port is one the firmware's AML
        // names for its own devices, and PCI configuration (the one port path to memory, BARs
        // and bus mastering) is refused above.
        unsafe { cpu::write_port_u8(port, value) }
    }
    fn write_io_u16(&self, port: u16, value: u16) {
        if is_pci_configuration_port(port) {
            log::warn!("acpi: refused a write to PCI configuration port {port:#x}");
            return;
        }
        // SAFETY: the `acpi` crate's `Handler` I/O methods serve AML only (this kernel does not
        // run the crate's AML interpreter, module docs); the port is one the firmware's AML
        // names for its own devices, and PCI configuration (the one port path to memory, BARs
        // and bus mastering) is refused above.
        unsafe { cpu::write_port_u16(port, value) }
    }
    fn write_io_u32(&self, port: u16, value: u32) {
        if is_pci_configuration_port(port) {
            log::warn!("acpi: refused a write to PCI configuration port {port:#x}");
            return;
        }
        // SAFETY: the `acpi` crate's `Handler` I/O methods serve AML only (this kernel does not
        // run the crate's AML interpreter, module docs); the port is one the firmware's AML
        // names for its own devices, and PCI configuration (the one port path to memory, BARs
        // and bus mastering) is refused above.
        unsafe { cpu::write_port_u32(port, value) }
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

/// Whether `port` is one of configuration mechanism #1's (0xCF8–0xCFF).
fn is_pci_configuration_port(port: u16) -> bool {
    crate::arch::pci_config::is_configuration_port(port)
}

/// The segment-0 function `address` names, or `None` on another segment (mechanism #1 reaches
/// segment 0 only).
fn segment_zero_function(address: PciAddress) -> Option<PciFunction> {
    (address.segment() == 0).then(|| PciFunction {
        bus: address.bus(),
        device: address.device(),
        function: address.function(),
    })
}

fn pci_read(address: PciAddress, offset: u16) -> u32 {
    segment_zero_function(address).map_or(u32::MAX, |function| function.read_u32(offset))
}

/// Whether a configuration write at `offset` could let the function reach memory: the
/// command register (memory space, bus master), the BARs and the expansion ROM BAR (PCI Local
/// Bus 3.0 §6.2, type 0 header; for a bridge these are its windows and bus numbers).
fn reaches_memory(offset: u16) -> bool {
    let register = offset & 0xfc;
    register == 0x04 || (0x10..0x28).contains(&register) || register == 0x30 || register == 0x38
}

fn pci_write(address: PciAddress, offset: u16, value: u32) {
    let function = segment_zero_function(address);
    let Some(function) = function.filter(|_| !reaches_memory(offset)) else {
        log::warn!("acpi: refused PCI configuration write at {offset:#x} of {address:?}");
        return;
    };
    // SAFETY: `offset` is not one of the registers through which a function decodes or reaches
    // memory (checked above), so the write cannot move a BAR over RAM or start DMA.
    unsafe { function.write_u32(offset, value) }
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
        vmbus_mmio: Err(GapsError::NoVmbusDevice { load_error: None }),
        power: PowerControl::default(),
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
    if let Some(fadt) = tables.find_table::<Fadt>() {
        info.power.pm1a_control = fadt
            .pm1a_control_block()
            .ok()
            .as_ref()
            .and_then(io_register);
        info.power.pm1b_control = fadt
            .pm1b_control_block()
            .ok()
            .flatten()
            .as_ref()
            .and_then(io_register);
        if { fadt.flags }.supports_system_reset_via_fadt()
            && let Ok(register) = fadt.reset_register()
            && let Some(port) = io_register(&register)
        {
            info.power.reset = Some((port, fadt.reset_value));
        }
    }
    if let Ok(hpet) = HpetInfo::new(&tables) {
        info.hpet_address = Some(hpet.base_address as u64);
    }
    let aml = copy_aml_tables(&tables);
    let slices: Vec<&[u8]> = aml.iter().map(Vec::as_slice).collect();
    info.vmbus_mmio = acpi_mmio::find_vmbus_mmio_gaps(&slices, &FirmwareMemory::default());
    info.power.s5 = drivers::acpi_sleep::find_s5(&slices);
    log::debug!("ACPI: power control {:?}", info.power);
    match &info.vmbus_mmio {
        Ok(gaps) => log::debug!("ACPI: VMBus MMIO gaps {gaps:?}"),
        Err(error) => log::info!("ACPI: {error}"),
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

/// Copies of the DSDT and SSDTs (bounded in number and bytes), for the VMBus MMIO gap search
/// and the `\_S5` lookup.
fn copy_aml_tables(tables: &AcpiTables<KernelAcpiHandler>) -> Vec<Vec<u8>> {
    let mut budget = MAXIMUM_AML_BYTES;
    tables
        .dsdt()
        .ok()
        .into_iter()
        .chain(tables.ssdts())
        .take(MAXIMUM_TABLES + 1)
        .filter_map(|table| copy_table(table, &mut budget))
        .collect()
}

/// A copy of an AML table out of firmware memory: whole, or only its header when it is larger
/// than the search accepts (the search then names it too large). `None` when it is not in the
/// physical-memory window or the copy budget is spent.
fn copy_table(table: AmlTable, budget: &mut usize) -> Option<Vec<u8>> {
    let length = usize::try_from(table.length).ok()?;
    let copied = if length > MAXIMUM_TABLE_LENGTH {
        TABLE_HEADER_LENGTH
    } else {
        length
    };
    if copied > *budget {
        log::warn!(
            "ACPI: AML table at {:#x} skipped: more than {MAXIMUM_AML_BYTES} bytes of AML",
            table.phys_address
        );
        return None;
    }
    let start = PhysAddr::try_new(table.phys_address as u64).ok()?;
    let table = RegisterBlock::in_window(start, copied as u64)?;
    *budget -= copied;
    let mut bytes = alloc::vec![0; copied];
    table.copy_to_slice(0, &mut bytes).ok()?;
    Some(bytes)
}

/// Reads the firmware data block the AML's SystemMemory regions name: through the
/// physical-memory window where it is mapped, else through an uncached mapping of its page,
/// made here (at most [`MAXIMUM_REGION_PAGES`], kept: mappings are permanent).
#[derive(Default)]
pub struct FirmwareMemory {
    mapped_pages: RefCell<Vec<(u64, RegisterBlock)>>,
}

impl FirmwareMemory {
    /// The byte at `physical`, mapping its page when the window does not cover it.
    fn byte(&self, physical: u64) -> Option<u8> {
        let address = PhysAddr::try_new(physical).ok()?;
        if let Some(window) = RegisterBlock::in_window(address, 1) {
            return window.read_at(0).ok();
        }
        let page = physical & !0xFFF;
        let offset = (physical - page) as usize;
        let mut mapped = self.mapped_pages.borrow_mut();
        if let Some((_, block)) = mapped.iter().find(|(mapped_page, _)| *mapped_page == page) {
            return block.read_at(offset).ok();
        }
        if mapped.len() >= MAXIMUM_REGION_PAGES {
            return None;
        }
        let block = RegisterBlock::map_device(PhysAddr::try_new(page).ok()?, 0x1000).ok()?;
        mapped.push((page, block));
        block.read_at(offset).ok()
    }
}

impl PhysicalMemory for FirmwareMemory {
    fn read(&self, address: u64, bytes: &mut [u8]) -> Result<(), MemoryReadError> {
        let error = MemoryReadError {
            address,
            length: bytes.len(),
        };
        for (index, byte) in bytes.iter_mut().enumerate() {
            let physical = address.checked_add(index as u64).ok_or(error)?;
            *byte = self.byte(physical).ok_or(error)?;
        }
        Ok(())
    }
}

/// The PCI configuration writes the ACPI handler refuses: the ones through which a function
/// reaches memory (command register, BARs, expansion ROM), and the mechanism #1 ports.
fn pci_writes_that_reach_memory_are_refused() -> crate::testing::TestResult {
    use crate::ensure;
    for offset in [0x04, 0x06, 0x10, 0x14, 0x24, 0x27, 0x30, 0x38] {
        ensure!(reaches_memory(offset), "offset {offset:#x} admitted");
    }
    for offset in [0x00, 0x08, 0x0c, 0x28, 0x2c, 0x34, 0x3c, 0x40, 0xfc] {
        ensure!(!reaches_memory(offset), "offset {offset:#x} refused");
    }
    ensure!(
        is_pci_configuration_port(0xcf8) && is_pci_configuration_port(0xcfc),
        "mechanism #1 ports admitted"
    );
    ensure!(
        !is_pci_configuration_port(0xcf7) && !is_pci_configuration_port(0xd00),
        "ports beside mechanism #1 refused"
    );
    // Mechanism #1 reaches 256 bytes: a higher offset answers all ones (no function there),
    // never the low register it would alias (0x104 & 0xfc is the command register).
    let host_bridge = PciFunction {
        bus: 0,
        device: 0,
        function: 0,
    };
    for offset in [0x100, 0x104, 0xffc] {
        let value = host_bridge.read_u32(offset);
        ensure!(value == u32::MAX, "offset {offset:#x} read {value:#x}");
    }
    Ok(())
}
crate::kernel_test!(
    pci_writes_that_reach_memory_are_refused,
    pci_writes_that_reach_memory_are_refused
);
