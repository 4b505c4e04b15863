//! Time that is not the guest's own work: what the benchmarks subtract to report a
//! host-crossing path's guest-side cost (issue 15).
//!
//! Counted in TSC cycles since boot, as the union of three kinds of interval:
//! - **inside the hypervisor interface**: every call into [`crate::hypervisor::Backend`] (an
//!   MSR access, a hypercall, an MMIO access, decoding the emulated link's bytes after its
//!   interrupt). On Hyper-V each is one trapping instruction whose time is the hypervisor's;
//!   on the emulated platform it is the COM2 framing and the poll for the emulator's reply,
//!   which exist only under QEMU;
//! - **a crossing**: from the end of the latest hypercall (the guest's signal to the host: a
//!   posted message or a signalled event) to the entry of the next device interrupt (the
//!   host's answer). A later hypercall while a crossing is open restarts it (the guest was
//!   working, so only the wait after its last signal counts). Whatever runs in between (timer
//!   ticks, tasks the timer woke) is counted as the host's: under QEMU's
//!   `-icount sleep=off` a halted processor's clock jumps to the next timer deadline, so a
//!   wait for the host shows up as a stream of timer ticks and of the periodic tasks they
//!   wake, as many as the host's real time allows;
//! - **idle**: the idle task's time, from the moment it is switched to until it switches to a
//!   task made ready (its halts and the interrupt handlers that run meanwhile).
//!
//! A benchmark reads [`cycles`] before and after a sample and subtracts the difference from the
//! sample's TSC difference: what is left is the guest's own work up to its signal to the host
//! and from the host's interrupt on. An interval still open when [`cycles`] is read is not in
//! it yet. The state is changed with interrupts disabled on the one processor.

use core::sync::atomic::{AtomicU64, Ordering};

use spin::Mutex;
use x86_64::instructions::interrupts::without_interrupts;

use crate::arch::cpu::read_tsc;

/// Cycles counted as not the guest's since boot (closed intervals only).
static HOST_CYCLES: AtomicU64 = AtomicU64::new(0);

/// Why the current interval is not the guest's.
const IDLE: u8 = 1;
/// See [`IDLE`].
const CROSSING: u8 = 2;

/// The open interval: the reasons it is open for ([`IDLE`], [`CROSSING`]) and its start.
struct Open {
    reasons: u8,
    since: u64,
}

/// Taken only with interrupts disabled (the interrupt dispatcher closes crossings).
static OPEN: Mutex<Open> = Mutex::new(Open {
    reasons: 0,
    since: 0,
});

/// Cycles counted as not the guest's work since boot (see the module docs).
pub fn cycles() -> u64 {
    HOST_CYCLES.load(Ordering::Relaxed)
}

fn open(reason: u8) {
    without_interrupts(|| {
        let mut open = OPEN.lock();
        if open.reasons == 0 {
            open.since = read_tsc();
        }
        open.reasons |= reason;
    });
}

fn close(reason: u8) {
    without_interrupts(|| {
        let mut open = OPEN.lock();
        if open.reasons & reason == 0 {
            return;
        }
        open.reasons &= !reason;
        if open.reasons == 0 {
            HOST_CYCLES.fetch_add(read_tsc().saturating_sub(open.since), Ordering::Relaxed);
        }
    });
}

/// The idle task starts running (it has nothing to do until an interrupt).
pub fn idle_started() {
    open(IDLE);
}

/// The idle task is about to switch to a task made ready.
pub fn idle_ended() {
    close(IDLE);
}

/// A device interrupt (not the timer) has entered: it ends an open crossing.
pub fn device_interrupt_entered() {
    close(CROSSING);
}

/// Runs `operation` (a call into the hypervisor interface) and counts its time as the host's
/// (unless an open interval covers it already).
pub fn in_hypervisor<T>(operation: impl FnOnce() -> T) -> T {
    let start = read_tsc();
    let result = operation();
    // With interrupts disabled: the dispatcher takes the lock too.
    if without_interrupts(|| OPEN.lock().reasons == 0) {
        HOST_CYCLES.fetch_add(read_tsc().saturating_sub(start), Ordering::Relaxed);
    }
    result
}

/// A hypercall just ended: a crossing opens (or restarts, if one was open: the guest worked
/// since that one's start) until the next device interrupt.
pub fn hypercall_ended() {
    without_interrupts(|| {
        let mut open = OPEN.lock();
        if open.reasons == CROSSING {
            open.since = read_tsc();
        } else if open.reasons == 0 {
            open.since = read_tsc();
            open.reasons = CROSSING;
        } else {
            open.reasons |= CROSSING;
        }
    });
}

/// How many boot stages [`mark_stage`] keeps.
const STAGE_SLOTS: usize = 16;
/// For each boot stage: the TSC when it was first entered (0: not yet).
static STAGE_TSC: [AtomicU64; STAGE_SLOTS] = [const { AtomicU64::new(0) }; STAGE_SLOTS];
/// For each boot stage: [`cycles`] when it was first entered.
static STAGE_HOST_CYCLES: [AtomicU64; STAGE_SLOTS] = [const { AtomicU64::new(0) }; STAGE_SLOTS];

/// Records the first entry of boot stage number `index` (`diagnostics::Stage as usize`): the
/// TSC and the host's cycles so far, for the boot-phase benchmark. Later entries are ignored.
pub fn mark_stage(index: usize) {
    if let Some(slot) = STAGE_TSC.get(index)
        && slot.load(Ordering::Relaxed) == 0
    {
        STAGE_HOST_CYCLES[index].store(cycles(), Ordering::Relaxed);
        slot.store(read_tsc(), Ordering::Relaxed);
    }
}

/// The TSC and host cycles at the first entry of boot stage `index`, if it was entered.
pub fn stage_mark(index: usize) -> Option<(u64, u64)> {
    let tsc = STAGE_TSC.get(index)?.load(Ordering::Relaxed);
    (tsc != 0).then(|| (tsc, STAGE_HOST_CYCLES[index].load(Ordering::Relaxed)))
}
