//! `worker/openapi.yaml` kept true against a live `pgcdc connect` (the binary, as an
//! operator runs it) with a connector streaming from the stack's PostgreSQL:
//!
//! - every route the router serves answers at its path and method (the description
//!   lists exactly those routes: worker/tests/openapi_routes.rs);
//! - the main calls — reads of a running connector, the whole lifecycle of a second
//!   one, validation, and the error cases — answer with a status code the description
//!   declares and a body of the declared schema, checked by schemathesis' own response
//!   checks (worker/tests/python/conformance.py);
//! - schemathesis fuzzes every operation from the description (examples, boundary and
//!   malformed values, random requests, and sequences following its links): no 5xx,
//!   every answer as declared, schema-violating input refused with a 4xx — and
//!   afterwards the running connector still runs, with its configuration unchanged,
//!   and still streams, and the worker stops cleanly on SIGTERM.
//!
//! How the fuzzer is kept from the running connector: reads of it are pointed at it
//! (worker/schemathesis.toml); every other request naming it is sent to a decoy
//! connector instead, which the fuzzer may change or delete at will (and which is
//! recreated after a delete), by worker/tests/python/fuzz_hooks.py.
//!
//! Needs `schemathesis` in the venv of `PGCDC_PYTHON` (dev/requirements.txt).
//! `PGCDC_FUZZ_EXAMPLES` (default 15) and `PGCDC_FUZZ_SEED` (default 1) tune a run.

#![allow(clippy::unwrap_used)] // a test that cannot unwrap has failed

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use pgcdc_tests::kafka::{self, Isolation};
use pgcdc_tests::process::{artifact_path, pgcdc_binary};
use pgcdc_tests::stack::Stack;
use pgcdc_tests::TestDb;
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{ChildStdin, ChildStdout};

const CLASS: &str = "io.debezium.connector.postgresql.PostgresConnector";

fn worker_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../worker")
}

/// `pgcdc connect` as a child process, its REST API on a free port.
struct LiveWorker {
    child: Child,
    url: String,
    log: PathBuf,
    state_dir: PathBuf,
}

