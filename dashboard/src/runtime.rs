//! The aggregation process: dimension tables loaded and followed, fact topics read in
//! a consumer group, every change applied to the engine, and every
//! `commit.interval.ms` the changed window partials, the next offsets and the
//! watermarks committed to Redis in one MULTI/EXEC.
//!
//! Exactly-once comes from Redis, not from Kafka: a partition's next offset is stored
//! with the results it produced, a new owner starts from that offset with the open
//! windows that were stored with it, and a fencing epoch per partition stops an old
//! owner from writing after it lost the partition. Kafka group offsets are not used.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use rdkafka::client::ClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{
    BaseConsumer, Consumer, ConsumerContext, RebalanceProtocol, StreamConsumer,
};
use rdkafka::message::{Header, Message, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::types::RDKafkaRespErr;
use rdkafka::{Offset, TopicPartitionList};
use tokio_util::sync::CancellationToken;

use crate::decode::{Record, RecordDecoder};
use crate::engine::{Engine, Outcome, SourcePartition};
use crate::metrics::DashboardMetrics;
use crate::notify::{AlertSink, Alerting};
use crate::spec::Spec;
use crate::store::{
    Flush, FlushOutcome, PartialWrite, PartitionName, PartitionState, Reader, WindowId, Writer,
};

/// What the rebalance callback hands to the loop.
#[derive(Debug, Default)]
struct Handover {
    claimed: Vec<(PartitionName, PartitionState)>,
    revoked: Vec<PartitionName>,
    failure: Option<String>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Rebalances go through Redis: an assigned partition is claimed (new epoch) and
/// read from its stored offset.
struct GroupContext {
    writer: Arc<Mutex<Writer>>,
    handover: Arc<Mutex<Handover>>,
}

impl ClientContext for GroupContext {}

impl ConsumerContext for GroupContext {
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
        let partitions: Vec<(String, i32)> = tpl
            .elements()
            .iter()
            .map(|e| (e.topic().to_owned(), e.partition()))
            .collect();
        match err {
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS => {
                let mut claimed = Vec::new();
                let mut failure = None;
                for (topic, partition) in &partitions {
                    let name = PartitionName::new(topic, *partition);
                    match lock(&self.writer).claim(&name) {
                        Ok(state) => {
                            let offset =
                                state.next_offset.map_or(Offset::Beginning, Offset::Offset);
                            if let Err(e) = tpl.set_partition_offset(topic, *partition, offset) {
                                failure = Some(format!("setting the offset of {}: {e}", name.0));
                            }
                            claimed.push((name, state));
                        }
                        Err(e) => failure = Some(format!("claiming {} in Redis: {e}", name.0)),
                    }
                }
                tracing::info!(partitions = ?partitions, "partitions assigned; reading from the offsets stored in Redis");
                let assigned = if cooperative {
                    consumer.incremental_assign(tpl)
                } else {
                    consumer.assign(tpl)
                };
                let mut handover = lock(&self.handover);
                handover.claimed.extend(claimed);
                if let Err(e) = assigned {
                    failure = Some(format!("assigning: {e}"));
                }
                if failure.is_some() {
                    handover.failure = failure;
                }
            }
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS => {
                tracing::info!(partitions = ?partitions, "partitions revoked");
                let mut handover = lock(&self.handover);
                for (topic, partition) in &partitions {
                    let name = PartitionName::new(topic, *partition);
                    lock(&self.writer).release(&name);
                    handover.revoked.push(name);
                }
                drop(handover);
                let _ = if cooperative {
                    consumer.incremental_unassign(tpl)
                } else {
                    consumer.unassign()
                };
            }
            other => {
                tracing::warn!(error = ?other, "rebalance error; unassigning");
                lock(&self.handover).failure = Some(format!("rebalance error {other:?}"));
                let _ = consumer.unassign();
            }
        }
    }
}

/// Counts of one run, for logs and tests.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RunStats {
    pub records: u64,
    pub flushes: u64,
}

