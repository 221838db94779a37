//! `pgcdc registry`: the embedded, Confluent-compatible Schema Registry.

use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct RegistryArgs {
    /// Address to serve Confluent's Schema Registry API on.
    #[arg(long, default_value = "127.0.0.1:8081")]
    listen: String,
    /// Directory holding schemas.log; without it the registry keeps schemas in memory only.
    #[arg(long)]
    data_dir: Option<PathBuf>,
}

pub async fn run(args: RegistryArgs) -> anyhow::Result<()> {
    pgcdc_schemas::registry::run(
        &args.listen,
        args.data_dir.as_deref(),
        crate::shutdown_signal(),
    )
    .await?;
    Ok(())
}
