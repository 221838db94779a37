//! One script of REST calls runs against pgcdc's worker and against the reference
//! Kafka Connect worker running Debezium; every step must give the same status code
//! and a JSON body of the same shape (the same keys, the same kinds of values, the
//! same connector and task states).
//!
//! Documented differences, not compared:
//! - message texts of errors (both have `error_code` and `message`);
//! - the contents of configs (pgcdc masks secrets) and of offsets (each connector
//!   keeps its own fields), compared as objects only;
//! - a create's `tasks` (Connect lists none until the task is assigned, pgcdc lists
//!   its one task at once): an empty array matches any array.

#![allow(clippy::unwrap_used)] // a test that cannot unwrap has failed

use std::sync::Arc;
use std::time::{Duration, Instant};

use pgcdc_tests::debezium::worker_url;
use pgcdc_tests::kafka;
use pgcdc_tests::TestDb;
use pgcdc_worker::{router, ApiAuth, Worker, WorkerOptions};
use reqwest::Method;
use serde_json::{json, Value};

/// Where an object's members are not compared, only that it is an object.
const OPAQUE: [&str; 3] = [".config", ".offset", ".message"];

/// Whether `a` and `b` have the same shape; differences are pushed to `out`.
fn same_shape(path: &str, a: &Value, b: &Value, out: &mut Vec<String>) {
    if OPAQUE.iter().any(|p| path.ends_with(p)) {
        if std::mem::discriminant(a) != std::mem::discriminant(b) {
            out.push(format!("{path}: Connect {a} | pgcdc {b}"));
        }
        return;
    }
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let mut keys: Vec<&String> = x.keys().chain(y.keys()).collect();
            keys.sort();
            keys.dedup();
            for key in keys {
                match (x.get(key), y.get(key)) {
                    (Some(a), Some(b)) => same_shape(&format!("{path}.{key}"), a, b, out),
                    (a, b) => out.push(format!("{path}.{key}: Connect {a:?} | pgcdc {b:?}")),
                }
            }
        }
        (Value::Array(x), Value::Array(y)) => {
            if let (Some(a), Some(b)) = (x.first(), y.first()) {
                same_shape(&format!("{path}[0]"), a, b, out);
            }
        }
        // States must be equal, not only strings.
        (Value::String(x), Value::String(y)) if path.ends_with(".state") && x != y => {
            out.push(format!("{path}: Connect {x} | pgcdc {y}"));
        }
        (Value::Null, _) | (_, Value::Null) if path.ends_with("default_value") => {}
        _ if std::mem::discriminant(a) != std::mem::discriminant(b) => {
            out.push(format!("{path}: Connect {a} | pgcdc {b}"));
        }
        _ => {}
    }
}

struct Api {
    url: String,
}

