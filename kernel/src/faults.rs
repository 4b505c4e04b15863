//! Fault injection into driver tasks (issue 14): `fault=<driver>:<kind>@<N>` on the kernel
//! command line, with `<driver>` one of `vmbus`, `vpci`, `dxg`, `integration`, `<kind>` one of
//! `panic`, `page-fault`, `stack-overflow`, and `<N>` the message count: the fault fires in the
//! driver task right after it has handled its N-th message (counted from the start of that
//! driver instance). Several words are allowed, and one word may list several faults
//! separated by commas (`fault=dxg:panic@3,vpci:page-fault@2`); each fires once. The
//! `fault=kernel-*` words (handled in `main.rs`) are left alone here.
//!
//! Where a fault fires: [`checkpoint`], which each driver task calls between two messages, at
//! the top of its loop, with only its own task-owned state locked (`task::TaskSlot`) and no
//! kernel-global lock held; so an injected fault is always containable and leaves the
//! driver's state as it was between messages. The kernel tests and the chaos mode
//! (`chaos.rs`) arm faults at run time with [`arm`]; a driver task that may sleep with no
//! message to come (vPCI once its buses are up, the integration services) also waits on its
//! [`Doorbell`], which arming a fault for it rings, so a fault armed at run time fires
//! without a message.

use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use spin::Mutex;

use alloc::sync::Arc;

use crate::ipc::Selectable;
use crate::task::Notification;

/// A driver task faults can be injected into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Driver {
    /// The VMBus bus task.
    Vmbus,
    /// The virtual PCI task.
    Vpci,
    /// The dxg task.
    Dxg,
    /// The integration services task.
    Integration,
}

impl Driver {
    /// The driver's name, as in fault words and supervisor log lines.
    pub fn name(self) -> &'static str {
        match self {
            Driver::Vmbus => "vmbus",
            Driver::Vpci => "vpci",
            Driver::Dxg => "dxg",
            Driver::Integration => "integration",
        }
    }

    fn from_name(name: &str) -> Option<Driver> {
        [
            Driver::Vmbus,
            Driver::Vpci,
            Driver::Dxg,
            Driver::Integration,
        ]
        .into_iter()
        .find(|driver| driver.name() == name)
    }
}

/// What fault to inject.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `panic!`.
    Panic,
    /// A read of an unmapped kernel address.
    PageFault,
    /// Recursion until the task's stack runs into its guard page.
    StackOverflow,
}

impl Kind {
    fn from_name(name: &str) -> Option<Kind> {
        match name {
            "panic" => Some(Kind::Panic),
            "page-fault" => Some(Kind::PageFault),
            "stack-overflow" => Some(Kind::StackOverflow),
            _ => None,
        }
    }
}

/// One planned fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plan {
    /// The driver it fires in.
    pub driver: Driver,
    /// What it does.
    pub kind: Kind,
    /// It fires once the driver instance has handled this many messages.
    pub after: u64,
}

/// Why a fault word was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParseError {
    /// Not `<driver>:<kind>@<N>`.
    Malformed,
    /// The driver is not one of the four.
    UnknownDriver,
    /// The kind is not one of the three.
    UnknownKind,
    /// `<N>` is not a decimal number.
    BadCount,
}

/// Parses one `<driver>:<kind>@<N>`.
pub fn parse(text: &str) -> Result<Plan, ParseError> {
    let (driver, rest) = text.split_once(':').ok_or(ParseError::Malformed)?;
    let (kind, count) = rest.split_once('@').ok_or(ParseError::Malformed)?;
    Ok(Plan {
        driver: Driver::from_name(driver).ok_or(ParseError::UnknownDriver)?,
        kind: Kind::from_name(kind).ok_or(ParseError::UnknownKind)?,
        after: count.parse().map_err(|_| ParseError::BadCount)?,
    })
}

static PLANS: Mutex<Vec<Plan>> = Mutex::new(Vec::new());
/// Whether [`PLANS`] holds a plan (written only with its lock held): lets the checkpoints of
/// a run without injected faults, one per driver message, skip the lock.
static ANY_ARMED: AtomicBool = AtomicBool::new(false);
static INJECTED: AtomicU64 = AtomicU64::new(0);
/// The notifications of the driver tasks that wait on their [`Doorbell`] (kept from their
/// first wait on; those of ended tasks are dropped when a new one is added).
static DOORBELL_WAITERS: Mutex<Vec<(Driver, Arc<Notification>)>> = Mutex::new(Vec::new());

/// Arms every driver fault of the command line's `fault=` words (other values, such as the
/// `kernel-*` words, are skipped; a malformed driver fault is logged and skipped).
pub fn configure(command_line: &str) {
    let values = command_line
        .split_ascii_whitespace()
        .filter_map(|word| word.strip_prefix("fault="));
    for text in values.flat_map(|value| value.split(',')) {
        if text.starts_with("kernel-") {
            continue;
        }
        match parse(text) {
            Ok(plan) => arm(plan),
            Err(error) => log::warn!("command line: fault word {text:?} ignored: {error:?}"),
        }
    }
}

/// Arms `plan`, and wakes the driver's task if it waits on its [`Doorbell`].
pub fn arm(plan: Plan) {
    {
        let mut plans = PLANS.lock();
        plans.push(plan);
        ANY_ARMED.store(true, Ordering::Release);
    }
    DOORBELL_WAITERS
        .lock()
        .iter()
        .filter(|(driver, _)| *driver == plan.driver)
        .for_each(|(_, notification)| notification.notify());
}

