//! The Kafka side: a consumer in the sink's group (`connect-<name>`) reading with
//! `isolation.level=read_committed`, no auto-commit and no offset store. Where it reads
//! from is the warehouse's business: when partitions are assigned, the rebalance
//! callback reads their stored next offsets ([`OffsetReader`]) and assigns them at
//! exactly those offsets. Group offsets are committed after each warehouse commit,
//! for monitoring (lag dashboards) only.
//!
//! Each assignment of a partition gets a new epoch; a batch holding records of an
//! older epoch of a partition drops them (they are read again from the stored
//! offset), so a rebalance never splices two readings of a partition together.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use rdkafka::client::ClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{
    BaseConsumer, Consumer, ConsumerContext, RebalanceProtocol, StreamConsumer,
};
use rdkafka::error::KafkaResult;
use rdkafka::types::RDKafkaRespErr;
use rdkafka::{Offset, TopicPartitionList};

use crate::config::{SinkConfig, TopicSelection};
use crate::error::SinkError;
use crate::warehouse::{OffsetReader, TopicPartition};

/// How soon a consumer whose local queue was full fetches again.
pub const FETCH_QUEUE_BACKOFF_MS: &str = "10";

/// How long the rebalance callback waits for the warehouse.
const OFFSETS_TIMEOUT: Duration = Duration::from_secs(30);

/// How long a seek of a rewound partition may take.
const SEEK_TIMEOUT: Duration = Duration::from_secs(10);

/// An assigned partition: where the warehouse says it continues, and since when it
/// is assigned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    /// The stored next offset (`None`: from the beginning).
    pub stored: Option<i64>,
    pub epoch: u64,
}

/// What the rebalance callback tells the task.
#[derive(Debug, Default)]
pub struct Assignment {
    pub positions: HashMap<TopicPartition, Position>,
    epoch: u64,
    /// Set when stored offsets could not be read for an assignment.
    pub failure: Option<String>,
}

/// The consumer's context: rebalances go through the warehouse.
pub struct SinkContext {
    assignment: Arc<Mutex<Assignment>>,
    reader: OffsetReader,
}

impl std::fmt::Debug for SinkContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SinkContext")
    }
}

pub type SinkConsumer = StreamConsumer<SinkContext>;

/// Locks the shared assignment (a panic elsewhere does not make it unusable).
pub fn lock(assignment: &Mutex<Assignment>) -> MutexGuard<'_, Assignment> {
    assignment.lock().unwrap_or_else(PoisonError::into_inner)
}

impl ClientContext for SinkContext {}

impl ConsumerContext for SinkContext {
    fn rebalance(
        &self,
        consumer: &BaseConsumer<Self>,
        err: RDKafkaRespErr,
        tpl: &mut TopicPartitionList,
    ) {
        let cooperative = matches!(
            consumer.rebalance_protocol(),
            RebalanceProtocol::Cooperative
        );
        let partitions: Vec<TopicPartition> = tpl
            .elements()
            .iter()
            .map(|e| TopicPartition {
                topic: e.topic().to_owned(),
                partition: e.partition(),
            })
            .collect();
        match err {
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS => {
                match self
                    .reader
                    .read_blocking(partitions.clone(), OFFSETS_TIMEOUT)
                {
                    Ok(stored) => {
                        let mut state = lock(&self.assignment);
                        state.epoch += 1;
                        let epoch = state.epoch;
                        for (partition, stored) in partitions.iter().zip(&stored) {
                            let offset = stored.map_or(Offset::Beginning, Offset::Offset);
                            if let Err(e) = tpl.set_partition_offset(
                                &partition.topic,
                                partition.partition,
                                offset,
                            ) {
                                state.failure =
                                    Some(format!("setting the offset of {partition}: {e}"));
                            }
                            state.positions.insert(
                                partition.clone(),
                                Position {
                                    stored: *stored,
                                    epoch,
                                },
                            );
                        }
                        drop(state);
                        tracing::info!(partitions = ?partitions, offsets = ?stored, "partitions assigned; reading from the warehouse's offsets");
                        let assigned = if cooperative {
                            consumer.incremental_assign(tpl)
                        } else {
                            consumer.assign(tpl)
                        };
                        if let Err(e) = assigned {
                            lock(&self.assignment).failure = Some(format!("assigning: {e}"));
                        }
                    }
                    Err(why) => {
                        tracing::warn!(error = %why, "cannot read the stored offsets of assigned partitions");
                        let mut state = lock(&self.assignment);
                        state.failure = Some(why);
                        for partition in &partitions {
                            state.positions.remove(partition);
                        }
                        drop(state);
                        let _ = if cooperative {
                            consumer.incremental_unassign(tpl)
                        } else {
                            consumer.unassign()
                        };
                    }
                }
            }
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS => {
                tracing::info!(partitions = ?partitions, "partitions revoked");
                let mut state = lock(&self.assignment);
                if cooperative {
                    for partition in &partitions {
                        state.positions.remove(partition);
                    }
                } else {
                    state.positions.clear();
                }
                drop(state);
                let _ = if cooperative {
                    consumer.incremental_unassign(tpl)
                } else {
                    consumer.unassign()
                };
            }
            other => {
                tracing::warn!(error = ?other, "rebalance error; unassigning");
                lock(&self.assignment).positions.clear();
                let _ = consumer.unassign();
            }
        }
    }

