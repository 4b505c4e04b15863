//! Deadlines of waits for the host, kept by key: a dxg transaction (its channel and
//! transaction id), a PCI function waiting for its vGPU channel, a vPCI request.
//!
//! Sans-I/O: the caller passes its clock's time to every call (the kernel: timer ticks or
//! microseconds; tests: a clock they move). The owner records a wait when it starts
//! ([`Deadlines::start`]), forgets it when the host answers ([`Deadlines::finish`]), sleeps at
//! most until [`Deadlines::next`], and then ends every wait [`Deadlines::take_expired`]
//! returns with its typed error. So no wait for the host outlives its bound.
//!
//! A task passes through its deadlines after every message it handles, and almost never finds
//! one due, so the set keeps a lower bound of its earliest deadline ([`Deadlines::wake_at`]):
//! [`Deadlines::take_expired`] returns at once while the bound is in the future, without
//! walking the waits. The bound is exact after every scan and whenever nothing waits; between
//! scans it may be early (a finished wait or a later restart of a key is not rescanned), which
//! costs at most one early wake-up and one scan, never a late one.
//!
//! The waits live in a [`LiteMap`] (one sorted `Vec`), not a tree: a dxg call starts and
//! finishes one wait per host round trip, and there are as many waits as callers blocked on
//! the host (one or a few), so a search of adjacent entries is cheaper than a tree's search
//! and node edits (measured in docs/performance.md §3, "Branch `s7/dxgpath`"). The `Vec`
//! keeps its room, so neither a start nor a finish allocates once it grew.

use alloc::vec::Vec;
use litemap::LiteMap;

/// Deadlines by key.
#[derive(Debug, Clone)]
pub struct Deadlines<K: Ord + Copy> {
    /// The running waits by key.
    entries: LiteMap<K, u64>,
    /// At or before the earliest deadline in `entries`; `None` exactly when `entries` is empty.
    earliest_bound: Option<u64>,
}

impl<K: Ord + Copy> Default for Deadlines<K> {
    fn default() -> Self {
        Deadlines {
            entries: LiteMap::new(),
            earliest_bound: None,
        }
    }
}

impl<K: Ord + Copy> Deadlines<K> {
    /// No waits.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records that `key`'s wait started at `now` and may last `bound` (same unit). A key
    /// already waiting gets the new deadline.
    pub fn start(&mut self, key: K, now: u64, bound: u64) {
        let deadline = now.saturating_add(bound);
        self.entries.insert(key, deadline);
        self.earliest_bound = Some(
            self.earliest_bound
                .map_or(deadline, |earliest| earliest.min(deadline)),
        );
    }

    /// The host answered `key`: its wait is over. Returns whether it was waiting.
    #[inline]
    pub fn finish(&mut self, key: &K) -> bool {
        if self.entries.remove(key).is_none() {
            return false;
        }
        if self.entries.is_empty() {
            self.earliest_bound = None;
        }
        true
    }

    /// Whether `key` is waiting.
    pub fn contains(&self, key: &K) -> bool {
        self.entries.contains_key(key)
    }

    /// The earliest deadline, if anything waits.
    pub fn next(&self) -> Option<u64> {
        self.entries.values().copied().min()
    }

    /// When to come back for [`Self::take_expired`]: at or before the earliest deadline
    /// (possibly earlier, see the module's documentation); `None` when nothing waits. Cheaper
    /// than [`Self::next`], which walks every wait.
    pub fn wake_at(&self) -> Option<u64> {
        self.earliest_bound
    }

    /// Removes and returns every key whose deadline is at or before `now`, in key order. Walks
    /// the waits only when [`Self::wake_at`] has come; then the bound is made exact again.
    pub fn take_expired(&mut self, now: u64) -> Vec<K> {
        if self.earliest_bound.is_none_or(|earliest| earliest > now) {
            return Vec::new();
        }
        let mut expired = Vec::new();
        let mut earliest_left: Option<u64> = None;
        self.entries.retain(|key, deadline| {
            if *deadline <= now {
                expired.push(*key);
                false
            } else {
                earliest_left = Some(earliest_left.map_or(*deadline, |left| left.min(*deadline)));
                true
            }
        });
        self.earliest_bound = earliest_left;
        expired
    }

    /// Forgets every wait whose key matches `predicate` (e.g. a channel's, when it closes).
    pub fn forget_where(&mut self, mut predicate: impl FnMut(&K) -> bool) {
        self.entries.retain(|key, _| !predicate(key));
        if self.entries.is_empty() {
            self.earliest_bound = None;
        }
    }