/// Whether a fault armed for `driver` is due once it has handled `handled` messages.
fn is_due(driver: Driver, handled: u64) -> bool {
    if !ANY_ARMED.load(Ordering::Acquire) {
        return false;
    }
    PLANS
        .lock()
        .iter()
        .any(|plan| plan.driver == driver && handled >= plan.after)
}

/// A wait source (`ipc::select_until`) that is ready when a fault armed for a driver is due:
/// a driver task that may block with no message to come adds it to its wait, so that a fault
/// armed at run time reaches its checkpoint.
pub struct Doorbell {
    driver: Driver,
    handled: u64,
}

impl Doorbell {
    /// The doorbell of `driver`'s task, which has handled `handled` messages.
    pub fn new(driver: Driver, handled: u64) -> Doorbell {
        Doorbell { driver, handled }
    }
}

impl Selectable for Doorbell {
    fn is_ready(&self) -> bool {
        is_due(self.driver, self.handled)
    }

    fn watch_and_check(&self, notification: &Arc<Notification>) -> bool {
        {
            let mut waiters = DOORBELL_WAITERS.lock();
            let kept = waiters.iter().any(|(driver, waiter)| {
                *driver == self.driver && Arc::ptr_eq(waiter, notification)
            });
            if !kept {
                waiters.retain(|(_, waiter)| !waiter.is_orphaned());
                waiters.push((self.driver, notification.clone()));
            }
        }
        self.is_ready()
    }
}

/// Faults armed and not fired yet.
pub fn armed() -> usize {
    PLANS.lock().len()
}

/// Faults fired so far.
pub fn injected() -> u64 {
    INJECTED.load(Ordering::Relaxed)
}

/// Called by `driver`'s task between messages, after it handled `handled` messages: fires
/// the first armed fault that is due (and disarms it). Must be called with no lock held but
/// the task's own slot.
pub fn checkpoint(driver: Driver, handled: u64) {
    if !ANY_ARMED.load(Ordering::Acquire) {
        return;
    }
    let due = {
        let mut plans = PLANS.lock();
        let index = plans
            .iter()
            .position(|plan| plan.driver == driver && handled >= plan.after);
        let due = index.map(|index| plans.remove(index));
        ANY_ARMED.store(!plans.is_empty(), Ordering::Release);
        due
    };
    if let Some(plan) = due {
        INJECTED.fetch_add(1, Ordering::Relaxed);
        log::info!(
            "fault injection: {}:{:?} after {handled} messages",
            driver.name(),
            plan.kind
        );
        fire(plan.kind, driver);
    }
}

fn fire(kind: Kind, driver: Driver) {
    match kind {
        Kind::Panic => panic!("fault injection: {} panics", driver.name()),
        Kind::PageFault => {
            // Never mapped: the scratch region's tests map only its first pages.
            let address = crate::memory::SCRATCH_START + 0xbad_0000;
            core::hint::black_box(crate::arch::exceptions::read_byte_at(address));
        }
        Kind::StackOverflow => {
            core::hint::black_box(recurse_without_end(0));
        }
    }
}

/// Stack an interrupt handler may need: interrupts are taken on the interrupted task's stack,
/// so a handler entered with less left would itself run into the guard page, with interrupts
/// disabled, which is not containable (docs/kernel.md, "Fault model").
const INTERRUPT_HEADROOM: u64 = 8 * 1024;

/// Recurses until less than [`INTERRUPT_HEADROOM`] of the task's stack is left, then touches
/// the guard page just below it, as the next frames would: a stack overflow whose fault is
/// taken in the task (interrupts enabled) even if an interrupt arrives meanwhile.
fn recurse_without_end(depth: u64) -> u64 {
    let frame = core::hint::black_box([depth; 64]);
    let here = frame.as_ptr() as u64;
    match crate::memory::stacks::stack_bottom(here) {
        Some(bottom) if here.saturating_sub(bottom) < INTERRUPT_HEADROOM => {
            u64::from(crate::arch::exceptions::read_byte_at(bottom - 8))
        }
        _ => recurse_without_end(depth + 1).wrapping_add(frame[63]),
    }
}

fn parses_fault_words() -> crate::testing::TestResult {
    use crate::ensure;
    ensure!(
        parse("dxg:panic@3")
            == Ok(Plan {
                driver: Driver::Dxg,
                kind: Kind::Panic,
                after: 3
            }),
        "dxg:panic@3"
    );
    ensure!(
        parse("vmbus:stack-overflow@0").map(|plan| plan.kind) == Ok(Kind::StackOverflow),
        "vmbus:stack-overflow@0"
    );
    ensure!(
        parse("vpci:page-fault@12").map(|plan| (plan.driver, plan.after)) == Ok((Driver::Vpci, 12)),
        "vpci:page-fault@12"
    );
    ensure!(
        parse("gpu:panic@1") == Err(ParseError::UnknownDriver),
        "gpu"
    );
    ensure!(parse("dxg:oops@1") == Err(ParseError::UnknownKind), "oops");
    ensure!(parse("dxg:panic@x") == Err(ParseError::BadCount), "@x");
    ensure!(parse("dxg-panic") == Err(ParseError::Malformed), "no colon");
    Ok(())
}
crate::kernel_test!(fault_words_parse, parses_fault_words);
