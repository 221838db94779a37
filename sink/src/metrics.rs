//! Live figures of a running sink, for a host's Prometheus scrape (the worker's
//! `/metrics`): what [`crate::SinkStats`] totals at the end of a run, as it goes.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use crate::task::SinkStats;

/// Counters since the host created them, across the sink's restarts.
#[derive(Debug, Default)]
pub struct SinkMetrics {
    /// Batches committed to the warehouse.
    pub batches: AtomicU64,
    /// Records applied.
    pub records: AtomicU64,
    /// Rows inserted, updated or deleted.
    pub rows: AtomicU64,
    /// Records skipped because the warehouse already had them.
    pub skipped: AtomicU64,
    /// Poison records left out under `errors.tolerance=all`.
    pub rejected: AtomicU64,
    /// Batches rolled back by another task's offsets (see [`SinkStats::rewinds`]).
    pub rewinds: AtomicU64,
    /// When the last batch committed, ms since the epoch (0: none yet).
    pub last_commit_ms: AtomicI64,
}

impl SinkMetrics {
    /// Adds what `stats` gained since `reported`, which then catches up.
    pub(crate) fn report(&self, stats: &SinkStats, reported: &mut SinkStats) {
        let gained = |now: u64, before: u64| now.saturating_sub(before);
        self.batches
            .fetch_add(gained(stats.batches, reported.batches), Ordering::Relaxed);
        self.records
            .fetch_add(gained(stats.records, reported.records), Ordering::Relaxed);
        self.rows
            .fetch_add(gained(stats.rows, reported.rows), Ordering::Relaxed);
        self.skipped
            .fetch_add(gained(stats.skipped, reported.skipped), Ordering::Relaxed);
        self.rejected
            .fetch_add(gained(stats.rejected, reported.rejected), Ordering::Relaxed);
        self.rewinds
            .fetch_add(gained(stats.rewinds, reported.rewinds), Ordering::Relaxed);
        if stats.batches > reported.batches {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
            self.last_commit_ms.store(now, Ordering::Relaxed);
        }
        *reported = *stats;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_add_only_what_was_gained() {
        let metrics = SinkMetrics::default();
        let mut reported = SinkStats::default();
        let mut stats = SinkStats {
            batches: 1,
            records: 10,
            rows: 8,
            skipped: 2,
            rejected: 0,
            rewinds: 1,
        };
        metrics.report(&stats, &mut reported);
        metrics.report(&stats, &mut reported);
        stats.batches = 2;
        stats.records = 15;
        metrics.report(&stats, &mut reported);
        assert_eq!(metrics.batches.load(Ordering::Relaxed), 2);
        assert_eq!(metrics.records.load(Ordering::Relaxed), 15);
        assert_eq!(metrics.rows.load(Ordering::Relaxed), 8);
        assert_eq!(metrics.skipped.load(Ordering::Relaxed), 2);
        assert_eq!(metrics.rewinds.load(Ordering::Relaxed), 1);
        assert!(metrics.last_commit_ms.load(Ordering::Relaxed) > 0);
    }
}
