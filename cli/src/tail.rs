//! `pgcdc tail`: prints a topic's records as JSON lines — key and value decoded when
//! they are JSON (the JsonConverter's output), shown as text otherwise — with their
//! partition, offset and headers. For looking at what a connector wrote.

use std::io::Write;
use std::time::{Duration, Instant};

use clap::Args;
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
}

fn decode(bytes: Option<&[u8]>) -> Value {
    match bytes {
        None => Value::Null,
        Some(bytes) => serde_json::from_slice(bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(bytes).into_owned())),
    }
}

pub async fn run(args: TailArgs) -> anyhow::Result<()> {
    tokio::task::spawn_blocking(move || tail(&args)).await?
}

fn tail(args: &TailArgs) -> anyhow::Result<()> {
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
                    .map(|h| (h.key.to_owned(), decode(h.value)))
                    .collect()
            })
            .unwrap_or_default();
        let line = json!({
            "topic": message.topic(),
            "partition": message.partition(),
            "offset": message.offset(),
            "key": decode(message.key()),
            "value": decode(message.payload()),
            "headers": headers,
        });
        writeln!(out, "{line}")?;
        out.flush()?;
        printed += 1;
    }
}
