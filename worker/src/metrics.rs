//! `GET /metrics`: Prometheus text exposition of every connector's state (whatever its
//! class), a source's replication lag and progress, a dashboard's records and
//! commits, and the process. Metric names start with `pgcdc_`; labels are
//! `connector` (and `class` on the state, `table`, `op` for event counts).
//!
//! Lag in bytes is PostgreSQL's own view: `pg_current_wal_lsn()` minus the slot's
//! `confirmed_flush_lsn`, sampled at scrape time over a short-lived connection (a
//! failed sample leaves the metric out rather than report a stale figure).

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use pgcdc_dashboard::metrics::DashboardMetrics;
use pgcdc_sink::SinkMetrics;

use pgcdc_connector::task::TaskMetrics;

use crate::class::Figures;
use crate::runtime::{ConnectorMetrics, TaskState, Worker};

fn escape(label: &str) -> String {
    label
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

struct Family<'a> {
    out: &'a mut String,
}

impl Family<'_> {
    fn header(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.out, "# HELP {name} {help}");
        let _ = writeln!(self.out, "# TYPE {name} {kind}");
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        let labels: Vec<String> = labels
            .iter()
            .map(|(k, v)| format!("{k}=\"{}\"", escape(v)))
            .collect();
        if labels.is_empty() {
            let _ = writeln!(self.out, "{name} {value}");
        } else {
            let _ = writeln!(self.out, "{name}{{{}}} {value}", labels.join(","));
        }
    }
}

/// Every running connector's lag in bytes, sampled concurrently (a scrape takes at
/// most one timeout, however many connectors cannot be reached).
async fn lag_bytes(worker: &Worker, connectors: &[ConnectorMetrics]) -> BTreeMap<String, i64> {
    let mut samples = tokio::task::JoinSet::new();
    for c in connectors {
        let Some(slot) = c.slot.clone() else {
            continue;
        };
        if matches!(c.state, TaskState::Stopped) {
            continue;
        }
        let Ok(config) = worker.resolved_config(&c.name).await else {
            continue;
        };
        let name = c.name.clone();
        samples.spawn(async move {
            let replication = pgcdc_connector::task::replication_config(&config);
            let query = async {
                let client = pgcdc_connector::sql::connect(&replication).await.ok()?;
                let row = client
                    .query_opt(
                        "SELECT (pg_current_wal_lsn() - confirmed_flush_lsn)::bigint \
                         FROM pg_replication_slots WHERE slot_name = $1",
                        &[&slot],
                    )
                    .await
                    .ok()??;
                row.get::<_, Option<i64>>(0)
            };
            let lag = tokio::time::timeout(Duration::from_secs(3), query)
                .await
                .ok()
                .flatten();
            (name, lag)
        });
    }
    let mut lags = BTreeMap::new();
    while let Some(sample) = samples.join_next().await {
        if let Ok((name, Some(lag))) = sample {
            lags.insert(name, lag);
        }
    }
    lags
}

