//! One worker hosts a whole pipeline over its REST API, as an operator would set it
//! up with `curl`: the PostgreSQL source connector and the JDBC sink connector
//! (`io.debezium.connector.jdbc.JdbcSinkConnector`) created with POST /connectors,
//! rows written to PostgreSQL arrive in the warehouse (inserts, updates, deletes),
//! pausing the sink stops applying and resuming catches up, a bad sink property is a
//! 400 naming it, the warehouse password never shows, and a worker restart resumes
//! both connectors from the state directory; a sink that cannot run is FAILED with
//! the reason, and runs once fixed and restarted. Then the same worker hosts pgcdc's
//! dashboard class beside a source: its served windows equal the aggregates SQL
//! computes over the source tables, a bad spec is a 400 naming `dashboard.spec`, and
//! a worker restart serves the page again on its address.

#![allow(clippy::unwrap_used)] // a test that cannot unwrap has failed

use std::sync::Arc;
use std::time::{Duration, Instant};

use pgcdc_tests::dashboard_support::{
    base_ms, clear_redis, close_windows, expected, generate, shop_connector, shop_dashboard,
    SHOP_SCHEMA,
};
use pgcdc_tests::kafka;
use pgcdc_tests::sink_support::{
    comparing_client, connector_properties, sink_properties, wait_equal, TablePair,
};
use pgcdc_tests::TestDb;
use pgcdc_worker::{router, ApiAuth, Worker, WorkerOptions};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

const SINK_CLASS: &str = "io.debezium.connector.jdbc.JdbcSinkConnector";

struct RunningWorker {
    url: String,
    worker: Arc<Worker>,
    server: tokio::task::JoinHandle<()>,
}

impl RunningWorker {
    async fn start(state_dir: &std::path::Path, offsets_topic: &str) -> RunningWorker {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let worker = Worker::start(WorkerOptions {
            kafka: kafka::client_config(),
            offsets_topic: offsets_topic.to_owned(),
            state_dir: state_dir.to_owned(),
            worker_id: address.to_string(),
            exactly_once_source_support: false,
        })
        .await
        .unwrap();
        let app = router(Arc::clone(&worker), ApiAuth::default());
        let server = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        RunningWorker {
            url: format!("http://{address}"),
            worker,
            server,
        }
    }

    /// What SIGTERM does: every connector drained, the API gone.
    async fn stop(self) {
        self.worker.shutdown().await;
        self.server.abort();
    }
}

