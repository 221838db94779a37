//! Resuming an interrupted snapshot without sending a row twice.
//!
//! A snapshot is one *series*: it starts with the slot's creation at point `X`, and
//! its rows are read as of `X`. When a crash cuts it, the slot is kept (nothing was
//! confirmed past `X`) and the series goes on from a new exported snapshot at a later
//! point `Z`: every row whose key a table topic already holds from the series is
//! skipped, every other row is read as of `Z`. Each snapshot record carries the point
//! it was read at ([`SNAPSHOT_HEADER`]), so the keys written so far, and the point
//! each was read at, can be read back from Kafka ([`read_snapshot_keys`]).
//!
//! The stream then starts at `X` as usual. A change committed before `Z` is already
//! in a row read at `Z`, so [`SnapshotOverlap`] lets through a change with commit LSN
//! `c < Z` only for a key read at a point `p ≤ c`; from `Z` on every change goes
//! through. Both rules follow from the slot's guarantee that a snapshot exported at
//! point `p` holds exactly the transactions that commit before `p`.
//!
//! A keyless table has nothing to recognise its rows by: its rows are all read again
//! at `Z`, and the rows the interrupted attempt sent appear twice.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

use super::tail::{partitions_of, read_back_config, TailError};
use crate::lsn::Lsn;

/// The Kafka record header of a snapshot record: the point (LSN) its row was read at.
pub const SNAPSHOT_HEADER: &str = "pgcdc.snapshot";

/// The keys each table topic holds from one snapshot series, with the point each
/// was read at.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SnapshotKeys {
    topics: HashMap<String, HashMap<Box<[u8]>, Lsn>>,
    keyless: u64,
}

impl SnapshotKeys {
    pub fn new() -> Self {
        Self::default()
    }

    /// Records that `topic` holds a snapshot record for `key` read at `point` (the
    /// newest point wins: the record read last is what consumers hold).
    pub fn insert(&mut self, topic: &str, key: Option<&[u8]>, point: Lsn) {
        let keys = match self.topics.get_mut(topic) {
            Some(keys) => keys,
            None => self.topics.entry(topic.to_owned()).or_default(),
        };
        match key {
            Some(key) => {
                let entry = keys.entry(key.into()).or_default();
                *entry = (*entry).max(point);
            }
            None => self.keyless += 1,
        }
    }

    pub fn contains(&self, topic: &str, key: &[u8]) -> bool {
        self.point(topic, key).is_some()
    }

    /// The point `key`'s row was read at.
    pub fn point(&self, topic: &str, key: &[u8]) -> Option<Lsn> {
        self.topics.get(topic)?.get(key).copied()
    }

    /// Keyed records known.
    pub fn len(&self) -> usize {
        self.topics.values().map(HashMap::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0 && self.keyless == 0
    }

    /// Records of keyless tables (they are read again in full).
    pub fn keyless(&self) -> u64 {
        self.keyless
    }
}

/// Which streamed changes a resumed snapshot already holds (see the module docs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotOverlap {
    /// The point the series was last resumed at: changes from here on all go through.
    until: Lsn,
    keys: SnapshotKeys,
    dropped: u64,
}

impl SnapshotOverlap {
    pub fn new(until: Lsn, keys: SnapshotKeys) -> Self {
        SnapshotOverlap {
            until,
            keys,
            dropped: 0,
        }
    }

    pub fn until(&self) -> Lsn {
        self.until
    }

    /// Whether a change record for `key` on `topic`, committed at `commit_lsn`, is
    /// new to consumers. Changes come in commit order, so the first one at or past
    /// [`SnapshotOverlap::until`] frees the keys.
    pub fn keeps(&mut self, topic: &str, key: Option<&[u8]>, commit_lsn: Lsn) -> bool {
        if commit_lsn >= self.until {
            if !self.keys.topics.is_empty() {
                self.keys = SnapshotKeys::new();
            }
            return true;
        }
        // Topics the snapshot wrote nothing to (the transaction topic, heartbeats,
        // a table empty at every point) hold no row image a change could repeat.
        let Some(keys) = self.keys.topics.get(topic) else {
            return true;
        };
        let keep = match key.and_then(|k| keys.get(k)) {
            Some(point) => commit_lsn >= *point,
            // Read at `until` (or gone by then), or a keyless table's change: the
            // rows read at `until` hold it.
            None => false,
        };
        if !keep {
            self.dropped += 1;
        }
        keep
    }

    /// Changes [`SnapshotOverlap::keeps`] held back.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }
}

