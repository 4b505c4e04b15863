//! The outstanding transactions: each packet that asked for a completion, by its channel and
//! transaction id, with what its reply means ([`Pending`]).
//!
//! A `Vec` searched linearly, not a tree: there are as many outstanding transactions as
//! requests waiting for the host (one per blocked caller, plus the driver's own few), so a scan
//! of adjacent entries costs less than a tree's search and node edits on every send and every
//! completion, and the `Vec` keeps its room between calls. Keys are unique: transaction ids
//! of a channel are never reused while outstanding (`Driver::next_transaction` counts up).

use super::ChannelId;
use super::replies::Pending;
use alloc::vec::Vec;

/// A transaction's key: its channel and transaction id.
pub(super) type TransactionKey = (ChannelId, u64);

/// The outstanding transactions (see the module documentation).
#[derive(Debug, Default)]
pub(super) struct Transactions {
    entries: Vec<(TransactionKey, Pending)>,
}

impl Transactions {
    /// Records transaction `key`; a key already outstanding gets the new record (as a map's
    /// insert would).
    pub fn insert(&mut self, key: TransactionKey, pending: Pending) {
        match self.entries.iter_mut().find(|(waiting, _)| *waiting == key) {
            Some(entry) => entry.1 = pending,
            None => self.entries.push((key, pending)),
        }
    }

    /// Takes transaction `key` out, if it is outstanding.
    pub fn remove(&mut self, key: &TransactionKey) -> Option<Pending> {
        let index = self
            .entries
            .iter()
            .position(|(waiting, _)| waiting == key)?;
        Some(self.entries.swap_remove(index).1)
    }

    /// How many transactions are outstanding.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// The keys of the outstanding transactions `selected` picks, in key order.
    pub fn keys_where(&self, selected: impl Fn(&Pending) -> bool) -> Vec<TransactionKey> {
        let mut keys: Vec<TransactionKey> = self
            .entries
            .iter()
            .filter(|(_, pending)| selected(pending))
            .map(|(key, _)| *key)
            .collect();
        keys.sort_unstable();
        keys
    }
}
