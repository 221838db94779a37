//! Replication lag as a Prometheus scrape shows it: while rows keep coming, the
//! broker goes away; `pgcdc_replication_lag_bytes` and
//! `pgcdc_milliseconds_behind_source` must rise while it is away and fall back once
//! it returns. The broker is private to this test, so the others see no outage.

#![allow(clippy::unwrap_used)] // a test that cannot unwrap has failed

use std::time::{Duration, Instant};

use pgcdc_tests::broker::PrivateBroker;
use pgcdc_tests::connector::wait_streaming;
use pgcdc_tests::process::Deployment;
use pgcdc_tests::TestDb;
use tokio_util::sync::CancellationToken;

/// The connector's replication lag in bytes and in ms from one scrape of `/metrics`
/// (`None` for a metric the scrape does not have).
async fn lag(url: &str, connector: &str) -> (Option<f64>, Option<f64>) {
    let text = reqwest::get(format!("{url}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let sample = |metric: &str| {
        let prefix = format!("{metric}{{connector=\"{connector}\"}} ");
        text.lines()
            .find_map(|line| line.strip_prefix(&prefix))
            .and_then(|value| value.trim().parse::<f64>().ok())
    };
    (
        sample("pgcdc_replication_lag_bytes"),
        sample("pgcdc_milliseconds_behind_source"),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lag_rises_while_the_broker_is_away_and_falls_when_it_returns() {
    let mut broker = PrivateBroker::start("lag").await.unwrap();
    let db = TestDb::create("lag").await.unwrap();
    let sql = db.client().await.unwrap();
    sql.batch_execute("CREATE TABLE ticks (id bigserial PRIMARY KEY, note text NOT NULL)")
        .await
        .unwrap();
    let deployment = Deployment::new(&db, &broker.bootstrap());
    let _process = deployment.start();
    let url = deployment.rest_url(Duration::from_secs(30)).await.unwrap();
    wait_streaming(&db, &db.slot_name(), Duration::from_secs(120))
        .await
        .unwrap_or_else(|e| panic!("{e}; log: {}", deployment.log.display()));

    // A steady trickle: 20 rows every 100 ms.
    let stop = CancellationToken::new();
    let writer = {
        let stop = stop.clone();
        let sql = db.client().await.unwrap();
        tokio::spawn(async move {
            while !stop.is_cancelled() {
                sql.batch_execute(
                    "INSERT INTO ticks (note) SELECT repeat('x', 100) FROM generate_series(1, 20)",
                )
                .await
                .unwrap();
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
    };
    let name = db.name.clone();

    // Healthy: the connector keeps up, well within a second and a few pages of WAL.
    let deadline = Instant::now() + Duration::from_secs(60);
    let (healthy_bytes, healthy_ms) = loop {
        if let (Some(bytes), Some(ms)) = lag(&url, &name).await {
            if bytes < 1_000_000.0 && ms < 2_000.0 {
                break (bytes, ms);
            }
        }
        assert!(
            Instant::now() < deadline,
            "lag never settled while the broker was up: {:?}; log: {}",
            lag(&url, &name).await,
            deployment.log.display()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    eprintln!("broker up: {healthy_bytes} bytes, {healthy_ms} ms behind");

    // The broker goes away for 10 s: both figures climb.
    broker.kill().unwrap();
    let away = Instant::now();
    let mut seen = Vec::new();
    while away.elapsed() < Duration::from_secs(10) {
        tokio::time::sleep(Duration::from_secs(1)).await;
        seen.push(lag(&url, &name).await);
    }
    eprintln!("broker away: {seen:?}");
    let (away_bytes, away_ms) = *seen.last().unwrap();
    let (away_bytes, away_ms) = (away_bytes.unwrap(), away_ms.unwrap());
    assert!(
        away_bytes > healthy_bytes + 100_000.0,
        "lag in bytes did not rise while the broker was away: {seen:?}"
    );
    assert!(
        away_ms > 5_000.0,
        "milliseconds behind source did not rise while the broker was away: {seen:?}"
    );
    let rising = seen
        .windows(2)
        .filter(|w| w[1].1.unwrap_or(0.0) > w[0].1.unwrap_or(0.0))
        .count();
    assert!(
        rising >= seen.len() / 2,
        "ms behind source should keep rising during the outage: {seen:?}"
    );

    // Back: both fall to where they were, with the trickle still running.
    broker.restart().await.unwrap();
    let back = Instant::now();
    loop {
        let (bytes, ms) = lag(&url, &name).await;
        if bytes.is_some_and(|b| b < 1_000_000.0) && ms.is_some_and(|m| m < 2_000.0) {
            eprintln!(
                "broker back: {bytes:?} bytes, {ms:?} ms behind after {:.1}s",
                back.elapsed().as_secs_f64()
            );
            break;
        }
        assert!(
            back.elapsed() < Duration::from_secs(90),
            "lag did not fall after the broker returned: {bytes:?} bytes, {ms:?} ms; log: {}",
            deployment.log.display()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    stop.cancel();
    writer.await.unwrap();
    deployment.remove_files();
}
