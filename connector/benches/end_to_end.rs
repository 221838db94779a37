//! The measuring tools of `bench/run connector` (see bench/README.md): one binary with
//! subcommands, built once in release by the script and run directly.
//!
//! Every topic the benchmark takes times from is created here with
//! `message.timestamp.type=LogAppendTime`: the broker stamps each record with its own
//! clock when it appends it, which on the one-broker stack is just before it answers
//! the producer's `acks=all` request. Whoever wrote the records — `pgcdc connect`,
//! Debezium's Connect producer or the bare producer below — is timed the same way, by
//! reading the stamps back afterwards, without a consumer racing the writer.
//!
//! The broker is `PGCDC_KAFKA_BOOTSTRAP`. Subcommands:
//!
//! - `create-topic TOPIC PARTITIONS`;
//! - `delete-topics PREFIX`: every topic whose name starts with PREFIX;
//! - `wait TOPIC COUNT TIMEOUT_S`: until the (one-partition) topic holds COUNT records,
//!   then prints `first_ms=` and `last_ms=`, the append times of its first and
//!   COUNT-th record;
//! - `count TOPIC`: the records the topic holds;
//! - `replay SOURCE DEST`: the bare producer. Reads every record of SOURCE into
//!   memory, then produces the same keys, values and headers to the same partitions
//!   of a new topic DEST with pgcdc's producer settings (idempotent, `acks=all`,
//!   `linger.ms=5`) on a `ThreadedProducer`, as fast as librdkafka takes them; prints
//!   the time from the first send to the last delivery report, and DEST's append
//!   times;
//! - `generate RATE TX_ROWS SECONDS FIRST_ID`: the paced load of the latency
//!   benchmark: `SELECT insert_orders(a, b)` (one transaction of TX_ROWS rows) on a
//!   fixed schedule of RATE rows/s, on the database of `PGCDC_BENCH_DSN`;
//! - `latency TOPIC REGISTRY_URL|- SKIP_S`: for every record, the broker's append time
//!   minus the event's `source.ts_us` (the transaction's commit time, from pgoutput's
//!   Begin message), Avro values decoded with the registry's schemas (`-`: JSON
//!   values); records committed in the first SKIP_S seconds are left out (warm-up);
//! - `sink-latency TOPIC REGISTRY_URL|- COMMITS_FILE SKIP_S` (bench/run sink): for every
//!   record of TOPIC, the warehouse commit of its row minus the broker's append time
//!   (keys holding an `id`, Avro read with the registry's schemas, `-`: JSON).
//!   COMMITS_FILE holds `id<TAB>commit_us` lines (the row's key and
//!   `pg_xact_commit_timestamp(xmin)` in µs, read from the warehouse after the run);
//!   a key written more than once counts its last record; records appended in the
//!   first SKIP_S seconds are left out (warm-up).
#![allow(clippy::unwrap_used)] // a benchmark tool: a failure is reported and ends it

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use pgcdc_schemas::avro::{decode_datum, parse::parse_schema, AvroConverterConfig};
use pgcdc_schemas::avro::{AvroSchema, RegistryClient, SchemaId};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{BorrowedHeaders, DeliveryResult, Message, OwnedHeaders, Timestamp};
use rdkafka::producer::{BaseRecord, ProducerContext, ThreadedProducer};
use rdkafka::{ClientContext, Offset, TopicPartitionList};
use serde_json::Value;

type Result<T> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;

fn fail<T>(message: impl Into<String>) -> Result<T> {
    Err(message.into().into())
}

fn kafka() -> Result<ClientConfig> {
    let bootstrap = std::env::var("PGCDC_KAFKA_BOOTSTRAP")
        .map_err(|_| "PGCDC_KAFKA_BOOTSTRAP is not set (set -a; . .stack/env)")?;
    let mut config = ClientConfig::new();
    config.set("bootstrap.servers", bootstrap);
    Ok(config)
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

fn number<T: std::str::FromStr>(args: &[String], index: usize, what: &str) -> Result<T> {
    args.get(index)
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| format!("argument {index}: expected {what}").into())
}