    /// How many waits are running.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether nothing waits.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::collections::BTreeMap;

    #[test]
    fn a_wait_expires_at_its_deadline_and_not_before() {
        let mut deadlines = Deadlines::new();
        deadlines.start(1u32, 100, 50);
        deadlines.start(2u32, 120, 50);
        assert_eq!(deadlines.next(), Some(150));
        assert!(deadlines.take_expired(149).is_empty());
        assert_eq!(deadlines.take_expired(150), [1]);
        assert_eq!(deadlines.next(), Some(170));
        assert!(deadlines.contains(&2));
    }

    #[test]
    fn an_answered_wait_never_expires() {
        let mut deadlines = Deadlines::new();
        deadlines.start(7u32, 0, 10);
        assert!(deadlines.finish(&7));
        assert!(!deadlines.finish(&7), "finished once");
        assert!(deadlines.take_expired(u64::MAX).is_empty());
        assert_eq!(deadlines.next(), None);
    }

    #[test]
    fn a_huge_bound_saturates_instead_of_wrapping() {
        let mut deadlines = Deadlines::new();
        deadlines.start(1u8, u64::MAX - 1, 10);
        assert_eq!(deadlines.next(), Some(u64::MAX));
        assert!(deadlines.take_expired(u64::MAX - 1).is_empty());
    }

    #[test]
    fn an_early_bound_costs_one_scan_and_never_misses_a_deadline() {
        let mut deadlines = Deadlines::new();
        deadlines.start(1u32, 0, 10);
        deadlines.start(2u32, 0, 100);
        assert_eq!(deadlines.wake_at(), Some(10));
        // The earliest wait ends: the bound stays early until the next scan.
        assert!(deadlines.finish(&1));
        assert_eq!(deadlines.wake_at(), Some(10));
        assert!(
            deadlines.take_expired(9).is_empty(),
            "before the bound: nothing due"
        );
        assert!(
            deadlines.take_expired(10).is_empty(),
            "the scan finds nothing due"
        );
        assert_eq!(
            deadlines.wake_at(),
            Some(100),
            "the scan made the bound exact"
        );
        // Restarting a key later keeps the earlier bound, never a later one.
        deadlines.start(2u32, 50, 100);
        assert_eq!(deadlines.wake_at(), Some(100));
        assert!(deadlines.take_expired(149).is_empty());
        assert_eq!(deadlines.wake_at(), Some(150));
        assert_eq!(deadlines.take_expired(150), [2]);
        assert_eq!(deadlines.wake_at(), None);
    }

    #[test]
    fn the_bound_is_never_after_the_earliest_deadline() {
        // A sequence of starts, finishes and scans; after each step the bound is at or before
        // every remaining deadline, and `take_expired` agrees with a plain filter.
        let mut deadlines = Deadlines::new();
        let mut model: BTreeMap<u8, u64> = BTreeMap::new();
        let mut seed = 0x2545_f491_u32;
        for step in 0..2_000u64 {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            let key = (seed % 8) as u8;
            let now = step;
            match (seed >> 8) % 3 {
                0 => {
                    let bound = u64::from((seed >> 12) % 40);
                    deadlines.start(key, now, bound);
                    model.insert(key, now + bound);
                }
                1 => {
                    assert_eq!(deadlines.finish(&key), model.remove(&key).is_some());
                }
                _ => {
                    let expected: Vec<u8> = model
                        .iter()
                        .filter(|(_, deadline)| **deadline <= now)
                        .map(|(key, _)| *key)
                        .collect();
                    model.retain(|_, deadline| *deadline > now);
                    assert_eq!(deadlines.take_expired(now), expected);
                }
            }
            match model.values().min() {
                Some(earliest) => assert!(deadlines.wake_at().is_some_and(|at| at <= *earliest)),
                None => assert_eq!(deadlines.wake_at(), None),
            }
            assert_eq!(deadlines.next(), model.values().min().copied());
        }
    }

    #[test]
    fn forget_where_drops_matching_waits() {
        let mut deadlines = Deadlines::new();
        deadlines.start((1u8, 1u64), 0, 10);
        deadlines.start((2u8, 1u64), 0, 10);
        deadlines.forget_where(|(channel, _)| *channel == 1);
        assert_eq!(deadlines.len(), 1);
        assert_eq!(deadlines.take_expired(10), [(2, 1)]);
        assert!(deadlines.is_empty());
    }
}
