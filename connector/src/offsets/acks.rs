//! From Kafka acknowledgements to the LSN that may be confirmed to the slot.
//!
//! Acknowledgements arrive out of order (different partitions, retries), but the
//! slot's confirmed position is a single LSN: confirming a transaction's end tells
//! PostgreSQL never to send anything before it again. So a transaction becomes
//! confirmable only when it has committed, all of its events are acknowledged, and so
//! is every transaction before it. This is the one place that decision is made.

use std::collections::VecDeque;

use crate::lsn::Lsn;

/// A transaction as the tracker numbers them, in the order they began.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TxnId(u64);

#[derive(Debug, Clone, Copy)]
struct Txn {
    in_flight: u64,
    /// Set when the transaction's commit was seen and all its events were sent.
    end_lsn: Option<Lsn>,
}

/// Tracks in-flight events per transaction; see the module docs.
#[derive(Debug, Clone)]
pub struct AckTracker {
    /// The id of `pending[0]`.
    front: u64,
    pending: VecDeque<Txn>,
    confirmable: Lsn,
    in_flight: u64,
}

impl AckTracker {
    /// Starts with `confirmed` (the slot's confirmed position) as confirmable.
    pub fn new(confirmed: Lsn) -> Self {
        AckTracker {
            front: 0,
            pending: VecDeque::new(),
            confirmable: confirmed,
            in_flight: 0,
        }
    }

    /// A transaction starts; its events will be counted against the returned id.
    pub fn begin(&mut self) -> TxnId {
        self.pending.push_back(Txn {
            in_flight: 0,
            end_lsn: None,
        });
        TxnId(self.front + self.pending.len() as u64 - 1)
    }

    /// One more event of `txn` was handed to the producer.
    pub fn sent(&mut self, txn: TxnId) {
        if let Some(state) = self.get(txn) {
            state.in_flight += 1;
            self.in_flight += 1;
        }
    }

    /// `txn` committed at `end_lsn` and all of its events were sent. Returns the new
    /// confirmable LSN if this advanced it (a transaction whose events were all
    /// filtered out, or already acknowledged, completes right here).
    pub fn commit(&mut self, txn: TxnId, end_lsn: Lsn) -> Option<Lsn> {
        self.get(txn)?.end_lsn = Some(end_lsn);
        self.advance()
    }

    /// Kafka acknowledged one event of `txn`. Returns the new confirmable LSN if this
    /// advanced it.
    pub fn acked(&mut self, txn: TxnId) -> Option<Lsn> {
        let state = self.get(txn)?;
        if state.in_flight == 0 {
            // An acknowledgement for an event never sent: a caller bug; ignoring it
            // keeps the invariant (nothing unacknowledged is ever confirmed).
            return None;
        }
        state.in_flight -= 1;
        self.in_flight -= 1;
        self.advance()
    }

    /// Kafka acknowledged `count` events of `txn` at once (a committed Kafka
    /// transaction). Returns the new confirmable LSN if this advanced it.
    pub fn acked_many(&mut self, txn: TxnId, count: u64) -> Option<Lsn> {
        let state = self.get(txn)?;
        // More acknowledgements than events sent would be a caller bug; never let
        // one make an unacknowledged event look acknowledged.
        let count = count.min(state.in_flight);
        state.in_flight -= count;
        self.in_flight -= count;
        self.advance()
    }

    /// The newest LSN that is safe to confirm.
    pub fn confirmable(&self) -> Lsn {
        self.confirmable
    }

    /// Events sent and not yet acknowledged, over all transactions.
    pub fn in_flight(&self) -> u64 {
        self.in_flight
    }

    /// Transactions begun and not yet confirmable.
    pub fn pending_transactions(&self) -> usize {
        self.pending.len()
    }

    fn get(&mut self, txn: TxnId) -> Option<&mut Txn> {
        let index = txn.0.checked_sub(self.front)?;
        self.pending.get_mut(usize::try_from(index).ok()?)
    }

