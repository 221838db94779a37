//! The `pgcdc` command line. It only parses arguments and calls into the library
//! crates; everything that does work lives there.

mod capture;
mod connect;
mod dashboard;
mod kafka;
mod registry;
mod rest_tls;
mod sink;
mod tail;

use clap::{Parser, Subcommand};

/// mimalloc instead of the system allocator: the data path allocates small values
/// per record (decoded fields, cell texts), and glibc's malloc spent about 40% of
/// the sink's CPU on them (chunk consolidation each time a batch buffer grew).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Debug, Parser)]
#[command(
    name = "pgcdc",
    version,
    about = "Debezium-compatible change data capture for PostgreSQL"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Print the version.
    Version,
    /// Stream a replication slot's decoded changes to stdout as JSON lines.
    Capture(Box<capture::CaptureArgs>),
    /// Run the worker: Kafka Connect's REST API hosting Debezium PostgreSQL connectors.
    Connect(Box<connect::ConnectArgs>),
    /// Serve an embedded, Confluent-compatible Schema Registry.
    Registry(registry::RegistryArgs),
    /// Print a topic's records as JSON lines.
    Tail(Box<tail::TailArgs>),
    /// Apply change topics to a warehouse exactly once (a Debezium JDBC sink config).
    Sink(Box<sink::SinkArgs>),
    /// Windowed aggregations over change topics, served live from Redis.
    Dashboard(Box<dashboard::DashboardArgs>),
    /// Reconcile a source table with its warehouse copy (counts and hashes per key range).
    Verify(Box<sink::VerifyArgs>),
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        // Colours for a terminal only: a container's log or a file gets plain text
        // that log shippers and grep can read.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    match Cli::parse().command {
        Command::Capture(args) => capture::run(*args).await,
        Command::Connect(args) => connect::run(*args).await,
        Command::Registry(args) => registry::run(args, started).await,
        Command::Tail(args) => tail::run(*args).await,
        Command::Sink(args) => sink::run(*args).await,
        Command::Dashboard(args) => dashboard::run(*args).await,
        Command::Verify(args) => sink::verify(*args).await,
        Command::Version => {
            println!("pgcdc {}", env!("CARGO_PKG_VERSION"));
            Ok(())
        }
    }
}

/// Resolves on SIGTERM (what container runtimes send) or Ctrl-C.
pub(crate) async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
