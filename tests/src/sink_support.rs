//! The sink as tests run it: pgcdc's connector (in-process) writing JsonConverter
//! records with schemas, the sink (in-process, or the `pgcdc sink` binary) applying
//! them to a warehouse database, and the checks a data engineer would make: each
//! table's rows equal its warehouse copy, column for column, and the offsets the
//! warehouse holds reach the end of every topic.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use pgcdc_connector::config::PostgresConnectorConfig;
use pgcdc_connector::task::{self, TaskError, TaskOptions};
use pgcdc_sink::{SinkConfig, SinkError, SinkStats};
use rdkafka::consumer::{BaseConsumer, Consumer};
use serde_json::{json, Value};
use tokio::task::JoinHandle;
use tokio_postgres::Client;
use tokio_util::sync::CancellationToken;

use crate::TestDb;

fn flat(properties: &Value) -> BTreeMap<String, String> {
    properties
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| {
            (
                k.clone(),
                v.as_str().map_or_else(|| v.to_string(), str::to_owned),
            )
        })
        .collect()
}

fn merge(mut base: Value, extra: Value) -> Value {
    if let (Some(base), Value::Object(extra)) = (base.as_object_mut(), extra) {
        base.extend(extra);
    }
    base
}

/// pgcdc's connector on `db`, records as JsonConverter with schemas (the default),
/// truncates published, one partition per topic; `extra` overrides.
pub fn connector_properties(db: &TestDb, extra: Value) -> Value {
    merge(
        json!({
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
            "skipped.operations": "none",
        }),
        extra,
    )
}

/// The connector task, running until stopped (restarting after retriable failures).
#[derive(Debug)]
pub struct Connector {
    shutdown: CancellationToken,
    handle: Option<JoinHandle<Result<(), TaskError>>>,
}

impl Connector {
    pub fn start(db: &TestDb, extra: Value) -> anyhow::Result<Connector> {
        let parsed =
            PostgresConnectorConfig::from_properties(&flat(&connector_properties(db, extra)))
                .map_err(|e| anyhow::anyhow!("connector configuration: {e}"))?;
        let options = TaskOptions {
            kafka: crate::kafka::client_config(),
            offsets_topic: format!("{}_offsets", db.name),
        };
        let shutdown = CancellationToken::new();
        let stop = shutdown.clone();
        let config = parsed.config;
        let handle =
            tokio::spawn(async move { task::run_until_stopped(&config, &options, stop).await });
        Ok(Connector {
            shutdown,
            handle: Some(handle),
        })
    }

    pub async fn stop(mut self) -> anyhow::Result<()> {
        self.shutdown.cancel();
        if let Some(handle) = self.handle.take() {
            tokio::time::timeout(Duration::from_secs(60), handle).await???;
        }
        Ok(())
    }
}

impl Drop for Connector {
    fn drop(&mut self) {
        self.shutdown.cancel();
        if let Some(handle) = self.handle.take() {
            handle.abort();
        }
    }
}

/// The sink's properties for `topics` into the `warehouse` database: upserts by the
/// record key, deletes, truncates and schema evolution on; `extra` overrides.
pub fn sink_properties(name: &str, warehouse: &TestDb, topics: &[String], extra: Value) -> Value {
    merge(
        json!({
            "name": name,
            "connector.class": "io.debezium.connector.jdbc.JdbcSinkConnector",
            "topics": topics.join(","),
            "connection.url": format!(
                "jdbc:postgresql://{}:{}/{}",
                warehouse.server.host, warehouse.server.port, warehouse.name
            ),
            "connection.username": warehouse.server.user,
            "connection.password": warehouse.server.password,
            "insert.mode": "upsert",
            "primary.key.mode": "record_key",
            "delete.enabled": "true",
            "truncate.enabled": "true",
            "schema.evolution": "basic",
        }),
        extra,
    )
}

pub fn sink_config(properties: &Value) -> anyhow::Result<Arc<SinkConfig>> {
    let parsed =
        SinkConfig::from_properties(&flat(properties)).map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(Arc::new(parsed.config))
}

/// The sink task in-process. [`SinkTask::kill`] aborts it where it stands (the
/// in-process equivalent of SIGKILL: its warehouse transaction and consumer are
/// dropped mid-flight); [`SinkTask::stop`] is SIGTERM's drain.
#[derive(Debug)]
pub struct SinkTask {
    shutdown: CancellationToken,
    handle: Option<JoinHandle<Result<SinkStats, SinkError>>>,
}

impl SinkTask {
    pub fn start(config: Arc<SinkConfig>) -> SinkTask {
        Self::start_with(config, crate::kafka::client_config())
    }

    /// With these librdkafka settings (the stack's broker and more).
    pub fn start_with(config: Arc<SinkConfig>, kafka: rdkafka::config::ClientConfig) -> SinkTask {
        let shutdown = CancellationToken::new();
        let stop = shutdown.clone();
        let handle =
            tokio::spawn(async move { pgcdc_sink::run_until_stopped(config, &kafka, stop).await });
        SinkTask {
            shutdown,
            handle: Some(handle),
        }
    }

