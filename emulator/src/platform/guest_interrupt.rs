//! When the ivshmem link raises the guest's interrupt (its MSI-X vector 0), sans I/O.
//!
//! Every request the guest sends over the link (an MSR or MMIO access, a hypercall) polls the
//! host → guest mailbox until its reply arrives, and then checks whether more bytes wait there
//! (`SerialLink::has_waiting_input` in the `hyperv` crate): when they do, it takes them at once
//! as if the interrupt had fired. So a batch of frames that carries a reply needs no
//! interrupt for the Interrupt frames behind it; raising one anyway costs a crossing per call
//! (QEMU's main loop turns the eventfd into an MSI-X and the guest wakes for bytes it already
//! took: docs/performance.md §4, "A reply carries its interrupt").
//!
//! The interrupt is then *owed*, not dropped: if the guest has not drained the mailbox by the
//! next wake (a guest that gave up on its request, or one that checks later than this
//! emulator assumes), it is raised then. The wake comes within [`OWED_RECHECK`] at the latest.
//! A batch without a reply, one whose bytes did not all fit in the mailbox (the guest makes
//! room when interrupted), and the one that delivers such leftover bytes raise it at once.

use std::time::Duration;

/// The longest an owed interrupt waits before the emulator checks the mailbox again.
pub const OWED_RECHECK: Duration = Duration::from_millis(1);

/// What happened in one wake of the link's server loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Batch {
    /// Interrupt frames sent since the session started (cumulative).
    pub interrupts: u64,
    /// Whether this wake sent a reply to a guest request (the guest is polling for it).
    pub answered: bool,
    /// Whether bytes are left that did not fit in the host → guest mailbox.
    pub backlog: bool,
    /// Whether bytes left over from an earlier wake went into the mailbox in this one (their
    /// frames were never covered by an interrupt the guest could still be taking).
    pub carried_delivered: bool,
}

/// The interrupt decisions of one link (see the module docs).
#[derive(Debug, Default)]
pub struct GuestInterrupt {
    /// Interrupt frames already covered by a raised or owed interrupt.
    covered: u64,
    /// An interrupt was held back because its frames went out behind a reply.
    owed: bool,
    statistics: InterruptStatistics,
}

/// Counters of [`GuestInterrupt`]'s decisions.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct InterruptStatistics {
    /// Interrupts raised (at once, or owed and raised later).
    pub raised: u64,
    /// Owed interrupts raised later because the guest had left the bytes.
    pub raised_late: u64,
    /// Owed interrupts never raised: the guest took the bytes with its reply.
    pub spared: u64,
}

impl GuestInterrupt {
    /// A link with nothing sent yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// The decisions so far.
    pub fn statistics(&self) -> InterruptStatistics {
        self.statistics
    }

    /// Whether an interrupt is owed (the server loop then waits at most [`OWED_RECHECK`]).
    pub fn is_owed(&self) -> bool {
        self.owed
    }

    /// At the start of a wake, before the guest's new bytes are handled: whether to raise the
    /// owed interrupt now, because the guest has not drained the mailbox (`drained`) since.
    pub fn at_wake(&mut self, drained: bool) -> bool {
        if !std::mem::take(&mut self.owed) {
            return false;
        }
        if drained {
            self.statistics.spared += 1;
            return false;
        }
        self.statistics.raised_late += 1;
        self.statistics.raised += 1;
        true
    }

    /// After a wake's frames went into the mailbox: whether to raise the interrupt now.
    pub fn after_batch(&mut self, batch: Batch) -> bool {
        let new_interrupts = batch.interrupts != self.covered;
        self.covered = batch.interrupts;
        let leftovers = batch.backlog || batch.carried_delivered;
        if new_interrupts && batch.answered && !leftovers {
            self.owed = true;
            return false;
        }
        // Bytes that did not fit, or that went in late, settle what was owed: the guest is
        // interrupted now (it drains the mailbox on each interrupt).
        let raise = new_interrupts || leftovers;
        if raise {
            self.owed = false;
            self.statistics.raised += 1;
        }
        raise
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(interrupts: u64, answered: bool, backlog: bool) -> Batch {
        Batch {
            interrupts,
            answered,
            backlog,
            carried_delivered: false,
        }
    }

    #[test]
    fn interrupts_without_a_reply_are_raised_at_once() {
        let mut policy = GuestInterrupt::new();
        assert!(policy.after_batch(batch(1, false, false)));
        assert!(!policy.is_owed());
        // Nothing new: nothing raised.
        assert!(!policy.after_batch(batch(1, false, false)));
        assert!(!policy.after_batch(batch(1, true, false)));
    }

    /// Spared when the guest drained the mailbox by the next wake, else raised then, once.
    #[test]
    fn interrupts_behind_a_reply_are_owed_until_the_next_wake() {
        for drained in [true, false] {
            let mut policy = GuestInterrupt::new();
            assert!(!policy.after_batch(batch(2, true, false)));
            assert!(policy.is_owed());
            assert_eq!(policy.at_wake(drained), !drained, "drained {drained}");
            assert!(!policy.is_owed());
            assert!(!policy.at_wake(false));
            let statistics = policy.statistics();
            let late = u64::from(!drained);
            assert_eq!(
                (statistics.raised, statistics.raised_late, statistics.spared),
                (late, late, 1 - late),
                "drained {drained}"
            );
        }
    }

    #[test]
    fn a_backlog_always_raises_and_settles_what_was_owed() {
        let mut policy = GuestInterrupt::new();
        assert!(!policy.after_batch(batch(1, true, false)));
        assert!(policy.after_batch(batch(2, true, true)));
        assert!(!policy.is_owed());
        // A backlog with no new interrupt frame still raises: the guest must make room.
        assert!(policy.after_batch(batch(2, false, true)));
        // The wake that empties the backlog raises too, with or without a reply: its frames
        // went in after the guest took the last interrupt.
        for answered in [false, true] {
            let delivered = Batch {
                carried_delivered: true,
                ..batch(2, answered, false)
            };
            assert!(policy.after_batch(delivered), "answered {answered}");
            assert!(!policy.is_owed());
        }
    }
}
