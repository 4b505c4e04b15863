//! The accounting of time that is not the guest's own work, sans I/O: the kernel's
//! `host_time` module drives one [`HostTimeAccount`] with TSC readings, and the benchmarks
//! subtract what it counted from each sample to report a host-crossing path's guest-side cost
//! (issue 15, docs/performance.md §3).
//!
//! Time counts as the host's while at least one of these is open (their union, so nothing is
//! counted twice):
//! - **inside the hypervisor interface** (a call into the platform backend: on Hyper-V one
//!   trapping instruction, on the emulated platform the link's framing and its poll for the
//!   emulator's reply). Nested calls are counted by depth;
//! - **a crossing**: from the end of a hypercall (the guest's signal to the host) to the entry
//!   of the next device interrupt (the host's answer). No crossing opens when a device
//!   interrupt entered during the hypercall itself: the answer came while the guest was still
//!   inside the interface (the emulated link's host answers a signal before it sends the
//!   hypercall's result), and a crossing opened after it would stay open until some later,
//!   unrelated interrupt, counting the guest's own work as the host's. A hypercall that
//!   starts while only a crossing is open ends it uncounted from its last reading (the guest
//!   was working since, so only the wait after its latest signal counts);
//! - **idle**: the idle task's time.
//!
//! Readings split an open interval: [`HostTimeAccount::read`] counts the open part up to
//! `now` and restarts it there, so the difference of two readings is exactly the host's time
//! between them, even for an interval that opened before the first reading and closes after
//! the second.

/// Why an interval is open: the idle task runs.
const IDLE: u8 = 1;
/// Why an interval is open: a crossing (a signal to the host, no answer yet).
const CROSSING: u8 = 2;

/// The host's share of the guest's time, in TSC cycles (see the module docs).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostTimeAccount {
    /// Cycles counted up to `since` (closed intervals and the read parts of the open one).
    counted: u64,
    /// The open reasons ([`IDLE`], [`CROSSING`]).
    reasons: u8,
    /// How many calls into the hypervisor interface are running.
    hypervisor_depth: u32,
    /// Where the open interval's uncounted part starts.
    since: u64,
    /// Device interrupts that entered so far (to see one during a hypercall).
    device_interrupts: u64,
}

/// What [`HostTimeAccount::hypervisor_call_started`] hands back for the matching end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallMark {
    /// Device interrupts that had entered when the call started.
    device_interrupts: u64,
}

impl HostTimeAccount {
    /// Nothing counted, nothing open.
    pub const fn new() -> HostTimeAccount {
        HostTimeAccount {
            counted: 0,
            reasons: 0,
            hypervisor_depth: 0,
            since: 0,
            device_interrupts: 0,
        }
    }

    fn is_open(&self) -> bool {
        self.reasons != 0 || self.hypervisor_depth != 0
    }

    /// Counts the open interval's part up to `now` and restarts it there.
    fn advance(&mut self, now: u64) {
        if self.is_open() {
            self.counted = self.counted.saturating_add(now.saturating_sub(self.since));
        }
        self.since = now;
    }

    /// The host's cycles up to `now`, the open interval's part included.
    pub fn read(&mut self, now: u64) -> u64 {
        self.advance(now);
        self.counted
    }

    fn open(&mut self, reason: u8, now: u64) {
        self.advance(now);
        self.reasons |= reason;
    }

    fn close(&mut self, reason: u8, now: u64) {
        self.advance(now);
        self.reasons &= !reason;
    }

    /// The idle task started running.
    pub fn idle_started(&mut self, now: u64) {
        self.open(IDLE, now);
    }

    /// The idle task switches to a task made ready.
    pub fn idle_ended(&mut self, now: u64) {
        self.close(IDLE, now);
    }

    /// A device interrupt (not the timer) entered: it ends an open crossing.
    pub fn device_interrupt_entered(&mut self, now: u64) {
        self.device_interrupts = self.device_interrupts.wrapping_add(1);
        self.close(CROSSING, now);
    }