impl Api {
    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let client = reqwest::Client::new();
        let mut request = client.request(method, format!("{}{path}", self.url));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// Waits until the connector's and its task's states are as given.
    async fn wait(&self, name: &str, connector: &str, task: Option<&str>) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let (_, status) = self
                .call(Method::GET, &format!("/connectors/{name}/status"), None)
                .await;
            let task_ok = match task {
                Some(state) => status["tasks"][0]["state"] == state,
                None => status["tasks"].as_array().is_some_and(Vec::is_empty),
            };
            if status["connector"]["state"] == connector && task_ok {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{}: {name} never reached {connector}/{task:?}: {status}",
                self.url
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
}

fn config(db: &TestDb, suffix: &str) -> Value {
    json!({
        "connector.class": "io.debezium.connector.postgresql.PostgresConnector",
        "database.hostname": db.server.host,
        "database.port": db.server.port.to_string(),
        "database.user": db.server.user,
        "database.password": db.server.password,
        "database.dbname": db.name,
        "topic.prefix": format!("{}_{suffix}", db.topic_prefix()),
        "plugin.name": "pgoutput",
        "slot.name": format!("{}_{suffix}", db.slot_name()),
        "publication.name": format!("{}_{suffix}", db.publication_name()),
        "table.include.list": "public.orders",
        "publication.autocreate.mode": "filtered",
        "slot.drop.on.stop": "true",
        "topic.creation.default.replication.factor": "1",
        "topic.creation.default.partitions": "1",
    })
}

/// The script: (step, status, body) for each call.
async fn script(api: &Api, db: &TestDb, suffix: &str) -> Vec<(String, u16, Value)> {
    let name = format!("{}_{suffix}", db.name);
    let mut steps = Vec::new();
    let mut step = |label: &str, (status, body): (u16, Value)| {
        steps.push((label.to_owned(), status, body));
    };
    let create = json!({"name": name, "config": config(db, suffix)});
    step("root", api.call(Method::GET, "/", None).await);
    step(
        "plugins",
        api.call(Method::GET, "/connector-plugins", None).await,
    );
    step(
        "create",
        api.call(Method::POST, "/connectors", Some(create.clone()))
            .await,
    );
    step(
        "create again",
        api.call(Method::POST, "/connectors", Some(create)).await,
    );
    api.wait(&name, "RUNNING", Some("RUNNING")).await;
    step(
        "info",
        api.call(Method::GET, &format!("/connectors/{name}"), None)
            .await,
    );
    step(
        "config",
        api.call(Method::GET, &format!("/connectors/{name}/config"), None)
            .await,
    );
    step(
        "status",
        api.call(Method::GET, &format!("/connectors/{name}/status"), None)
            .await,
    );
    step(
        "tasks",
        api.call(Method::GET, &format!("/connectors/{name}/tasks"), None)
            .await,
    );
    step(
        "list expanded",
        api.call(Method::GET, "/connectors?expand=status&expand=info", None)
            .await,
    );
    step(
        "pause",
        api.call(Method::PUT, &format!("/connectors/{name}/pause"), None)
            .await,
    );
    api.wait(&name, "PAUSED", Some("PAUSED")).await;
    step(
        "paused status",
        api.call(Method::GET, &format!("/connectors/{name}/status"), None)
            .await,
    );
    step(
        "resume",
        api.call(Method::PUT, &format!("/connectors/{name}/resume"), None)
            .await,
    );
    api.wait(&name, "RUNNING", Some("RUNNING")).await;
    step(
        "restart",
        api.call(Method::POST, &format!("/connectors/{name}/restart"), None)
            .await,
    );
    api.wait(&name, "RUNNING", Some("RUNNING")).await;
    let mut updated = config(db, suffix);
    updated["tombstones.on.delete"] = json!("false");
    step(
        "update config",
        api.call(
            Method::PUT,
            &format!("/connectors/{name}/config"),
            Some(updated),
        )
        .await,
    );
    api.wait(&name, "RUNNING", Some("RUNNING")).await;
    let mut invalid = config(db, suffix);
    invalid["database.port"] = json!("five");
    step(
        "validate invalid",
        api.call(
            Method::PUT,
            "/connector-plugins/io.debezium.connector.postgresql.PostgresConnector/config/validate",
            Some(invalid.clone()),
        )
        .await,
    );
    step(
        "create invalid",
        api.call(
            Method::POST,
            "/connectors",
            Some(json!({"name": format!("{name}_bad"), "config": invalid})),
        )
        .await,
    );
    step(
        "stop",
        api.call(Method::PUT, &format!("/connectors/{name}/stop"), None)
            .await,
    );
    api.wait(&name, "STOPPED", None).await;
    step(
        "stopped status",
        api.call(Method::GET, &format!("/connectors/{name}/status"), None)
            .await,
    );
    step(
        "offsets",
        api.call(Method::GET, &format!("/connectors/{name}/offsets"), None)
            .await,
    );
    step(
        "delete",
        api.call(Method::DELETE, &format!("/connectors/{name}"), None)
            .await,
    );
    step(
        "deleted",
        api.call(Method::GET, &format!("/connectors/{name}"), None)
            .await,
    );
    step(
        "status of unknown",
        api.call(Method::GET, "/connectors/no_such_connector/status", None)
            .await,
    );
    steps
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pgcdc_answers_the_rest_script_as_kafka_connect_does() {
    let db = TestDb::create("rest_diff").await.unwrap();
    db.client()
        .await
        .unwrap()
        .batch_execute("CREATE TABLE orders (id int PRIMARY KEY, status text); INSERT INTO orders VALUES (1, 'new')")
        .await
        .unwrap();

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let state_dir = std::env::temp_dir().join(pgcdc_tests::unique_name("rest_diff_state"));
    let worker = Worker::start(WorkerOptions {
        kafka: kafka::client_config(),
        offsets_topic: format!("{}_offsets", db.name),
        state_dir: state_dir.clone(),
        worker_id: address.to_string(),
        exactly_once_source_support: false,
    })
    .await
    .unwrap();
    let app = router(Arc::clone(&worker), ApiAuth::default());
    let server = tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let connect = script(&Api { url: worker_url() }, &db, "dbz").await;
    let pgcdc = script(
        &Api {
            url: format!("http://{address}"),
        },
        &db,
        "pgcdc",
    )
    .await;

    let mut failures = Vec::new();
    for ((step, status_c, body_c), (_, status_p, body_p)) in connect.iter().zip(&pgcdc) {
        if status_c != status_p {
            failures.push(format!("{step}: status Connect {status_c} | pgcdc {status_p}\n    Connect {body_c}\n    pgcdc   {body_p}"));
            continue;
        }
        let mut differences = Vec::new();
        same_shape("", body_c, body_p, &mut differences);
        // The expanded list is keyed by connector name, which differs by design.
        if step == "list expanded" {
            differences.clear();
            let one = |v: &Value| v.as_object().and_then(|o| o.values().next().cloned());
            same_shape(
                "",
                &one(body_c).unwrap_or_default(),
                &one(body_p).unwrap_or_default(),
                &mut differences,
            );
        }
        for difference in differences {
            failures.push(format!("{step}: {difference}"));
        }
    }
    worker.shutdown().await;
    server.abort();
    let _ = std::fs::remove_dir_all(&state_dir);
    assert!(
        failures.is_empty(),
        "{} differences over {} steps:\n{}",
        failures.len(),
        connect.len(),
        failures.join("\n")
    );
}
