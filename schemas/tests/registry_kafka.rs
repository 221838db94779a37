//! The embedded Schema Registry with its log in a compacted Kafka topic, on the
//! stack's real broker: a restarted registry serves what it served before, and two
//! instances on one topic serve the same subjects, versions and ids — including
//! under concurrent registrations on both, where no id and no version number may be
//! given twice.
//!
//! Needs the local stack's Kafka (`PGCDC_KAFKA_BOOTSTRAP`, or `.stack/env` as
//! `dev/stack up` writes it); each test uses its own topic and deletes it.
#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use pgcdc_schemas::registry::{self, KafkaStoreConfig, Registry};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, ResourceSpecifier, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use reqwest::StatusCode;
use serde_json::{json, Value};

const V1: &str = "application/vnd.schemaregistry.v1+json";

struct Instance {
    base: String,
    client: reqwest::Client,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Drop for Instance {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn bootstrap() -> String {
    if let Ok(bootstrap) = std::env::var("PGCDC_KAFKA_BOOTSTRAP") {
        return bootstrap;
    }
    let env = concat!(env!("CARGO_MANIFEST_DIR"), "/../.stack/env");
    std::fs::read_to_string(env)
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("PGCDC_KAFKA_BOOTSTRAP="))
        .map(|v| v.trim_matches('"').to_owned())
        .expect(
            "PGCDC_KAFKA_BOOTSTRAP is not set and .stack/env does not name it: run dev/stack up",
        )
}

fn unique_name(label: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{label}_{}_{nanos:x}", std::process::id())
}

fn admin() -> AdminClient<DefaultClientContext> {
    ClientConfig::new()
        .set("bootstrap.servers", bootstrap())
        .create()
        .unwrap()
}

async fn create_topic(topic: &str, partitions: i32) {
    let new = NewTopic::new(topic, partitions, TopicReplication::Fixed(1));
    for result in admin()
        .create_topics([&new], &AdminOptions::new())
        .await
        .unwrap()
    {
        result.unwrap();
    }
}

async fn cleanup(topic: &str) {
    let _ = admin().delete_topics(&[topic], &AdminOptions::new()).await;
}

fn config(topic: &str) -> KafkaStoreConfig {
    let mut config = KafkaStoreConfig::new(&bootstrap());
    config.topic = topic.to_owned();
    config.transactional_id = KafkaStoreConfig::transactional_id_for(topic);
    config.replication_factor = 1;
    config
}

async fn start(topic: &str) -> Instance {
    let registry = Registry::open_kafka(config(topic)).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let task = tokio::spawn(registry::serve(listener, Arc::new(registry)));
    Instance {
        base,
        client: reqwest::Client::new(),
        task,
    }
}

impl Instance {
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.base))
            .header("Content-Type", V1);
        if let Some(body) = body {
            request = request.body(body.to_string());
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let text = response.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.call(reqwest::Method::GET, path, None).await
    }

    async fn ok(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let (status, body) = self.call(method, path, body).await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
        body
    }

    async fn register(&self, subject: &str, schema: &str) -> u64 {
        self.ok(
            reqwest::Method::POST,
            &format!("/subjects/{subject}/versions"),
            Some(json!({ "schema": schema })),
        )
        .await["id"]
            .as_u64()
            .unwrap()
    }

    /// Every subject (deleted ones too) with each version's id and deleted flag,
    /// plus the global level: what two instances must agree on.
    async fn snapshot(&self) -> BTreeMap<String, Value> {
        let mut out = BTreeMap::new();
        out.insert("config".into(), self.get("/config").await.1);
        let subjects = self.get("/subjects?deleted=true").await.1;
        for subject in subjects.as_array().unwrap() {
            let subject = subject.as_str().unwrap();
            let live = self.get(&format!("/subjects/{subject}/versions")).await.1;
            let all = self
                .get(&format!("/subjects/{subject}/versions?deleted=true"))
                .await
                .1;
            let mut versions = Vec::new();
            for version in all.as_array().unwrap() {
                let v = self
                    .get(&format!(
                        "/subjects/{subject}/versions/{version}?deleted=true"
                    ))
                    .await
                    .1;
                versions.push(json!([version, v["id"], v["schema"]]));
            }
            let level = self.get(&format!("/config/{subject}")).await.1;
            out.insert(
                subject.to_owned(),
                json!({"live": live, "versions": versions, "level": level}),
            );
        }
        out
    }
}

