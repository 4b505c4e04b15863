//! I/O APICs: every redirection entry starts masked; [`route_gsi`] points one global system
//! interrupt at a vector on this processor.

use alloc::vec::Vec;

use spin::Mutex;
use x86_64::PhysAddr;

use super::PlatformError;
use crate::memory::registers::{Register, RegisterBlock};

/// IOREGSEL: selects the register IOWIN reaches (82093AA datasheet, §3.1).
const REGISTER_SELECT: Register<u32> = Register::at(0x00);
/// IOWIN: the register IOREGSEL selected.
const REGISTER_WINDOW: Register<u32> = Register::at(0x10);
/// Size of the register window mapped.
const WINDOW_LENGTH: u64 = 0x20;

/// One I/O APIC's mapped registers and the interrupts it serves.
struct IoApic {
    registers: RegisterBlock,
    gsi_base: u32,
    entries: u32,
}

static IO_APICS: Mutex<Vec<IoApic>> = Mutex::new(Vec::new());

/// Polarity of an interrupt line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Polarity {
    /// Asserted high.
    ActiveHigh,
    /// Asserted low.
    ActiveLow,
}

/// Trigger mode of an interrupt line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TriggerMode {
    /// Edge triggered.
    Edge,
    /// Level triggered.
    Level,
}

impl IoApic {
    /// Reads indirect register `index`. Callers hold the I/O APIC lock (or own the I/O APIC
    /// before it is published), so the select/data pair is not interleaved.
    fn read(&self, index: u32) -> u32 {
        let result = self
            .registers
            .write(REGISTER_SELECT, index)
            .and_then(|()| self.registers.read(REGISTER_WINDOW));
        result.unwrap_or_else(|error| {
            log::error!("I/O APIC: {error}");
            0
        })
    }

    /// Writes indirect register `index`; the same locking as [`IoApic::read`].
    fn write(&self, index: u32, value: u32) {
        let result = self
            .registers
            .write(REGISTER_SELECT, index)
            .and_then(|()| self.registers.write(REGISTER_WINDOW, value));
        if let Err(error) = result {
            log::error!("I/O APIC: {error}");
        }
    }

    fn set_entry(&self, pin: u32, low: u32, high: u32) {
        self.write(0x10 + 2 * pin, LOW_MASKED);
        self.write(0x11 + 2 * pin, high);
        self.write(0x10 + 2 * pin, low);
    }
}

const LOW_MASKED: u32 = 1 << 16;

/// Maps an I/O APIC and masks all its entries.
pub fn add(id: u8, physical_address: u64, gsi_base: u32) -> Result<(), PlatformError> {
    let registers = RegisterBlock::map_device(PhysAddr::new(physical_address), WINDOW_LENGTH)
        .map_err(|_| PlatformError::Mapping)?;
    let mut io_apic = IoApic {
        registers,
        gsi_base,
        entries: 0,
    };
    io_apic.entries = ((io_apic.read(1) >> 16) & 0xff) + 1;
    for pin in 0..io_apic.entries {
        io_apic.set_entry(pin, LOW_MASKED, 0);
    }
    log::debug!(
        "I/O APIC {id} at {physical_address:#x}: GSIs {gsi_base}..{}",
        gsi_base + io_apic.entries
    );
    x86_64::instructions::interrupts::without_interrupts(|| IO_APICS.lock().push(io_apic));
    Ok(())
}

/// Why a global system interrupt could not be routed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteError {
    /// No I/O APIC serves the GSI.
    NoIoApic,
    /// The destination APIC id does not fit the redirection entry's 8-bit physical
    /// destination field (x2APIC ids above 255 need interrupt remapping, which dxgos lacks).
    DestinationOutOfRange(u32),
}

/// Largest APIC id a redirection entry can name (bits 63:56, physical mode).
const MAXIMUM_DESTINATION: u32 = 0xff;

/// Routes global system interrupt `gsi` to `vector` on the processor with APIC id
/// `destination`, unmasked.
pub fn route_gsi(
    gsi: u32,
    vector: u8,
    destination: u32,
    polarity: Polarity,
    trigger: TriggerMode,
) -> Result<(), RouteError> {
    if destination > MAXIMUM_DESTINATION {
        return Err(RouteError::DestinationOutOfRange(destination));
    }
    x86_64::instructions::interrupts::without_interrupts(|| {
        let io_apics = IO_APICS.lock();
        let Some(io_apic) = io_apics
            .iter()
            .find(|io_apic| (io_apic.gsi_base..io_apic.gsi_base + io_apic.entries).contains(&gsi))
        else {
            return Err(RouteError::NoIoApic);
        };
        let mut low = u32::from(vector);
        if polarity == Polarity::ActiveLow {
            low |= 1 << 13;
        }
        if trigger == TriggerMode::Level {
            low |= 1 << 15;
        }
        io_apic.set_entry(gsi - io_apic.gsi_base, low, destination << 24);
        Ok(())
    })
}

/// Masks global system interrupt `gsi`.
pub fn mask_gsi(gsi: u32) {
    x86_64::instructions::interrupts::without_interrupts(|| {
        let io_apics = IO_APICS.lock();
        if let Some(io_apic) = io_apics
            .iter()
            .find(|io_apic| (io_apic.gsi_base..io_apic.gsi_base + io_apic.entries).contains(&gsi))
        {
            io_apic.set_entry(gsi - io_apic.gsi_base, LOW_MASKED, 0);
        }
    });
}
