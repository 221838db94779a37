//! `pgcdc tail`: prints a topic's records as JSON lines — key and value decoded when
//! they are JSON (the JsonConverter's output) or, with `--schema-registry-url`, Avro in
//! Confluent's wire format (decoded with the schema their id names), shown as text
//! otherwise — with their partition, offset and headers. For looking at what a
//! connector wrote.

use std::collections::HashMap;
use std::io::Write;
use std::time::{Duration, Instant};

use clap::Args;
use pgcdc_schemas::avro::{decode_datum, parse::parse_schema, AvroSchema};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Headers;
use rdkafka::{Message, Offset, TopicPartitionList};
use serde_json::{json, Value};

use crate::kafka::KafkaArgs;

#[derive(Debug, Args)]
pub struct TailArgs {
    /// The topic to read.
    pub topic: String,
    #[command(flatten)]
    pub kafka: KafkaArgs,
    /// Start at the end and print only new records (default: from the beginning).
    #[arg(long)]
    pub new_only: bool,
    /// Stop after this many records.
    #[arg(long)]
    pub count: Option<u64>,
    /// Stop after this many seconds without a new record.
    #[arg(long)]
    pub idle_timeout_secs: Option<u64>,
    /// Decode Avro records (Confluent wire format) with schemas from this registry.
    #[arg(long)]
    pub schema_registry_url: Option<String>,
}

/// Avro schemas by id, fetched from the registry once each.
struct AvroSchemas {
    url: String,
    http: reqwest::Client,
    runtime: tokio::runtime::Handle,
    cache: HashMap<u32, Option<AvroSchema>>,
}

impl AvroSchemas {
    fn schema(&mut self, id: u32) -> Option<&AvroSchema> {
        if !self.cache.contains_key(&id) {
            // The tail loop runs on a blocking thread, so it may wait on the runtime.
            let request = self
                .http
                .get(format!("{}/schemas/ids/{id}", self.url))
                .send();
            let fetched = self
                .runtime
                .block_on(async { request.await.ok()?.json::<Value>().await.ok() })
                .and_then(|v| v["schema"].as_str().and_then(|t| parse_schema(t).ok()));
            self.cache.insert(id, fetched);
        }
        self.cache.get(&id).and_then(Option::as_ref)
    }

    /// Confluent's framing (magic 0, 4-byte id) then an Avro datum, as JSON.
    fn decode(&mut self, bytes: &[u8]) -> Option<Value> {
        let (&magic, rest) = bytes.split_first()?;
        if magic != 0 || rest.len() < 4 {
            return None;
        }
        let id = u32::from_be_bytes(rest[..4].try_into().ok()?);
        let schema = self.schema(id)?;
        decode_datum(schema, &rest[4..]).ok().map(|v| v.to_json())
    }
}

fn decode(bytes: Option<&[u8]>, avro: &mut Option<AvroSchemas>) -> Value {
    let Some(bytes) = bytes else {
        return Value::Null;
    };
    if let Some(value) = avro.as_mut().and_then(|a| a.decode(bytes)) {
        return value;
    }
    serde_json::from_slice(bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(bytes).into_owned()))
}

pub async fn run(args: TailArgs) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Handle::current();
    tokio::task::spawn_blocking(move || tail(&args, &runtime)).await?
}

fn tail(args: &TailArgs, runtime: &tokio::runtime::Handle) -> anyhow::Result<()> {
    let mut config = args.kafka.client_config()?;
    config
        .set("group.id", "pgcdc-tail")
        .set("enable.auto.commit", "false");
    let consumer: BaseConsumer = config.create()?;
    let metadata = consumer.fetch_metadata(Some(&args.topic), Duration::from_secs(30))?;
    let partitions = metadata
        .topics()
        .first()
        .map(|t| t.partitions().len())
        .unwrap_or(0);
    if partitions == 0 {
        anyhow::bail!("topic {} does not exist", args.topic);
    }
    let mut assignment = TopicPartitionList::new();
    let start = if args.new_only {
        Offset::End
    } else {
        Offset::Beginning
    };
    for partition in 0..partitions {
        assignment.add_partition_offset(&args.topic, partition as i32, start)?;
    }
    consumer.assign(&assignment)?;
    let mut avro = args.schema_registry_url.as_ref().map(|url| AvroSchemas {
        url: url.trim_end_matches('/').to_owned(),
        http: reqwest::Client::new(),
        runtime: runtime.clone(),
        cache: HashMap::new(),
    });
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let mut printed = 0u64;
    let mut last = Instant::now();
    loop {
        if args.count.is_some_and(|n| printed >= n) {
            return Ok(());
        }
        if args
            .idle_timeout_secs
            .is_some_and(|s| last.elapsed() >= Duration::from_secs(s))
        {
            return Ok(());
        }
        let Some(message) = consumer.poll(Duration::from_millis(200)) else {
            continue;
        };
        let message = message?;
        last = Instant::now();
        let headers: serde_json::Map<String, Value> = message
            .headers()
            .map(|h| {
                h.iter()
                    .map(|h| (h.key.to_owned(), decode(h.value, &mut None)))
                    .collect()
            })
            .unwrap_or_default();
        let line = json!({
            "topic": message.topic(),
            "partition": message.partition(),
            "offset": message.offset(),
            "key": decode(message.key(), &mut avro),
            "value": decode(message.payload(), &mut avro),
            "headers": headers,
        });
        writeln!(out, "{line}")?;
        out.flush()?;
        printed += 1;
    }
}
