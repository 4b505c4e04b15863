//! Deadlines of waits for the host, kept by key: a dxg transaction (its channel and
//! transaction id), a PCI function waiting for its vGPU channel, a vPCI request.
//!
//! Sans-I/O: the caller passes its clock's time to every call (the kernel: timer ticks or
//! microseconds; tests: a clock they move). The owner records a wait when it starts
//! ([`Deadlines::start`]), forgets it when the host answers ([`Deadlines::finish`]), sleeps at
//! most until [`Deadlines::next`], and then ends every wait [`Deadlines::take_expired`]
//! returns with its typed error. So no wait for the host outlives its bound.

use alloc::collections::BTreeMap;
use alloc::vec::Vec;

/// Deadlines by key.
#[derive(Debug, Clone)]
pub struct Deadlines<K: Ord + Copy> {
    entries: BTreeMap<K, u64>,
}

impl<K: Ord + Copy> Default for Deadlines<K> {
    fn default() -> Self {
        Deadlines {
            entries: BTreeMap::new(),
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
        self.entries.insert(key, now.saturating_add(bound));
    }

    /// The host answered `key`: its wait is over. Returns whether it was waiting.
    pub fn finish(&mut self, key: &K) -> bool {
        self.entries.remove(key).is_some()
    }

    /// Whether `key` is waiting.
    pub fn contains(&self, key: &K) -> bool {
        self.entries.contains_key(key)
    }

    /// The earliest deadline, if anything waits.
    pub fn next(&self) -> Option<u64> {
        self.entries.values().copied().min()
    }

    /// Removes and returns every key whose deadline is at or before `now`.
    pub fn take_expired(&mut self, now: u64) -> Vec<K> {
        let expired: Vec<K> = self
            .entries
            .iter()
            .filter(|(_, deadline)| **deadline <= now)
            .map(|(key, _)| *key)
            .collect();
        for key in &expired {
            self.entries.remove(key);
        }
        expired
    }

    /// Forgets every wait whose key matches `predicate` (e.g. a channel's, when it closes).
    pub fn forget_where(&mut self, mut predicate: impl FnMut(&K) -> bool) {
        self.entries.retain(|key, _| !predicate(key));
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
