//! `pgcdc capture`: stream a slot's decoded changes to stdout, like `pg_recvlogical`
//! but decoded. For looking at what PostgreSQL sends, and for measuring the capture
//! layer on its own.

use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use clap::Args;
use pgcdc_connector::capture::{Capture, CaptureOptions, Change, RowChange, RowOp, RowValues};
use pgcdc_connector::pgoutput::ColumnValue;
use pgcdc_connector::replication::{
    CreateSlotOptions, ReplicationClient, ReplicationConfig, SnapshotAction, SslMode, Streaming,
};
use pgcdc_connector::Lsn;
use serde_json::{json, Map, Value};

#[derive(Debug, Args)]
pub struct CaptureArgs {
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    #[arg(long, default_value_t = 5432)]
    port: u16,
    #[arg(long)]
    user: String,
    #[arg(long)]
    dbname: String,
    /// The password is read from this environment variable, never from the command line.
    #[arg(long, default_value = "PGPASSWORD")]
    password_env: String,
    #[arg(long, default_value = "prefer")]
    sslmode: SslMode,
    #[arg(long)]
    sslrootcert: Option<PathBuf>,
    #[arg(long)]
    slot: String,
    /// Publication(s) to stream, comma-separated.
    #[arg(long, value_delimiter = ',', required = true)]
    publication: Vec<String>,
    /// Create the slot first (a temporary one with --temporary).
    #[arg(long)]
    create_slot: bool,
    #[arg(long, requires = "create_slot")]
    temporary: bool,
    #[arg(long, default_value_t = 1)]
    proto_version: u32,
    /// off, on or parallel (protocol version 2 and 4 respectively).
    #[arg(long, default_value = "off", value_parser = parse_streaming)]
    streaming: Streaming,
    /// Where to start; by default where the slot's confirmed position is.
    #[arg(long)]
    start_lsn: Option<Lsn>,
    /// Stop after the first commit that ends at or past this position.
    #[arg(long)]
    end_lsn: Option<Lsn>,
    /// json: one line per change; count: only a summary on stderr at the end.
    #[arg(long, default_value = "json", value_parser = ["json", "count"])]
    format: String,
    /// Parse every column as its type (the JSON shows PostgreSQL's text either way);
    /// a value that does not parse stops the capture with the table and column.
    #[arg(long)]
    typed: bool,
    /// Confirm each transaction to the slot after it is written out.
    #[arg(long)]
    confirm: bool,
}

fn parse_streaming(s: &str) -> Result<Streaming, String> {
    match s {
        "off" => Ok(Streaming::Off),
        "on" => Ok(Streaming::On),
        "parallel" => Ok(Streaming::Parallel),
        other => Err(format!("{other:?}: expected off, on or parallel")),
    }
}

pub async fn run(args: CaptureArgs) -> anyhow::Result<()> {
    // The receive loop is one task that never waits on another, so it runs on a
    // current-thread runtime of its own: the thread that polls the socket is the one
    // that decodes. On the binary's multi-thread runtime a worker thread woke the loop
    // for every read (a futex wake-up and two context switches each), which cost a
    // third of pgcdc's CPU: 4 to 5 s of CPU per 1,000,000 rows instead of 3 s
    // (`bench/run capture`, perf and strace -c).
    tokio::task::spawn_blocking(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
            .block_on(capture(args))
    })
    .await?
}

