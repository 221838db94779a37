//! `pgcdc registry`: the embedded, Confluent-compatible Schema Registry.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use pgcdc_schemas::registry::{KafkaStoreConfig, Storage};

#[derive(Debug, clap::Args)]
pub struct RegistryArgs {
    /// Address to serve Confluent's Schema Registry API (and /metrics) on.
    #[arg(long, default_value = "127.0.0.1:8081")]
    listen: String,
    /// Directory holding schemas.log (file storage, one instance). Without it and
    /// without --kafkastore-bootstrap-servers, schemas live in memory only.
    #[arg(long, conflicts_with = "kafkastore_bootstrap_servers")]
    data_dir: Option<PathBuf>,
    /// Keep the registry's log in a compacted Kafka topic on these brokers, shared by
    /// every instance on the topic (Confluent's kafkastore.bootstrap.servers).
    #[arg(
        long,
        visible_alias = "kafka-bootstrap-servers",
        value_name = "HOST:PORT,..."
    )]
    kafkastore_bootstrap_servers: Option<String>,
    /// The topic (Confluent's kafkastore.topic): one partition, cleanup.policy=compact;
    /// created when missing.
    #[arg(long, default_value = KafkaStoreConfig::DEFAULT_TOPIC)]
    kafkastore_topic: String,
    /// Replicas of a topic created here, capped to the number of brokers.
    #[arg(long, default_value_t = 3)]
    kafkastore_topic_replication_factor: i32,
    /// How long a write (and reading it back) may take.
    #[arg(long, default_value_t = 10_000)]
    kafkastore_timeout_ms: u64,
    /// How long reaching Kafka and reading the topic at start may take.
    #[arg(long, default_value_t = 60_000)]
    kafkastore_init_timeout_ms: u64,
    /// The transactional.id every instance on the topic shares (it serializes their
    /// writes); default pgcdc-registry-<topic>.
    #[arg(long)]
    kafkastore_transactional_id: Option<String>,
    /// Another librdkafka setting for the store's clients, `key=value` (e.g.
    /// `security.protocol=SASL_SSL`); repeatable.
    #[arg(
        long = "kafka",
        value_name = "KEY=VALUE",
        requires = "kafkastore_bootstrap_servers"
    )]
    kafka_settings: Vec<String>,
}

impl RegistryArgs {
    fn storage(self) -> anyhow::Result<Storage> {
        if let Some(dir) = self.data_dir {
            return Ok(Storage::File(dir));
        }
        let Some(bootstrap) = self.kafkastore_bootstrap_servers else {
            return Ok(Storage::Memory);
        };
        let mut config = KafkaStoreConfig::new(&bootstrap);
        for setting in &self.kafka_settings {
            let (key, value) = setting
                .split_once('=')
                .ok_or_else(|| anyhow::anyhow!("--kafka {setting:?}: expected KEY=VALUE"))?;
            config.client.set(key.trim(), value.trim());
        }
        anyhow::ensure!(
            self.kafkastore_topic_replication_factor > 0,
            "--kafkastore-topic-replication-factor must be at least 1"
        );
        config.transactional_id = self
            .kafkastore_transactional_id
            .unwrap_or_else(|| KafkaStoreConfig::transactional_id_for(&self.kafkastore_topic));
        config.topic = self.kafkastore_topic;
        config.replication_factor = self.kafkastore_topic_replication_factor;
        config.timeout = Duration::from_millis(self.kafkastore_timeout_ms.max(1));
        config.init_timeout = Duration::from_millis(self.kafkastore_init_timeout_ms.max(1));
        Ok(Storage::Kafka(config))
    }
}

pub async fn run(args: RegistryArgs, started: Instant) -> anyhow::Result<()> {
    let listen = args.listen.clone();
    pgcdc_schemas::registry::run(&listen, args.storage()?, started, crate::shutdown_signal())
        .await?;
    Ok(())
}
