//! Reading back what Kafka already holds, so a restarted connector sends nothing twice.
//!
//! After a crash PostgreSQL replays from the slot's confirmed LSN, which lags what
//! Kafka acknowledged. For each partition pgcdc writes, the newest record carries the
//! [`POSITION_HEADER`] of the newest event there; since positions increase in emit
//! order and one partition is appended in emit order, every replayed event at or below
//! that position is already in the partition and is skipped.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

use super::position::{SourcePosition, POSITION_HEADER};
use super::SNAPSHOT_HEADER;

/// The highest position already written to each partition.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResumeFilter {
    /// topic → partition → position; keyed by topic first so lookups borrow a `&str`.
    written: HashMap<String, HashMap<i32, SourcePosition>>,
}

impl ResumeFilter {
    pub fn new() -> Self {
        Self::default()
    }

    /// Records that `partition` of `topic` holds everything up to `position`.
    pub fn insert(&mut self, topic: &str, partition: i32, position: SourcePosition) {
        let entry = self
            .written
            .entry(topic.to_owned())
            .or_default()
            .entry(partition)
            .or_default();
        *entry = (*entry).max(position);
    }

    pub fn get(&self, topic: &str, partition: i32) -> Option<SourcePosition> {
        self.written.get(topic)?.get(&partition).copied()
    }

    /// Whether an event at `position` bound for `partition` of `topic` is already there.
    pub fn already_written(&self, topic: &str, partition: i32, position: SourcePosition) -> bool {
        self.get(topic, partition)
            .is_some_and(|written| position <= written)
    }

    pub fn is_empty(&self) -> bool {
        self.written.is_empty()
    }

    /// The newest position over all partitions: replayed events past it cannot be
    /// anywhere, so the filter can be dropped once the stream passes it.
    pub fn newest(&self) -> Option<SourcePosition> {
        self.written
            .values()
            .flat_map(|p| p.values())
            .copied()
            .max()
    }
}

/// Why the tails could not be read.
#[derive(Debug, thiserror::Error)]
pub enum TailError {
    #[error("reading the tail of {topic}: {source}")]
    Kafka {
        topic: String,
        #[source]
        source: rdkafka::error::KafkaError,
    },
    #[error("reading the tail of {topic}[{partition}]: no answer within {timeout:?}")]
    Timeout {
        topic: String,
        partition: i32,
        timeout: Duration,
    },
    #[error("{topic}[{partition}] offset {offset}: {source}")]
    BadHeader {
        topic: String,
        partition: i32,
        offset: i64,
        #[source]
        source: super::position::ParsePositionError,
    },
    #[error("{topic}[{partition}] offset {offset}: invalid {header} header {value:?}: expected an LSN such as 0/16B3748", header = super::SNAPSHOT_HEADER)]
    BadSnapshotHeader {
        topic: String,
        partition: i32,
        offset: i64,
        value: String,
    },
}

impl TailError {
    /// A broker that is down or slow may answer later; a header pgcdc cannot read
    /// means someone else writes to the topic, which retrying does not fix.
    pub fn is_retriable(&self) -> bool {
        !matches!(
            self,
            TailError::BadHeader { .. } | TailError::BadSnapshotHeader { .. }
        )
    }
}

/// Reads the newest position in every partition of `topics` that exist. `config`
/// points at the cluster (bootstrap servers, security); records without the
/// position header (written by something else) are skipped over.
pub fn read_tails(
    config: &ClientConfig,
    topics: &[String],
    timeout: Duration,
) -> Result<ResumeFilter, TailError> {
    let config = read_back_config(config, "pgcdc-tail-reader");
    let mut filter = ResumeFilter::new();
    for topic in topics {
        let kafka = |source| TailError::Kafka {
            topic: topic.clone(),
            source,
        };
        let consumer: BaseConsumer = config.create().map_err(kafka)?;
        let Some(partitions) = partitions_of(&consumer, topic, timeout)? else {
            continue; // not created yet: nothing written
        };
        for partition in partitions {
            let (low, high) = consumer
                .fetch_watermarks(topic, partition, timeout)
                .map_err(kafka)?;
            if let Some(position) =
                newest_position(&consumer, topic, partition, low, high, timeout)?
            {
                filter.insert(topic, partition, position);
            }
        }
    }
    Ok(filter)
}

/// A consumer's settings for reading back what pgcdc wrote, from `config` (the
/// cluster and its security), in the consumer group `group`.
pub(super) fn read_back_config(config: &ClientConfig, group: &str) -> ClientConfig {
    let mut config = config.clone();
    config
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "true")
        // Aborted transactions must not count as written.
        .set("isolation.level", "read_committed")
        // A window that holds only transaction markers and aborted records ends in
        // an empty fetch, which the broker would hold for fetch.wait.max.ms (500 ms)
        // waiting for data that is not coming.
        .set("fetch.wait.max.ms", "10");
    config
}