async fn call(method: Method, url: &str, body: Option<Value>) -> (StatusCode, Value) {
    let client = reqwest::Client::new();
    let mut request = client.request(method, url);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

async fn wait_state(url: &str, name: &str, state: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (_, status) = call(
            Method::GET,
            &format!("{url}/connectors/{name}/status"),
            None,
        )
        .await;
        if status["tasks"][0]["state"] == state {
            return status;
        }
        assert!(
            status["tasks"][0]["state"] != "FAILED",
            "{name} failed: {status}"
        );
        assert!(
            Instant::now() < deadline,
            "{name} never reached {state}: {status}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn count(client: &tokio_postgres::Client, table: &str) -> i64 {
    client
        .query_one(&format!("SELECT count(*) FROM {table}"), &[])
        .await
        .map_or(-1, |row| row.get(0))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_source_and_a_jdbc_sink_run_on_one_worker_through_rest() {
    let source = TestDb::create("wclass_src").await.unwrap();
    let warehouse = TestDb::create("wclass_dw").await.unwrap();
    let sql = source.client().await.unwrap();
    sql.batch_execute(
        "CREATE TABLE orders (id bigint PRIMARY KEY, status text NOT NULL, amount numeric(10,2));
         INSERT INTO orders SELECT g, 'new', g * 1.5 FROM generate_series(1, 20) g;",
    )
    .await
    .unwrap();
    let source_sql = comparing_client(&source).await.unwrap();
    let warehouse_sql = comparing_client(&warehouse).await.unwrap();
    let prefix = source.topic_prefix();
    let topic = format!("{prefix}.public.orders");
    let copy = format!("{prefix}_public_orders");
    let pairs = [TablePair {
        source: "orders".to_owned(),
        copy: copy.clone(),
        key: vec!["id"],
    }];

    let state_dir = std::env::temp_dir().join(pgcdc_tests::unique_name("worker_classes"));
    let offsets_topic = format!("{}_offsets", source.name);
    let api = RunningWorker::start(&state_dir, &offsets_topic).await;
    let url = api.url.clone();

    // Every class is a plugin.
    let (status, plugins) = call(Method::GET, &format!("{url}/connector-plugins"), None).await;
    assert_eq!(status, StatusCode::OK);
    let classes: Vec<(&str, &str)> = plugins
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["class"].as_str().unwrap(), p["type"].as_str().unwrap()))
        .collect();
    assert!(classes.contains(&(
        "io.debezium.connector.postgresql.PostgresConnector",
        "source"
    )));
    assert!(classes.contains(&(SINK_CLASS, "sink")));
    assert!(classes.contains(&("io.pgcdc.dashboard.DashboardConnector", "sink")));

    // The source connector.
    let source_name = format!("{}_source", source.name);
    let mut source_config =
        connector_properties(&source, json!({"table.include.list": "public.orders"}));
    source_config["name"] = json!(source_name);
    let (status, info) = call(
        Method::POST,
        &format!("{url}/connectors"),
        Some(json!({"name": source_name, "config": source_config})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{info}");
    wait_state(&url, &source_name, "RUNNING").await;
    pgcdc_tests::sink_support::wait_topic(&topic, Duration::from_secs(60))
        .await
        .unwrap();

    // A bad sink property: 400 naming it, on create and per property on validate.
    let sink_name = format!("{}_sink", source.name);
    let sink_config = sink_properties(
        &sink_name,
        &warehouse,
        std::slice::from_ref(&topic),
        json!({}),
    );
    let mut bad = sink_config.clone();
    bad["insert.mode"] = json!("merge");
    let (status, body) = call(
        Method::POST,
        &format!("{url}/connectors"),
        Some(json!({"name": sink_name, "config": bad})),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error_code"], 400);
    let message = body["message"].as_str().unwrap();
    assert!(
        message.contains("insert.mode") && message.contains("merge"),
        "{message}"
    );
    let (status, validation) = call(
        Method::PUT,
        &format!("{url}/connector-plugins/JdbcSinkConnector/config/validate"),
        Some(bad),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{validation}");
    assert_eq!(validation["name"], SINK_CLASS);
    assert_eq!(validation["error_count"], 1, "{validation}");
    let insert_mode = validation["configs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["value"]["name"] == "insert.mode")
        .unwrap();
    assert!(insert_mode["value"]["errors"][0]
        .as_str()
        .unwrap()
        .contains("merge"));
    let (status, _) = call(Method::GET, &format!("{url}/connectors/{sink_name}"), None).await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "a refused sink was not created"
    );

    // The sink: created, its password masked everywhere, its task running.
    let (status, info) = call(
        Method::POST,
        &format!("{url}/connectors"),
        Some(json!({"name": sink_name, "config": sink_config})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{info}");
    assert_eq!(info["type"], "sink");
    assert_eq!(info["config"]["connection.password"], "********");
    let (_, config) = call(
        Method::GET,
        &format!("{url}/connectors/{sink_name}/config"),
        None,
    )
    .await;
    assert_eq!(config["connection.password"], "********");
    assert_eq!(config["connection.username"], warehouse.server.user);
    let (_, tasks) = call(
        Method::GET,
        &format!("{url}/connectors/{sink_name}/tasks"),
        None,
    )
    .await;
    assert_eq!(tasks[0]["config"]["connection.password"], "********");
    let (_, expanded) = call(Method::GET, &format!("{url}/connectors?expand=info"), None).await;
    assert_eq!(
        expanded[&sink_name]["info"]["config"]["connection.password"],
        "********"
    );
    let running = wait_state(&url, &sink_name, "RUNNING").await;
    assert_eq!(running["type"], "sink");
    wait_equal(&source_sql, &warehouse_sql, &pairs, Duration::from_secs(60))
        .await
        .unwrap();

    // Inserts, updates and deletes arrive.
    sql.batch_execute(
        "INSERT INTO orders SELECT g, 'new', g FROM generate_series(21, 40) g;
         UPDATE orders SET status = 'paid', amount = amount + 1 WHERE id % 3 = 0;
         DELETE FROM orders WHERE id % 5 = 0;",
    )
    .await
    .unwrap();
    wait_equal(&source_sql, &warehouse_sql, &pairs, Duration::from_secs(60))
        .await
        .unwrap();
    let (_, offsets) = call(
        Method::GET,
        &format!("{url}/connectors/{sink_name}/offsets"),
        None,
    )
    .await;
    assert_eq!(
        offsets["offsets"][0]["partition"]["kafka_topic"], topic,
        "{offsets}"
    );
    assert!(
        offsets["offsets"][0]["offset"]["kafka_offset"]
            .as_i64()
            .unwrap()
            > 0
    );

    // Paused, the sink applies nothing; resumed, it catches up.
    let (status, _) = call(
        Method::PUT,
        &format!("{url}/connectors/{sink_name}/pause"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let paused = wait_state(&url, &sink_name, "PAUSED").await;
    assert_eq!(paused["connector"]["state"], "PAUSED");
    let before = count(&warehouse_sql, &copy).await;
    sql.batch_execute(
        "INSERT INTO orders SELECT g, 'while paused', g FROM generate_series(41, 60) g;
         UPDATE orders SET status = 'shipped' WHERE id = 1;",
    )
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(
        count(&warehouse_sql, &copy).await,
        before,
        "paused: nothing applied"
    );
    let status_1: String = warehouse_sql
        .query_one(&format!("SELECT status FROM {copy} WHERE id = 1"), &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(status_1, "new");
    let (status, _) = call(
        Method::PUT,
        &format!("{url}/connectors/{sink_name}/resume"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    wait_state(&url, &sink_name, "RUNNING").await;
    wait_equal(&source_sql, &warehouse_sql, &pairs, Duration::from_secs(60))
        .await
        .unwrap();

    // /metrics shows both, by class.
    let metrics = reqwest::get(format!("{url}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let running_sink = format!(
        "pgcdc_connector_state{{connector=\"{sink_name}\",class=\"{SINK_CLASS}\",state=\"RUNNING\"}} 1"
    );
    assert!(metrics.contains(&running_sink), "{metrics}");
    let records = metrics
        .lines()
        .find(|l| {
            l.starts_with(&format!(
                "pgcdc_sink_records_total{{connector=\"{sink_name}\"}}"
            ))
        })
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse::<f64>().ok());
    assert!(
        records.is_some_and(|n| n >= 60.0),
        "the sink counts what it applied: {records:?}\n{metrics}"
    );

    // A worker restart resumes both from the state directory, and what was written
    // while it was down arrives once.
    api.stop().await;
    sql.batch_execute(
        "INSERT INTO orders SELECT g, 'while down', g FROM generate_series(61, 70) g;
         UPDATE orders SET status = 'returned' WHERE id = 2;
         DELETE FROM orders WHERE id = 4;",
    )
    .await
    .unwrap();
    let api = RunningWorker::start(&state_dir, &offsets_topic).await;
    let url = api.url.clone();
    wait_state(&url, &source_name, "RUNNING").await;
    wait_state(&url, &sink_name, "RUNNING").await;
    let (_, config) = call(
        Method::GET,
        &format!("{url}/connectors/{sink_name}/config"),
        None,
    )
    .await;
    assert_eq!(config["connection.password"], "********");
    wait_equal(&source_sql, &warehouse_sql, &pairs, Duration::from_secs(60))
        .await
        .unwrap();

    // A sink that cannot run is FAILED with the reason as its trace (here: its table
    // is missing under schema.evolution=none), and a restart once it is fixed runs it.
    let strict_name = format!("{}_strict", source.name);
    let strict_config = sink_properties(
        &strict_name,
        &warehouse,
        std::slice::from_ref(&topic),
        json!({"schema.evolution": "none", "collection.name.format": "strict_${topic}"}),
    );
    let (status, info) = call(
        Method::POST,
        &format!("{url}/connectors"),
        Some(json!({"name": strict_name, "config": strict_config})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{info}");
    let deadline = Instant::now() + Duration::from_secs(60);
    let failed = loop {
        let (_, status) = call(
            Method::GET,
            &format!("{url}/connectors/{strict_name}/status"),
            None,
        )
        .await;
        if status["tasks"][0]["state"] == "FAILED" {
            break status;
        }
        assert!(Instant::now() < deadline, "never FAILED: {status}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let trace = failed["tasks"][0]["trace"].as_str().unwrap();
    assert!(trace.contains("does not exist"), "{trace}");
    let strict_copy = format!("strict_{copy}");
    warehouse_sql
        .batch_execute(&format!(
            "CREATE TABLE {strict_copy} (LIKE {copy} INCLUDING ALL)"
        ))
        .await
        .unwrap();
    let (status, _) = call(
        Method::POST,
        &format!("{url}/connectors/{strict_name}/restart"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    wait_state(&url, &strict_name, "RUNNING").await;
    let strict_pairs = [TablePair {
        source: "orders".to_owned(),
        copy: strict_copy,
        key: vec!["id"],
    }];
    wait_equal(
        &source_sql,
        &warehouse_sql,
        &strict_pairs,
        Duration::from_secs(60),
    )
    .await
    .unwrap();
    let (status, _) = call(
        Method::DELETE,
        &format!("{url}/connectors/{strict_name}"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);

    // Deleting the sink stops it; the source keeps running.
    let (status, _) = call(
        Method::DELETE,
        &format!("{url}/connectors/{sink_name}"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = call(Method::GET, &format!("{url}/connectors/{sink_name}"), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = call(
        Method::DELETE,
        &format!("{url}/connectors/{source_name}"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    api.stop().await;
    let _ = std::fs::remove_dir_all(&state_dir);
}

/// A free loopback port for the dashboard's page.
fn free_address() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dashboard_connector_serves_the_windows_sql_computes() {
    let db = TestDb::create("wclass_dash").await.unwrap();
    let sql = db.client().await.unwrap();
    sql.batch_execute(SHOP_SCHEMA).await.unwrap();
    let prefix = db.topic_prefix();
    // Empty at the snapshot: the fact topics are made here (as dashboard_e2e does).
    for table in ["page_views", "orders"] {
        kafka::create_topic(&format!("{prefix}.public.{table}"), 2)
            .await
            .unwrap();
    }
    let state_dir = std::env::temp_dir().join(pgcdc_tests::unique_name("worker_dash"));
    let offsets_topic = format!("{}_offsets", db.name);
    let api = RunningWorker::start(&state_dir, &offsets_topic).await;
    let url = api.url.clone();

    let source_name = format!("{}_source", db.name);
    let mut source_config = connector_properties(&db, shop_connector(2));
    source_config["name"] = json!(source_name);
    let (status, info) = call(
        Method::POST,
        &format!("{url}/connectors"),
        Some(json!({"name": source_name, "config": source_config})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{info}");
    wait_state(&url, &source_name, "RUNNING").await;
    pgcdc_tests::sink_support::wait_topic(
        &format!("{prefix}.public.products"),
        Duration::from_secs(120),
    )
    .await
    .unwrap();

    // The spec as JSON text; its name defaults to the connector's.
    let name = pgcdc_tests::unique_name("wdash");
    let mut spec = shop_dashboard(&db, &name, json!({}));
    spec.as_object_mut().unwrap().remove("name");
    let listen = free_address();
    let config = json!({
        "connector.class": "io.pgcdc.dashboard.DashboardConnector",
        "dashboard.spec": spec.to_string(),
        "dashboard.listen": listen,
    });

    // A bad spec is a 400 naming dashboard.spec and the path inside it.
    let mut bad_spec = spec.clone();
    bad_spec["metrics"][0]["window"]["size.ms"] = json!(-5);
    let mut bad = config.clone();
    bad["dashboard.spec"] = json!(bad_spec.to_string());
    let (status, body) = call(
        Method::POST,
        &format!("{url}/connectors"),
        Some(json!({"name": name, "config": bad})),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let message = body["message"].as_str().unwrap();
    assert!(
        message.contains("dashboard.spec") && message.contains("metrics[0].window"),
        "{message}"
    );

    let (status, info) = call(
        Method::POST,
        &format!("{url}/connectors"),
        Some(json!({"name": name, "config": config})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{info}");
    assert_eq!(info["type"], "sink");
    wait_state(&url, &name, "RUNNING").await;

    generate(&sql, 11, 1, 600, 200).await.unwrap();
    close_windows(&sql, 1_000_000).await.unwrap();
    let before_ms = base_ms() + 3_600_000;
    let mut truth = expected(&sql, before_ms).await.unwrap();
    truth.retain(|metric, _| {
        [
            "views_per_minute",
            "views_by_category",
            "revenue_per_minute",
        ]
        .contains(&metric.as_str())
    });
    assert!(truth["views_per_minute"].len() >= 15, "{truth:?}");
    let page = format!("http://{listen}/");
    pgcdc_tests::dashboard_support::wait_equal(&page, &truth, before_ms, Duration::from_secs(180))
        .await
        .unwrap();
    let metrics = reqwest::get(format!("{url}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(&format!(
            "pgcdc_dashboard_records_total{{connector=\"{name}\"}}"
        )),
        "{metrics}"
    );

    // A worker restart serves the page again, on its address, with the same windows.
    api.stop().await;
    assert!(
        reqwest::get(&page).await.is_err(),
        "the page went with the worker"
    );
    let api = RunningWorker::start(&state_dir, &offsets_topic).await;
    let url = api.url.clone();
    wait_state(&url, &name, "RUNNING").await;
    pgcdc_tests::dashboard_support::wait_equal(&page, &truth, before_ms, Duration::from_secs(120))
        .await
        .unwrap();

    for connector in [&name, &source_name] {
        let (status, _) = call(
            Method::DELETE,
            &format!("{url}/connectors/{connector}"),
            None,
        )
        .await;
        assert_eq!(status, StatusCode::NO_CONTENT);
    }
    api.stop().await;
    clear_redis(&name).await.unwrap();
    let _ = std::fs::remove_dir_all(&state_dir);
}