/// The whole exposition.
pub async fn render(worker: &Worker) -> String {
    let connectors = worker.metrics().await;
    let lags = lag_bytes(worker, &connectors).await;
    // The source connectors' own figures.
    let sources: Vec<Source<'_>> = connectors
        .iter()
        .filter_map(|c| match &c.figures {
            Figures::Source(metrics) => Some(Source {
                name: &c.name,
                metrics,
            }),
            Figures::Sink(_) | Figures::Dashboard(_) => None,
        })
        .collect();
    let mut out = String::new();
    let mut f = Family { out: &mut out };

    f.header(
        "pgcdc_connector_state",
        "gauge",
        "1 for the connector's current task state.",
    );
    for c in &connectors {
        for state in [
            "RUNNING",
            "PAUSED",
            "STOPPED",
            "FAILED",
            "UNASSIGNED",
            "RESTARTING",
        ] {
            let current = c.state.name() == state;
            f.sample(
                "pgcdc_connector_state",
                &[
                    ("connector", &c.name),
                    ("class", c.class.name()),
                    ("state", state),
                ],
                f64::from(u8::from(current)),
            );
        }
    }
    f.header(
        "pgcdc_connected",
        "gauge",
        "1 while the task is connected to PostgreSQL.",
    );
    for c in &sources {
        let connected = c.metrics.connected.load(Ordering::Relaxed);
        f.sample(
            "pgcdc_connected",
            &[("connector", c.name)],
            f64::from(u8::from(connected)),
        );
    }
    f.header(
        "pgcdc_replication_lag_bytes",
        "gauge",
        "WAL bytes between the server's current position and the slot's confirmed_flush_lsn.",
    );
    for (name, lag) in &lags {
        f.sample(
            "pgcdc_replication_lag_bytes",
            &[("connector", name)],
            *lag as f64,
        );
    }
    f.header(
        "pgcdc_milliseconds_behind_source",
        "gauge",
        "Processing time minus source commit time of the last streamed event (Debezium's MilliSecondsBehindSource).",
    );
    for c in &sources {
        if let Some(ms) = c.metrics.millis_behind_source() {
            f.sample(
                "pgcdc_milliseconds_behind_source",
                &[("connector", c.name)],
                ms as f64,
            );
        }
    }
    f.header(
        "pgcdc_events_total",
        "counter",
        "Change events produced, by table and op.",
    );
    for c in &sources {
        for ((table, op), count) in c.metrics.events() {
            f.sample(
                "pgcdc_events_total",
                &[("connector", c.name), ("table", &table), ("op", op)],
                count as f64,
            );
        }
    }
    f.header(
        "pgcdc_records_produced_total",
        "counter",
        "Kafka records handed to the producer.",
    );
    for c in &sources {
        let n = c.metrics.records_produced.load(Ordering::Relaxed);
        f.sample(
            "pgcdc_records_produced_total",
            &[("connector", c.name)],
            n as f64,
        );
    }
    f.header(
        "pgcdc_snapshot_running",
        "gauge",
        "1 while the initial snapshot runs.",
    );
    f.header(
        "pgcdc_snapshot_tables",
        "gauge",
        "Snapshot tables, total and done.",
    );
    f.header(
        "pgcdc_snapshot_rows_total",
        "counter",
        "Rows read by snapshots.",
    );
    for c in &sources {
        let m = c.metrics;
        let labels = [("connector", c.name)];
        f.sample(
            "pgcdc_snapshot_running",
            &labels,
            f64::from(u8::from(m.snapshot_running.load(Ordering::Relaxed))),
        );
        for (kind, value) in [
            ("total", m.snapshot_tables_total.load(Ordering::Relaxed)),
            ("done", m.snapshot_tables_done.load(Ordering::Relaxed)),
        ] {
            f.sample(
                "pgcdc_snapshot_tables",
                &[("connector", c.name), ("kind", kind)],
                value as f64,
            );
        }
        f.sample(
            "pgcdc_snapshot_rows_total",
            &labels,
            m.snapshot_rows.load(Ordering::Relaxed) as f64,
        );
    }
    f.header(
        "pgcdc_last_event_timestamp_seconds",
        "gauge",
        "When the last streamed event was processed.",
    );
    f.header(
        "pgcdc_last_heartbeat_timestamp_seconds",
        "gauge",
        "When the last heartbeat was sent.",
    );
    f.header(
        "pgcdc_confirmed_lsn",
        "gauge",
        "The LSN the slot was last confirmed to.",
    );
    f.header(
        "pgcdc_task_restarts_total",
        "counter",
        "Task restarts after retriable failures.",
    );
    for c in &sources {
        let m = c.metrics;
        let labels = [("connector", c.name)];
        let seconds = |ms: i64| ms as f64 / 1000.0;
        let last = m.last_event_processed_ms.load(Ordering::Relaxed);
        if last > 0 {
            f.sample("pgcdc_last_event_timestamp_seconds", &labels, seconds(last));
        }
        let heartbeat = m.last_heartbeat_ms.load(Ordering::Relaxed);
        if heartbeat > 0 {
            f.sample(
                "pgcdc_last_heartbeat_timestamp_seconds",
                &labels,
                seconds(heartbeat),
            );
        }
        f.sample(
            "pgcdc_confirmed_lsn",
            &labels,
            m.confirmed_lsn.load(Ordering::Relaxed) as f64,
        );
    }
    for c in &connectors {
        f.sample(
            "pgcdc_task_restarts_total",
            &[("connector", c.name.as_str())],
            c.restarts as f64,
        );
    }
    sink_metrics(&mut f, &connectors);
    dashboard_metrics(&mut f, &connectors);
    process_metrics(&mut f);
    out
}

/// A source connector's figures.
struct Source<'a> {
    name: &'a str,
    metrics: &'a TaskMetrics,
}

/// Reads one counter of a sink's figures.
type SinkCounter = fn(&SinkMetrics) -> u64;

