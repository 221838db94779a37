//! Source PostgreSQL → pgcdc's connector → Kafka → `pgcdc dashboard` → Redis, checked
//! the way a data engineer would: every closed window the dashboard serves equals the
//! same aggregate computed by SQL over the source tables — counts, sums and maxima per
//! minute, a count grouped by a joined dimension, distinct users over hopping
//! windows, sessions per user and the bounce rate over them — after inserts, updates
//! that move rows between windows and groups, and deletes. Then the same after the
//! aggregation process is SIGKILLed again and again under load, and with two
//! instances in one consumer group, one of them killed mid-run.

#![allow(clippy::unwrap_used)] // a test that cannot unwrap has failed

use std::time::Duration;

use pgcdc_tests::dashboard_support::{
    base_ms, clear_redis, close_windows, expected, generate, shop_connector, shop_dashboard,
    wait_equal, DashboardProcess, SHOP_SCHEMA,
};
use pgcdc_tests::kafka::{create_topic, read_topic, Isolation};
use pgcdc_tests::sink_support::{wait_topic, Connector};
use pgcdc_tests::{unique_name, TestDb};
use serde_json::json;

/// Windows from the sentinel rows on are left out of comparisons (they stay open).
fn compared_before_ms() -> i64 {
    base_ms() + 3_600_000
}
const SETTLE: Duration = Duration::from_secs(180);

