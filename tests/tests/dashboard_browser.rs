//! The dashboard page in a real headless Chromium (Debian's, driven by playwright-core
//! from `tests/browser`): rows inserted into PostgreSQL make the page's counter and
//! chart change, and a threshold rule's alert appears in the feed. The page's
//! screenshot is kept under `$TMPDIR/pgcdc-tests/`.

#![allow(clippy::unwrap_used)] // a test that cannot unwrap has failed

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use pgcdc_tests::dashboard_support::{
    clear_redis, shop_connector, shop_dashboard, DashboardProcess, SHOP_SCHEMA,
};
use pgcdc_tests::kafka::create_topic;
use pgcdc_tests::process::artifact_path;
use pgcdc_tests::sink_support::{wait_topic, Connector};
use pgcdc_tests::{unique_name, TestDb};
use serde_json::{json, Value};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_shows_rows_arriving_and_an_alert_firing() -> anyhow::Result<()> {
    let browser_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("browser");
    anyhow::ensure!(
        browser_dir.join("node_modules/playwright-core").exists(),
        "tests/browser/node_modules is missing: run dev/stack install"
    );
    let db = TestDb::create("dash_page").await?;
    db.client().await?.batch_execute(SHOP_SCHEMA).await?;
    for table in ["page_views", "orders"] {
        create_topic(&format!("{}.public.{table}", db.topic_prefix()), 1).await?;
    }
    let connector = Connector::start(&db, shop_connector(1))?;
    wait_topic(
        &format!("{}.public.products", db.topic_prefix()),
        Duration::from_secs(120),
    )
    .await?;
    let prefix = unique_name("dash_page");
    // Live event times (now), short lateness, and a rule that fires at 10 views a minute.
    let mut config = shop_dashboard(
        &db,
        &prefix,
        json!({
            "alerts": [{"name": "traffic_spike", "metric": "views_per_minute",
                        "rule": {"type": "threshold", "above": 9}, "for.ms": 0, "cooldown.ms": 60000}]
        }),
    );
    config["sources"]["page_views"]["allowed.lateness.ms"] = json!(5000);
    let dashboard = DashboardProcess::start(&prefix, &config).await?;
    let screenshot = artifact_path(&format!("{prefix}.png"))?;
    let _ = std::fs::remove_file(&screenshot);

    let mut node = Command::new("node")
        .arg(browser_dir.join("dashboard.mjs"))
        .arg(&dashboard.url)
        .arg("views_per_minute")
        .arg(&screenshot)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()?;
    let mut lines = BufReader::new(node.stdout.take().unwrap()).lines();
    let ready: Value =
        serde_json::from_str(&tokio::task::block_in_place(|| lines.next()).unwrap()?)?;
    assert_eq!(ready["step"], "ready", "{ready}");

    let sql = db.client().await?;
    let inserter = tokio::spawn(async move {
        for id in 1..=60 {
            sql.execute(
                &format!(
                    "INSERT INTO page_views VALUES ({id}, {id}, {}, now() AT TIME ZONE 'UTC')",
                    1 + id % 40
                ),
                &[],
            )
            .await?;
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        anyhow::Ok(())
    });
    let done: Value =
        serde_json::from_str(&tokio::task::block_in_place(|| lines.next()).unwrap()?)?;
    let status = tokio::task::block_in_place(|| node.wait())?;
    inserter.abort();
    assert!(status.success(), "{done}");
    assert_eq!(done["step"], "done", "{done}");
    assert_ne!(done["changed"]["value"], done["before"]["value"], "{done}");
    assert!(
        done["after"]["version"].as_i64() > done["before"]["version"].as_i64(),
        "{done}"
    );
    assert!(done["after"]["points"].as_i64().unwrap() >= 1, "{done}");
    assert!(
        done["alert"].as_str().unwrap().contains("traffic_spike"),
        "{done}"
    );
    assert_eq!(done["errors"], json!([]), "the page threw: {done}");
    assert!(
        std::fs::metadata(&screenshot)?.len() > 10_000,
        "the screenshot is empty"
    );
    connector.stop().await?;
    clear_redis(&prefix).await?;
    Ok(())
}