async fn capture(args: CaptureArgs) -> anyhow::Result<()> {
    let mut config = ReplicationConfig::new(&args.host, args.port, &args.user, &args.dbname)
        .with_sslmode(args.sslmode);
    if let Ok(password) = std::env::var(&args.password_env) {
        config = config.with_password(password);
    }
    if let Some(path) = &args.sslrootcert {
        config = config.with_sslrootcert(path);
    }
    config.application_name = "pgcdc capture".to_owned();

    let mut options = CaptureOptions::new(&args.slot, args.publication.clone());
    options.proto_version = args.proto_version;
    options.streaming = args.streaming;
    options.start_lsn = args.start_lsn.unwrap_or(Lsn::ZERO);

    let mut capture = if args.create_slot {
        let mut client = ReplicationClient::connect(config).await?;
        let slot_options = CreateSlotOptions {
            temporary: args.temporary,
            snapshot: SnapshotAction::Nothing,
        };
        let created = client.create_slot(&args.slot, slot_options).await?;
        tracing::info!(slot = %args.slot, consistent_point = %created.consistent_point, "slot created");
        let types = pgcdc_connector::capture::load_user_types(&mut client).await?;
        Capture::start_on(client, types, &options).await?
    } else {
        Capture::start(config, &options).await?
    };

    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::with_capacity(1 << 16, stdout.lock());
    let started = Instant::now();
    let mut rows: u64 = 0;
    let mut transactions: u64 = 0;
    while let Some(change) = capture.next().await? {
        if let Change::Row(row) = &change {
            rows += 1;
            if args.typed {
                check_typed(row)?;
            }
        }
        if args.format == "json" {
            if let Some(line) = to_json(&change) {
                serde_json::to_writer(&mut out, &line)?;
                out.write_all(b"\n")?;
            }
        }
        if let Change::Commit(commit) | Change::StreamCommit(commit, _) = &change {
            transactions += 1;
            // A reader watching the output sees each transaction as it commits.
            out.flush()?;
            if args.confirm {
                capture.confirm(commit.end_lsn);
            }
            if args.end_lsn.is_some_and(|end| commit.end_lsn >= end) {
                break;
            }
        }
    }
    out.flush()?;
    let elapsed = started.elapsed().as_secs_f64();
    eprintln!(
        "captured {rows} rows in {transactions} transactions in {elapsed:.3} s ({:.0} rows/s)",
        rows as f64 / elapsed.max(1e-9)
    );
    capture.stop().await.context("stopping replication")?;
    Ok(())
}

fn check_typed(row: &RowChange) -> anyhow::Result<()> {
    for image in [row.old_row(), row.new_row()].into_iter().flatten() {
        image.cells()?;
    }
    Ok(())
}

fn to_json(change: &Change) -> Option<Value> {
    Some(match change {
        Change::Begin(begin) => json!({
            "kind": "begin", "xid": begin.xid.0, "final_lsn": begin.final_lsn.to_string(),
            "commit_time_us": begin.commit_timestamp.to_unix_micros(),
        }),
        Change::Commit(commit) => json!({
            "kind": "commit", "commit_lsn": commit.commit_lsn.to_string(), "end_lsn": commit.end_lsn.to_string(),
        }),
        Change::Row(row) => {
            let op = match row.op {
                RowOp::Insert => "insert",
                RowOp::Update => "update",
                RowOp::Delete => "delete",
            };
            json!({
                "kind": op, "lsn": row.lsn.to_string(), "table": row.table.qualified_name(),
                "old": row.old_row().map(row_json), "new": row.new_row().map(row_json),
            })
        }
        Change::Truncate { lsn, tables, .. } => json!({
            "kind": "truncate", "lsn": lsn.to_string(),
            "tables": tables.iter().map(|t| t.qualified_name()).collect::<Vec<_>>(),
        }),
        Change::Schema { table, .. } => json!({
            "kind": "relation", "table": table.qualified_name(),
            "columns": table.relation.columns.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(),
        }),
        Change::StreamStart { xid, .. } => json!({"kind": "stream_start", "xid": xid.0}),
        Change::StreamStop => json!({"kind": "stream_stop"}),
        Change::StreamCommit(commit, xid) => json!({
            "kind": "stream_commit", "xid": xid.0, "end_lsn": commit.end_lsn.to_string(),
        }),
        Change::StreamAbort { xid, .. } => json!({"kind": "stream_abort", "xid": xid.0}),
        Change::Message(_) | Change::Origin(_) | Change::TwoPhase(_) => return None,
    })
}

/// Column name → PostgreSQL's text of the value (null for NULL; unchanged TOAST
/// values, which PostgreSQL does not send, as `{"unchanged_toast": true}`).
fn row_json(row: RowValues<'_>) -> Value {
    let mut columns = Map::with_capacity(row.len());
    for index in 0..row.len() {
        let name = row.column_name(index).unwrap_or("?").to_owned();
        let value = match row.raw(index) {
            Some(ColumnValue::Text(text)) => {
                Value::String(String::from_utf8_lossy(text).into_owned())
            }
            Some(ColumnValue::UnchangedToast) => json!({"unchanged_toast": true}),
            Some(ColumnValue::Binary(bytes)) => json!({"binary_len": bytes.len()}),
            Some(ColumnValue::Null) | None => Value::Null,
        };
        columns.insert(name, value);
    }
    Value::Object(columns)
}