/// Runs until `shutdown`, then commits what was applied and returns.
pub async fn run(
    spec: Arc<Spec>,
    kafka: ClientConfig,
    metrics: Arc<DashboardMetrics>,
    shutdown: CancellationToken,
) -> anyhow::Result<RunStats> {
    let writer = {
        let (url, prefix, ttl) = (
            spec.redis_url.clone(),
            spec.redis_key_prefix.clone(),
            spec.redis_ttl_seconds,
        );
        tokio::task::spawn_blocking(move || Writer::connect(&url, &prefix, ttl)).await??
    };
    let writer = Arc::new(Mutex::new(writer));
    let mut engine = Engine::new(Arc::clone(&spec));
    let mut decoder =
        RecordDecoder::new(spec.schema_registry_url.as_deref()).map_err(anyhow::Error::msg)?;
    let producer: Option<FutureProducer> =
        if spec.dead_letter_topic.is_some() || spec.alerts_topic.is_some() {
            Some(kafka.clone().set("enable.idempotence", "true").create()?)
        } else {
            None
        };
    let reader = Reader::connect(&spec.redis_url, &spec.redis_key_prefix).await?;
    let mut alerting = Alerting::new(
        Arc::clone(&spec),
        reader,
        AlertSink {
            writer: Arc::clone(&writer),
            producer: producer.clone(),
            topic: spec.alerts_topic.clone(),
            metrics: Arc::clone(&metrics),
        },
    );

    let tables = if spec.tables.is_empty() {
        None
    } else {
        let consumer = tables_consumer(&spec, &kafka)?;
        load_tables(&spec, &consumer, &mut engine, &mut decoder, &shutdown).await?;
        Some(consumer)
    };

    let handover = Arc::new(Mutex::new(Handover::default()));
    let facts = facts_consumer(&spec, &kafka, Arc::clone(&writer), Arc::clone(&handover))?;

    let mut owned: HashMap<PartitionName, SourcePartition> = HashMap::new();
    let mut next_offsets: HashMap<PartitionName, i64> = HashMap::new();
    // The next offset this process will apply, per owned partition (for backlog).
    let mut positions: HashMap<PartitionName, i64> = HashMap::new();
    let ends = EndOffsets::start(&kafka, &spec)?;
    // Source commit time of every event applied since the last commit, with its
    // partition: the delay is observed once the commit holding its window succeeds.
    let mut commit_delays: Vec<(SourcePartition, i64)> = Vec::new();
    let mut stats = RunStats::default();
    let mut tick = tokio::time::interval(Duration::from_millis(spec.commit_interval_ms.max(1)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_trim = Instant::now();

    loop {
        take_handover(
            &handover,
            &mut engine,
            &mut owned,
            &mut next_offsets,
            &mut positions,
            &mut commit_delays,
        )?;
        tokio::select! {
            biased;
            () = shutdown.cancelled() => break,
            _ = tick.tick() => {
                ends.mark(&owned, &positions, &mut engine);
                engine.tick(now_ms());
                flush(&mut engine, &writer, &mut owned, &mut next_offsets, &mut commit_delays, &metrics, &mut alerting).await?;
                stats.flushes += 1;
                if last_trim.elapsed() > Duration::from_secs(60) {
                    let names: Vec<String> = spec.metrics.iter().map(|m| m.name.clone()).collect();
                    let w = Arc::clone(&writer);
                    tokio::task::spawn_blocking(move || lock(&w).trim_indexes(&names, 1000)).await??;
                    last_trim = Instant::now();
                }
            }
            message = next_table_record(tables.as_ref()) => {
                apply_table_record(&spec, &mut engine, &mut decoder, &message?).await;
            }
            message = facts.recv() => {
                let message = message?;
                take_handover(&handover, &mut engine, &mut owned, &mut next_offsets, &mut positions, &mut commit_delays)?;
                let name = PartitionName::new(message.topic(), message.partition());
                let Some(at) = owned.get(&name).cloned() else {
                    continue; // a revoked partition's buffered record: its new owner reads it
                };
                stats.records += 1;
                metrics.records.inc();
                match decoder.decode(message.payload()).await {
                    Ok(Record::Tombstone) => {}
                    Ok(Record::Change(change)) => {
                        let source_ts = change.source_ts_ms;
                        match engine.apply(&at, &change) {
                            Outcome::Applied => {
                                metrics.applied.inc();
                                commit_delays.push((at, source_ts));
                            }
                            Outcome::Skipped => metrics.skipped.inc(),
                            Outcome::Late => metrics.late.inc(),
                            Outcome::Malformed(why) => {
                                dead_letter(&spec, producer.as_ref(), &message, &why, &metrics).await?;
                            }
                        }
                    }
                    Err(why) => dead_letter(&spec, producer.as_ref(), &message, &why, &metrics).await?,
                }
                positions.insert(name.clone(), message.offset() + 1);
                next_offsets.insert(name, message.offset() + 1);
            }
        }
    }
    take_handover(
        &handover,
        &mut engine,
        &mut owned,
        &mut next_offsets,
        &mut positions,
        &mut commit_delays,
    )?;
    flush(
        &mut engine,
        &writer,
        &mut owned,
        &mut next_offsets,
        &mut commit_delays,
        &metrics,
        &mut alerting,
    )
    .await?;
    stats.flushes += 1;
    tracing::info!(
        records = stats.records,
        "aggregations stopped after committing to Redis"
    );
    Ok(stats)
}

/// The end offsets of the owned partitions, asked for by a thread of its own with a
/// client of its own (an offsets request can take half a second; the loop must not
/// wait for it).
struct EndOffsets {
    ends: Arc<Mutex<HashMap<PartitionName, PartitionEnds>>>,
    watched: Arc<Mutex<Vec<PartitionName>>>,
    stop: Arc<std::sync::atomic::AtomicBool>,
}

/// A partition's first and end offsets, and when they were asked for.
type PartitionEnds = (i64, i64, Instant);

/// How often the end offsets are asked for, and how old an answer may be to count.
const ENDS_INTERVAL: Duration = Duration::from_millis(250);
const ENDS_MAX_AGE: Duration = Duration::from_secs(3);

impl EndOffsets {
    fn start(kafka: &ClientConfig, spec: &Spec) -> anyhow::Result<EndOffsets> {
        let mut config = kafka.clone();
        config
            .set("group.id", format!("{}.ends", spec.group_id()))
            .set("enable.auto.commit", "false");
        let client: BaseConsumer = config.create()?;
        let ends: Arc<Mutex<HashMap<PartitionName, PartitionEnds>>> = Arc::default();
        let watched: Arc<Mutex<Vec<PartitionName>>> = Arc::default();
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (e, w, s) = (Arc::clone(&ends), Arc::clone(&watched), Arc::clone(&stop));
        std::thread::Builder::new()
            .name("end-offsets".into())
            .spawn(move || {
                while !s.load(std::sync::atomic::Ordering::Relaxed) {
                    let partitions = lock(&w).clone();
                    for name in partitions {
                        let Some((topic, partition)) = name.split() else { continue };
                        match client.fetch_watermarks(topic, partition, Duration::from_secs(5)) {
                            Ok((low, high)) => {
                                lock(&e).insert(name.clone(), (low, high, Instant::now()));
                            }
                            Err(err) => tracing::debug!(partition = %name.0, error = %err, "reading the end offset"),
                        }
                    }
                    std::thread::sleep(ENDS_INTERVAL);
                }
            })?;
        Ok(EndOffsets {
            ends,
            watched,
            stop,
        })
    }

    fn watch(&self, owned: &HashMap<PartitionName, SourcePartition>) {
        let mut watched = lock(&self.watched);
        watched.clear();
        watched.extend(owned.keys().cloned());
    }

    /// Tells the engine which partitions still have records to read: the end offset
    /// is past what was applied. An end not known (or too old) counts as backlog:
    /// windows are never closed on a guess.
    fn mark(
        &self,
        owned: &HashMap<PartitionName, SourcePartition>,
        positions: &HashMap<PartitionName, i64>,
        engine: &mut Engine,
    ) {
        self.watch(owned);
        let ends = lock(&self.ends);
        for (name, at) in owned {
            let caught_up = match (ends.get(name), positions.get(name)) {
                (Some((_, high, asked)), Some(&next)) if asked.elapsed() < ENDS_MAX_AGE => {
                    next >= *high
                }
                // Never read here: caught up only if there is nothing to read.
                (Some((low, high, asked)), None) if asked.elapsed() < ENDS_MAX_AGE => low >= high,
                _ => false,
            };
            if !caught_up {
                engine.mark_backlogged(at);
            }
        }
    }
}

impl Drop for EndOffsets {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

fn take_handover(
    handover: &Mutex<Handover>,
    engine: &mut Engine,
    owned: &mut HashMap<PartitionName, SourcePartition>,
    next_offsets: &mut HashMap<PartitionName, i64>,
    positions: &mut HashMap<PartitionName, i64>,
    commit_delays: &mut Vec<(SourcePartition, i64)>,
) -> anyhow::Result<()> {
    let Handover {
        claimed,
        revoked,
        failure,
    } = std::mem::take(&mut *lock(handover));
    if let Some(failure) = failure {
        anyhow::bail!("rebalance failed: {failure}");
    }
    for name in revoked {
        if let Some(at) = owned.remove(&name) {
            engine.revoke(&at);
            commit_delays.retain(|(applied, _)| *applied != at);
        }
        next_offsets.remove(&name);
        positions.remove(&name);
    }
    for (name, state) in claimed {
        let Some((topic, partition)) = name.split() else {
            continue;
        };
        let at = SourcePartition::new(topic, partition);
        // What was applied for it before is dropped; it is read again from the offset.
        commit_delays.retain(|(applied, _)| *applied != at);
        let open = state
            .open
            .into_iter()
            .filter_map(|(window, partial)| {
                let partial = serde_json::from_value(partial).ok()?;
                Some((
                    window.metric,
                    window.group.into(),
                    window.start_ms,
                    window.end_ms,
                    partial,
                ))
            })
            .collect();
        engine.restore(at.clone(), state.watermark.unwrap_or(i64::MIN), open);
        tracing::info!(partition = %name.0, epoch = state.epoch, next_offset = ?state.next_offset, "partition claimed");
        owned.insert(name.clone(), at);
        next_offsets.remove(&name);
        match state.next_offset {
            Some(offset) => positions.insert(name, offset),
            None => positions.remove(&name),
        };
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
async fn flush(
    engine: &mut Engine,
    writer: &Arc<Mutex<Writer>>,
    owned: &mut HashMap<PartitionName, SourcePartition>,
    next_offsets: &mut HashMap<PartitionName, i64>,
    commit_delays: &mut Vec<(SourcePartition, i64)>,
    metrics: &DashboardMetrics,
    alerting: &mut Alerting,
) -> anyhow::Result<()> {
    let mut batch = Flush::default();
    let mut touched = Vec::new();
    for change in engine.take_changes() {
        let partition = PartitionName::new(change.at.topic(), change.at.partition());
        if !owned.contains_key(&partition) {
            continue;
        }
        let window = WindowId {
            metric: change.metric.clone(),
            group: change.group.to_string(),
            start_ms: change.start_ms,
            end_ms: change.end_ms,
        };
        touched.push(window.clone());
        batch.partials.push(PartialWrite {
            window,
            partition,
            partial: change
                .partial
                .as_ref()
                .map(serde_json::value::to_raw_value)
                .transpose()?,
            closed: change.closed,
        });
    }
    batch.offsets = next_offsets.drain().collect();
    batch.watermarks = engine
        .watermarks()
        .into_iter()
        .map(|(at, wm)| (PartitionName::new(at.topic(), at.partition()), wm))
        .filter(|(name, _)| owned.contains_key(name))
        .collect();
    if batch.is_empty() {
        return Ok(());
    }
    let started = Instant::now();
    loop {
        let w = Arc::clone(writer);
        // Moved to the blocking thread and back: a batch can be large.
        let (returned, outcome) = tokio::task::spawn_blocking(move || {
            let outcome = lock(&w).commit(&batch, true);
            (batch, outcome)
        })
        .await?;
        batch = returned;
        match outcome? {
            FlushOutcome::Committed => {
                metrics.set_last_error(None);
                break;
            }
            FlushOutcome::Fenced(lost) => {
                tracing::warn!(partitions = ?lost, "another process owns these partitions now; dropping their state");
                metrics.fenced.inc_by(lost.len() as u64);
                for name in &lost {
                    if let Some(at) = owned.remove(name) {
                        engine.revoke(&at);
                    }
                }
                batch.without(&lost);
                if batch.is_empty() {
                    break;
                }
            }
        }
    }
    let now = now_ms();
    metrics
        .flush_seconds
        .observe(started.elapsed().as_secs_f64());
    // Events of a partition revoked or fenced since they were applied were not
    // committed here: the partition's new owner reads them again and observes them.
    for (at, source_ts) in commit_delays.drain(..) {
        if !owned.values().any(|held| *held == at) {
            continue;
        }
        metrics
            .commit_delay_seconds
            .observe((now - source_ts).max(0) as f64 / 1000.0);
    }
    metrics.flushes.inc();
    touched
        .sort_by(|a, b| (&a.metric, a.start_ms, &a.group).cmp(&(&b.metric, b.start_ms, &b.group)));
    touched.dedup();
    alerting.observe(&touched, now).await;
    Ok(())
}

async fn dead_letter(
    spec: &Spec,
    producer: Option<&FutureProducer>,
    message: &rdkafka::message::BorrowedMessage<'_>,
    why: &str,
    metrics: &DashboardMetrics,
) -> anyhow::Result<()> {
    metrics.malformed.inc();
    tracing::warn!(
        topic = message.topic(),
        partition = message.partition(),
        offset = message.offset(),
        reason = why,
        "malformed change event"
    );
    let (Some(topic), Some(producer)) = (spec.dead_letter_topic.as_deref(), producer) else {
        return Ok(());
    };
    let offset = message.offset().to_string();
    let partition = message.partition().to_string();
    let headers = OwnedHeaders::new()
        .insert(Header {
            key: "pgcdc.error",
            value: Some(why),
        })
        .insert(Header {
            key: "pgcdc.source.topic",
            value: Some(message.topic()),
        })
        .insert(Header {
            key: "pgcdc.source.partition",
            value: Some(&partition),
        })
        .insert(Header {
            key: "pgcdc.source.offset",
            value: Some(&offset),
        });
    let mut record: FutureRecord<'_, [u8], [u8]> = FutureRecord::to(topic).headers(headers);
    if let Some(key) = message.key() {
        record = record.key(key);
    }
    if let Some(payload) = message.payload() {
        record = record.payload(payload);
    }
    // Awaited: the offset past this record is committed only once it is safe elsewhere.
    producer
        .send(record, Duration::from_secs(30))
        .await
        .map_err(|(e, _)| anyhow::anyhow!("writing to the dead-letter topic {topic}: {e}"))?;
    metrics.dead_lettered.inc();
    Ok(())
}

fn facts_consumer(
    spec: &Spec,
    kafka: &ClientConfig,
    writer: Arc<Mutex<Writer>>,
    handover: Arc<Mutex<Handover>>,
) -> anyhow::Result<StreamConsumer<GroupContext>> {
    let mut config = kafka.clone();
    config
        .set("group.id", spec.group_id())
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        .set("isolation.level", "read_committed");
    if config.get("client.id").is_none() {
        config.set("client.id", format!("pgcdc-dashboard-{}", spec.name));
    }
    if config.get("fetch.queue.backoff.ms").is_none() {
        // librdkafka pauses a partition's fetches for 1 s by default once its local
        // queue holds 64 MiB, which change events with schemas (~3 KiB each) fill in
        // well under a second: the engine then waits for the rest of it.
        config.set("fetch.queue.backoff.ms", "10");
    }
    let consumer: StreamConsumer<GroupContext> =
        config.create_with_context(GroupContext { writer, handover })?;
    let topics = spec.fact_topics();
    tracing::info!(?topics, group = %spec.group_id(), "subscribing");
    let topics: Vec<&str> = topics.iter().map(String::as_str).collect();
    consumer.subscribe(&topics)?;
    Ok(consumer)
}

/// Dimension tables are read whole by every instance (not split by the group), as a
/// global changelog table.
fn tables_consumer(spec: &Spec, kafka: &ClientConfig) -> anyhow::Result<StreamConsumer> {
    let mut config = kafka.clone();
    config
        .set("group.id", format!("{}.tables", spec.group_id()))
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("isolation.level", "read_committed");
    let consumer: StreamConsumer = config.create()?;
    let mut assignment = TopicPartitionList::new();
    for table in spec.tables.values() {
        let metadata = consumer.fetch_metadata(Some(&table.topic), Duration::from_secs(30))?;
        let topic = metadata
            .topics()
            .iter()
            .find(|t| t.name() == table.topic)
            .filter(|t| t.error().is_none() && !t.partitions().is_empty())
            .ok_or_else(|| anyhow::anyhow!("dimension topic {} does not exist", table.topic))?;
        for partition in topic.partitions() {
            assignment.add_partition_offset(&table.topic, partition.id(), Offset::Beginning)?;
        }
    }
    consumer.assign(&assignment)?;
    Ok(consumer)
}

/// Reads every dimension topic up to its end as of now, before any fact is applied.
async fn load_tables(
    spec: &Spec,
    consumer: &StreamConsumer,
    engine: &mut Engine,
    decoder: &mut RecordDecoder,
    shutdown: &CancellationToken,
) -> anyhow::Result<()> {
    let mut remaining: HashMap<(String, i32), i64> = HashMap::new();
    let assignment = consumer.assignment()?;
    for element in assignment.elements() {
        let (low, high) = consumer.fetch_watermarks(
            element.topic(),
            element.partition(),
            Duration::from_secs(30),
        )?;
        if high > low {
            remaining.insert((element.topic().to_owned(), element.partition()), high);
        }
    }
    let started = Instant::now();
    let mut rows = 0u64;
    while !remaining.is_empty() {
        let message = tokio::select! {
            () = shutdown.cancelled() => return Ok(()),
            m = consumer.recv() => m?,
        };
        apply_table_record(spec, engine, decoder, &message).await;
        rows += 1;
        let key = (message.topic().to_owned(), message.partition());
        if remaining
            .get(&key)
            .is_some_and(|&high| message.offset() + 1 >= high)
        {
            remaining.remove(&key);
        }
    }
    tracing::info!(
        rows,
        elapsed_ms = started.elapsed().as_millis() as u64,
        "dimension tables loaded"
    );
    Ok(())
}

/// The next dimension record; never resolves when no tables are configured.
async fn next_table_record(
    consumer: Option<&StreamConsumer>,
) -> rdkafka::error::KafkaResult<rdkafka::message::BorrowedMessage<'_>> {
    match consumer {
        Some(consumer) => consumer.recv().await,
        None => std::future::pending().await,
    }
}

async fn apply_table_record(
    spec: &Spec,
    engine: &mut Engine,
    decoder: &mut RecordDecoder,
    message: &rdkafka::message::BorrowedMessage<'_>,
) {
    let Some((name, table)) = spec.tables.iter().find(|(_, t)| t.topic == message.topic()) else {
        return;
    };
    match decoder.decode(message.payload()).await {
        Ok(Record::Change(change)) => {
            let (row, image) = match (&change.after, &change.before) {
                (Some(after), _) => (Some(after.clone()), after),
                (None, Some(before)) => (None, before),
                (None, None) => return,
            };
            match image.get(&table.key) {
                Some(key) => engine.upsert_dimension(name, key, row),
                None => {
                    tracing::warn!(table = %name, key = %table.key, offset = message.offset(), "a dimension row without its key column")
                }
            }
        }
        Ok(Record::Tombstone) => {}
        Err(why) => {
            tracing::warn!(table = %name, offset = message.offset(), reason = %why, "malformed dimension record skipped")
        }
    }
}
