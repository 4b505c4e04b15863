//! Interrupt vectors and their handlers.
//!
//! Vector map: 0–31 exceptions, [`TIMER_VECTOR`] the local APIC tick, [`FIRST_DEVICE_VECTOR`]
//! to [`LAST_DEVICE_VECTOR`] handed out by [`allocate_vector`] (device IRQs through the I/O
//! APIC, the Hyper-V SynIC vector, test self-IPIs), [`SPURIOUS_VECTOR`] the APIC's spurious one.
//!
//! A handler is either a plain non-allocating function or an [`InterruptSignal`] that the
//! dispatcher raises, waking the task that waits on it. Handlers run with interrupts disabled
//! and must not allocate, block or take locks that tasks hold with interrupts enabled.

use core::sync::atomic::{AtomicU8, Ordering};

use spin::Mutex;

use crate::ipc::InterruptSignal;
use crate::platform::io_apic::{self, Polarity, TriggerMode};
use crate::platform::local_apic;

/// The periodic scheduler tick.
pub const TIMER_VECTOR: u8 = 0x20;
/// First vector [`allocate_vector`] hands out.
pub const FIRST_DEVICE_VECTOR: u8 = 0x30;
/// Last vector [`allocate_vector`] hands out.
pub const LAST_DEVICE_VECTOR: u8 = 0xef;
/// The local APIC's spurious-interrupt vector (no end of interrupt).
pub const SPURIOUS_VECTOR: u8 = 0xff;

/// What runs when a vector fires.
enum VectorHandler {
    Empty,
    Function(fn(u8)),
    Signal(InterruptSignal),
}

static HANDLERS: Mutex<[VectorHandler; 256]> = Mutex::new([const { VectorHandler::Empty }; 256]);
static NEXT_VECTOR: AtomicU8 = AtomicU8::new(FIRST_DEVICE_VECTOR);

/// Why an interrupt could not be set up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InterruptError {
    /// The vector is not a device vector.
    ReservedVector(u8),
    /// The vector already has a handler.
    VectorInUse(u8),
    /// Every device vector is taken.
    NoFreeVector,
    /// No I/O APIC serves this global system interrupt.
    NoIoApicFor(u32),
    /// This processor's APIC id cannot be named in an I/O APIC redirection entry (an x2APIC
    /// id above 255).
    DestinationOutOfRange(u32),
    /// The platform has not been initialised.
    NoPlatform,
}

/// Reserves a free device vector.
pub fn allocate_vector() -> Result<u8, InterruptError> {
    NEXT_VECTOR
        .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |vector| {
            (vector <= LAST_DEVICE_VECTOR).then(|| vector + 1)
        })
        .map_err(|_| InterruptError::NoFreeVector)
}

fn install(vector: u8, handler: VectorHandler) -> Result<(), InterruptError> {
    if !(FIRST_DEVICE_VECTOR..=LAST_DEVICE_VECTOR).contains(&vector) {
        return Err(InterruptError::ReservedVector(vector));
    }
    x86_64::instructions::interrupts::without_interrupts(|| {
        let mut handlers = HANDLERS.lock();
        let slot = &mut handlers[vector as usize];
        if !matches!(slot, VectorHandler::Empty) {
            return Err(InterruptError::VectorInUse(vector));
        }
        *slot = handler;
        Ok(())
    })
}

/// Runs `handler(vector)` in interrupt context whenever `vector` fires. The handler must not
/// allocate or block.
pub fn register_handler(vector: u8, handler: fn(u8)) -> Result<(), InterruptError> {
    install(vector, VectorHandler::Function(handler))
}

/// Raises `signal` whenever `vector` fires; a task waits on (or selects over) the signal.
pub fn register_signal(vector: u8, signal: InterruptSignal) -> Result<(), InterruptError> {
    install(vector, VectorHandler::Signal(signal))
}

/// Removes the handler of `vector`.
pub fn unregister(vector: u8) {
    let old = x86_64::instructions::interrupts::without_interrupts(|| {
        let mut handlers = HANDLERS.lock();
        core::mem::replace(&mut handlers[vector as usize], VectorHandler::Empty)
    });
    drop(old);
}

/// Routes ISA IRQ `irq` (honouring the MADT's interrupt source overrides) to `vector` on this
/// processor. Returns the global system interrupt it arrives on.
pub fn route_isa_irq(irq: u8, vector: u8) -> Result<u32, InterruptError> {
    let info = crate::platform::info().ok_or(InterruptError::NoPlatform)?;
    let (gsi, flags) = info
        .overrides
        .iter()
        .find(|entry| entry.isa_irq == irq)
        .map_or((u32::from(irq), 0), |entry| (entry.gsi, entry.flags));
    // MPS INTI flags: polarity 0b11 = active low, trigger 0b11 = level; 0 = ISA default
    // (active high, edge).
    let polarity = if flags & 0b11 == 0b11 {
        Polarity::ActiveLow
    } else {
        Polarity::ActiveHigh
    };
    let trigger = if (flags >> 2) & 0b11 == 0b11 {
        TriggerMode::Level
    } else {
        TriggerMode::Edge
    };
    route_gsi(gsi, vector, polarity, trigger)?;
    Ok(gsi)
}

/// Routes global system interrupt `gsi` to `vector` on this processor.
pub fn route_gsi(
    gsi: u32,
    vector: u8,
    polarity: Polarity,
    trigger: TriggerMode,
) -> Result<(), InterruptError> {
    io_apic::route_gsi(gsi, vector, local_apic::id(), polarity, trigger).map_err(
        |error| match error {
            io_apic::RouteError::NoIoApic => InterruptError::NoIoApicFor(gsi),
            io_apic::RouteError::DestinationOutOfRange(id) => {
                InterruptError::DestinationOutOfRange(id)
            }
        },
    )
}

/// Masks global system interrupt `gsi` at its I/O APIC.
pub fn mask_gsi(gsi: u32) {
    io_apic::mask_gsi(gsi);
}

/// Sends `vector` to this processor (for tests and for kicking a task from task context).
pub fn send_self_interrupt(vector: u8) {
    local_apic::send_self_interrupt(vector);
}

/// Called from the interrupt entry for every vector from 32 up.
pub fn dispatch(vector: u8) {
    match vector {
        SPURIOUS_VECTOR => return,
        TIMER_VECTOR => crate::clock::on_timer_tick(),
        _ => {
            crate::host_time::device_interrupt_entered();
            let handlers = HANDLERS.lock();
            match &handlers[vector as usize] {
                VectorHandler::Empty => {}
                VectorHandler::Function(function) => function(vector),
                VectorHandler::Signal(signal) => signal.raise(),
            }
        }
    }
    local_apic::end_of_interrupt();
}