impl LiveWorker {
    async fn start(label: &str, offsets_topic: &str) -> LiveWorker {
        let binary = tokio::task::spawn_blocking(pgcdc_binary)
            .await
            .unwrap()
            .unwrap();
        let log = artifact_path(&format!("{label}.log")).unwrap();
        let state_dir = artifact_path(&format!("{label}-state")).unwrap();
        let _ = std::fs::remove_dir_all(&state_dir);
        let log_file = std::fs::File::create(&log).unwrap();
        let child = Command::new(binary)
            .arg("connect")
            .args(["--bootstrap-servers", Stack::get().kafka_bootstrap()])
            .args(["--offsets-topic", offsets_topic])
            .args(["--listen", "127.0.0.1:0"])
            .arg("--state-dir")
            .arg(&state_dir)
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::from(log_file.try_clone().unwrap()))
            .stderr(Stdio::from(log_file))
            .spawn()
            .unwrap();
        let mut worker = LiveWorker {
            child,
            url: String::new(),
            log,
            state_dir,
        };
        // The worker logs the address it listens on.
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let text = std::fs::read_to_string(&worker.log).unwrap_or_default();
            let address = text
                .lines()
                .filter(|l| l.contains("REST API listening"))
                .find_map(|l| l.split("address=").nth(1))
                .and_then(|rest| rest.split_whitespace().next());
            if let Some(address) = address {
                worker.url = format!("http://{address}");
                return worker;
            }
            assert!(worker.is_running(), "pgcdc connect exited:\n{text}");
            assert!(
                Instant::now() < deadline,
                "pgcdc connect never listened:\n{text}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn is_running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGTERM, as a container runtime stops it, and its exit status.
    async fn terminate(mut self) -> ExitStatus {
        let sent = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(sent.success());
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                // A failing run keeps its log to read.
                if status.success() {
                    let _ = std::fs::remove_file(&self.log);
                }
                let _ = std::fs::remove_dir_all(&self.state_dir);
                return status;
            }
            assert!(Instant::now() < deadline, "no exit within 60 s of SIGTERM");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for LiveWorker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A connector of `db` with its own slot, publication and topic prefix.
fn connector_config(db: &TestDb, suffix: &str) -> Value {
    json!({
        "connector.class": CLASS,
        "database.hostname": db.server.host,
        "database.port": db.server.port.to_string(),
        "database.user": db.server.user,
        "database.password": db.server.password,
        "database.dbname": db.name,
        "topic.prefix": format!("{}_{suffix}", db.topic_prefix()),
        "slot.name": format!("{}_{suffix}", db.slot_name()),
        "publication.name": format!("{}_{suffix}", db.publication_name()),
        "table.include.list": "public.orders",
        "publication.autocreate.mode": "filtered",
        "topic.creation.default.replication.factor": "1",
    })
}

async fn call(method: reqwest::Method, url: &str, body: Option<&Value>) -> (u16, Value) {
    let mut request = reqwest::Client::new().request(method, url);
    if let Some(body) = body {
        request = request.json(body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// Waits until the connector's state and its task's are `state` (for STOPPED, the
/// connector's, with no task).
async fn wait_state(url: &str, name: &str, state: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (_, status) = call(
            reqwest::Method::GET,
            &format!("{url}/connectors/{name}/status"),
            None,
        )
        .await;
        let task_ok = if state == "STOPPED" {
            status["tasks"] == json!([])
        } else {
            status["tasks"][0]["state"] == state
        };
        if status["connector"]["state"] == state && task_ok {
            return status;
        }
        assert!(
            Instant::now() < deadline,
            "{name} never reached {state}: {status}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Creates the connector that the tests keep running, and waits until it has
/// snapshotted the table and stored its offset.
async fn start_streaming(url: &str, name: &str, config: &Value) {
    let (status, body) = call(
        reqwest::Method::POST,
        &format!("{url}/connectors"),
        Some(&json!({"name": name, "config": config})),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    wait_state(url, name, "RUNNING").await;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (_, offsets) = call(
            reqwest::Method::GET,
            &format!("{url}/connectors/{name}/offsets"),
            None,
        )
        .await;
        if offsets["offsets"].as_array().is_some_and(|o| !o.is_empty()) {
            return;
        }
        assert!(Instant::now() < deadline, "{name} stored no offset");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn orders_table(db: &TestDb) -> tokio_postgres::Client {
    let sql = db.client().await.unwrap();
    sql.batch_execute(
        "CREATE TABLE orders (id int PRIMARY KEY, status text); INSERT INTO orders VALUES (1, 'new')",
    )
    .await
    .unwrap();
    sql
}

/// worker/tests/python/conformance.py: makes one request at a time and checks the
/// response against the description with schemathesis' response checks.
struct Conformance {
    stdin: ChildStdin,
    lines: Lines<BufReader<ChildStdout>>,
    _child: tokio::process::Child,
    failures: Vec<String>,
}

impl Conformance {
    fn start(url: &str) -> Conformance {
        let dir = worker_dir();
        let mut child = tokio::process::Command::new(Stack::get().python())
            .arg(dir.join("tests/python/conformance.py"))
            .arg(dir.join("openapi.yaml"))
            .arg(url)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let lines = BufReader::new(child.stdout.take().unwrap()).lines();
        Conformance {
            stdin,
            lines,
            _child: child,
            failures: Vec::new(),
        }
    }

    /// Sends `request` (method, path template, its parameters, query, body) and
    /// returns the body; a status other than `expected`, or a response the
    /// description does not allow, is recorded as a failure.
    async fn expect(&mut self, expected: u16, request: Value) -> Value {
        let mut line = serde_json::to_vec(&request).unwrap();
        line.push(b'\n');
        self.stdin.write_all(&line).await.unwrap();
        let answer = tokio::time::timeout(Duration::from_secs(60), self.lines.next_line())
            .await
            .expect("conformance.py answers within 60 s")
            .unwrap()
            .expect("conformance.py ended early (a Python error is on stderr)");
        let answer: Value = serde_json::from_str(&answer).unwrap();
        let label = format!(
            "{} {} {}",
            request["method"].as_str().unwrap_or_default(),
            request["path"].as_str().unwrap_or_default(),
            request.get("path_parameters").unwrap_or(&Value::Null)
        );
        if answer["status"] != expected {
            self.failures.push(format!(
                "{label}: status {} where {expected} was expected: {}",
                answer["status"], answer["body"]
            ));
        }
        for problem in answer["problems"].as_array().into_iter().flatten() {
            self.failures
                .push(format!("{label}: {}", problem.as_str().unwrap_or_default()));
        }
        answer["body"].clone()
    }
}

fn of(name: &str) -> Value {
    json!({ "name": name })
}

/// Whether a 400's message names `property`.
fn names(body: &Value, property: &str) -> bool {
    body["message"]
        .as_str()
        .is_some_and(|m| m.contains(property))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_worker_answers_as_its_openapi_description_says() {
    let db = TestDb::create("worker_openapi").await.unwrap();
    orders_table(&db).await;
    let mut worker = LiveWorker::start(&db.name, &format!("{}_offsets", db.name)).await;
    let url = worker.url.clone();
    let running = format!("{}_running", db.name);
    let running_config = connector_config(&db, "running");
    start_streaming(&url, &running, &running_config).await;

    // Every route of the router's table is served at its path and method: neither the
    // fallback's 404 nor a 405. Path parameters name nothing that exists, so nothing
    // is changed.
    let client = reqwest::Client::new();
    for route in pgcdc_worker::rest::routes() {
        let path = route
            .path
            .replace("{name}", "no_such_connector")
            .replace("{task}", "0")
            .replace("{class}", CLASS);
        let response = client
            .request(route.method.clone(), format!("{url}{path}"))
            .json(&json!({}))
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        assert!(
            status != 405 && body["message"] != "HTTP 404 Not Found",
            "{} {path} is not served: {status} {body}",
            route.method
        );
    }
    // What is not a route answers in Connect's error shape.
    let (status, body) = call(reqwest::Method::GET, &format!("{url}/no/such/path"), None).await;
    assert_eq!((status, &body["error_code"]), (404, &json!(404)), "{body}");
    let response = client
        .delete(format!("{url}/connectors"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 405);
    assert!(response.headers().contains_key("allow"));
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error_code"], 405, "{body}");

    let mut check = Conformance::start(&url);
    let get = |path: &str, parameters: Value| json!({"method": "GET", "path": path, "path_parameters": parameters});

    // Reads of the running connector.
    check.expect(200, get("/", json!({}))).await;
    let names_listed = check.expect(200, get("/connectors", json!({}))).await;
    assert_eq!(names_listed, json!([running]));
    let expanded = check
        .expect(
            200,
            json!({"method": "GET", "path": "/connectors",
                   "query": {"expand": ["status", "info"]}}),
        )
        .await;
    assert_eq!(
        expanded[&running]["status"]["connector"]["state"],
        "RUNNING"
    );
    assert_eq!(expanded[&running]["info"]["name"], running.as_str());
    check
        .expect(
            200,
            json!({"method": "GET", "path": "/connectors", "query": {"expand": "neither"}}),
        )
        .await;
    let info = check
        .expect(200, get("/connectors/{name}", of(&running)))
        .await;
    assert_eq!(info["config"]["database.password"], "********");
    check
        .expect(200, get("/connectors/{name}/config", of(&running)))
        .await;
    let status = check
        .expect(200, get("/connectors/{name}/status", of(&running)))
        .await;
    assert_eq!(status["tasks"][0]["state"], "RUNNING");
    check
        .expect(200, get("/connectors/{name}/tasks", of(&running)))
        .await;
    let task = json!({"name": running, "task": 0});
    check
        .expect(200, get("/connectors/{name}/tasks/{task}/status", task))
        .await;
    for task in [json!(1), json!("first")] {
        check
            .expect(
                404,
                get(
                    "/connectors/{name}/tasks/{task}/status",
                    json!({"name": running, "task": task}),
                ),
            )
            .await;
    }
    let offsets = check
        .expect(200, get("/connectors/{name}/offsets", of(&running)))
        .await;
    assert_eq!(
        offsets["offsets"][0]["partition"],
        json!({"server": format!("{}_running", db.topic_prefix())})
    );
    check
        .expect(200, get("/connector-plugins", json!({})))
        .await;
    let definitions = check
        .expect(
            200,
            get("/connector-plugins/{class}/config", json!({"class": CLASS})),
        )
        .await;
    assert!(
        definitions
            .as_array()
            .is_some_and(|d| d.iter().any(|d| d["name"] == "database.hostname")),
        "{definitions}"
    );
    check
        .expect(
            404,
            get(
                "/connector-plugins/{class}/config",
                json!({"class": "NoSuchConnector"}),
            ),
        )
        .await;
    check.expect(200, get("/metrics", json!({}))).await;
    check.expect(200, get("/health", json!({}))).await;
    check
        .expect(
            404,
            get("/connectors/{name}/status", of("no_such_connector")),
        )
        .await;

    // Requests that must not change it: offsets can only be altered once stopped, a
    // restart with a flag that is not a boolean is refused before anything happens,
    // and its name is taken.
    for method in ["PATCH", "DELETE"] {
        check
            .expect(
                409,
                json!({"method": method, "path": "/connectors/{name}/offsets",
                       "path_parameters": of(&running)}),
            )
            .await;
    }
    let refused = check
        .expect(
            400,
            json!({"method": "POST", "path": "/connectors/{name}/restart",
                   "path_parameters": of(&running), "query": {"includeTasks": "maybe"}}),
        )
        .await;
    assert!(names(&refused, "includeTasks"), "{refused}");
    check
        .expect(
            409,
            json!({"method": "POST", "path": "/connectors",
                   "body": {"name": running, "config": running_config}}),
        )
        .await;

    // Configuration errors: a wrong type, a missing required property, an unknown
    // class, a value that is not a string, number or boolean — each a 400 naming the
    // property.
    let create = |config: Value| {
        json!({"method": "POST", "path": "/connectors",
               "body": {"name": format!("{}_bad", db.name), "config": config}})
    };
    let mut wrong_type = connector_config(&db, "bad");
    wrong_type["database.port"] = json!("five");
    let mut missing = connector_config(&db, "bad");
    missing.as_object_mut().unwrap().remove("database.hostname");
    let mut unknown_class = connector_config(&db, "bad");
    unknown_class["connector.class"] = json!("com.example.NoSuchConnector");
    let mut nested = connector_config(&db, "bad");
    nested["snapshot.mode"] = json!({"mode": "initial"});
    for (config, property) in [
        (wrong_type, "database.port"),
        (missing, "database.hostname"),
        (unknown_class, "connector.class"),
        (nested, "snapshot.mode"),
    ] {
        let body = check.expect(400, create(config)).await;
        assert!(names(&body, property), "{property}: {body}");
    }

    // Validation: every property with its errors; the class must be the plugin's.
    let validate = |class: &str, config: Value| {
        json!({"method": "PUT", "path": "/connector-plugins/{class}/config/validate",
               "path_parameters": {"class": class}, "body": config})
    };
    let valid = check
        .expect(200, validate(CLASS, running_config.clone()))
        .await;
    assert_eq!(valid["error_count"], 0, "{valid}");
    let mut invalid = running_config.clone();
    invalid["database.port"] = json!("five");
    let invalid = check
        .expect(200, validate("PostgresConnector", invalid))
        .await;
    assert_eq!(invalid["error_count"], 1);
    let body = check
        .expect(
            400,
            validate("com.example.NoSuchConnector", running_config.clone()),
        )
        .await;
    assert!(names(&body, "connector.class"), "{body}");
    let body = check
        .expect(400, validate(CLASS, json!({"topic.prefix": "x"})))
        .await;
    assert!(names(&body, "connector.class"), "{body}");

    // The lifecycle of a second connector, on the same database.
    let second = format!("{}_second", db.name);
    let path = |suffix: &str| format!("/connectors/{{name}}{suffix}");
    let put = |suffix: &str| json!({"method": "PUT", "path": path(suffix), "path_parameters": of(&second)});
    let post = |suffix: &str| json!({"method": "POST", "path": path(suffix), "path_parameters": of(&second)});
    let mut second_config = connector_config(&db, "second");
    let mut created = put("/config");
    created["body"] = second_config.clone();
    check.expect(201, created.clone()).await;
    wait_state(&url, &second, "RUNNING").await;
    second_config["tombstones.on.delete"] = json!(false);
    created["body"] = second_config.clone();
    let updated = check.expect(200, created).await;
    assert_eq!(updated["config"]["tombstones.on.delete"], "false");
    wait_state(&url, &second, "RUNNING").await;
    let mut patch =
        json!({"method": "PATCH", "path": path("/config"), "path_parameters": of(&second)});
    patch["body"] = json!({"tombstones.on.delete": null, "heartbeat.interval.ms": 10000});
    let patched = check.expect(200, patch.clone()).await;
    assert_eq!(patched["config"]["heartbeat.interval.ms"], "10000");
    assert!(
        patched["config"].get("tombstones.on.delete").is_none(),
        "{patched}"
    );
    patch["body"] = json!({"database.port": "five"});
    let body = check.expect(400, patch.clone()).await;
    assert!(names(&body, "database.port"), "{body}");
    patch["path_parameters"] = of("no_such_connector");
    check.expect(404, patch).await;
    wait_state(&url, &second, "RUNNING").await;
    check.expect(202, put("/pause")).await;
    wait_state(&url, &second, "PAUSED").await;
    check
        .expect(200, get("/connectors/{name}/status", of(&second)))
        .await;
    check.expect(202, put("/resume")).await;
    wait_state(&url, &second, "RUNNING").await;
    check.expect(204, post("/restart")).await;
    let mut restart = post("/restart");
    restart["query"] = json!({"includeTasks": "true", "onlyFailed": "false"});
    check.expect(202, restart).await;
    wait_state(&url, &second, "RUNNING").await;
    check
        .expect(
            204,
            json!({"method": "POST", "path": "/connectors/{name}/tasks/{task}/restart",
                   "path_parameters": {"name": second, "task": 0}}),
        )
        .await;
    check.expect(204, put("/stop")).await;
    wait_state(&url, &second, "STOPPED").await;
    let stopped = check
        .expect(200, get("/connectors/{name}/status", of(&second)))
        .await;
    assert_eq!(stopped["tasks"], json!([]));
    assert_eq!(
        check
            .expect(200, get("/connectors/{name}/tasks", of(&second)))
            .await,
        json!([])
    );
    check
        .expect(200, get("/connectors/{name}/offsets", of(&second)))
        .await;
    for method in ["PATCH", "DELETE"] {
        let body = check
            .expect(
                400,
                json!({"method": method, "path": "/connectors/{name}/offsets",
                       "path_parameters": of(&second)}),
            )
            .await;
        assert!(names(&body, "slot.drop.on.stop"), "{body}");
    }
    check
        .expect(204, json!({"method": "DELETE", "path": "/connectors/{name}", "path_parameters": of(&second)}))
        .await;
    check
        .expect(404, get("/connectors/{name}", of(&second)))
        .await;

    // Created stopped (Connect's initial_state): no task.
    let third = format!("{}_third", db.name);
    let info = check
        .expect(
            201,
            json!({"method": "POST", "path": "/connectors",
                   "body": {"name": third, "config": connector_config(&db, "third"),
                            "initial_state": "STOPPED"}}),
        )
        .await;
    assert_eq!(info["tasks"], json!([]));
    wait_state(&url, &third, "STOPPED").await;
    check
        .expect(204, json!({"method": "DELETE", "path": "/connectors/{name}", "path_parameters": of(&third)}))
        .await;

    assert!(
        check.failures.is_empty(),
        "{} responses differ from worker/openapi.yaml:\n{}",
        check.failures.len(),
        check.failures.join("\n")
    );
    wait_state(&url, &running, "RUNNING").await;
    assert!(worker.is_running());
    let log = worker.log_text();
    let status = worker.terminate().await;
    assert!(
        status.success(),
        "pgcdc connect exited with {status}:\n{log}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_nothing_and_the_running_connector_survives_it() {
    let db = TestDb::create("worker_fuzz").await.unwrap();
    let sql = orders_table(&db).await;
    let mut worker = LiveWorker::start(&db.name, &format!("{}_offsets", db.name)).await;
    let url = worker.url.clone();
    let guarded = format!("{}_guarded", db.name);
    start_streaming(&url, &guarded, &connector_config(&db, "guarded")).await;
    let decoy = format!("{}_decoy", db.name);
    let decoy_config = connector_config(&db, "decoy");
    let (status, body) = call(
        reqwest::Method::PUT,
        &format!("{url}/connectors/{decoy}/config"),
        Some(&decoy_config),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let config_url = format!("{url}/connectors/{guarded}/config");
    let (_, config_before) = call(reqwest::Method::GET, &config_url, None).await;

    let dir = worker_dir();
    let examples = std::env::var("PGCDC_FUZZ_EXAMPLES").unwrap_or_else(|_| "15".into());
    let seed = std::env::var("PGCDC_FUZZ_SEED").unwrap_or_else(|_| "1".into());
    let report = artifact_path(&format!("{}-schemathesis-junit.xml", db.name)).unwrap();
    let output = tokio::process::Command::new(Stack::get().python())
        .args(["-m", "schemathesis.cli", "--config-file"])
        .arg(dir.join("schemathesis.toml"))
        .arg("run")
        .arg(dir.join("openapi.yaml"))
        .args(["--url", &url])
        // Debezium's rules for a valid configuration are more than a JSON schema
        // says: a request the description allows may still be a 400.
        .args(["--exclude-checks", "positive_data_acceptance"])
        .args(["--max-examples", &examples, "--seed", &seed])
        .args([
            "--no-color",
            "--generation-database",
            "none",
            "--workers",
            "1",
        ])
        // A stop may wait up to 5 s for a streaming task to drain (worker/src/run.rs);
        // anything slower than this is a hang.
        .args(["--request-timeout", "30", "--max-response-time", "10"])
        .args(["--report", "junit", "--report-junit-path"])
        .arg(&report)
        .env("SCHEMATHESIS_HOOKS", dir.join("tests/python/fuzz_hooks.py"))
        .env("PGCDC_FUZZ_CONNECTOR", &guarded)
        .env("PGCDC_FUZZ_DECOY", &decoy)
        .env("PGCDC_FUZZ_DECOY_CONFIG", decoy_config.to_string())
        .env("PGCDC_FUZZ_URL", &url)
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let junit = std::fs::read_to_string(&report).unwrap_or_default();
    let _ = std::fs::remove_file(&report);
    assert!(
        output.status.success(),
        "schemathesis found failures:\n{stdout}\n{stderr}"
    );
    // It must have tested every operation, not passed by testing nothing.
    let operations = pgcdc_worker::rest::routes().len();
    let tested = stdout
        .lines()
        .find(|l| l.trim_start().starts_with("Tested:"))
        .unwrap_or_default();
    assert_eq!(
        tested.trim(),
        format!("Tested: {operations}"),
        "expected all {operations} operations tested:\n{stdout}"
    );
    assert!(junit.contains("<testcase"), "no JUnit report:\n{stdout}");
    let diverted = stderr
        .lines()
        .filter(|l| l.starts_with("fuzz_hooks:"))
        .count();
    eprintln!(
        "{}\n{diverted} requests naming the running connector were sent to the decoy",
        stdout
            .lines()
            .filter(|l| l.contains("generated") || l.contains("Tested:"))
            .collect::<Vec<_>>()
            .join("\n")
    );

    // The worker is alive, and the running connector is untouched: running, the same
    // configuration, and streaming exactly once what is written now.
    assert!(
        worker.is_running(),
        "pgcdc connect died:\n{}",
        worker.log_text()
    );
    let (status, health) = call(reqwest::Method::GET, &format!("{url}/health"), None).await;
    assert_eq!((status, health), (200, json!({"status": "UP"})));
    wait_state(&url, &guarded, "RUNNING").await;
    let (_, config_after) = call(reqwest::Method::GET, &config_url, None).await;
    assert_eq!(config_after, config_before);
    sql.batch_execute("INSERT INTO orders VALUES (2, 'after the fuzzing')")
        .await
        .unwrap();
    let topic = format!("{}_guarded.public.orders", db.topic_prefix());
    let ids = |expected| {
        kafka::read_topic(
            &topic,
            Isolation::ReadCommitted,
            expected,
            Duration::from_secs(30),
        )
        .unwrap()
        .iter()
        .filter_map(|r| r.value_json().ok())
        .filter_map(|v| v["payload"]["after"]["id"].as_i64())
        .collect::<Vec<i64>>()
    };
    // Wait for the new row, then read everything there is.
    ids(Some(2));
    assert_eq!(
        ids(None),
        vec![1, 2],
        "the snapshot row and the new one, once each"
    );

    let log = worker.log_text();
    assert!(!log.contains("panicked"), "{log}");
    let status = worker.terminate().await;
    assert!(
        status.success(),
        "pgcdc connect exited with {status}:\n{log}"
    );
}