fn schema(name: &str, fields: &[&str]) -> String {
    let fields: Vec<Value> = fields
        .iter()
        .map(|f| json!({"name": f, "type": ["null", "string"], "default": null}))
        .collect();
    json!({"type": "record", "name": name, "namespace": "pgcdc.registry", "fields": fields})
        .to_string()
}

/// Waits until `instance` answers `expected` for everything [`Instance::snapshot`]
/// reads (another instance's writes arrive within milliseconds).
async fn converge(instance: &Instance, expected: &BTreeMap<String, Value>) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let seen = instance.snapshot().await;
        if &seen == expected {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "instance did not converge:\nexpected {expected:#?}\nseen {seen:#?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn registry_state_survives_a_restart_from_the_topic() {
    let topic = unique_name("schemas_restart");
    let first = start(&topic).await;
    let a1 = first
        .register("orders-value", &schema("Order", &["a"]))
        .await;
    let a2 = first
        .register("orders-value", &schema("Order", &["a", "b"]))
        .await;
    let k1 = first.register("orders-key", &schema("Key", &["id"])).await;
    assert_eq!((a1, a2, k1), (1, 2, 3));
    first
        .ok(
            reqwest::Method::PUT,
            "/config/orders-value",
            Some(json!({"compatibility": "FULL"})),
        )
        .await;
    first
        .ok(
            reqwest::Method::PUT,
            "/config",
            Some(json!({"compatibility": "NONE"})),
        )
        .await;
    // A subject deleted for good holds the highest id: it must not be given again.
    let gone = first.register("gone-value", &schema("Gone", &["x"])).await;
    assert_eq!(gone, 4);
    first
        .ok(reqwest::Method::DELETE, "/subjects/gone-value", None)
        .await;
    first
        .ok(
            reqwest::Method::DELETE,
            "/subjects/gone-value?permanent=true",
            None,
        )
        .await;
    first
        .ok(
            reqwest::Method::DELETE,
            "/subjects/orders-value/versions/1",
            None,
        )
        .await;
    let before = first.snapshot().await;
    drop(first);

    let second = start(&topic).await;
    assert_eq!(second.snapshot().await, before);
    // The same schema keeps its id; a new one gets the next id after every id given.
    assert_eq!(
        second.register("orders-key", &schema("Key", &["id"])).await,
        3
    );
    assert_eq!(
        second
            .register("other-value", &schema("Order", &["a", "b"]))
            .await,
        2
    );
    assert_eq!(
        second.register("new-value", &schema("New", &["n"])).await,
        5
    );
    assert_eq!(
        second.get("/schemas/ids/4").await.1["error_code"],
        json!(40403)
    );

    // The topic is what Confluent makes: one partition, compacted.
    let described = admin()
        .describe_configs([&ResourceSpecifier::Topic(&topic)], &AdminOptions::new())
        .await
        .unwrap();
    let resource = described.into_iter().next().unwrap().unwrap();
    assert_eq!(
        resource
            .get("cleanup.policy")
            .and_then(|e| e.value.as_deref()),
        Some("compact")
    );
    drop(second);
    cleanup(&topic).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn two_instances_on_one_topic_serve_the_same_subjects_versions_and_ids() {
    let topic = unique_name("schemas_shared");
    let a = start(&topic).await;
    let b = start(&topic).await;

    // A registration on A is served by B, with A's id.
    let id = a.register("users-value", &schema("User", &["name"])).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    let from_b = loop {
        let (status, body) = b.get("/subjects/users-value/versions/latest").await;
        if status == StatusCode::OK {
            break body;
        }
        assert!(
            Instant::now() < deadline,
            "B never saw A's registration: {body}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(from_b["id"], json!(id));
    assert_eq!(from_b["version"], json!(1));
    assert_eq!(b.get(&format!("/schemas/ids/{id}")).await.0, StatusCode::OK);
    // B registering the same schema (right after A) gets A's id, not a new one.
    assert_eq!(
        b.register("users-copy-value", &schema("User", &["name"]))
            .await,
        id
    );
    // A schema B registers next gets the next id, and A serves it.
    let next = b
        .register("users-value", &schema("User", &["name", "email"]))
        .await;
    assert_eq!(next, id + 1);
    b.ok(
        reqwest::Method::PUT,
        "/config/users-value",
        Some(json!({"compatibility": "FORWARD"})),
    )
    .await;

    // Concurrent registrations on both instances: distinct schemas in shared and
    // separate subjects, so that ids and version numbers are contended.
    a.ok(
        reqwest::Method::PUT,
        "/config",
        Some(json!({"compatibility": "NONE"})),
    )
    .await;
    converge(&b, &a.snapshot().await).await;
    let a = Arc::new(a);
    let b = Arc::new(b);
    let mut tasks = Vec::new();
    for i in 0..24 {
        let instance = Arc::clone(if i % 2 == 0 { &a } else { &b });
        tasks.push(tokio::spawn(async move {
            let subject = if i % 3 == 0 {
                "shared-value".to_owned()
            } else {
                format!("s{}-value", i % 4)
            };
            let schema = schema(&format!("R{i}"), &["f"]);
            let id = instance.register(&subject, &schema).await;
            (schema, id)
        }));
    }
    let mut ids_by_schema = BTreeMap::new();
    for task in tasks {
        let (schema, id) = task.await.unwrap();
        ids_by_schema.insert(schema, id);
    }
    let distinct: BTreeSet<u64> = ids_by_schema.values().copied().collect();
    assert_eq!(
        distinct.len(),
        24,
        "an id was given to two schemas: {ids_by_schema:?}"
    );
    assert!(distinct.iter().all(|id| *id > next));

    let seen_by_a = a.snapshot().await;
    converge(&b, &seen_by_a).await;
    for instance in [&a, &b] {
        let metrics = instance.get("/metrics").await.1;
        let retries = metrics
            .as_str()
            .unwrap()
            .lines()
            .find(|l| l.starts_with("pgcdc_registry_store_write_retries_total"))
            .map(str::to_owned);
        eprintln!("{}: {retries:?}", instance.base);
    }
    // Every schema is where its id says, with versions numbered 1..n per subject.
    for (subject, entry) in &seen_by_a {
        if subject == "config" {
            continue;
        }
        let versions = entry["versions"].as_array().unwrap();
        let numbers: Vec<u64> = versions.iter().map(|v| v[0].as_u64().unwrap()).collect();
        assert_eq!(
            numbers,
            (1..=numbers.len() as u64).collect::<Vec<_>>(),
            "{subject}"
        );
    }
    for (text, id) in &ids_by_schema {
        let (status, body) = b.get(&format!("/schemas/ids/{id}")).await;
        assert_eq!(status, StatusCode::OK);
        let stored: Value = serde_json::from_str(body["schema"].as_str().unwrap()).unwrap();
        let registered: Value = serde_json::from_str(text).unwrap();
        assert_eq!(stored["name"], registered["name"]);
    }
    drop(a);
    drop(b);
    cleanup(&topic).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_topic_that_is_not_compacted_or_has_partitions_is_refused() {
    let topic = unique_name("schemas_bad");
    create_topic(&topic, 2).await;
    let error = Registry::open_kafka(config(&topic)).await.unwrap_err();
    assert!(error.to_string().contains("2 partitions"), "{error}");
    cleanup(&topic).await;

    let topic = unique_name("schemas_delete");
    create_topic(&topic, 1).await;
    let error = Registry::open_kafka(config(&topic)).await.unwrap_err();
    assert!(
        error.to_string().contains("cleanup.policy=delete"),
        "{error}"
    );
    cleanup(&topic).await;
}