/// Reads the snapshot records of the series that began at `series` from every
/// partition of `topics`: each one's key and the point its row was read at. Records
/// older than `since_ms` (the series' start, by record timestamp) are not read.
pub fn read_snapshot_keys(
    config: &ClientConfig,
    topics: &[String],
    series: Lsn,
    since_ms: Option<i64>,
    timeout: Duration,
) -> Result<SnapshotKeys, TailError> {
    let config = read_back_config(config, "pgcdc-snapshot-reader");
    let mut keys = SnapshotKeys::new();
    for topic in topics {
        let kafka = |source| TailError::Kafka {
            topic: topic.clone(),
            source,
        };
        let consumer: BaseConsumer = config.create().map_err(kafka)?;
        let Some(partitions) = partitions_of(&consumer, topic, timeout)? else {
            continue;
        };
        let mut starts = TopicPartitionList::new();
        for &partition in &partitions {
            let start = match since_ms {
                Some(ms) => Offset::Offset(ms),
                None => Offset::Beginning,
            };
            starts
                .add_partition_offset(topic, partition, start)
                .map_err(kafka)?;
        }
        if since_ms.is_some() {
            // Timestamps become the first offset at or after them (the end when none).
            starts = consumer.offsets_for_times(starts, timeout).map_err(kafka)?;
        }
        let mut ends = HashMap::new();
        for &partition in &partitions {
            let (_, high) = consumer
                .fetch_watermarks(topic, partition, timeout)
                .map_err(kafka)?;
            ends.insert(partition, high);
        }
        let mut assignment = TopicPartitionList::new();
        for element in starts.elements() {
            let start = match element.offset() {
                Offset::Offset(offset) => Offset::Offset(offset),
                Offset::End => continue,
                _ => Offset::Beginning,
            };
            let partition = element.partition();
            if let Offset::Offset(offset) = start {
                if offset >= ends.get(&partition).copied().unwrap_or(0) {
                    continue;
                }
            }
            assignment
                .add_partition_offset(topic, partition, start)
                .map_err(kafka)?;
        }
        let mut open = assignment.count();
        if open == 0 {
            continue;
        }
        consumer.assign(&assignment).map_err(kafka)?;
        let mut deadline = Instant::now() + timeout;
        while open > 0 {
            if Instant::now() > deadline {
                return Err(TailError::Timeout {
                    topic: topic.clone(),
                    partition: -1,
                    timeout,
                });
            }
            let message = match consumer.poll(Duration::from_millis(100)) {
                None => continue,
                Some(Err(rdkafka::error::KafkaError::PartitionEOF(_))) => {
                    open -= 1;
                    continue;
                }
                Some(Err(source)) => return Err(kafka(source)),
                Some(Ok(message)) => message,
            };
            // Progress, however long the topic: the timeout is for a stalled read.
            deadline = Instant::now() + timeout;
            let point = message
                .headers()
                .and_then(|h| h.iter().find(|h| h.key == SNAPSHOT_HEADER))
                .and_then(|h| h.value);
            let Some(point) = point else { continue };
            let point: Lsn = std::str::from_utf8(point)
                .ok()
                .and_then(|text| text.parse().ok())
                .ok_or_else(|| TailError::BadSnapshotHeader {
                    topic: topic.clone(),
                    partition: message.partition(),
                    offset: message.offset(),
                    value: String::from_utf8_lossy(point).into_owned(),
                })?;
            if point >= series {
                keys.insert(topic, message.key(), point);
            }
        }
    }
    Ok(keys)
}

#[cfg(test)]
mod tests {
    use super::*;

    const X: Lsn = Lsn(1_000);
    const Z: Lsn = Lsn(5_000);

    fn overlap() -> SnapshotOverlap {
        let mut keys = SnapshotKeys::new();
        keys.insert("t", Some(b"read at X"), X);
        keys.insert("t", Some(b"read at Z"), Z);
        keys.insert("k", None, X);
        SnapshotOverlap::new(Z, keys)
    }

    #[test]
    fn a_key_read_at_x_gets_every_change_after_x() {
        let mut overlap = overlap();
        for c in [X.0, X.0 + 1, Z.0 - 1] {
            assert!(overlap.keeps("t", Some(b"read at X"), Lsn(c)), "{c}");
        }
        assert_eq!(overlap.dropped(), 0);
    }

    #[test]
    fn a_key_read_at_z_gets_only_the_changes_from_z_on() {
        let mut overlap = overlap();
        assert!(!overlap.keeps("t", Some(b"read at Z"), X));
        assert!(!overlap.keeps("t", Some(b"read at Z"), Lsn(Z.0 - 1)));
        assert_eq!(overlap.dropped(), 2);
        assert!(overlap.keeps("t", Some(b"read at Z"), Z));
    }

    #[test]
    fn a_key_the_snapshot_never_sent_is_held_back_until_z() {
        // Inserted and deleted between X and Z, or keyless: the rows read at Z are
        // the whole truth for the table.
        let mut overlap = overlap();
        assert!(!overlap.keeps("t", Some(b"never read"), Lsn(Z.0 - 1)));
        assert!(!overlap.keeps("t", None, Lsn(Z.0 - 1)));
        assert!(!overlap.keeps("k", None, X));
        assert!(overlap.keeps("t", Some(b"never read"), Z));
    }

    #[test]
    fn topics_without_snapshot_records_are_not_filtered() {
        let mut overlap = overlap();
        assert!(overlap.keeps("prefix.transaction", None, X));
        assert!(overlap.keeps("other", Some(b"read at Z"), X));
    }

    #[test]
    fn reaching_z_frees_the_keys() {
        let mut overlap = overlap();
        assert!(overlap.keeps("t", Some(b"read at X"), Z));
        assert!(overlap.keys.is_empty());
        // Past Z nothing is held back, whatever the key.
        assert!(overlap.keeps("t", Some(b"read at Z"), Lsn(Z.0 + 1)));
    }

    #[test]
    fn the_newest_point_of_a_key_wins() {
        let mut keys = SnapshotKeys::new();
        keys.insert("t", Some(b"k"), Z);
        keys.insert("t", Some(b"k"), X);
        let mut overlap = SnapshotOverlap::new(Lsn(9_000), keys);
        assert!(!overlap.keeps("t", Some(b"k"), Lsn(Z.0 - 1)));
        assert!(overlap.keeps("t", Some(b"k"), Z));
    }

    #[test]
    fn counts_keyed_and_keyless_records() {
        let mut keys = SnapshotKeys::new();
        assert!(keys.is_empty());
        keys.insert("t", Some(b"a"), X);
        keys.insert("t", Some(b"a"), X);
        keys.insert("u", Some(b"a"), X);
        keys.insert("k", None, X);
        assert_eq!((keys.len(), keys.keyless()), (2, 1));
        assert!(keys.contains("t", b"a") && !keys.contains("t", b"b") && !keys.contains("v", b"a"));
    }
}
