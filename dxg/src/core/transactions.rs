//! The outstanding transactions: each packet that asked for a completion, by its channel and
//! transaction id, with what its reply means ([`Pending`]).
//!
//! A [`LiteMap`] (a map in one sorted `Vec`), not a tree: there are as many outstanding
//! transactions as requests waiting for the host (one per blocked caller, plus the driver's
//! own few), so a search of adjacent entries costs less than a tree's search and node edits
//! on every send and every completion, and the `Vec` keeps its room between calls. Transaction
//! ids of a channel are never reused while outstanding (`Driver::next_transaction` counts up).

use super::ChannelId;
use super::replies::Pending;
use alloc::vec::Vec;
use litemap::LiteMap;

/// A transaction's key: its channel and transaction id.
pub(super) type TransactionKey = (ChannelId, u64);

/// The outstanding transactions (see the module documentation).
#[derive(Debug, Default)]
pub(super) struct Transactions {
    entries: LiteMap<TransactionKey, Pending>,
}

impl Transactions {
    /// Records transaction `key`; a key already outstanding gets the new record (as a map's
    /// insert would).
    pub fn insert(&mut self, key: TransactionKey, pending: Pending) {
        self.entries.insert(key, pending);
    }

    /// Takes transaction `key`'s record out, if it is outstanding.
    pub fn remove(&mut self, key: &TransactionKey) -> Option<Pending> {
        self.entries.remove(key)
    }

    /// How many transactions are outstanding.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// The keys whose record `selected` picks, in key order.
    pub fn keys_where(&self, selected: impl Fn(&Pending) -> bool) -> Vec<TransactionKey> {
        self.entries
            .iter()
            .filter(|(_, pending)| selected(pending))
            .map(|(key, _)| *key)
            .collect()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use crate::core::replies::Expect;
    use crate::wire::Guid;

    fn record(command: u32) -> Pending {
        let mut pending = Pending::new(Expect::Status, None);
        pending.command = command;
        pending
    }

    #[test]
    fn a_transaction_is_found_once_by_channel_and_id() {
        let vgpu = ChannelId::Vgpu(Guid::from_bytes([7; 16]));
        let mut transactions = Transactions::default();
        let removed_command = |transactions: &mut Transactions, key: (ChannelId, u64)| {
            transactions.remove(&key).map(|pending| pending.command)
        };
        transactions.insert((ChannelId::Global, 1), record(10));
        transactions.insert((vgpu, 1), record(20));
        transactions.insert((ChannelId::Global, 2), record(30));
        assert_eq!(transactions.len(), 3);
        // The same id on another channel is another transaction.
        assert_eq!(removed_command(&mut transactions, (vgpu, 1)), Some(20));
        assert!(transactions.remove(&(vgpu, 1)).is_none(), "taken once");
        assert!(transactions.remove(&(vgpu, 2)).is_none(), "never sent");
        assert_eq!(
            removed_command(&mut transactions, (ChannelId::Global, 1)),
            Some(10)
        );
        assert_eq!(transactions.len(), 1);
        // A key inserted again replaces its record, as a map's insert does.
        transactions.insert((ChannelId::Global, 2), record(31));
        assert_eq!(transactions.len(), 1);
        assert_eq!(
            removed_command(&mut transactions, (ChannelId::Global, 2)),
            Some(31)
        );
        assert_eq!(transactions.len(), 0);
    }

    #[test]
    fn selected_keys_come_in_key_order() {
        let mut transactions = Transactions::default();
        for id in [5u64, 3, 9, 1, 7] {
            transactions.insert((ChannelId::Global, id), record(u32::try_from(id).unwrap()));
        }
        // Removing from the middle reorders the Vec; the keys still come sorted.
        assert!(transactions.remove(&(ChannelId::Global, 3)).is_some());
        let odd_commands = transactions.keys_where(|pending| pending.command % 2 == 1);
        let ids: Vec<u64> = odd_commands.iter().map(|(_, id)| *id).collect();
        assert_eq!(ids, [1, 5, 7, 9]);
        assert!(
            transactions
                .keys_where(|pending| pending.command > 100)
                .is_empty()
        );
    }
}