/// The partitions of `topic`, or `None` when it does not exist.
pub(super) fn partitions_of(
    consumer: &BaseConsumer,
    topic: &str,
    timeout: Duration,
) -> Result<Option<Vec<i32>>, TailError> {
    let metadata = consumer
        .fetch_metadata(Some(topic), timeout)
        .map_err(|source| TailError::Kafka {
            topic: topic.to_owned(),
            source,
        })?;
    Ok(metadata
        .topics()
        .iter()
        .find(|t| t.name() == topic && t.error().is_none())
        .map(|t| t.partitions().iter().map(|p| p.id()).collect()))
}

/// Scans backwards from the end of one partition, doubling the window, until a
/// streamed record (a position header) or a snapshot record is found, or the start is
/// reached. Normally the last records have one and a single fetch suffices;
/// transaction markers, aborted transactions (a batch cut by a crash in the
/// transactional mode) and foreign records at the end make it look further back.
///
/// Snapshot records do not count, and nothing before the newest one does: the stream
/// of a snapshot's slot only ever follows the snapshot's records, so what precedes
/// them was streamed from an older slot (whose positions this one never replays),
/// and a resumed snapshot's records are positioned apart from the stream's.
fn newest_position(
    consumer: &BaseConsumer,
    topic: &str,
    partition: i32,
    low: i64,
    high: i64,
    timeout: Duration,
) -> Result<Option<SourcePosition>, TailError> {
    // One fetch returns this many small records as cheaply as one, and in the
    // transactional mode the last offset is always a marker.
    let mut window = 64i64;
    let mut end = high;
    while end > low {
        let start = (end - window).max(low);
        let mut assignment = TopicPartitionList::new();
        assignment
            .add_partition_offset(topic, partition, Offset::Offset(start))
            .map_err(|source| TailError::Kafka {
                topic: topic.to_owned(),
                source,
            })?;
        consumer
            .assign(&assignment)
            .map_err(|source| TailError::Kafka {
                topic: topic.to_owned(),
                source,
            })?;
        let mut newest = None;
        let mut after_snapshot = false;
        let deadline = Instant::now() + timeout;
        loop {
            if Instant::now() > deadline {
                return Err(TailError::Timeout {
                    topic: topic.to_owned(),
                    partition,
                    timeout,
                });
            }
            match consumer.poll(Duration::from_millis(100)) {
                None => continue,
                Some(Err(rdkafka::error::KafkaError::PartitionEOF(_))) => break,
                Some(Err(source)) => {
                    return Err(TailError::Kafka {
                        topic: topic.to_owned(),
                        source,
                    })
                }
                Some(Ok(message)) => {
                    if message.offset() >= end {
                        break;
                    }
                    let headers = message.headers();
                    let header = |name: &str| {
                        headers
                            .and_then(|h| h.iter().find(|h| h.key == name))
                            .and_then(|h| h.value)
                    };
                    if header(SNAPSHOT_HEADER).is_some() {
                        newest = None;
                        after_snapshot = true;
                    } else if let Some(value) = header(POSITION_HEADER) {
                        let position = SourcePosition::from_header(value).map_err(|source| {
                            TailError::BadHeader {
                                topic: topic.to_owned(),
                                partition,
                                offset: message.offset(),
                                source,
                            }
                        })?;
                        newest = newest.max(Some(position));
                    }
                    if message.offset() + 1 >= end {
                        break;
                    }
                }
            }
        }
        if newest.is_some() || after_snapshot {
            return Ok(newest);
        }
        end = start;
        window = window.saturating_mul(2);
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lsn::Lsn;

    #[test]
    fn skips_exactly_what_the_partition_holds() {
        let mut filter = ResumeFilter::new();
        filter.insert("t", 0, SourcePosition::new(Lsn(100), 2));
        filter.insert("t", 0, SourcePosition::new(Lsn(90), 9)); // older: ignored
        assert!(filter.already_written("t", 0, SourcePosition::new(Lsn(100), 2)));
        assert!(filter.already_written("t", 0, SourcePosition::new(Lsn(99), 50)));
        assert!(!filter.already_written("t", 0, SourcePosition::new(Lsn(100), 3)));
        assert!(
            !filter.already_written("t", 1, SourcePosition::new(Lsn(1), 0)),
            "another partition"
        );
        assert!(
            !filter.already_written("u", 0, SourcePosition::new(Lsn(1), 0)),
            "another topic"
        );
        assert_eq!(filter.newest(), Some(SourcePosition::new(Lsn(100), 2)));
    }
}