    fn advance(&mut self) -> Option<Lsn> {
        let before = self.confirmable;
        while let Some(Txn {
            in_flight: 0,
            end_lsn: Some(end),
        }) = self.pending.front().copied()
        {
            self.pending.pop_front();
            self.front += 1;
            self.confirmable = self.confirmable.max(end);
        }
        (self.confirmable != before).then_some(self.confirmable)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_transaction_is_confirmable_once_every_event_is_acknowledged() {
        let mut tracker = AckTracker::new(Lsn(10));
        let txn = tracker.begin();
        tracker.sent(txn);
        tracker.sent(txn);
        assert_eq!(tracker.commit(txn, Lsn(100)), None);
        assert_eq!(tracker.acked(txn), None);
        assert_eq!(tracker.confirmable(), Lsn(10));
        assert_eq!(tracker.acked(txn), Some(Lsn(100)));
        assert_eq!(tracker.in_flight(), 0);
        assert_eq!(tracker.pending_transactions(), 0);
    }

    #[test]
    fn a_committed_batch_acknowledges_many_events_at_once() {
        let mut tracker = AckTracker::new(Lsn(10));
        let first = tracker.begin();
        tracker.sent(first);
        tracker.sent(first);
        assert_eq!(tracker.commit(first, Lsn(100)), None);
        let second = tracker.begin();
        tracker.sent(second);
        assert_eq!(
            tracker.acked_many(second, 5),
            None,
            "the first is still open"
        );
        assert_eq!(tracker.acked_many(first, 2), Some(Lsn(100)));
        assert_eq!(tracker.in_flight(), 0);
        assert_eq!(tracker.commit(second, Lsn(200)), Some(Lsn(200)));
    }

    #[test]
    fn a_later_transaction_waits_for_earlier_ones() {
        let mut tracker = AckTracker::new(Lsn(0));
        let first = tracker.begin();
        tracker.sent(first);
        tracker.commit(first, Lsn(100));
        let second = tracker.begin();
        tracker.sent(second);
        tracker.commit(second, Lsn(200));
        assert_eq!(tracker.acked(second), None, "the first is still in flight");
        assert_eq!(
            tracker.acked(first),
            Some(Lsn(200)),
            "both complete at once"
        );
    }

    #[test]
    fn an_uncommitted_transaction_is_never_confirmable() {
        let mut tracker = AckTracker::new(Lsn(0));
        let txn = tracker.begin();
        tracker.sent(txn);
        assert_eq!(tracker.acked(txn), None);
        assert_eq!(tracker.confirmable(), Lsn(0));
    }

    #[test]
    fn a_transaction_with_nothing_to_send_completes_at_commit() {
        let mut tracker = AckTracker::new(Lsn(0));
        let txn = tracker.begin();
        assert_eq!(tracker.commit(txn, Lsn(50)), Some(Lsn(50)));
    }

    #[test]
    fn stray_acknowledgements_change_nothing() {
        let mut tracker = AckTracker::new(Lsn(0));
        let txn = tracker.begin();
        assert_eq!(tracker.acked(txn), None);
        assert_eq!(tracker.acked(TxnId(99)), None);
        tracker.sent(txn);
        assert_eq!(tracker.commit(txn, Lsn(5)), None);
    }

    /// A schedule of transactions with `events[i]` events each, acknowledged in the
    /// order given by `ack_order` (a permutation key per event).
    fn run(events: &[u8], ack_keys: &[u32]) {
        let mut tracker = AckTracker::new(Lsn(0));
        let mut in_flight: Vec<(u32, usize, TxnId)> = Vec::new();
        let mut acked_per_txn = vec![0u8; events.len()];
        let mut keys = ack_keys.iter().copied().cycle();
        for (i, &n) in events.iter().enumerate() {
            let txn = tracker.begin();
            for _ in 0..n {
                tracker.sent(txn);
                in_flight.push((keys.next().unwrap_or(0), i, txn));
            }
            tracker.commit(txn, Lsn((i as u64 + 1) * 100));
        }
        in_flight.sort_by_key(|(key, ..)| *key);
        let mut last = Lsn(0);
        for (_, i, txn) in in_flight {
            tracker.acked(txn);
            acked_per_txn[i] += 1;
            let confirmable = tracker.confirmable();
            assert!(confirmable >= last, "confirmable went backwards");
            last = confirmable;
            // Every transaction ending at or before the confirmable LSN is fully
            // acknowledged; the next one is not (or does not exist).
            let done = (confirmable.0 / 100) as usize;
            assert!(
                (0..done).all(|t| acked_per_txn[t] == events[t]),
                "confirmed past an unacknowledged event"
            );
            if done < events.len() {
                assert!(acked_per_txn[..=done]
                    .iter()
                    .zip(events)
                    .any(|(a, n)| a < n));
            }
        }
        assert_eq!(tracker.confirmable(), Lsn(events.len() as u64 * 100));
        assert_eq!(tracker.in_flight(), 0);
    }

    proptest! {
        #[test]
        fn never_confirms_past_an_unacknowledged_event(
            events in proptest::collection::vec(0u8..6, 1..30),
            ack_keys in proptest::collection::vec(any::<u32>(), 1..200),
        ) {
            run(&events, &ack_keys);
        }
    }
}