/// A sink connector's progress, across its task's restarts.
fn sink_metrics(f: &mut Family<'_>, connectors: &[ConnectorMetrics]) {
    let sinks: Vec<(&str, &SinkMetrics)> = connectors
        .iter()
        .filter_map(|c| match &c.figures {
            Figures::Sink(metrics) => Some((c.name.as_str(), metrics.as_ref())),
            Figures::Source(_) | Figures::Dashboard(_) => None,
        })
        .collect();
    let counters: [(&str, &str, SinkCounter); 6] = [
        (
            "pgcdc_sink_batches_total",
            "Batches a sink committed to the warehouse.",
            |m| m.batches.load(Ordering::Relaxed),
        ),
        ("pgcdc_sink_records_total", "Records a sink applied.", |m| {
            m.records.load(Ordering::Relaxed)
        }),
        (
            "pgcdc_sink_rows_total",
            "Warehouse rows a sink inserted, updated or deleted.",
            |m| m.rows.load(Ordering::Relaxed),
        ),
        (
            "pgcdc_sink_records_skipped_total",
            "Records a sink skipped: the warehouse had them.",
            |m| m.skipped.load(Ordering::Relaxed),
        ),
        (
            "pgcdc_sink_records_rejected_total",
            "Poison records a sink left out (errors.tolerance=all).",
            |m| m.rejected.load(Ordering::Relaxed),
        ),
        (
            "pgcdc_sink_rewinds_total",
            "Batches another sink task's offsets rolled back (a rebalance seen late); the task read again from the warehouse's offsets.",
            |m| m.rewinds.load(Ordering::Relaxed),
        ),
    ];
    for (metric, help, read) in counters {
        f.header(metric, "counter", help);
        for (name, m) in &sinks {
            f.sample(metric, &[("connector", name)], read(m) as f64);
        }
    }
    f.header(
        "pgcdc_sink_last_commit_timestamp_seconds",
        "gauge",
        "When a sink last committed a batch.",
    );
    for (name, m) in &sinks {
        let ms = m.last_commit_ms.load(Ordering::Relaxed);
        if ms > 0 {
            f.sample(
                "pgcdc_sink_last_commit_timestamp_seconds",
                &[("connector", name)],
                ms as f64 / 1000.0,
            );
        }
    }
}

/// A dashboard connector's progress (its own `/metrics`, on its page's address,
/// has every figure).
fn dashboard_metrics(f: &mut Family<'_>, connectors: &[ConnectorMetrics]) {
    let dashboards: Vec<(&str, Arc<DashboardMetrics>)> = connectors
        .iter()
        .filter_map(|c| match &c.figures {
            Figures::Dashboard(figures) => figures.current().map(|m| (c.name.as_str(), m)),
            Figures::Source(_) | Figures::Sink(_) => None,
        })
        .collect();
    f.header(
        "pgcdc_dashboard_records_total",
        "counter",
        "Change records a dashboard read from its fact topics.",
    );
    for (name, m) in &dashboards {
        f.sample(
            "pgcdc_dashboard_records_total",
            &[("connector", name)],
            m.records.get() as f64,
        );
    }
    f.header(
        "pgcdc_dashboard_commits_total",
        "counter",
        "A dashboard's commits of results and offsets to Redis.",
    );
    for (name, m) in &dashboards {
        f.sample(
            "pgcdc_dashboard_commits_total",
            &[("connector", name)],
            m.flushes.get() as f64,
        );
    }
}

/// Resident memory and CPU time of this process, from /proc.
fn process_metrics(f: &mut Family<'_>) {
    if let Ok(status) = std::fs::read_to_string("/proc/self/status") {
        if let Some(kb) = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        {
            f.header(
                "process_resident_memory_bytes",
                "gauge",
                "Resident memory size in bytes.",
            );
            f.sample("process_resident_memory_bytes", &[], kb * 1024.0);
        }
    }
    if let Ok(stat) = std::fs::read_to_string("/proc/self/stat") {
        // Fields after the command name: utime and stime are the 12th and 13th.
        let fields: Vec<&str> = stat
            .rsplit_once(')')
            .map(|(_, rest)| rest.split_whitespace().collect())
            .unwrap_or_default();
        if let (Some(user), Some(system)) = (
            fields.get(11).and_then(|v| v.parse::<f64>().ok()),
            fields.get(12).and_then(|v| v.parse::<f64>().ok()),
        ) {
            // Linux reports clock ticks of 1/100 s on every architecture pgcdc targets.
            f.header(
                "process_cpu_seconds_total",
                "counter",
                "User and system CPU time.",
            );
            f.sample("process_cpu_seconds_total", &[], (user + system) / 100.0);
        }
    }
}
