//! `pgcdc dashboard`: windowed aggregations over change topics, served live from
//! Redis (see `pgcdc_dashboard::spec` for the configuration file).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::Args;
use pgcdc_dashboard::service::Dashboard;
use pgcdc_dashboard::spec::Spec;
use rdkafka::config::ClientConfig;
use tokio_util::sync::CancellationToken;

#[derive(Debug, Args)]
pub struct DashboardArgs {
    /// The aggregations' JSON configuration.
    #[arg(long)]
    pub config: PathBuf,
    /// Where the page, the JSON API and `/metrics` are served (port 0: any free port).
    #[arg(long, default_value = "127.0.0.1:8090")]
    pub listen: SocketAddr,
    /// Kafka bootstrap servers; overrides the configuration's `kafka.bootstrap.servers`.
    #[arg(long, env = "PGCDC_KAFKA_BOOTSTRAP")]
    pub bootstrap_servers: Option<String>,
    /// Another librdkafka setting, `key=value`; repeatable, overrides the configuration.
    #[arg(long = "kafka", value_name = "KEY=VALUE")]
    pub settings: Vec<String>,
}

pub async fn run(args: DashboardArgs) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(&args.config)
        .with_context(|| format!("reading {}", args.config.display()))?;
    let spec = Spec::from_json(&text).with_context(|| format!("{}", args.config.display()))?;
    let mut kafka = ClientConfig::new();
    for (key, value) in &spec.kafka {
        kafka.set(key, value);
    }
    if let Some(servers) = &args.bootstrap_servers {
        kafka.set("bootstrap.servers", servers);
    }
    for setting in &args.settings {
        let (key, value) = setting
            .split_once('=')
            .ok_or_else(|| anyhow::anyhow!("--kafka {setting:?}: expected KEY=VALUE"))?;
        kafka.set(key.trim(), value.trim());
    }
    let dashboard = Dashboard::bind(Arc::new(spec), kafka, args.listen).await?;
    let address = dashboard.address()?;
    // Scripts and tests read the address from this line.
    println!("dashboard: http://{address}/");
    tracing::info!(%address, "dashboard listening");
    let shutdown = CancellationToken::new();
    let stop = shutdown.clone();
    tokio::spawn(async move {
        crate::shutdown_signal().await;
        tracing::info!("shutting down: committing applied events to Redis");
        stop.cancel();
    });
    dashboard.run(shutdown).await
}
