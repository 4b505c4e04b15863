//! Time that is not the guest's own work: what the benchmarks subtract to report a
//! host-crossing path's guest-side cost (issue 15).
//!
//! Counted in TSC cycles since boot by a [`drivers::host_time::HostTimeAccount`] (the
//! accounting itself, sans I/O and host-tested there), as the union of three kinds of interval:
//! - **inside the hypervisor interface**: every call into [`crate::hypervisor::Backend`] (an
//!   MSR access, a hypercall, an MMIO access, decoding the emulated link's bytes after its
//!   interrupt). On Hyper-V each is one trapping instruction whose time is the hypervisor's;
//!   on the emulated platform it is the link's framing and the poll for the emulator's reply,
//!   which exist only under QEMU;
//! - **a crossing**: from the end of a hypercall (the guest's signal to the host: a posted
//!   message or a signalled event) to the entry of the next device interrupt (the host's
//!   answer), unless that interrupt entered during the hypercall already (over the ivshmem
//!   link the emulator answers a signal before it sends the hypercall's result, so the
//!   answer's MSI-X often arrives while the guest still polls for that result) or the answer
//!   was read with the hypercall's result or waits behind it in the mailbox
//!   ([`answer_latched`]: the guest then takes it without waiting for an interrupt, and over
//!   ivshmem the emulator raises none for it). Whatever runs
//!   in between (timer ticks, tasks the timer woke) is counted as the host's: under QEMU's
//!   `-icount sleep=off` a halted processor's clock jumps to the next timer deadline, so a
//!   wait for the host shows up as a stream of timer ticks and of the periodic tasks they
//!   wake, as many as the host's real time allows;
//! - **idle**: the idle task's time, from the moment it is switched to until it switches to a
//!   task made ready (its halts and the interrupt handlers that run meanwhile).
//!
//! A benchmark reads [`cycles`] before and after a sample and subtracts the difference from the
//! sample's TSC difference: what is left is the guest's own work up to its signal to the host
//! and from the host's interrupt on. A reading counts the open interval up to the reading
//! (and restarts it there), so an interval that opened before a sample counts only its part
//! inside the sample. The state is changed with interrupts disabled on the one processor.

use core::sync::atomic::{AtomicU64, Ordering};

use drivers::host_time::HostTimeAccount;
use spin::Mutex;
use x86_64::instructions::interrupts::without_interrupts;

use crate::arch::cpu::read_tsc;

/// Taken only with interrupts disabled (the interrupt dispatcher closes crossings).
static ACCOUNT: Mutex<HostTimeAccount> = Mutex::new(HostTimeAccount::new());

/// Runs `change` on the account with interrupts disabled, at the current TSC.
fn with_account<T>(change: impl FnOnce(&mut HostTimeAccount, u64) -> T) -> T {
    without_interrupts(|| change(&mut ACCOUNT.lock(), read_tsc()))
}

/// Cycles counted as not the guest's work since boot, up to now (see the module docs).
pub fn cycles() -> u64 {
    with_account(|account, now| account.read(now))
}

/// The idle task starts running (it has nothing to do until an interrupt).
pub fn idle_started() {
    with_account(|account, now| account.idle_started(now));
}

/// The idle task is about to switch to a task made ready.
pub fn idle_ended() {
    with_account(|account, now| account.idle_ended(now));
}

/// A device interrupt (not the timer) has entered: it ends an open crossing.
pub fn device_interrupt_entered() {
    with_account(|account, now| account.device_interrupt_entered(now));
}

/// The host's answer (an emulated-link Interrupt frame) was read and latched during a
/// hypercall, or waits behind its result in the mailbox: it ends the crossing as the
/// interrupt's entry would, and no crossing opens after the hypercall.
pub fn answer_latched() {
    device_interrupt_entered();
}

/// Runs `operation` (a call into the hypervisor interface other than a hypercall) and counts
/// its time as the host's.
pub fn in_hypervisor<T>(operation: impl FnOnce() -> T) -> T {
    let mark = with_account(|account, now| account.hypervisor_call_started(false, now));
    let result = operation();
    with_account(|account, now| account.hypervisor_call_ended(mark, false, now));
    result
}

/// Runs `operation` (a hypercall: the guest's signal to the host) and counts its time as the
/// host's; a crossing opens after it unless a device interrupt entered meanwhile.
pub fn in_hypercall<T>(operation: impl FnOnce() -> T) -> T {
    let mark = with_account(|account, now| account.hypervisor_call_started(true, now));
    let result = operation();
    with_account(|account, now| account.hypervisor_call_ended(mark, true, now));
    result
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
