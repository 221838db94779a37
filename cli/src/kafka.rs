//! Kafka client settings shared by the subcommands that talk to a broker.

use clap::Args;
use rdkafka::config::ClientConfig;

#[derive(Debug, Args)]
pub struct KafkaArgs {
    /// Kafka bootstrap servers (`host:port,...`).
    #[arg(long, env = "PGCDC_KAFKA_BOOTSTRAP", default_value = "127.0.0.1:9092")]
    pub bootstrap_servers: String,
    /// Another librdkafka setting, `key=value` (e.g. `security.protocol=SASL_SSL`);
    /// repeatable.
    #[arg(long = "kafka", value_name = "KEY=VALUE")]
    pub settings: Vec<String>,
}

impl KafkaArgs {
    pub fn client_config(&self) -> anyhow::Result<ClientConfig> {
        let mut config = ClientConfig::new();
        config.set("bootstrap.servers", &self.bootstrap_servers);
        for setting in &self.settings {
            let (key, value) = setting
                .split_once('=')
                .ok_or_else(|| anyhow::anyhow!("--kafka {setting:?}: expected KEY=VALUE"))?;
            config.set(key.trim(), value.trim());
        }
        Ok(config)
    }
}
