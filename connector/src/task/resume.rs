//! Deciding whether a start goes on with an interrupted snapshot, and reading back
//! what it already sent (see [`crate::offsets::overlap`]).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rdkafka::config::ClientConfig;

use super::offsets_topic::{ResumedSnapshot, SnapshotSeries, StoredOffset};
use super::{connector_topics, TaskError};
use crate::offsets::overlap::read_snapshot_keys;
use crate::offsets::SnapshotKeys;
use crate::slot::SlotInfo;

/// How far before a series' recorded start its records are looked for: the record
/// timestamps come from the producer's clock, or the broker's with LogAppendTime.
const CLOCK_MARGIN_MS: i64 = 10 * 60 * 1000;

/// The series a stored offset says is under way, if the slot is still where it
/// began: nothing was confirmed past its creation point, so its stream still holds
/// every change after the rows already sent.
pub fn interrupted_series(
    stored: &StoredOffset,
    slot: Option<&SlotInfo>,
) -> Option<SnapshotSeries> {
    let series = stored.series?;
    let intact = slot.is_some_and(|slot| {
        !slot.temporary
            && slot.confirmed_flush_lsn == Some(series.lsn)
            && slot.wal_status.as_deref() != Some("lost")
    });
    (!stored.snapshot_completed && intact).then_some(series)
}

/// A completed, resumed snapshot whose point the slot has not been confirmed past.
pub fn unpassed_resume(stored: &StoredOffset, slot: Option<&SlotInfo>) -> Option<ResumedSnapshot> {
    let (Some(series), Some(resumed_at)) = (stored.series, stored.resumed_at) else {
        return None;
    };
    let confirmed = slot?.confirmed_flush_lsn?;
    (stored.snapshot_completed && confirmed < resumed_at)
        .then_some(ResumedSnapshot { series, resumed_at })
}

/// The keys of every snapshot record of `series` in the connector's topics.
pub async fn snapshot_keys(
    kafka: &ClientConfig,
    prefix: &str,
    series: SnapshotSeries,
) -> Result<SnapshotKeys, TaskError> {
    let kafka = kafka.clone();
    let prefix = prefix.to_owned();
    tokio::task::spawn_blocking(move || {
        let topics = connector_topics(&kafka, &prefix)?;
        let since = series.started_ms.saturating_sub(CLOCK_MARGIN_MS);
        Ok(read_snapshot_keys(
            &kafka,
            &topics,
            series.lsn,
            Some(since),
            Duration::from_secs(60),
        )?)
    })
    .await
    .map_err(|e| TaskError::Config(format!("reading the snapshot's records: {e}")))?
}

/// The temporary slot a resumed snapshot exports its snapshot from.
pub fn resume_slot_name(slot: &str) -> String {
    const SUFFIX: &str = "_resume";
    // Slot names are at most 63 bytes, of [a-z0-9_].
    let base: String = slot.chars().take(63 - SUFFIX.len()).collect();
    format!("{base}{SUFFIX}")
}

pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lsn::Lsn;

    const SERIES: SnapshotSeries = SnapshotSeries {
        lsn: Lsn(1_000),
        started_ms: 1,
    };

    fn slot(confirmed: u64) -> SlotInfo {
        SlotInfo {
            slot_name: "s".to_owned(),
            plugin: Some("pgoutput".to_owned()),
            database: Some("db".to_owned()),
            temporary: false,
            active: false,
            active_pid: None,
            restart_lsn: Some(Lsn(900)),
            confirmed_flush_lsn: Some(Lsn(confirmed)),
            wal_status: Some("reserved".to_owned()),
        }
    }

    fn under_way() -> StoredOffset {
        StoredOffset {
            snapshot_completed: false,
            lsn: Some(SERIES.lsn),
            series: Some(SERIES),
            resumed_at: None,
        }
    }

    #[test]
    fn an_interrupted_snapshot_goes_on_from_its_intact_slot() {
        assert_eq!(
            interrupted_series(&under_way(), Some(&slot(1_000))),
            Some(SERIES)
        );
    }

    #[test]
    fn a_snapshot_starts_over_when_its_slot_is_gone_moved_or_lost() {
        assert_eq!(interrupted_series(&under_way(), None), None);
        assert_eq!(
            interrupted_series(&under_way(), Some(&slot(1_001))),
            None,
            "someone confirmed past it"
        );
        let mut lost = slot(1_000);
        lost.wal_status = Some("lost".to_owned());
        assert_eq!(interrupted_series(&under_way(), Some(&lost)), None);
        let mut done = under_way();
        done.snapshot_completed = true;
        assert_eq!(interrupted_series(&done, Some(&slot(1_000))), None);
        let never = StoredOffset::default();
        assert_eq!(interrupted_series(&never, Some(&slot(1_000))), None);
    }

    #[test]
    fn the_overlap_is_restored_until_the_slot_passes_the_resume_point() {
        let stored = StoredOffset {
            snapshot_completed: true,
            lsn: Some(Lsn(1_200)),
            series: Some(SERIES),
            resumed_at: Some(Lsn(5_000)),
        };
        let expected = ResumedSnapshot {
            series: SERIES,
            resumed_at: Lsn(5_000),
        };
        assert_eq!(unpassed_resume(&stored, Some(&slot(4_999))), Some(expected));
        assert_eq!(unpassed_resume(&stored, Some(&slot(5_000))), None);
        assert_eq!(unpassed_resume(&stored, None), None);
        let mut under_way = stored.clone();
        under_way.snapshot_completed = false;
        assert_eq!(unpassed_resume(&under_way, Some(&slot(1_000))), None);
    }

    #[test]
    fn resume_slot_names_stay_valid() {
        assert_eq!(resume_slot_name("pgcdc"), "pgcdc_resume");
        let long = "s".repeat(63);
        assert_eq!(resume_slot_name(&long).len(), 63);
    }
}
