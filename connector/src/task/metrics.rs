//! What a running connector reports for metrics and status: snapshot progress, events
//! by table and operation, the source time of the last event (for Debezium's
//! MilliSecondsBehindSource), the confirmed LSN. Updated by the task, read by the
//! worker's `/metrics` without locking the data path (counters are atomics; the
//! per-table map takes a short lock once per event).

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

#[derive(Debug, Default)]
pub struct TaskMetrics {
    /// Connected to PostgreSQL and streaming or snapshotting.
    pub connected: AtomicBool,
    pub snapshot_running: AtomicBool,
    pub snapshot_completed: AtomicBool,
    pub snapshot_tables_total: AtomicU64,
    pub snapshot_tables_done: AtomicU64,
    pub snapshot_rows: AtomicU64,
    /// Records handed to the producer (events, tombstones, metadata, heartbeats).
    pub records_produced: AtomicU64,
    /// Source commit time of the last streamed event, ms since the epoch.
    pub last_event_source_ms: AtomicI64,
    /// When the last streamed event was processed, ms since the epoch.
    pub last_event_processed_ms: AtomicI64,
    pub last_heartbeat_ms: AtomicI64,
    /// The LSN the slot was last confirmed to.
    pub confirmed_lsn: AtomicU64,
    events: Mutex<BTreeMap<(String, &'static str), u64>>,
    /// Transactions whose events were handed to the producer but are not confirmed
    /// yet, oldest first: (commit LSN, source commit time in ms).
    unconfirmed: Mutex<VecDeque<(u64, i64)>>,
}

/// More unconfirmed transactions than this are not tracked one by one: the oldest
/// is what the lag is measured from, so the newest are the ones left out.
const MAX_UNCONFIRMED: usize = 100_000;

pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

impl TaskMetrics {
    /// One streamed change event of a transaction that commits at `commit_lsn`.
    pub fn streamed_event(&self, table: &str, op: &'static str, commit_lsn: u64, source_ms: i64) {
        self.event(table, op, Some(source_ms));
        if let Ok(mut unconfirmed) = self.unconfirmed.lock() {
            let known = unconfirmed
                .back()
                .is_some_and(|&(lsn, _)| lsn >= commit_lsn);
            if !known && unconfirmed.len() < MAX_UNCONFIRMED {
                unconfirmed.push_back((commit_lsn, source_ms));
            }
        }
    }

    /// The slot was confirmed up to `lsn`: every transaction committed before it
    /// is in Kafka.
    pub fn confirmed(&self, lsn: u64) {
        self.confirmed_lsn.store(lsn, Ordering::Relaxed);
        if let Ok(mut unconfirmed) = self.unconfirmed.lock() {
            while unconfirmed.front().is_some_and(|&(commit, _)| commit < lsn) {
                unconfirmed.pop_front();
            }
        }
    }

    /// One change event of `table` (`schema.table`) with Debezium's `op` letter.
    pub fn event(&self, table: &str, op: &'static str, source_ms: Option<i64>) {
        if let Ok(mut events) = self.events.lock() {
            match events.get_mut(&(table.to_owned(), op)) {
                Some(count) => *count += 1,
                None => {
                    events.insert((table.to_owned(), op), 1);
                }
            }
        }
        if let Some(ms) = source_ms {
            self.last_event_source_ms.store(ms, Ordering::Relaxed);
            self.last_event_processed_ms
                .store(now_ms(), Ordering::Relaxed);
        }
    }

    /// (table, op) → events, sorted.
    pub fn events(&self) -> Vec<((String, &'static str), u64)> {
        self.events
            .lock()
            .map(|e| e.iter().map(|(k, v)| (k.clone(), *v)).collect())
            .unwrap_or_default()
    }

    /// How far Kafka is behind the source, in ms. While a transaction's events wait
    /// for Kafka (in flight, or held back because the broker is away), it is now
    /// minus the source commit time of the oldest such transaction, so it keeps
    /// rising through an outage; once everything is confirmed, Debezium's
    /// MilliSecondsBehindSource (processing time minus source commit time of the
    /// last event). `None` before the first streamed event.
    pub fn millis_behind_source(&self) -> Option<i64> {
        let oldest = self
            .unconfirmed
            .lock()
            .ok()
            .and_then(|unconfirmed| unconfirmed.front().map(|&(_, ms)| ms));
        if let Some(source) = oldest {
            return Some((now_ms() - source).max(0));
        }
        let source = self.last_event_source_ms.load(Ordering::Relaxed);
        let processed = self.last_event_processed_ms.load(Ordering::Relaxed);
        (source > 0).then(|| (processed - source).max(0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_counted_by_table_and_op() {
        let metrics = TaskMetrics::default();
        assert_eq!(metrics.millis_behind_source(), None);
        metrics.event("public.orders", "c", Some(now_ms() - 250));
        metrics.event("public.orders", "c", None);
        metrics.event("public.orders", "u", None);
        metrics.event("public.items", "r", None);
        assert_eq!(
            metrics.events(),
            vec![
                (("public.items".to_owned(), "r"), 1),
                (("public.orders".to_owned(), "c"), 2),
                (("public.orders".to_owned(), "u"), 1),
            ]
        );
        let behind = metrics.millis_behind_source().expect("an event was seen");
        assert!((250..5_000).contains(&behind), "{behind}");
    }

    #[test]
    fn lag_counts_from_the_oldest_unconfirmed_transaction_until_it_is_confirmed() {
        let metrics = TaskMetrics::default();
        let start = now_ms();
        // Two events of one transaction committed 60 s ago, one of another 10 s ago.
        metrics.streamed_event("public.t", "c", 100, start - 60_000);
        metrics.streamed_event("public.t", "u", 100, start - 60_000);
        metrics.streamed_event("public.t", "c", 200, start - 10_000);
        let behind = metrics.millis_behind_source().unwrap();
        assert!((60_000..65_000).contains(&behind), "{behind}");
        // Confirming up to the first transaction's end leaves the second.
        metrics.confirmed(150);
        let behind = metrics.millis_behind_source().unwrap();
        assert!((10_000..15_000).contains(&behind), "{behind}");
        assert_eq!(metrics.confirmed_lsn.load(Ordering::Relaxed), 150);
        // All confirmed: processing time minus the last event's source time, which
        // no longer grows with the clock.
        metrics.confirmed(250);
        let behind = metrics.millis_behind_source().unwrap();
        assert!((9_900..15_000).contains(&behind), "{behind}");
        std::thread::sleep(std::time::Duration::from_millis(20));
        assert_eq!(metrics.millis_behind_source(), Some(behind));
    }
}