    /// A call into the hypervisor interface starts. A hypercall that starts while only a
    /// crossing is open ends that crossing uncounted since its last reading.
    pub fn hypervisor_call_started(&mut self, hypercall: bool, now: u64) -> CallMark {
        if hypercall && self.reasons == CROSSING && self.hypervisor_depth == 0 {
            // The guest worked since its previous signal: not the host's time.
            self.since = now;
            self.reasons = 0;
        }
        self.advance(now);
        self.hypervisor_depth = self.hypervisor_depth.saturating_add(1);
        CallMark {
            device_interrupts: self.device_interrupts,
        }
    }

    /// The call `mark` came from ended. After a hypercall a crossing opens, unless a device
    /// interrupt entered during the call (the answer is in already).
    pub fn hypervisor_call_ended(&mut self, mark: CallMark, hypercall: bool, now: u64) {
        self.advance(now);
        self.hypervisor_depth = self.hypervisor_depth.saturating_sub(1);
        if hypercall && self.device_interrupts == mark.device_interrupts {
            self.reasons |= CROSSING;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A sample's host cycles: the difference of the readings at `start` and `end`.
    fn sample(
        account: &mut HostTimeAccount,
        start: u64,
        end: u64,
        work: impl FnOnce(&mut HostTimeAccount),
    ) -> u64 {
        let before = account.read(start);
        work(account);
        account.read(end) - before
    }

    fn hypercall(account: &mut HostTimeAccount, start: u64, end: u64, interrupt_at: Option<u64>) {
        let mark = account.hypervisor_call_started(true, start);
        if let Some(at) = interrupt_at {
            account.device_interrupt_entered(at);
        }
        account.hypervisor_call_ended(mark, true, end);
    }

    #[test]
    fn a_crossing_open_across_a_reading_is_split_there() {
        let mut account = HostTimeAccount::new();
        // The signal ends at 100; the sample starts at 200, the answer enters at 300.
        hypercall(&mut account, 90, 100, None);
        let host = sample(&mut account, 200, 400, |account| {
            account.device_interrupt_entered(300);
        });
        assert_eq!(host, 100, "only [200, 300] is in the sample");
    }

    #[test]
    fn an_answer_during_the_hypercall_opens_no_crossing() {
        let mut account = HostTimeAccount::new();
        // Two calls: each signals (a 100-cycle hypercall during which the answer's interrupt
        // enters), then the guest works on until the sample ends.
        for round in 0..4u64 {
            let base = round * 1_000;
            let host = sample(&mut account, base, base + 800, |account| {
                hypercall(account, base + 100, base + 200, Some(base + 150));
            });
            assert_eq!(host, 100, "round {round}: the hypercall only");
        }
    }

    #[test]
    fn idle_inside_a_crossing_is_counted_once() {
        let mut account = HostTimeAccount::new();
        let host = sample(&mut account, 0, 1_000, |account| {
            hypercall(account, 100, 200, None);
            account.idle_started(300);
            account.device_interrupt_entered(500);
            account.idle_ended(600);
        });
        // [100, 200] in the hypervisor, [200, 500] crossing, [300, 600] idle: [100, 600].
        assert_eq!(host, 500);
    }

    #[test]
    fn a_hypercall_during_an_unanswered_crossing_drops_the_guests_work() {
        let mut account = HostTimeAccount::new();
        let host = sample(&mut account, 0, 1_000, |account| {
            // A signal nobody answers, the guest works, then signals again and is answered.
            hypercall(account, 100, 110, None);
            hypercall(account, 600, 610, None);
            account.device_interrupt_entered(700);
        });
        // [100, 110], then [600, 700]: the guest's [110, 600] is not the host's.
        assert_eq!(host, 10 + 100);
    }

    #[test]
    fn readings_never_go_back() {
        let mut account = HostTimeAccount::new();
        hypercall(&mut account, 0, 10, None);
        let first = account.read(50);
        hypercall(&mut account, 60, 70, None);
        let second = account.read(80);
        assert!(second >= first, "{second} < {first}");
    }
}
