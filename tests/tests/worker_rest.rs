//! The worker's REST API driven over HTTP on the real stack, as an operator's scripts
//! would drive Kafka Connect: create, status, pause, resume, restart, update, stop,
//! delete, validation and errors, secrets masked, and a worker restart that resumes
//! its connectors from the state directory.

#![allow(clippy::unwrap_used)] // a test that cannot unwrap has failed

use std::sync::Arc;
use std::time::{Duration, Instant};

use pgcdc_tests::kafka::{self, Isolation};
use pgcdc_tests::TestDb;
use pgcdc_worker::{router, ApiAuth, Worker, WorkerOptions};
use reqwest::StatusCode;
use serde_json::{json, Value};

struct RunningWorker {
    url: String,
    worker: Arc<Worker>,
    server: tokio::task::JoinHandle<()>,
}

impl RunningWorker {
    async fn start(
        state_dir: &std::path::Path,
        offsets_topic: &str,
        auth: ApiAuth,
    ) -> RunningWorker {
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
        let app = router(Arc::clone(&worker), auth);
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

fn connector_config(db: &TestDb, extra: Value) -> Value {
    let mut config = json!({
        "connector.class": "io.debezium.connector.postgresql.PostgresConnector",
        "database.hostname": db.server.host,
        "database.port": db.server.port.to_string(),
        "database.user": db.server.user,
        "database.password": db.server.password,
        "database.dbname": db.name,
        "topic.prefix": db.topic_prefix(),
        "slot.name": db.slot_name(),
        "publication.name": db.publication_name(),
        "table.include.list": "public.orders",
        "publication.autocreate.mode": "filtered",
    });
    if let (Some(config), Value::Object(extra)) = (config.as_object_mut(), extra) {
        config.extend(extra);
    }
    config
}

async fn call(method: reqwest::Method, url: &str, body: Option<Value>) -> (StatusCode, Value) {
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
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, status) = call(
            reqwest::Method::GET,
            &format!("{url}/connectors/{name}/status"),
            None,
        )
        .await;
        if status["tasks"][0]["state"] == state
            || (state == "STOPPED" && status["connector"]["state"] == "STOPPED")
        {
            return status;
        }
        assert!(
            Instant::now() < deadline,
            "{name} never reached {state}: {status}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn slot_state(db: &TestDb) -> Option<bool> {
    let admin = db.server.connect("postgres").await.unwrap();
    admin
        .query_opt(
            "SELECT active FROM pg_replication_slots WHERE slot_name = $1",
            &[&db.slot_name()],
        )
        .await
        .unwrap()
        .map(|row| row.get(0))
}

/// Ids of the `after` images on the orders topic.
fn published_ids(db: &TestDb, expected: usize) -> Vec<i64> {
    kafka::read_topic(
        &format!("{}.public.orders", db.topic_prefix()),
        Isolation::ReadCommitted,
        Some(expected),
        Duration::from_secs(30),
    )
    .unwrap()
    .iter()
    .filter_map(|r| r.value_json().ok())
    .filter_map(|v| v["payload"]["after"]["id"].as_i64())
    .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connector_lives_through_the_rest_api_and_a_worker_restart() {
    let db = TestDb::create("worker_rest").await.unwrap();
    let sql = db.client().await.unwrap();
    sql.batch_execute("CREATE TABLE orders (id int PRIMARY KEY, status text); INSERT INTO orders VALUES (1, 'new')")
        .await
        .unwrap();
    let state_dir = std::env::temp_dir().join(pgcdc_tests::unique_name("worker_state"));
    let offsets_topic = format!("{}_offsets", db.name);
    let api = RunningWorker::start(&state_dir, &offsets_topic, ApiAuth::default()).await;
    let url = api.url.clone();
    let name = db.name.clone();

    // Create: 201 with Connect's info shape, the password masked.
    let config = connector_config(&db, json!({}));
    let (status, info) = call(
        reqwest::Method::POST,
        &format!("{url}/connectors"),
        Some(json!({"name": name, "config": config})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{info}");
    assert_eq!(info["name"], name);
    assert_eq!(info["type"], "source");
    assert_eq!(info["tasks"], json!([{"connector": name, "task": 0}]));
    assert_eq!(info["config"]["database.password"], "********");
    let (status, body) = call(
        reqwest::Method::POST,
        &format!("{url}/connectors"),
        Some(json!({"name": name, "config": config})),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(body["error_code"], 409);

    let running = wait_state(&url, &name, "RUNNING").await;
    assert_eq!(running["connector"]["state"], "RUNNING");
    assert_eq!(published_ids(&db, 1), vec![1], "the snapshot row");

    // Pause: the task stops reading, the slot stays (not dropped, not active).
    let (status, _) = call(
        reqwest::Method::PUT,
        &format!("{url}/connectors/{name}/pause"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    wait_state(&url, &name, "PAUSED").await;
    assert_eq!(
        slot_state(&db).await,
        Some(false),
        "paused: the slot is kept, inactive"
    );
    sql.batch_execute("INSERT INTO orders VALUES (2, 'while paused')")
        .await
        .unwrap();

    // Resume: what was written while paused arrives.
    let (status, _) = call(
        reqwest::Method::PUT,
        &format!("{url}/connectors/{name}/resume"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    wait_state(&url, &name, "RUNNING").await;
    assert_eq!(published_ids(&db, 2), vec![1, 2]);

    // Restart and a config update keep the connector running without duplicates.
    let (status, _) = call(
        reqwest::Method::POST,
        &format!("{url}/connectors/{name}/restart"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = call(
        reqwest::Method::PUT,
        &format!("{url}/connectors/{name}/config"),
        Some(connector_config(
            &db,
            json!({"tombstones.on.delete": "false"}),
        )),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    wait_state(&url, &name, "RUNNING").await;
    sql.batch_execute("INSERT INTO orders VALUES (3, 'after restart')")
        .await
        .unwrap();
    assert_eq!(published_ids(&db, 3), vec![1, 2, 3]);

    // A worker restart resumes the connector from the state directory (the slot is
    // kept: slot.drop.on.stop is false, the default).
    api.stop().await;
    sql.batch_execute("INSERT INTO orders VALUES (4, 'while the worker was down')")
        .await
        .unwrap();
    let api = RunningWorker::start(&state_dir, &offsets_topic, ApiAuth::default()).await;
    let url = api.url.clone();
    wait_state(&url, &name, "RUNNING").await;
    assert_eq!(
        published_ids(&db, 4),
        vec![1, 2, 3, 4],
        "resumed, nothing twice"
    );
    let (_, tasks) = call(
        reqwest::Method::GET,
        &format!("{url}/connectors/{name}/tasks"),
        None,
    )
    .await;
    assert_eq!(tasks[0]["id"], json!({"connector": name, "task": 0}));
    assert_eq!(tasks[0]["config"]["tombstones.on.delete"], "false");
    let (_, offsets) = call(
        reqwest::Method::GET,
        &format!("{url}/connectors/{name}/offsets"),
        None,
    )
    .await;
    assert_eq!(
        offsets["offsets"][0]["partition"],
        json!({"server": db.topic_prefix()})
    );
    assert!(
        offsets["offsets"][0]["offset"]["lsn"].as_u64().is_some(),
        "{offsets}"
    );

    // The Prometheus scrape names this connector's lag and events.
    let scrape = reqwest::get(format!("{url}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let labelled = |metric: &str| {
        scrape
            .lines()
            .any(|l| l.starts_with(metric) && l.contains(&format!("connector=\"{name}\"")))
    };
    assert!(labelled("pgcdc_replication_lag_bytes"), "{scrape}");
    assert!(labelled("pgcdc_events_total"), "{scrape}");
    assert!(labelled("pgcdc_connector_state"), "{scrape}");
    assert!(scrape.contains("process_resident_memory_bytes"), "{scrape}");

    // Delete: 204, gone, and the slot dropped per slot.drop.on.stop.
    let (status, _) = call(
        reqwest::Method::PUT,
        &format!("{url}/connectors/{name}/config"),
        Some(connector_config(&db, json!({"slot.drop.on.stop": "true"}))),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    wait_state(&url, &name, "RUNNING").await;
    let (status, _) = call(
        reqwest::Method::DELETE,
        &format!("{url}/connectors/{name}"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body) = call(
        reqwest::Method::GET,
        &format!("{url}/connectors/{name}"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        body,
        json!({"error_code": 404, "message": format!("Connector {name} not found")})
    );
    assert_eq!(
        slot_state(&db).await,
        None,
        "slot.drop.on.stop=true dropped the slot"
    );
    api.stop().await;
    let _ = std::fs::remove_dir_all(&state_dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_400_naming_the_property_and_auth_is_enforced() {
    let state_dir = std::env::temp_dir().join(pgcdc_tests::unique_name("worker_state"));
    let auth = ApiAuth {
        basic: Some("admin:s3cret".to_owned()),
        bearer: None,
    };
    let api = RunningWorker::start(&state_dir, "pgcdc-test-offsets", auth).await;
    let url = api.url.clone();
    let client = reqwest::Client::new();

    let response = client
        .get(format!("{url}/connectors"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let health = client.get(format!("{url}/health")).send().await.unwrap();
    assert_eq!(
        health.status(),
        StatusCode::OK,
        "health needs no credentials"
    );
    let authed = |r: reqwest::RequestBuilder| r.basic_auth("admin", Some("s3cret"));

    let response = authed(client.post(format!("{url}/connectors")))
        .json(&json!({"name": "bad", "config": {
            "connector.class": "io.debezium.connector.postgresql.PostgresConnector",
            "database.hostname": "localhost", "database.user": "u", "database.dbname": "d",
            "topic.prefix": "p", "database.port": "five", "snapshot.mode": "sometimes"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body: Value = response.json().await.unwrap();
    let message = body["message"].as_str().unwrap();
    assert!(
        message.contains("database.port") && message.contains("snapshot.mode"),
        "{message}"
    );

    let response = authed(client.post(format!("{url}/connectors")))
        .json(&json!({"name": "x", "config": {"connector.class": "com.example.Other"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body: Value = response.json().await.unwrap();
    assert!(body["message"]
        .as_str()
        .unwrap()
        .contains("connector.class"));

    let response = authed(client.post(format!("{url}/connectors")))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);

    let response = authed(client.put(format!(
        "{url}/connector-plugins/io.debezium.connector.postgresql.PostgresConnector/config/validate"
    )))
    .json(&json!({"connector.class": "io.debezium.connector.postgresql.PostgresConnector", "topic.prefix": "p"}))
    .send()
    .await
    .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body["error_count"], 3,
        "hostname, user and dbname are missing"
    );

    let response = authed(client.get(format!("{url}/connectors/nope/status")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let plugins: Value = authed(client.get(format!("{url}/connector-plugins")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        plugins[0]["class"],
        "io.debezium.connector.postgresql.PostgresConnector"
    );
    api.stop().await;
    let _ = std::fs::remove_dir_all(&state_dir);
}

/// The value of `metric` for `connector` in a scrape, if it is there.
async fn metric(url: &str, metric: &str, connector: &str) -> Option<f64> {
    let scrape = reqwest::get(format!("{url}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let prefix = format!("{metric}{{connector=\"{connector}\"}} ");
    scrape
        .lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .and_then(|v| v.parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connector_deleted_during_its_snapshot_goes_at_once_with_its_slot() {
    let db = TestDb::create("worker_snapshot_delete").await.unwrap();
    let sql = db.client().await.unwrap();
    // Big enough that the snapshot takes many seconds.
    sql.batch_execute(
        "CREATE TABLE orders (id int PRIMARY KEY, status text); \
         INSERT INTO orders SELECT i, 'row ' || i FROM generate_series(1, 500000) i",
    )
    .await
    .unwrap();
    let state_dir = std::env::temp_dir().join(pgcdc_tests::unique_name("worker_state"));
    let api = RunningWorker::start(
        &state_dir,
        &format!("{}_offsets", db.name),
        ApiAuth::default(),
    )
    .await;
    let url = api.url.clone();
    let name = db.name.clone();
    let (status, body) = call(
        reqwest::Method::POST,
        &format!("{url}/connectors"),
        Some(json!({"name": name, "config": connector_config(&db, json!({"slot.drop.on.stop": "true"}))})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let deadline = Instant::now() + Duration::from_secs(60);
    while metric(&url, "pgcdc_snapshot_rows_total", &name)
        .await
        .unwrap_or(0.0)
        < 1.0
    {
        assert!(Instant::now() < deadline, "the snapshot never started");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let running = metric(&url, "pgcdc_snapshot_running", &name).await;
    if running != Some(1.0) {
        let (_, status) = call(
            reqwest::Method::GET,
            &format!("{url}/connectors/{name}/status"),
            None,
        )
        .await;
        panic!(
            "the snapshot is not under way (pgcdc_snapshot_running {running:?}, rows {:?}); status: {status}",
            metric(&url, "pgcdc_snapshot_rows_total", &name).await
        );
    }

    // The connector does not watch for a stop during its snapshot; the worker does not
    // wait for the snapshot's end (minutes, on a big table) to answer.
    let started = Instant::now();
    let (status, _) = call(
        reqwest::Method::DELETE,
        &format!("{url}/connectors/{name}"),
        None,
    )
    .await;
    let took = started.elapsed();
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert!(took < Duration::from_secs(8), "the delete took {took:?}");
    // The aborted task ends at its next await, then its slot is dropped.
    let deadline = Instant::now() + Duration::from_secs(120);
    while slot_state(&db).await.is_some() {
        assert!(
            Instant::now() < deadline,
            "slot.drop.on.stop=true never dropped the slot of the aborted task"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    api.stop().await;
    let _ = std::fs::remove_dir_all(&state_dir);
}
