//! pgcdc's connector as a test runs it: its configuration for a test database, the
//! connector task in-process, the records it wrote decoded back from Kafka, and what
//! the replication slot and the offsets topic say about it.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use pgcdc_connector::config::PostgresConnectorConfig;
use pgcdc_connector::task::{self, TaskError, TaskOptions, TaskStats};
use pgcdc_connector::Lsn;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer, StreamConsumer};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};
use serde_json::{json, Value};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::TestDb;

/// Debezium connector properties for pgcdc on a test database (its own name, slot,
/// publication and topic prefix), records as schema-less JSON unless `extra` says
/// otherwise; `extra` overrides or adds properties.
pub fn properties(db: &TestDb, extra: Value) -> Value {
    let mut config = json!({
        "name": db.name,
        "connector.class": "io.debezium.connector.postgresql.PostgresConnector",
        "database.hostname": db.server.host,
        "database.port": db.server.port.to_string(),
        "database.user": db.server.user,
        "database.password": db.server.password,
        "database.dbname": db.name,
        "database.sslmode": "disable",
        "topic.prefix": db.topic_prefix(),
        "plugin.name": "pgoutput",
        "slot.name": db.slot_name(),
        "publication.name": db.publication_name(),
        "topic.creation.default.replication.factor": "1",
        "topic.creation.default.partitions": "1",
        "key.converter.schemas.enable": "false",
        "value.converter.schemas.enable": "false",
    });
    if let (Some(config), Value::Object(extra)) = (config.as_object_mut(), extra) {
        config.extend(extra);
    }
    config
}

/// The validated configuration of [`properties`].
pub fn config(db: &TestDb, extra: Value) -> anyhow::Result<PostgresConnectorConfig> {
    let properties = properties(db, extra);
    let map: BTreeMap<String, String> = properties
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| {
            let text = v.as_str().map_or_else(|| v.to_string(), str::to_owned);
            (k.clone(), text)
        })
        .collect();
    PostgresConnectorConfig::from_properties(&map)
        .map(|parsed| parsed.config)
        .map_err(|errors| anyhow::anyhow!("invalid connector configuration: {errors}"))
}

/// The offsets topic of a test database's connector (Connect's `offset.storage.topic`).
pub fn offsets_topic(db: &TestDb) -> String {
    format!("{}_offsets", db.name)
}

/// Where a connector of `db` runs: the stack's broker and the test's offsets topic.
pub fn task_options(db: &TestDb) -> TaskOptions {
    TaskOptions {
        kafka: crate::kafka::client_config(),
        offsets_topic: offsets_topic(db),
    }
}

/// One start of the connector task (`task::run`) on the test's runtime. Dropping it
/// aborts the task, so a failing test does not leave a connector holding its slot.
#[derive(Debug)]
pub struct InProcess {
    shutdown: CancellationToken,
    handle: Option<JoinHandle<Result<TaskStats, TaskError>>>,
}

impl InProcess {
    pub fn start(config: PostgresConnectorConfig, options: TaskOptions) -> InProcess {
        let shutdown = CancellationToken::new();
        let stop = shutdown.clone();
        let handle = tokio::spawn(async move { task::run(&config, &options, stop).await });
        InProcess {
            shutdown,
            handle: Some(handle),
        }
    }

    /// Like [`InProcess::start`], restarting after retriable failures
    /// (`task::run_until_stopped`, as `pgcdc connect` runs it).
    pub fn start_until_stopped(config: PostgresConnectorConfig, options: TaskOptions) -> InProcess {
        let shutdown = CancellationToken::new();
        let stop = shutdown.clone();
        let handle = tokio::spawn(async move {
            task::run_until_stopped(&config, &options, stop)
                .await
                .map(|()| TaskStats::default())
        });
        InProcess {
            shutdown,
            handle: Some(handle),
        }
    }

    /// Asks the task to stop (SIGTERM's path: drain, confirm) and waits for it.
    pub async fn stop(mut self) -> anyhow::Result<TaskStats> {
        self.shutdown.cancel();
        self.join(Duration::from_secs(60)).await
    }

    /// Waits for the task to end on its own (e.g. `snapshot.mode=initial_only`).
    pub async fn finished(mut self, timeout: Duration) -> anyhow::Result<TaskStats> {
        self.join(timeout).await
    }

    pub fn is_finished(&self) -> bool {
        self.handle.as_ref().is_none_or(JoinHandle::is_finished)
    }

    async fn join(&mut self, timeout: Duration) -> anyhow::Result<TaskStats> {
        let handle = self
            .handle
            .take()
            .ok_or_else(|| anyhow::anyhow!("the connector task was already joined"))?;
        let result = tokio::time::timeout(timeout, handle)
            .await
            .map_err(|_| anyhow::anyhow!("the connector task did not end within {timeout:?}"))?;
        Ok(result??)
    }
}

