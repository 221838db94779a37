//! The dashboard's replication-lag panel reads a live worker: `pgcdc connect` streams
//! the shop's tables, the dashboard's `worker.metrics.url` points at the worker's
//! `/metrics`, and `GET /api/lag` (what the panel shows) follows the connector as an
//! operator pauses and resumes it over the REST API. While it is paused the bytes
//! behind grow by at least the WAL written meanwhile; once resumed they fall back as it
//! catches up, and the milliseconds behind source show how long the rows waited, then
//! fall again when live rows stream.

#![allow(clippy::unwrap_used)] // a test that cannot unwrap has failed

use std::time::{Duration, Instant};

use pgcdc_tests::dashboard_support::{
    clear_redis, served_lag, shop_connector, shop_dashboard, DashboardProcess, WorkerProcess,
    SHOP_SCHEMA,
};
use pgcdc_tests::kafka::create_topic;
use pgcdc_tests::sink_support::{connector_properties, wait_topic};
use pgcdc_tests::{unique_name, TestDb};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use tokio_postgres::Client;

/// How long the rows written during the pause wait, at least, before the resume.
const PAUSE_AFTER_WRITES: Duration = Duration::from_secs(5);

/// Page views `first..first + count`, committed in transactions of 2,000.
async fn insert_views(sql: &Client, first: i64, count: i64) -> anyhow::Result<()> {
    let mut id = first;
    while id < first + count {
        let last = (id + 2_000).min(first + count) - 1;
        sql.batch_execute(&format!(
            "INSERT INTO page_views SELECT g, 1 + g % 30, 1 + g % 40, now() AT TIME ZONE 'UTC' \
             FROM generate_series({id}, {last}) g"
        ))
        .await?;
        id = last + 1;
    }
    Ok(())
}

/// The server's current WAL position, in bytes.
async fn wal_position(sql: &Client) -> anyhow::Result<i64> {
    Ok(sql
        .query_one("SELECT (pg_current_wal_lsn() - '0/0')::bigint", &[])
        .await?
        .get(0))
}

fn number(entry: &Value, field: &str) -> Option<f64> {
    entry[field].as_f64()
}

/// Polls `/api/lag` until the connector's entry satisfies `wanted`; returns it.
async fn wait_lag(
    dashboard: &DashboardProcess,
    connector: &str,
    what: &str,
    wanted: impl Fn(&Value) -> bool,
) -> anyhow::Result<Value> {
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut last = None;
    loop {
        let entry = served_lag(&dashboard.url, connector).await?;
        if let Some(entry) = &entry {
            if wanted(entry) {
                return Ok(entry.clone());
            }
        }
        last = entry.or(last);
        anyhow::ensure!(
            Instant::now() < deadline,
            "/api/lag never showed {what} for {connector}; last entry: {last:?}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lag_panel_follows_a_paused_and_resumed_connector() -> anyhow::Result<()> {
    let db = TestDb::create("dash_lag").await?;
    let sql = db.client().await?;
    sql.batch_execute(SHOP_SCHEMA).await?;
    for table in ["page_views", "orders"] {
        create_topic(&format!("{}.public.{table}", db.topic_prefix()), 1).await?;
    }
    let properties = connector_properties(&db, shop_connector(1));
    let connector = properties["name"].as_str().unwrap().to_owned();
    let prefix = unique_name("dash_lag");
    let mut worker = WorkerProcess::start(&format!("{prefix}-worker"), &properties).await?;
    worker.wait_task_state(&connector, "RUNNING").await?;
    wait_topic(
        &format!("{}.public.products", db.topic_prefix()),
        Duration::from_secs(120),
    )
    .await?;
    let dashboard = DashboardProcess::start(
        &prefix,
        &shop_dashboard(
            &db,
            &prefix,
            json!({"worker.metrics.url": format!("{}/metrics", worker.url)}),
        ),
    )
    .await?;

    // Streaming: once a row has been streamed, both figures are there.
    insert_views(&sql, 1, 1).await?;
    let streaming = wait_lag(&dashboard, &connector, "both figures", |c| {
        number(c, "lag_bytes").is_some() && number(c, "ms_behind_source").is_some()
    })
    .await?;

    // Paused: the slot is not read, so the bytes behind include every byte of WAL
    // written since (other tests' WAL only adds to it).
    let (status, body) = worker
        .call(Method::PUT, &format!("/connectors/{connector}/pause"))
        .await?;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    worker.wait_task_state(&connector, "PAUSED").await?;
    let wal_before = wal_position(&sql).await?;
    insert_views(&sql, 1_000, 20_000).await?;
    let written = wal_position(&sql).await? - wal_before;
    let writes_done = Instant::now();
    assert!(
        written > 1_000_000,
        "20,000 rows wrote {written} bytes of WAL"
    );
    let paused = wait_lag(
        &dashboard,
        &connector,
        "the WAL written while paused",
        |c| number(c, "lag_bytes").is_some_and(|lag| lag >= written as f64),
    )
    .await?;

    // Resumed: the connector streams the rows written meanwhile and confirms them;
    // the last of them was processed at least PAUSE_AFTER_WRITES after its commit.
    tokio::time::sleep(PAUSE_AFTER_WRITES.saturating_sub(writes_done.elapsed())).await;
    let (status, body) = worker
        .call(Method::PUT, &format!("/connectors/{connector}/resume"))
        .await?;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    worker.wait_task_state(&connector, "RUNNING").await?;
    let waited_ms = PAUSE_AFTER_WRITES.as_millis() as f64;
    let caught_up = wait_lag(&dashboard, &connector, "the caught-up connector", |c| {
        number(c, "lag_bytes").is_some_and(|lag| lag < written as f64 / 4.0)
            && number(c, "ms_behind_source").is_some_and(|ms| ms >= waited_ms)
    })
    .await?;

    // Live again: a row committed now is streamed within moments.
    insert_views(&sql, 100_000, 1).await?;
    let live = wait_lag(&dashboard, &connector, "a live row", |c| {
        number(c, "ms_behind_source").is_some_and(|ms| ms < waited_ms / 2.0)
    })
    .await?;
    eprintln!(
        "lag of {connector}: streaming {streaming}, paused {paused} ({written} bytes of WAL \
         written), caught up {caught_up}, live {live}"
    );

    worker.kill()?;
    clear_redis(&prefix).await?;
    Ok(())
}