    pub fn is_finished(&self) -> bool {
        self.handle.as_ref().is_none_or(JoinHandle::is_finished)
    }

    pub async fn kill(mut self) {
        if let Some(handle) = self.handle.take() {
            handle.abort();
            let _ = handle.await;
        }
    }

    pub async fn stop(mut self) -> anyhow::Result<SinkStats> {
        self.shutdown.cancel();
        let handle = self
            .handle
            .take()
            .ok_or_else(|| anyhow::anyhow!("the sink task was already joined"))?;
        Ok(tokio::time::timeout(Duration::from_secs(60), handle).await???)
    }
}

impl Drop for SinkTask {
    fn drop(&mut self) {
        if let Some(handle) = self.handle.take() {
            handle.abort();
        }
    }
}

/// A connection with the settings under which row texts are compared.
pub async fn comparing_client(db: &TestDb) -> anyhow::Result<Client> {
    let client = db.client().await?;
    client
        .batch_execute(
            "SET TimeZone = 'UTC'; SET DateStyle = 'ISO'; SET IntervalStyle = 'postgres'; \
             SET extra_float_digits = 3; SET bytea_output = 'hex'",
        )
        .await?;
    Ok(client)
}

/// A table's columns in order.
pub async fn columns(client: &Client, table: &str) -> anyhow::Result<Vec<String>> {
    let rows = client
        .query(
            "SELECT attname::text FROM pg_attribute WHERE attrelid = to_regclass($1) \
             AND attnum > 0 AND NOT attisdropped ORDER BY attnum",
            &[&table],
        )
        .await?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

/// Every row of `table` as the text of `ROW(columns…)`, by key order.
pub async fn row_texts(
    client: &Client,
    table: &str,
    columns: &[String],
    key: &[&str],
) -> anyhow::Result<Vec<(String, String)>> {
    let quoted: Vec<String> = columns.iter().map(|c| format!("\"{c}\"")).collect();
    let key_text = key
        .iter()
        .map(|k| format!("\"{k}\"::text"))
        .collect::<Vec<_>>()
        .join(" || ',' || ");
    let order = key
        .iter()
        .map(|k| format!("\"{k}\""))
        .collect::<Vec<_>>()
        .join(", ");
    let rows = client
        .query(
            &format!(
                "SELECT {key_text}, ROW({})::text FROM {table} ORDER BY {order}",
                quoted.join(", ")
            ),
            &[],
        )
        .await?;
    Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
}

/// Differences between two tables' rows (empty when equal), at most `limit`.
pub fn differences(
    source: &[(String, String)],
    copy: &[(String, String)],
    limit: usize,
) -> Vec<String> {
    let source: BTreeMap<&str, &str> = source
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let copy: BTreeMap<&str, &str> = copy.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let mut out = Vec::new();
    for (key, row) in &source {
        match copy.get(key) {
            None => out.push(format!("key {key}: missing in the warehouse: {row}")),
            Some(other) if other != row => out.push(format!(
                "key {key}:\n    source    {row}\n    warehouse {other}"
            )),
            Some(_) => {}
        }
    }
    for (key, row) in &copy {
        if !source.contains_key(key) {
            out.push(format!("key {key}: only in the warehouse: {row}"));
        }
    }
    out.truncate(limit);
    out
}

/// A source table and its warehouse copy.
#[derive(Debug, Clone)]
pub struct TablePair {
    pub source: String,
    pub copy: String,
    pub key: Vec<&'static str>,
}

/// Waits until every pair compares equal (all the source's columns), or fails after
/// `timeout` with the differences.
pub async fn wait_equal(
    source: &Client,
    warehouse: &Client,
    pairs: &[TablePair],
    timeout: Duration,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + timeout;
    loop {
        let mut problems = Vec::new();
        for pair in pairs {
            let columns = columns(source, &pair.source).await?;
            let copy_columns = match self::columns(warehouse, &pair.copy).await {
                Ok(c) => c,
                Err(e) => {
                    problems.push(format!("{}: {e}", pair.copy));
                    continue;
                }
            };
            if let Some(missing) = columns.iter().find(|c| !copy_columns.contains(c)) {
                problems.push(format!("{}: no column {missing} yet", pair.copy));
                continue;
            }
            let a = row_texts(source, &pair.source, &columns, &pair.key).await?;
            let b = row_texts(warehouse, &pair.copy, &columns, &pair.key).await?;
            let diff = differences(&a, &b, 5);
            if !diff.is_empty() {
                problems.push(format!(
                    "{} ({} rows) vs {} ({} rows):\n  {}",
                    pair.source,
                    a.len(),
                    pair.copy,
                    b.len(),
                    diff.join("\n  ")
                ));
            }
        }
        if problems.is_empty() {
            return Ok(());
        }
        if Instant::now() > deadline {
            anyhow::bail!("not equal after {timeout:?}:\n{}", problems.join("\n"));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// The sink's stored next offsets, by (topic, partition).
pub async fn stored_offsets(
    warehouse: &Client,
    sink: &str,
) -> anyhow::Result<BTreeMap<(String, i32), Option<i64>>> {
    let rows = warehouse
        .query(
            "SELECT topic, partition, next_offset FROM pgcdc_sink_offsets WHERE sink = $1",
            &[&sink],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| ((r.get(0), r.get(1)), r.get(2)))
        .collect())
}

/// The high watermark (next offset to be written) of each partition of `topic`
/// (empty while the topic does not exist). A just-created topic may not have its
/// leaders yet: that is retried for a while.
pub fn end_offsets(topic: &str) -> anyhow::Result<BTreeMap<i32, i64>> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match try_end_offsets(topic) {
            Ok(ends) => return Ok(ends),
            Err(e) if Instant::now() < deadline => {
                eprintln!("end offsets of {topic}: {e}; retrying");
                std::thread::sleep(Duration::from_millis(200));
            }
            Err(e) => return Err(e),
        }
    }
}

fn try_end_offsets(topic: &str) -> anyhow::Result<BTreeMap<i32, i64>> {
    let consumer: BaseConsumer = crate::kafka::client_config().create()?;
    let metadata = consumer.fetch_metadata(Some(topic), Duration::from_secs(10))?;
    let mut ends = BTreeMap::new();
    for t in metadata
        .topics()
        .iter()
        .filter(|t| t.name() == topic && t.error().is_none())
    {
        for p in t.partitions() {
            let (_, high) = consumer.fetch_watermarks(topic, p.id(), Duration::from_secs(10))?;
            ends.insert(p.id(), high);
        }
    }
    Ok(ends)
}

/// Waits until the topic has its partitions (the connector creates topics lazily).
pub async fn wait_topic(topic: &str, timeout: Duration) -> anyhow::Result<()> {
    let deadline = Instant::now() + timeout;
    loop {
        let name = topic.to_owned();
        let ends = tokio::task::spawn_blocking(move || end_offsets(&name)).await??;
        if !ends.is_empty() {
            return Ok(());
        }
        if Instant::now() > deadline {
            anyhow::bail!("topic {topic} does not exist after {timeout:?}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// `pgcdc sink --config <file> --bootstrap-servers …` as a child process; killed when
/// dropped.
#[derive(Debug)]
pub struct SinkProcess {
    child: std::process::Child,
}

impl SinkProcess {
    /// Starts the binary with `properties` (written to `<label>.json` beside its log,
    /// `<label>.log`, under the test artifacts directory) and extra `--kafka` settings.
    ///
    /// The warehouse password is not written to the file: the file says
    /// `${env:PGCDC_SINK_PASSWORD}` and the process gets it in its environment, as a
    /// deployment would keep it, so these tests also cover the resolution.
    pub fn start(label: &str, properties: &Value, kafka: &[&str]) -> anyhow::Result<SinkProcess> {
        let config = crate::process::artifact_path(&format!("{label}.json"))?;
        let mut written = properties.clone();
        let password = written
            .get_mut("connection.password")
            .map(|p| std::mem::replace(p, json!("${env:PGCDC_SINK_PASSWORD}")));
        std::fs::write(
            &config,
            serde_json::to_vec_pretty(&json!({ "config": written }))?,
        )?;
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(crate::process::artifact_path(&format!("{label}.log"))?)?;
        let mut command = std::process::Command::new(crate::process::pgcdc_binary()?);
        command
            .arg("sink")
            .arg("--config")
            .arg(&config)
            .args(["--bootstrap-servers", crate::Stack::get().kafka_bootstrap()]);
        for setting in kafka {
            command.args(["--kafka", setting]);
        }
        if let Some(password) = password.as_ref().and_then(Value::as_str) {
            command.env("PGCDC_SINK_PASSWORD", password);
        }
        let child = command
            .env(
                "RUST_LOG",
                std::env::var("RUST_LOG").unwrap_or("info".into()),
            )
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::from(log.try_clone()?))
            .stderr(std::process::Stdio::from(log))
            .spawn()?;
        Ok(SinkProcess { child })
    }

    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// SIGKILL.
    pub fn kill(&mut self) -> anyhow::Result<()> {
        if self.is_running() {
            self.child.kill()?;
            self.child.wait()?;
        }
        Ok(())
    }

    /// SIGTERM, then the exit status (SIGKILL after `timeout`).
    pub async fn terminate(
        &mut self,
        timeout: Duration,
    ) -> anyhow::Result<std::process::ExitStatus> {
        let pid = self.child.id().to_string();
        let sent = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()?;
        anyhow::ensure!(sent.success(), "kill -TERM {pid} failed");
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait()? {
                return Ok(status);
            }
            if Instant::now() > deadline {
                self.kill()?;
                anyhow::bail!("pgcdc sink did not exit within {timeout:?} of SIGTERM");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for SinkProcess {
    fn drop(&mut self) {
        let _ = self.kill();
    }
}