impl Drop for InProcess {
    fn drop(&mut self) {
        self.shutdown.cancel();
        if let Some(handle) = self.handle.take() {
            handle.abort();
        }
    }
}

/// One record of a connector topic, decoded.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub partition: i32,
    pub offset: i64,
    /// The key's payload; `Null` when the record has no key.
    pub key: Value,
    /// The value's payload (the envelope); `None` for a tombstone.
    pub value: Option<Value>,
    /// The value's Connect schema, when the converter wrote one.
    pub value_schema: Option<Value>,
}

impl Event {
    /// `r`, `c`, `u`, `d`, `t`; `None` for a tombstone or a record without `op`.
    pub fn op(&self) -> Option<&str> {
        self.value.as_ref().and_then(|v| v["op"].as_str())
    }

    pub fn is_tombstone(&self) -> bool {
        self.value.is_none()
    }

    pub fn after(&self) -> &Value {
        self.field("after")
    }

    pub fn before(&self) -> &Value {
        self.field("before")
    }

    pub fn source(&self) -> &Value {
        self.field("source")
    }

    /// A field of the value's payload (`Null` when absent or a tombstone).
    pub fn field(&self, name: &str) -> &Value {
        self.value
            .as_ref()
            .and_then(|v| v.get(name))
            .unwrap_or(&Value::Null)
    }
}

/// JsonConverter writes `{"schema":…,"payload":…}` with `schemas.enable=true` and the
/// bare payload otherwise.
fn split_envelope(value: Value) -> (Value, Option<Value>) {
    match value {
        Value::Object(mut map)
            if map.len() == 2 && map.contains_key("schema") && map.contains_key("payload") =>
        {
            let payload = map.remove("payload").unwrap_or(Value::Null);
            (payload, map.remove("schema"))
        }
        other => (other, None),
    }
}

fn decode(message: &rdkafka::message::BorrowedMessage<'_>) -> anyhow::Result<Event> {
    let key = match message.key() {
        None => Value::Null,
        Some(bytes) => split_envelope(serde_json::from_slice(bytes)?).0,
    };
    let (value, value_schema) = match message.payload() {
        None => (None, None),
        Some(bytes) => {
            let (payload, schema) = split_envelope(serde_json::from_slice(bytes)?);
            (Some(payload), schema)
        }
    };
    Ok(Event {
        partition: message.partition(),
        offset: message.offset(),
        key,
        value,
        value_schema,
    })
}

/// Whether `topic` exists on the stack's broker now.
pub fn topic_exists(topic: &str) -> anyhow::Result<bool> {
    topic_exists_on(&crate::kafka::client_config(), topic)
}

pub fn topic_exists_on(kafka: &ClientConfig, topic: &str) -> anyhow::Result<bool> {
    let consumer: BaseConsumer = kafka.create()?;
    let metadata = consumer.fetch_metadata(None, Duration::from_secs(10))?;
    Ok(metadata.topics().iter().any(|t| t.name() == topic))
}

/// Reads one topic from its beginning, keeping every record it has seen, so that a
/// test can wait for a condition without reading the topic again each time.
pub struct TopicReader {
    consumer: StreamConsumer,
    /// The client configuration the reader was opened with (for watermark queries).
    kafka: ClientConfig,
    topic: String,
    partitions: i32,
    /// Every record read so far, in the order received (each partition in order).
    pub events: Vec<Event>,
}

impl std::fmt::Debug for TopicReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "TopicReader({}, {} events)",
            self.topic,
            self.events.len()
        )
    }
}

impl TopicReader {
    /// Opens `topic` on the stack's broker, waiting up to `timeout` for it to exist.
    pub async fn open(topic: &str, timeout: Duration) -> anyhow::Result<TopicReader> {
        Self::open_on(&crate::kafka::client_config(), topic, timeout).await
    }