async fn shop(label: &str, partitions: u32) -> anyhow::Result<(TestDb, Connector)> {
    let db = TestDb::create(label).await?;
    db.client().await?.batch_execute(SHOP_SCHEMA).await?;
    // The fact tables are empty at the snapshot, so their topics are made here (the
    // connector would make them with its first record).
    for table in ["page_views", "orders"] {
        create_topic(
            &format!("{}.public.{table}", db.topic_prefix()),
            partitions as i32,
        )
        .await?;
    }
    let connector = Connector::start(&db, shop_connector(partitions))?;
    wait_topic(
        &format!("{}.public.products", db.topic_prefix()),
        Duration::from_secs(120),
    )
    .await?;
    Ok((db, connector))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closed_windows_equal_sql_over_the_source_tables() -> anyhow::Result<()> {
    let (db, connector) = shop("dash_sql", 4).await?;
    let prefix = unique_name("dash_sql");
    let dashboard =
        DashboardProcess::start(&prefix, &shop_dashboard(&db, &prefix, json!({}))).await?;
    let sql = db.client().await?;
    generate(&sql, 7, 1, 3_000, 800).await?;
    close_windows(&sql, 1_000_000).await?;
    let truth = expected(&sql, compared_before_ms()).await?;
    assert!(
        truth["views_per_minute"].len() >= 20,
        "the workload spans 20 minutes: {truth:?}"
    );
    assert!(truth["views_by_category"].len() >= 80);
    assert!(truth["sessions"].len() >= 30);
    wait_equal(&dashboard.url, &truth, compared_before_ms(), SETTLE).await?;
    assert_eq!(
        dashboard
            .metric("pgcdc_dashboard_events_malformed_total")
            .await?,
        0.0
    );
    assert_eq!(
        dashboard
            .metric("pgcdc_dashboard_events_late_total")
            .await?,
        0.0
    );
    assert!(
        dashboard
            .metric("pgcdc_dashboard_events_applied_total")
            .await?
            >= 3_800.0
    );
    connector.stop().await?;
    clear_redis(&prefix).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkills_under_load_neither_double_count_nor_skip() -> anyhow::Result<()> {
    let (db, connector) = shop("dash_kill", 4).await?;
    let prefix = unique_name("dash_kill");
    let config = shop_dashboard(&db, &prefix, json!({}));
    let mut dashboard = DashboardProcess::start(&prefix, &config).await?;
    let sql = db.client().await?;
    let load = {
        let sql = db.client().await?;
        tokio::spawn(async move {
            // Three waves with different seeds and id ranges, so the load lasts.
            for (wave, seed) in [11u64, 12, 13].into_iter().enumerate() {
                generate(&sql, seed, 1 + wave as i64 * 100_000, 1_500, 400).await?;
            }
            anyhow::Ok(())
        })
    };
    let mut kills = 0;
    while !load.is_finished() || kills < 4 {
        tokio::time::sleep(Duration::from_millis(1_300)).await;
        dashboard.kill()?;
        kills += 1;
        dashboard = DashboardProcess::start(&prefix, &config).await?;
    }
    load.await??;
    close_windows(&sql, 1_000_000).await?;
    let truth = expected(&sql, compared_before_ms()).await?;
    wait_equal(&dashboard.url, &truth, compared_before_ms(), SETTLE).await?;
    assert!(kills >= 4);
    connector.stop().await?;
    clear_redis(&prefix).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_with_one_killed_give_the_windows_of_one() -> anyhow::Result<()> {
    let (db, connector) = shop("dash_pair", 4).await?;
    let prefix = unique_name("dash_pair");
    let config = shop_dashboard(&db, &prefix, json!({}));
    let first = DashboardProcess::start(&format!("{prefix}_a"), &config).await?;
    let mut second = DashboardProcess::start(&format!("{prefix}_b"), &config).await?;
    let sql = db.client().await?;
    generate(&sql, 21, 1, 1_500, 400).await?;
    // Both hold partitions by now; the second dies and the first takes its share over.
    tokio::time::sleep(Duration::from_secs(2)).await;
    second.kill()?;
    generate(&sql, 22, 100_001, 1_500, 400).await?;
    close_windows(&sql, 1_000_000).await?;
    let truth = expected(&sql, compared_before_ms()).await?;
    wait_equal(&first.url, &truth, compared_before_ms(), SETTLE).await?;
    connector.stop().await?;
    clear_redis(&prefix).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dimension_change_moves_only_later_events() -> anyhow::Result<()> {
    let (db, connector) = shop("dash_dim", 1).await?;
    let prefix = unique_name("dash_dim");
    let config = shop_dashboard(&db, &prefix, json!({}));
    let dashboard = DashboardProcess::start(&prefix, &config).await?;
    let sql = db.client().await?;
    let at = |minute: i64| {
        format!(
            "to_timestamp({} / 1000.0) AT TIME ZONE 'UTC'",
            base_ms() + minute * 60_000 + 1_000
        )
    };
    // Product 4 is in 'books' (4 % 4 = 0). Five views of it in minute 0.
    for id in 1..=5 {
        sql.execute(
            &format!("INSERT INTO page_views VALUES ({id}, {id}, 4, {})", at(0)),
            &[],
        )
        .await?;
    }
    let books = |minute: i64| (vec!["books".to_owned()], base_ms() + minute * 60_000);
    let games = |minute: i64| (vec!["games".to_owned()], base_ms() + minute * 60_000);
    wait_for(&dashboard.url, "views_by_category", &books(0), 5.0).await?;
    sql.execute("UPDATE products SET category = 'games' WHERE id = 4", &[])
        .await?;
    // The dimension change reaches the dashboard on its own topic; views from now on
    // are counted under the new category.
    tokio::time::sleep(Duration::from_secs(3)).await;
    for id in 6..=8 {
        sql.execute(
            &format!("INSERT INTO page_views VALUES ({id}, {id}, 4, {})", at(2)),
            &[],
        )
        .await?;
    }
    wait_for(&dashboard.url, "views_by_category", &games(2), 3.0).await?;
    let served =
        pgcdc_tests::dashboard_support::served(&dashboard.url, "views_by_category", i64::MAX)
            .await?;
    assert_eq!(
        served.get(&books(0)).and_then(|w| w.value),
        Some(5.0),
        "{served:?}"
    );
    assert_eq!(served.get(&games(0)), None, "{served:?}");
    assert_eq!(served.get(&books(2)), None, "{served:?}");
    connector.stop().await?;
    clear_redis(&prefix).await?;
    Ok(())
}

async fn wait_for(
    url: &str,
    metric: &str,
    key: &(Vec<String>, i64),
    value: f64,
) -> anyhow::Result<()> {
    let deadline = std::time::Instant::now() + Duration::from_secs(90);
    loop {
        let served = pgcdc_tests::dashboard_support::served(url, metric, i64::MAX).await?;
        if served.get(key).and_then(|w| w.value) == Some(value) {
            return Ok(());
        }
        anyhow::ensure!(
            std::time::Instant::now() < deadline,
            "{metric} {key:?} never reached {value}: {served:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn updates_that_cannot_be_retracted_go_to_the_dead_letter_topic() -> anyhow::Result<()> {
    let (db, connector) = shop("dash_dlq", 1).await?;
    let prefix = unique_name("dash_dlq");
    let dlq = format!("{prefix}_dlq");
    pgcdc_tests::kafka::create_topic(&dlq, 1).await?;
    let config = shop_dashboard(&db, &prefix, json!({"dead.letter.topic": dlq}));
    let dashboard = DashboardProcess::start(&prefix, &config).await?;
    let sql = db.client().await?;
    // Without REPLICA IDENTITY FULL an update carries no old row: its old amount
    // cannot be taken back out of its window, and the dashboard must say so rather
    // than guess.
    sql.batch_execute(&format!(
        "ALTER TABLE orders REPLICA IDENTITY DEFAULT;
         INSERT INTO orders VALUES (1, 1, 5.00, to_timestamp({t} / 1000.0) AT TIME ZONE 'UTC');
         UPDATE orders SET amount = 7.00 WHERE id = 1;",
        t = base_ms()
    ))
    .await?;
    let records = tokio::task::spawn_blocking(move || {
        read_topic(
            &dlq,
            Isolation::ReadCommitted,
            Some(1),
            Duration::from_secs(60),
        )
    })
    .await??;
    assert_eq!(records.len(), 1, "{records:?}");
    let header = |name: &str| {
        records[0]
            .headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
            .unwrap_or_default()
    };
    assert!(
        header("pgcdc.error").contains("REPLICA IDENTITY FULL"),
        "{}",
        header("pgcdc.error")
    );
    assert!(header("pgcdc.source.topic").ends_with(".public.orders"));
    let value = records[0].value_json()?;
    assert_eq!(value["payload"]["op"], "u", "{value}");
    assert_eq!(
        dashboard
            .metric("pgcdc_dashboard_events_malformed_total")
            .await?,
        1.0
    );
    assert_eq!(
        dashboard
            .metric("pgcdc_dashboard_dead_lettered_total")
            .await?,
        1.0
    );
    connector.stop().await?;
    clear_redis(&prefix).await?;
    Ok(())
}