fn text<'a>(args: &'a [String], index: usize, what: &str) -> Result<&'a str> {
    args.get(index)
        .map(String::as_str)
        .ok_or_else(|| format!("argument {index}: expected {what}").into())
}

fn main() {
    // `cargo bench` appends `--bench`; the script runs the binary directly.
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let Some(command) = args.first() else {
        eprintln!("end_to_end: the tools of bench/run connector; see the module documentation");
        return;
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let result = match command.as_str() {
        "create-topic" => runtime.block_on(create_topic_command(&args)),
        "delete-topics" => runtime.block_on(delete_topics(&args)),
        "wait" => wait(&args),
        "count" => count_command(&args),
        "replay" => runtime.block_on(replay(&args)),
        "generate" => runtime.block_on(generate(&args)),
        "latency" => runtime.block_on(latency(&args)),
        "sink-latency" => runtime.block_on(sink_latency(&args)),
        other => fail(format!("unknown subcommand {other}")),
    };
    if let Err(e) = result {
        eprintln!("end_to_end {command}: {e}");
        std::process::exit(1);
    }
}

// --- topics --------------------------------------------------------------------------

fn admin() -> Result<AdminClient<DefaultClientContext>> {
    Ok(kafka()?.create()?)
}

async fn create_topic(name: &str, partitions: i32) -> Result<()> {
    let topic = NewTopic::new(name, partitions, TopicReplication::Fixed(1))
        .set("message.timestamp.type", "LogAppendTime");
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
    for result in admin()?.create_topics([&topic], &options).await? {
        result.map_err(|(topic, code)| format!("creating topic {topic}: {code}"))?;
    }
    // Metadata lists a new topic a moment before its leader takes writes.
    let consumer = consumer()?;
    let deadline = Instant::now() + Duration::from_secs(30);
    while consumer
        .fetch_watermarks(name, 0, Duration::from_secs(5))
        .is_err()
    {
        if Instant::now() > deadline {
            return fail(format!("topic {name} has no leader after 30 s"));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(())
}

async fn create_topic_command(args: &[String]) -> Result<()> {
    create_topic(
        text(args, 1, "a topic")?,
        number(args, 2, "a partition count")?,
    )
    .await
}

async fn delete_topics(args: &[String]) -> Result<()> {
    let prefix = text(args, 1, "a topic prefix")?;
    if prefix.len() < 8 {
        return fail(format!(
            "prefix {prefix:?} is too short to be a benchmark's own"
        ));
    }
    let metadata = consumer()?.fetch_metadata(None, Duration::from_secs(30))?;
    let names: Vec<String> = metadata
        .topics()
        .iter()
        .map(|t| t.name().to_owned())
        .filter(|n| n.starts_with(prefix))
        .collect();
    if names.is_empty() {
        return Ok(());
    }
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
    for result in admin()?.delete_topics(&names, &options).await? {
        if let Err((topic, code)) = result {
            eprintln!("deleting topic {topic}: {code}");
        }
    }
    println!("deleted {}", names.join(" "));
    Ok(())
}

// --- reading -------------------------------------------------------------------------

fn consumer() -> Result<BaseConsumer> {
    Ok(kafka()?
        .set("group.id", "pgcdc-bench-reader")
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("fetch.max.bytes", "104857600")
        .set("max.partition.fetch.bytes", "10485760")
        .create()?)
}

fn partitions(consumer: &BaseConsumer, topic: &str) -> Result<i32> {
    let metadata = consumer.fetch_metadata(Some(topic), Duration::from_secs(30))?;
    match metadata
        .topics()
        .iter()
        .find(|t| t.name() == topic && t.error().is_none())
    {
        Some(t) if !t.partitions().is_empty() => Ok(t.partitions().len() as i32),
        _ => fail(format!("topic {topic} does not exist")),
    }
}

/// Records a topic holds: the sum of (high − low) watermarks.
fn count(consumer: &BaseConsumer, topic: &str, partitions: i32) -> Result<i64> {
    let mut total = 0;
    for partition in 0..partitions {
        let (low, high) = consumer.fetch_watermarks(topic, partition, Duration::from_secs(10))?;
        total += high - low;
    }
    Ok(total)
}

fn count_command(args: &[String]) -> Result<()> {
    let topic = text(args, 1, "a topic")?;
    let consumer = consumer()?;
    let n = partitions(&consumer, topic)?;
    println!("{}", count(&consumer, topic, n)?);
    Ok(())
}

fn append_ms(timestamp: Timestamp) -> Result<i64> {
    match timestamp {
        Timestamp::LogAppendTime(ms) => Ok(ms),
        other => fail(format!(
            "record timestamp is {other:?}, not LogAppendTime: was the topic created by this tool?"
        )),
    }
}

/// The append time of the record at `offset` of partition 0.
fn append_time_at(consumer: &BaseConsumer, topic: &str, offset: i64) -> Result<i64> {
    let mut assignment = TopicPartitionList::new();
    assignment.add_partition_offset(topic, 0, Offset::Offset(offset))?;
    consumer.assign(&assignment)?;
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if let Some(message) = consumer.poll(Duration::from_millis(500)) {
            let message = message?;
            if message.offset() == offset {
                return append_ms(message.timestamp());
            }
        }
    }
    fail(format!(
        "no record at offset {offset} of {topic} within 30 s"
    ))
}

fn wait(args: &[String]) -> Result<()> {
    let topic = text(args, 1, "a topic")?;
    let expected: i64 = number(args, 2, "a record count")?;
    let timeout = Duration::from_secs(number(args, 3, "a timeout in seconds")?);
    let consumer = consumer()?;
    let deadline = Instant::now() + timeout;
    let n = loop {
        match partitions(&consumer, topic) {
            Ok(n) => break n,
            Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(50)),
            Err(e) => return Err(e),
        }
    };
    if n != 1 {
        return fail(format!(
            "{topic} has {n} partitions; wait times one-partition topics"
        ));
    }
    loop {
        let have = count(&consumer, topic, n)?;
        if have >= expected {
            println!("reached_ms={} count={have}", now_ms());
            break;
        }
        if Instant::now() > deadline {
            return fail(format!(
                "{topic} holds {have} of {expected} records after {timeout:?}"
            ));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    println!(
        "first_ms={} last_ms={}",
        append_time_at(&consumer, topic, 0)?,
        append_time_at(&consumer, topic, expected - 1)?
    );
    Ok(())
}

/// One record as read back.
struct Stored {
    partition: i32,
    key: Option<Vec<u8>>,
    value: Option<Vec<u8>>,
    headers: Option<OwnedHeaders>,
    append_ms: i64,
}

/// Every record `topic` holds now, partition by partition, in offset order.
fn read_all(topic: &str) -> Result<(i32, Vec<Stored>)> {
    let consumer = consumer()?;
    let n = partitions(&consumer, topic)?;
    let mut ends = Vec::new();
    let mut assignment = TopicPartitionList::new();
    for partition in 0..n {
        let (low, high) = consumer.fetch_watermarks(topic, partition, Duration::from_secs(10))?;
        if high > low {
            ends.push((partition, high));
            assignment.add_partition_offset(topic, partition, Offset::Offset(low))?;
        }
    }
    let total: i64 = count(&consumer, topic, n)?;
    let mut records = Vec::with_capacity(total as usize);
    consumer.assign(&assignment)?;
    let mut done = 0;
    let mut idle_since = Instant::now();
    while done < ends.len() {
        let Some(message) = consumer.poll(Duration::from_millis(500)) else {
            if idle_since.elapsed() > Duration::from_secs(30) {
                return fail(format!(
                    "{topic}: read {} of {total} records, then nothing for 30 s",
                    records.len()
                ));
            }
            continue;
        };
        idle_since = Instant::now();
        let message = message?;
        records.push(Stored {
            partition: message.partition(),
            key: message.key().map(<[u8]>::to_vec),
            value: message.payload().map(<[u8]>::to_vec),
            headers: message.headers().map(BorrowedHeaders::detach),
            append_ms: match message.timestamp() {
                Timestamp::LogAppendTime(ms) => ms,
                _ => 0,
            },
        });
        if ends
            .iter()
            .any(|&(p, high)| p == message.partition() && message.offset() + 1 == high)
        {
            done += 1;
        }
    }
    Ok((n, records))
}

// --- the bare producer ---------------------------------------------------------------

/// Counts delivery reports and remembers when the last one came.
#[derive(Default)]
struct Deliveries {
    delivered: AtomicU64,
    failed: AtomicU64,
    last_ms: AtomicI64,
}

struct Counting(Arc<Deliveries>);

impl ClientContext for Counting {}

impl ProducerContext for Counting {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        match result {
            Ok(_) => self.0.delivered.fetch_add(1, Ordering::Relaxed),
            Err((e, _)) => {
                eprintln!("delivery failed: {e}");
                self.0.failed.fetch_add(1, Ordering::Relaxed)
            }
        };
        self.0.last_ms.store(now_ms(), Ordering::Relaxed);
    }
}

async fn replay(args: &[String]) -> Result<()> {
    let source = text(args, 1, "the source topic")?;
    let dest = text(args, 2, "the destination topic")?.to_owned();
    let (partition_count, records) = read_all(source)?;
    let bytes: usize = records
        .iter()
        .map(|r| r.key.as_ref().map_or(0, Vec::len) + r.value.as_ref().map_or(0, Vec::len))
        .sum();
    eprintln!(
        "read {} records ({bytes} bytes of keys and values) from {source}",
        records.len()
    );
    create_topic(&dest, partition_count).await?;

    let deliveries = Arc::new(Deliveries::default());
    // pgcdc's EventProducer settings (connector/src/producer.rs).
    let producer: ThreadedProducer<Counting> = kafka()?
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("message.timeout.ms", "300000")
        .set("linger.ms", "5")
        .create_with_context(Counting(Arc::clone(&deliveries)))?;
    let total = records.len() as u64;
    let start_ms = now_ms();
    let started = Instant::now();
    let mut queue_full_waits = 0u64;
    for record in records {
        let mut outgoing: BaseRecord<'_, [u8], [u8]> =
            BaseRecord::to(&dest).partition(record.partition);
        if let Some(key) = &record.key {
            outgoing = outgoing.key(key.as_slice());
        }
        if let Some(value) = &record.value {
            outgoing = outgoing.payload(value.as_slice());
        }
        if let Some(headers) = record.headers {
            outgoing = outgoing.headers(headers);
        }
        loop {
            match producer.send(outgoing) {
                Ok(()) => break,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    outgoing = back;
                    queue_full_waits += 1;
                    std::thread::sleep(Duration::from_micros(500));
                }
                Err((e, _)) => return Err(e.into()),
            }
        }
    }
    let sent = started.elapsed();
    while deliveries.delivered.load(Ordering::Relaxed) + deliveries.failed.load(Ordering::Relaxed)
        < total
    {
        if started.elapsed() > Duration::from_secs(600) {
            return fail("deliveries still missing after 600 s");
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    let failed = deliveries.failed.load(Ordering::Relaxed);
    if failed > 0 {
        return fail(format!("{failed} records failed"));
    }
    let last_ms = deliveries.last_ms.load(Ordering::Relaxed);
    let seconds = (last_ms - start_ms) as f64 / 1000.0;
    drop(producer);
    let (_, written) = read_all(&dest)?;
    let first_append = written.iter().map(|r| r.append_ms).min().unwrap_or(0);
    let last_append = written.iter().map(|r| r.append_ms).max().unwrap_or(0);
    println!(
        "records={total} bytes={bytes} start_ms={start_ms} acked_ms={last_ms} seconds={seconds:.3} \
         rate={:.0} sent_in_s={:.3} queue_full_waits={queue_full_waits} \
         first_append_ms={first_append} last_append_ms={last_append}",
        total as f64 / seconds,
        sent.as_secs_f64()
    );
    Ok(())
}

// --- the paced generator -------------------------------------------------------------

async fn generate(args: &[String]) -> Result<()> {
    let rate: u64 = number(args, 1, "rows per second")?;
    let tx_rows: i64 = number(args, 2, "rows per transaction")?;
    let seconds: u64 = number(args, 3, "seconds")?;
    let first_id: i64 = number(args, 4, "the first id")?;
    let dsn = std::env::var("PGCDC_BENCH_DSN").map_err(|_| "PGCDC_BENCH_DSN is not set")?;
    let (client, connection) = tokio_postgres::connect(&dsn, tokio_postgres::NoTls).await?;
    tokio::spawn(connection);
    let insert = client
        .prepare("SELECT insert_orders($1::bigint, $2::bigint)")
        .await?;
    let period = Duration::from_secs_f64(tx_rows as f64 / rate as f64);
    let transactions = (rate * seconds) / tx_rows as u64;
    let start = tokio::time::Instant::now();
    let mut behind = Vec::with_capacity(transactions as usize);
    let mut id = first_id;
    for t in 0..transactions {
        // A fixed schedule, not a fixed gap: a late transaction is followed at once by
        // the next, so the rate holds on average.
        let due = start + period * (t as u32);
        tokio::time::sleep_until(due).await;
        behind.push(tokio::time::Instant::now().saturating_duration_since(due));
        client.execute(&insert, &[&id, &(id + tx_rows - 1)]).await?;
        id += tx_rows;
    }
    let elapsed = start.elapsed().as_secs_f64();
    behind.sort();
    let at = |q: f64| behind[((behind.len() - 1) as f64 * q) as usize].as_secs_f64() * 1e3;
    println!(
        "rows={} transactions={transactions} seconds={elapsed:.3} rate={:.0} \
         behind_schedule_p50_ms={:.2} behind_schedule_p99_ms={:.2} next_id={id}",
        id - first_id,
        (id - first_id) as f64 / elapsed,
        at(0.5),
        at(0.99)
    );
    Ok(())
}

// --- latency -------------------------------------------------------------------------

/// `source.ts_us` of an event value (falling back to `ts_ms`), JSON or Avro.
fn commit_us(value: &Value) -> Option<i64> {
    let source = value.get("payload").unwrap_or(value).get("source")?;
    source.get("ts_us").and_then(Value::as_i64).or_else(|| {
        source
            .get("ts_ms")
            .and_then(Value::as_i64)
            .map(|ms| ms * 1000)
    })
}

async fn latency(args: &[String]) -> Result<()> {
    let topic = text(args, 1, "a topic")?;
    let registry = text(args, 2, "a registry URL or -")?;
    let skip_s: f64 = number(args, 3, "seconds of warm-up to leave out")?;
    let mut reader = ValueReader::new(registry)?;
    let (_, records) = read_all(topic)?;
    let mut samples: Vec<(i64, i64)> = Vec::with_capacity(records.len()); // (commit µs, latency µs)
    for record in &records {
        let Some(bytes) = record.value.as_deref() else {
            continue;
        };
        let value = reader.read(bytes).await?;
        let commit = commit_us(&value).ok_or("an event without source.ts_us or ts_ms")?;
        samples.push((commit, record.append_ms * 1000 - commit));
    }
    let Some(first_commit) = samples.iter().map(|s| s.0).min() else {
        return fail(format!("{topic} holds no events"));
    };
    let since = first_commit + (skip_s * 1e6) as i64;
    let mut latencies: Vec<i64> = samples
        .iter()
        .filter(|s| s.0 >= since)
        .map(|s| s.1)
        .collect();
    if latencies.is_empty() {
        return fail("no event after the warm-up");
    }
    let last_commit = samples.iter().map(|s| s.0).max().unwrap_or(since);
    latencies.sort_unstable();
    println!(
        "events={} measured={} commit_span_s={:.3} {}",
        samples.len(),
        latencies.len(),
        (last_commit - since) as f64 / 1e6,
        percentile_fields(&latencies)
    );
    Ok(())
}

/// Reads record values or keys as JSON: JSON itself, or Avro in Confluent's wire
/// format through the registry (schemas fetched once per id).
struct ValueReader {
    client: Option<RegistryClient>,
    schemas: std::collections::HashMap<u32, AvroSchema>,
}

impl ValueReader {
    fn new(registry: &str) -> Result<ValueReader> {
        Ok(ValueReader {
            client: (registry != "-")
                .then(|| RegistryClient::new(&AvroConverterConfig::new(registry)))
                .transpose()?,
            schemas: Default::default(),
        })
    }

    async fn read(&mut self, bytes: &[u8]) -> Result<Value> {
        let Some(client) = &self.client else {
            return Ok(serde_json::from_slice::<Value>(bytes)?);
        };
        if bytes.len() < 5 || bytes[0] != 0 {
            return fail("a record not in Confluent's wire format");
        }
        let id = u32::from_be_bytes([bytes[1], bytes[2], bytes[3], bytes[4]]);
        let schema = match self.schemas.entry(id) {
            std::collections::hash_map::Entry::Occupied(known) => known.into_mut(),
            std::collections::hash_map::Entry::Vacant(slot) => {
                let text = client.schema_by_id(SchemaId(id)).await?;
                slot.insert(parse_schema(&text)?)
            }
        };
        Ok(decode_datum(schema, &bytes[5..])?.to_json())
    }
}

/// `at(q)` over sorted microseconds, in milliseconds.
/// The percentile fields both latency reports print (`p50_ms=… max_ms=… min_ms=…`)
/// of sorted microseconds, in milliseconds.
fn percentile_fields(sorted: &[i64]) -> String {
    let at = |q: f64| sorted[((sorted.len() - 1) as f64 * q).round() as usize] as f64 / 1e3;
    format!(
        "p50_ms={:.1} p90_ms={:.1} p99_ms={:.1} p999_ms={:.1} max_ms={:.1} min_ms={:.1}",
        at(0.5),
        at(0.9),
        at(0.99),
        at(0.999),
        at(1.0),
        at(0.0)
    )
}

async fn sink_latency(args: &[String]) -> Result<()> {
    let topic = text(args, 1, "a topic")?;
    let mut reader = ValueReader::new(text(args, 2, "a registry URL or -")?)?;
    let commits_file = text(args, 3, "a file of id<TAB>commit_us lines")?;
    let skip_s: f64 = number(args, 4, "seconds of warm-up to leave out")?;
    let mut commits = std::collections::HashMap::new();
    for (n, line) in std::fs::read_to_string(commits_file)?.lines().enumerate() {
        let parsed = line
            .split_once('\t')
            .and_then(|(id, at)| Some((id.parse::<i64>().ok()?, at.parse::<i64>().ok()?)));
        let Some((id, at)) = parsed else {
            return fail(format!(
                "{commits_file}:{}: not id<TAB>commit_us: {line:?}",
                n + 1
            ));
        };
        commits.insert(id, at);
    }
    let (_, records) = read_all(topic)?;
    // The last record of each key: the one whose apply the warehouse row shows.
    let mut appended = std::collections::HashMap::new();
    for record in &records {
        let key = match record.key.as_deref() {
            Some(bytes) => reader.read(bytes).await?,
            None => Value::Null,
        };
        let id = key.get("payload").unwrap_or(&key).get("id");
        let Some(id) = id.and_then(Value::as_i64) else {
            return fail(format!("{topic}: a record without a key holding an id"));
        };
        appended.insert(id, record.append_ms);
    }
    let Some(first_append) = appended.values().copied().min() else {
        return fail(format!("{topic} holds no records"));
    };
    let since = first_append + (skip_s * 1e3) as i64;
    let mut missing = 0usize;
    let mut latencies = Vec::with_capacity(appended.len());
    for (id, append_ms) in &appended {
        if *append_ms < since {
            continue;
        }
        match commits.get(id) {
            Some(commit_us) => latencies.push(commit_us - append_ms * 1000),
            None => missing += 1,
        }
    }
    if latencies.is_empty() {
        return fail("no record after the warm-up was found in the warehouse");
    }
    latencies.sort_unstable();
    println!(
        "records={} measured={} missing={missing} {}",
        records.len(),
        latencies.len(),
        percentile_fields(&latencies)
    );
    Ok(())
}