    fn commit_callback(&self, result: KafkaResult<()>, _offsets: &TopicPartitionList) {
        if let Err(e) = result {
            tracing::debug!(error = %e, "committing group offsets (monitoring only) failed");
        }
    }
}

/// After a batch was rolled back because another task had moved a partition's
/// offsets (a rebalance this task had not seen yet): every partition still assigned
/// goes back to the offset the warehouse holds, in a new epoch, so that nothing read
/// past it counts and the rolled-back records are read again. The consumer stays in
/// the group, so the other members see no new rebalance. Returns how many
/// partitions were rewound.
pub async fn rewind(
    consumer: &SinkConsumer,
    assignment: &Mutex<Assignment>,
) -> Result<usize, String> {
    let partitions: Vec<TopicPartition> = lock(assignment).positions.keys().cloned().collect();
    if partitions.is_empty() {
        return Ok(0);
    }
    let stored = consumer
        .context()
        .reader
        .read(partitions.clone(), OFFSETS_TIMEOUT)
        .await?;
    let rewound: Vec<(TopicPartition, Option<i64>)> = {
        let mut state = lock(assignment);
        state.epoch += 1;
        let epoch = state.epoch;
        partitions
            .into_iter()
            .zip(stored)
            // Revoked meanwhile: its next owner reads the warehouse's offset itself.
            .filter_map(|(partition, stored)| {
                let position = state.positions.get_mut(&partition)?;
                *position = Position { stored, epoch };
                Some((partition, stored))
            })
            .collect()
    };
    // librdkafka drops what it fetched before a seek (its version barrier), so the
    // next record of each partition is the one at its stored offset. Seeks wait on
    // the broker: not under the lock the rebalance callback takes.
    for (partition, stored) in &rewound {
        consumer
            .seek(
                &partition.topic,
                partition.partition,
                stored.map_or(Offset::Beginning, Offset::Offset),
                SEEK_TIMEOUT,
            )
            .map_err(|e| format!("seeking {partition} to the warehouse's offset: {e}"))?;
    }
    Ok(rewound.len())
}

/// A consumer subscribed to the configured topics, with its shared assignment.
pub fn subscribe(
    config: &SinkConfig,
    kafka: &ClientConfig,
) -> Result<(SinkConsumer, Arc<Mutex<Assignment>>), SinkError> {
    let assignment = Arc::new(Mutex::new(Assignment::default()));
    let offsets = crate::warehouse::offsets_table(config)?;
    let reader = OffsetReader::start(config.postgres_config(), offsets, config.name.clone());
    let mut client_config = kafka.clone();
    client_config
        .set("group.id", config.group_id())
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("isolation.level", "read_committed")
        .set("auto.offset.reset", "earliest");
    if client_config.get("client.id").is_none() {
        client_config.set("client.id", format!("pgcdc-sink-{}", config.name));
    }
    if client_config.get("fetch.queue.backoff.ms").is_none() {
        // librdkafka stops fetching a partition for this long (1 s by default) once
        // its local queue holds queued.max.messages.kbytes (64 MiB): JsonConverter
        // records with schemas (~4 KiB each) fill that in under a second of applying,
        // and the sink then sat idle for the rest of it (2.2x slower, bench/run sink).
        client_config.set("fetch.queue.backoff.ms", FETCH_QUEUE_BACKOFF_MS);
    }
    let consumer: SinkConsumer = client_config.create_with_context(SinkContext {
        assignment: Arc::clone(&assignment),
        reader,
    })?;
    match &config.topics {
        TopicSelection::List(topics) => {
            tracing::info!(?topics, group = %config.group_id(), "subscribing");
            let topics: Vec<&str> = topics.iter().map(String::as_str).collect();
            consumer.subscribe(&topics)?;
        }
        TopicSelection::Regex(regex) => {
            // librdkafka treats a leading ^ as a regular expression; Connect's
            // `topics.regex` must match the whole name. A plain group: librdkafka's
            // regex engine has no `(?:`, and refuses the subscription with it.
            consumer.subscribe(&[&format!("^({regex})$")])?;
        }
    }
    Ok((consumer, assignment))
}