    pub async fn open_on(
        kafka: &ClientConfig,
        topic: &str,
        timeout: Duration,
    ) -> anyhow::Result<TopicReader> {
        let consumer: StreamConsumer = kafka
            .clone()
            .set("group.id", crate::unique_name("reader"))
            .set("enable.auto.commit", "false")
            .set("isolation.level", "read_committed")
            .create()?;
        let deadline = Instant::now() + timeout;
        let partitions = loop {
            // A broker busy serving another reader's fetches (tansu answers one
            // storage query at a time) may miss one metadata deadline: retry until
            // `timeout`.
            let partitions = match consumer.fetch_metadata(Some(topic), Duration::from_secs(10)) {
                Ok(metadata) => metadata
                    .topics()
                    .iter()
                    .find(|t| t.name() == topic && t.error().is_none())
                    .map_or(0, |t| t.partitions().len()),
                Err(e) if Instant::now() < deadline => {
                    eprintln!("{topic}: metadata not fetched ({e}); retrying");
                    0
                }
                Err(e) => return Err(e.into()),
            };
            if partitions > 0 {
                break i32::try_from(partitions)?;
            }
            if Instant::now() > deadline {
                anyhow::bail!("topic {topic} does not exist after {timeout:?}");
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        let mut assignment = TopicPartitionList::new();
        for partition in 0..partitions {
            assignment.add_partition_offset(topic, partition, Offset::Beginning)?;
        }
        consumer.assign(&assignment)?;
        Ok(TopicReader {
            consumer,
            kafka: kafka.clone(),
            topic: topic.to_owned(),
            partitions,
            events: Vec::new(),
        })
    }

    /// Reads whatever arrives within `wait`.
    pub async fn poll_for(&mut self, wait: Duration) -> anyhow::Result<()> {
        let deadline = tokio::time::Instant::now() + wait;
        while let Ok(message) = tokio::time::timeout_at(deadline, self.consumer.recv()).await {
            let event = decode(&message?)?;
            self.events.push(event);
        }
        Ok(())
    }

    /// Reads until `done` holds for the records read so far, failing after `timeout`.
    pub async fn wait_until(
        &mut self,
        timeout: Duration,
        what: &str,
        done: impl Fn(&[Event]) -> bool,
    ) -> anyhow::Result<()> {
        let deadline = Instant::now() + timeout;
        while !done(&self.events) {
            if Instant::now() > deadline {
                anyhow::bail!(
                    "{}: {what} did not happen within {timeout:?} ({} records read)",
                    self.topic,
                    self.events.len()
                );
            }
            self.poll_for(Duration::from_millis(200)).await?;
        }
        Ok(())
    }

    /// Reads until `count` records were read, failing after `timeout`.
    pub async fn wait_for_count(&mut self, count: usize, timeout: Duration) -> anyhow::Result<()> {
        self.wait_until(timeout, &format!("{count} records"), |events| {
            events.len() >= count
        })
        .await
    }

    /// Each partition's (low, high) watermarks, asked until `deadline`.
    ///
    /// The reader's own fetches are paused meanwhile and each attempt asks on a new
    /// connection: tansu answers one storage query at a time and a connection's
    /// requests in order, so a query queued behind this reader's fetches of a long
    /// partition missed its deadline again and again (CI, after 20 connector kills).
    async fn watermarks(&self, deadline: Instant) -> anyhow::Result<Vec<(i64, i64)>> {
        let assigned = self.consumer.assignment()?;
        self.consumer.pause(&assigned)?;
        let ends = self.ask_watermarks(deadline).await;
        self.consumer.resume(&assigned)?;
        ends
    }

    async fn ask_watermarks(&self, deadline: Instant) -> anyhow::Result<Vec<(i64, i64)>> {
        loop {
            let kafka = self.kafka.clone();
            let topic = self.topic.clone();
            let partitions = self.partitions;
            let asked = tokio::task::spawn_blocking(move || -> anyhow::Result<Vec<(i64, i64)>> {
                let client: rdkafka::consumer::BaseConsumer = kafka.create()?;
                (0..partitions)
                    .map(|p| Ok(client.fetch_watermarks(&topic, p, Duration::from_secs(20))?))
                    .collect()
            })
            .await?;
            match asked {
                Ok(ends) => return Ok(ends),
                Err(e) if Instant::now() < deadline => {
                    eprintln!("{}: watermarks not fetched ({e}); retrying", self.topic);
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Reads everything the topic holds now (up to each partition's high watermark).
    pub async fn read_to_end(&mut self, timeout: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + timeout;
        let ends = self.watermarks(deadline).await?;
        loop {
            // The next offset per partition: one past the last record read (a
            // transactional producer's markers take offsets too, so count positions).
            let position = self.consumer.position()?;
            let reached = (0..self.partitions).zip(&ends).all(|(p, &(low, high))| {
                let next = position
                    .find_partition(&self.topic, p)
                    .and_then(|e| match e.offset() {
                        Offset::Offset(o) => Some(o),
                        _ => None,
                    })
                    .unwrap_or(low);
                next >= high
            });
            if reached {
                return Ok(());
            }
            if Instant::now() > deadline {
                anyhow::bail!(
                    "{}: not read to its end ({ends:?}) within {timeout:?}",
                    self.topic
                );
            }
            self.poll_for(Duration::from_millis(200)).await?;
        }
    }
}

/// Reads a whole topic as it is now.
pub async fn read_all(topic: &str) -> anyhow::Result<Vec<Event>> {
    read_all_on(&crate::kafka::client_config(), topic).await
}

/// Reads a whole topic of the broker `kafka` points at, as it is now.
pub async fn read_all_on(kafka: &ClientConfig, topic: &str) -> anyhow::Result<Vec<Event>> {
    let mut reader = TopicReader::open_on(kafka, topic, Duration::from_secs(60)).await?;
    reader.read_to_end(Duration::from_secs(180)).await?;
    Ok(reader.events)
}

/// `<topic.prefix>.<schema>.<table>`.
pub fn table_topic(db: &TestDb, table: &str) -> String {
    format!("{}.public.{table}", db.topic_prefix())
}

/// The heartbeat topic of a connector with the default `heartbeat.topics.prefix`.
pub fn heartbeat_topic(db: &TestDb) -> String {
    format!("__debezium-heartbeat.{}", db.topic_prefix())
}

/// The slot's `confirmed_flush_lsn`, `None` while the slot does not exist.
pub async fn confirmed_flush_lsn(db: &TestDb, slot: &str) -> anyhow::Result<Option<Lsn>> {
    let admin = db.server.connect("postgres").await?;
    let row = admin
        .query_opt(
            "SELECT confirmed_flush_lsn::text FROM pg_replication_slots WHERE slot_name = $1",
            &[&slot],
        )
        .await?;
    match row.and_then(|r| r.get::<_, Option<String>>(0)) {
        None => Ok(None),
        Some(text) => {
            Ok(Some(text.parse().map_err(|e| {
                anyhow::anyhow!("confirmed_flush_lsn {text}: {e:?}")
            })?))
        }
    }
}

/// The server's current end of WAL.
pub async fn current_wal_lsn(client: &tokio_postgres::Client) -> anyhow::Result<Lsn> {
    let text: String = client
        .query_one("SELECT pg_current_wal_lsn()::text", &[])
        .await?
        .get(0);
    text.parse()
        .map_err(|e| anyhow::anyhow!("pg_current_wal_lsn {text}: {e:?}"))
}

/// Waits until a walsender streams from `slot` (caught up with the WAL, so a change
/// committed from now on is streamed, not snapshotted or missed).
pub async fn wait_streaming(db: &TestDb, slot: &str, timeout: Duration) -> anyhow::Result<()> {
    let admin = db.server.connect("postgres").await?;
    let deadline = Instant::now() + timeout;
    loop {
        let streaming: i64 = admin
            .query_one(
                "SELECT count(*) FROM pg_stat_replication r \
                 JOIN pg_replication_slots s ON s.active_pid = r.pid \
                 WHERE s.slot_name = $1 AND r.state = 'streaming'",
                &[&slot],
            )
            .await?
            .get(0);
        if streaming > 0 {
            return Ok(());
        }
        if Instant::now() > deadline {
            anyhow::bail!("slot {slot} is not streaming after {timeout:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until no walsender holds `slot` (a killed connector's walsender notices the
/// closed socket asynchronously).
pub async fn wait_slot_inactive(db: &TestDb, slot: &str, timeout: Duration) -> anyhow::Result<()> {
    let admin = db.server.connect("postgres").await?;
    let deadline = Instant::now() + timeout;
    loop {
        let active: i64 = admin
            .query_one(
                "SELECT count(*) FROM pg_replication_slots WHERE slot_name = $1 AND active",
                &[&slot],
            )
            .await?
            .get(0);
        if active == 0 {
            return Ok(());
        }
        if Instant::now() > deadline {
            anyhow::bail!("slot {slot} is still active after {timeout:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// What the connector's offsets topic holds for it (the latest value under its
/// Connect key `["<name>",{"server":"<topic.prefix>"}]`), `None` when nothing.
pub async fn stored_offset(
    offsets_topic: &str,
    name: &str,
    prefix: &str,
) -> anyhow::Result<Option<Value>> {
    stored_offset_on(&crate::kafka::client_config(), offsets_topic, name, prefix).await
}

/// [`stored_offset`] on the broker `kafka` points at.
pub async fn stored_offset_on(
    kafka: &ClientConfig,
    offsets_topic: &str,
    name: &str,
    prefix: &str,
) -> anyhow::Result<Option<Value>> {
    if !topic_exists_on(kafka, offsets_topic)? {
        return Ok(None);
    }
    let mut reader = TopicReader::open_on(kafka, offsets_topic, Duration::from_secs(10)).await?;
    reader.read_to_end(Duration::from_secs(30)).await?;
    let key = json!([name, { "server": prefix }]);
    Ok(reader
        .events
        .into_iter()
        .rev()
        .find(|e| e.key == key)
        .and_then(|e| e.value))
}
