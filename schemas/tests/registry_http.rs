//! The embedded Schema Registry driven over HTTP as Confluent's clients drive it:
//! every endpoint, every error code, and a restart from the file log.
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;
use std::sync::Arc;

use pgcdc_schemas::registry::{self, Registry};
use reqwest::{Client, Method, StatusCode};
use serde_json::{json, Value};

const V1: &str = "application/vnd.schemaregistry.v1+json";

struct Server {
    base: String,
    client: Client,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn start(registry: Registry) -> Server {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let task = tokio::spawn(registry::serve(listener, Arc::new(registry)));
    Server {
        base,
        client: Client::new(),
        task,
    }
}

impl Server {
    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.base))
            .header("Content-Type", V1)
            .header("Accept", V1);
        if let Some(body) = body {
            request = request.body(body.to_string());
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let content_type = response
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_owned());
        let text = response.text().await.unwrap();
        assert_eq!(content_type.as_deref(), Some(V1), "{path}: {text}");
        let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, value)
    }

    async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.call(Method::GET, path, None).await
    }

    async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::POST, path, Some(body)).await
    }

    async fn put(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::PUT, path, Some(body)).await
    }

    async fn delete(&self, path: &str) -> (StatusCode, Value) {
        self.call(Method::DELETE, path, None).await
    }

    async fn register(&self, subject: &str, schema: &str) -> (StatusCode, Value) {
        self.post(
            &format!("/subjects/{subject}/versions"),
            json!({ "schema": schema }),
        )
        .await
    }

    async fn register_id(&self, subject: &str, schema: &str) -> u64 {
        let (status, body) = self.register(subject, schema).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["id"].as_u64().unwrap()
    }
}

/// Asserts Confluent's error shape and code.
fn assert_error(reply: (StatusCode, Value), status: u16, code: u64) {
    let (got_status, body) = reply;
    assert_eq!(got_status.as_u16(), status, "{body}");
    assert_eq!(body["error_code"].as_u64(), Some(code), "{body}");
    assert!(
        body["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{body}"
    );
}

fn record(name: &str, fields: &[(&str, &str)]) -> String {
    let fields: Vec<Value> = fields
        .iter()
        .map(|(n, t)| {
            let ty: Value = serde_json::from_str(t).unwrap_or_else(|_| json!(t));
            json!({"name": n, "type": ty})
        })
        .collect();
    json!({"type": "record", "name": name, "namespace": "pgcdc.test", "fields": fields}).to_string()
}

fn with_default(name: &str, base: &[(&str, &str)], extra: &str, default: Value) -> String {
    let mut schema: Value = serde_json::from_str(&record(name, base)).unwrap();
    schema["fields"]
        .as_array_mut()
        .unwrap()
        .push(json!({"name": extra, "type": ["null", "string"], "default": default}));
    schema.to_string()
}

fn temp_dir(name: &str) -> PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let dir = std::env::temp_dir().join(format!(
        "pgcdc-registry-{name}-{}-{nanos}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[tokio::test]
async fn registry_registers_looks_up_and_reads_schemas() {
    let server = start(Registry::in_memory()).await;
    let (status, root) = server.get("/").await;
    assert_eq!((status, root), (StatusCode::OK, json!({})));
    let (_, types) = server.get("/schemas/types").await;
    assert_eq!(types, json!(["AVRO"]));

    let v1 = record("Value", &[("id", "int"), ("name", "string")]);
    let id = server.register_id("shop.public.orders-value", &v1).await;
    assert_eq!(id, 1);
    // The same schema, spaced and ordered differently, under the same or another
    // subject, is the same schema with the same id.
    let respaced =
        serde_json::to_string_pretty(&serde_json::from_str::<Value>(&v1).unwrap()).unwrap();
    assert_eq!(
        server
            .register_id("shop.public.orders-value", &respaced)
            .await,
        1
    );
    assert_eq!(server.register_id("other-value", &v1).await, 1);
    assert_eq!(server.register_id("key", r#"{"type":"int"}"#).await, 2);
    assert_eq!(server.register_id("key2", r#""int""#).await, 2);

    let (_, subjects) = server.get("/subjects").await;
    assert_eq!(
        subjects,
        json!(["key", "key2", "other-value", "shop.public.orders-value"])
    );
    let (_, subjects) = server.get("/subjects?subjectPrefix=shop").await;
    assert_eq!(subjects, json!(["shop.public.orders-value"]));
    let (_, versions) = server
        .get("/subjects/shop.public.orders-value/versions")
        .await;
    assert_eq!(versions, json!([1]));

    let v2 = with_default(
        "Value",
        &[("id", "int"), ("name", "string")],
        "email",
        Value::Null,
    );
    assert_eq!(server.register_id("shop.public.orders-value", &v2).await, 3);
    let (_, versions) = server
        .get("/subjects/shop.public.orders-value/versions")
        .await;
    assert_eq!(versions, json!([1, 2]));

    for path in [
        "/subjects/shop.public.orders-value/versions/2",
        "/subjects/shop.public.orders-value/versions/latest",
        "/subjects/shop.public.orders-value/versions/-1",
    ] {
        let (status, body) = server.get(path).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["subject"], "shop.public.orders-value");
        assert_eq!(body["version"], 2);
        assert_eq!(body["id"], 3);
        let schema: Value = serde_json::from_str(body["schema"].as_str().unwrap()).unwrap();
        assert_eq!(schema, serde_json::from_str::<Value>(&v2).unwrap());
        assert!(body.get("schemaType").is_none(), "AVRO is implied: {body}");
    }
    let (_, raw) = server
        .get("/subjects/shop.public.orders-value/versions/1/schema")
        .await;
    assert_eq!(raw, serde_json::from_str::<Value>(&v1).unwrap());

    let (_, by_id) = server.get("/schemas/ids/1").await;
    assert_eq!(
        serde_json::from_str::<Value>(by_id["schema"].as_str().unwrap()).unwrap(),
        serde_json::from_str::<Value>(&v1).unwrap()
    );
    let (_, by_id) = server.get("/schemas/ids/1?fetchMaxId=true").await;
    assert_eq!(by_id["maxId"], 3);
    let (_, raw) = server.get("/schemas/ids/2/schema").await;
    assert_eq!(raw, json!("int"));
    let (_, subjects) = server.get("/schemas/ids/1/subjects").await;
    assert_eq!(subjects, json!(["other-value", "shop.public.orders-value"]));
    let (_, versions) = server.get("/schemas/ids/1/versions").await;
    assert_eq!(
        versions,
        json!([{"subject": "other-value", "version": 1}, {"subject": "shop.public.orders-value", "version": 1}])
    );

    let (status, found) = server
        .post(
            "/subjects/shop.public.orders-value",
            json!({"schema": respaced}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (found["id"].clone(), found["version"].clone()),
        (json!(1), json!(1))
    );
    assert_eq!(found["subject"], "shop.public.orders-value");
    assert!(found["schema"].is_string());
    assert_error(
        server
            .post(
                "/subjects/shop.public.orders-value",
                json!({"schema": record("Other", &[("x", "int")])}),
            )
            .await,
        404,
        40403,
    );
    assert_error(
        server.post("/subjects/nope", json!({"schema": v1})).await,
        404,
        40401,
    );
}

#[tokio::test]
async fn registry_answers_confluent_error_codes_for_bad_requests() {
    let server = start(Registry::in_memory()).await;
    let v1 = record("Value", &[("id", "int")]);
    server.register_id("s", &v1).await;

    assert_error(server.get("/subjects/nope/versions").await, 404, 40401);
    assert_error(server.get("/subjects/nope/versions/1").await, 404, 40401);
    assert_error(server.get("/subjects/s/versions/7").await, 404, 40402);
    assert_error(
        server.get("/subjects/s/versions/7/schema").await,
        404,
        40402,
    );
    for bad in ["abc", "0", "-2", "2147483648", "1.5"] {
        assert_error(
            server.get(&format!("/subjects/s/versions/{bad}")).await,
            422,
            42202,
        );
    }
    assert_error(server.get("/schemas/ids/99").await, 404, 40403);
    assert_error(server.get("/schemas/ids/99/schema").await, 404, 40403);
    assert_error(server.get("/schemas/ids/99/subjects").await, 404, 40403);
    assert_error(server.get("/schemas/ids/99/versions").await, 404, 40403);
    assert_error(server.get("/schemas/ids/x").await, 404, 40403);

    for invalid in [
        "",
        "{",
        r#"{"type":"record","name":"R"}"#,
        r#"{"type":"record","name":"R","fields":[{"name":"a","type":"nosuch"}]}"#,
        r#""nosuch""#,
        r#"{"type":"fixed","name":"F"}"#,
        r#"{"type":"enum","name":"E","symbols":["A","A"]}"#,
    ] {
        assert_error(server.register("s", invalid).await, 422, 42201);
    }
    assert_error(
        server.post("/subjects/s/versions", json!({})).await,
        422,
        42201,
    );
    let (status, body) = server
        .post(
            "/subjects/j/versions",
            json!({"schema": "{\"type\":\"object\"}", "schemaType": "JSON"}),
        )
        .await;
    assert_error((status, body.clone()), 422, 42201);
    assert!(body["message"].as_str().unwrap().contains("JSON"), "{body}");
    assert_error(
        server
            .post(
                "/subjects/p/versions",
                json!({"schema": "syntax = \"proto3\";", "schemaType": "PROTOBUF"}),
            )
            .await,
        422,
        42201,
    );
    assert_error(
        server
            .post("/subjects/s/versions", json!({"schema": v1, "references": [{"name": "x", "subject": "nope", "version": 1}]}))
            .await,
        422,
        42201,
    );

    // Malformed JSON is a 400, a body of the wrong shape a 422.
    let response = server
        .client
        .post(format!("{}/subjects/s/versions", server.base))
        .header("Content-Type", V1)
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error_code"], 400);
    assert_error(
        server
            .post("/subjects/s/versions", json!({"schema": 5}))
            .await,
        422,
        422,
    );
    assert_error(
        server.post("/subjects/s/versions", json!([1])).await,
        422,
        422,
    );

    // Bodies over the limit.
    let huge = "x".repeat(registry::http::MAX_BODY_BYTES + 10);
    assert_error(server.register("s", &huge).await, 413, 413);

    // Unknown routes, methods and undecodable paths answer in Confluent's shape.
    assert_error(server.get("/no/such/route").await, 404, 404);
    assert_error(
        server.call(Method::PATCH, "/subjects", None).await,
        405,
        405,
    );
    assert_error(server.get("/subjects/%FF%FE/versions").await, 400, 400);
    let (_, body) = server.get("/schemas/ids/99").await;
    assert_eq!(body["message"], "Schema 99 not found");
}

#[tokio::test]
async fn registry_accepts_every_confluent_content_type() {
    let server = start(Registry::in_memory()).await;
    let schema = record("Value", &[("id", "int")]);
    for (i, content_type) in [
        Some("application/vnd.schemaregistry.v1+json"),
        Some("application/vnd.schemaregistry+json"),
        Some("application/json"),
        Some("application/octet-stream"),
        None,
    ]
    .into_iter()
    .enumerate()
    {
        let mut request = server
            .client
            .post(format!("{}/subjects/ct{i}/versions", server.base))
            .body(json!({ "schema": schema }).to_string());
        if let Some(content_type) = content_type {
            request = request.header("Content-Type", content_type);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{content_type:?}");
        assert_eq!(response.headers()["content-type"], V1);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body, json!({"id": 1}));
    }
}

#[tokio::test]
async fn registry_soft_then_permanent_deletes() {
    let server = start(Registry::in_memory()).await;
    let v1 = record("Value", &[("id", "int")]);
    let v2 = with_default("Value", &[("id", "int")], "note", Value::Null);
    let v3 = with_default("Value", &[("id", "int")], "extra", Value::Null);
    assert_eq!(server.register_id("s", &v1).await, 1);
    assert_eq!(server.register_id("s", &v2).await, 2);
    assert_eq!(server.register_id("s", &v3).await, 3);

    // A version: permanent needs soft first; soft twice is an error.
    assert_error(
        server.delete("/subjects/s/versions/2?permanent=true").await,
        404,
        40407,
    );
    assert_eq!(
        server.delete("/subjects/s/versions/2").await,
        (StatusCode::OK, json!(2))
    );
    assert_error(server.delete("/subjects/s/versions/2").await, 404, 40406);
    assert_error(server.get("/subjects/s/versions/2").await, 404, 40402);
    let (_, deleted) = server.get("/subjects/s/versions/2?deleted=true").await;
    assert_eq!(deleted["id"], 2);
    let (_, versions) = server.get("/subjects/s/versions").await;
    assert_eq!(versions, json!([1, 3]));
    let (_, versions) = server.get("/subjects/s/versions?deleted=true").await;
    assert_eq!(versions, json!([1, 2, 3]));
    // A soft-deleted version's schema is still readable by id (old records use it).
    assert_eq!(server.get("/schemas/ids/2").await.0, StatusCode::OK);
    assert_eq!(server.get("/schemas/ids/2/subjects").await.1, json!([]));
    assert_eq!(
        server.get("/schemas/ids/2/subjects?deleted=true").await.1,
        json!(["s"])
    );
    assert_eq!(
        server.delete("/subjects/s/versions/2?permanent=true").await,
        (StatusCode::OK, json!(2))
    );
    assert_error(server.get("/schemas/ids/2").await, 404, 40403);
    assert_error(
        server.delete("/subjects/s/versions/2?permanent=true").await,
        404,
        40402,
    );
    assert_error(server.delete("/subjects/s/versions/x").await, 422, 42202);
    assert_eq!(
        server.delete("/subjects/s/versions/latest").await,
        (StatusCode::OK, json!(3))
    );
    let (_, latest) = server.get("/subjects/s/versions/latest").await;
    assert_eq!(latest["version"], 1);

    // A subject: permanent needs soft first; soft twice is an error.
    server
        .put("/config/s", json!({"compatibility": "FULL"}))
        .await;
    assert_error(
        server.delete("/subjects/s?permanent=true").await,
        404,
        40405,
    );
    assert_eq!(
        server.delete("/subjects/s").await,
        (StatusCode::OK, json!([1]))
    );
    assert_error(server.delete("/subjects/s").await, 404, 40404);
    assert_error(server.get("/subjects/s/versions").await, 404, 40401);
    assert_eq!(server.get("/subjects").await.1, json!([]));
    assert_eq!(server.get("/subjects?deleted=true").await.1, json!(["s"]));
    assert_eq!(server.get("/schemas/ids/1").await.0, StatusCode::OK);
    let (_, found) = server
        .post("/subjects/s?deleted=true", json!({"schema": v1}))
        .await;
    assert_eq!(found["version"], 1);
    assert_eq!(
        server.delete("/subjects/s?permanent=true").await,
        (StatusCode::OK, json!([1, 3]))
    );
    assert_error(server.delete("/subjects/s").await, 404, 40401);
    assert_error(
        server.delete("/subjects/s?permanent=true").await,
        404,
        40401,
    );
    assert_eq!(server.get("/subjects?deleted=true").await.1, json!([]));
    assert_error(server.get("/config/s").await, 404, 40408);

    // The same schema registered again gets its old id; a new one a new id.
    assert_eq!(server.register_id("s", &v1).await, 1);
    let (_, versions) = server.get("/subjects/s/versions").await;
    assert_eq!(versions, json!([1]));
    assert_eq!(
        server
            .register_id("t", &record("T", &[("a", "long")]))
            .await,
        4
    );
}

#[tokio::test]
async fn registry_compatibility_config_and_checks() {
    let server = start(Registry::in_memory()).await;
    assert_eq!(
        server.get("/config").await.1,
        json!({"compatibilityLevel": "BACKWARD"})
    );
    let v1 = record("Value", &[("id", "int")]);
    server.register_id("s", &v1).await;

    assert_error(server.get("/config/s").await, 404, 40408);
    assert_eq!(
        server.get("/config/s?defaultToGlobal=true").await.1,
        json!({"compatibilityLevel": "BACKWARD"})
    );
    // A new required field breaks BACKWARD: old data has no value for it.
    let required = record("Value", &[("id", "int"), ("email", "string")]);
    let (status, body) = server.register("s", &required).await;
    assert_error((status, body.clone()), 409, 409);
    assert!(
        body["message"].as_str().unwrap().contains("email"),
        "{body}"
    );

    let check = "/compatibility/subjects/s/versions/latest";
    assert_eq!(
        server.post(check, json!({"schema": required})).await.1,
        json!({"is_compatible": false})
    );
    let (_, verbose) = server
        .post(
            &format!("{check}?verbose=true"),
            json!({"schema": required}),
        )
        .await;
    assert_eq!(verbose["is_compatible"], false);
    let messages = verbose["messages"].as_array().unwrap();
    assert!(
        messages.iter().any(|m| m
            .as_str()
            .unwrap()
            .contains("READER_FIELD_MISSING_DEFAULT_VALUE")),
        "{verbose}"
    );
    let optional = with_default("Value", &[("id", "int")], "email", Value::Null);
    assert_eq!(
        server
            .post(
                &format!("{check}?verbose=true"),
                json!({"schema": optional})
            )
            .await
            .1,
        json!({"is_compatible": true, "messages": []})
    );
    assert_eq!(
        server
            .post(
                "/compatibility/subjects/s/versions/1",
                json!({"schema": optional})
            )
            .await
            .1["is_compatible"],
        true
    );
    assert_eq!(
        server
            .post(
                "/compatibility/subjects/s/versions",
                json!({"schema": required})
            )
            .await
            .1["is_compatible"],
        false
    );
    assert_error(
        server
            .post(
                "/compatibility/subjects/s/versions/9",
                json!({"schema": optional}),
            )
            .await,
        404,
        40402,
    );
    assert_error(
        server
            .post(
                "/compatibility/subjects/nope/versions/latest",
                json!({"schema": optional}),
            )
            .await,
        404,
        40401,
    );
    assert_error(
        server
            .post(
                "/compatibility/subjects/s/versions/zero",
                json!({"schema": optional}),
            )
            .await,
        422,
        42202,
    );
    assert_error(server.post(check, json!({"schema": "{"})).await, 422, 42201);

    // Subject level overrides global; NONE lets anything in.
    assert_eq!(
        server
            .put("/config/s", json!({"compatibility": "NONE"}))
            .await
            .1,
        json!({"compatibility": "NONE"})
    );
    assert_eq!(
        server.get("/config/s").await.1,
        json!({"compatibilityLevel": "NONE"})
    );
    assert_eq!(server.register_id("s", &required).await, 2);
    assert_eq!(
        server.delete("/config/s").await.1,
        json!({"compatibilityLevel": "NONE"})
    );
    assert_error(server.get("/config/s").await, 404, 40408);
    assert_error(server.delete("/config/nope").await, 404, 40401);

    assert_error(
        server
            .put("/config", json!({"compatibility": "SIDEWAYS"}))
            .await,
        422,
        42203,
    );
    assert_error(server.put("/config/s", json!({})).await, 422, 42203);
    assert_eq!(
        server
            .put("/config", json!({"compatibility": "full_transitive"}))
            .await
            .1,
        json!({"compatibility": "FULL_TRANSITIVE"})
    );
    assert_eq!(
        server.get("/config").await.1,
        json!({"compatibilityLevel": "FULL_TRANSITIVE"})
    );
    assert_eq!(
        server.delete("/config").await.1,
        json!({"compatibilityLevel": "FULL_TRANSITIVE"})
    );
    assert_eq!(
        server.get("/config").await.1,
        json!({"compatibilityLevel": "BACKWARD"})
    );
}

#[tokio::test]
async fn registry_modes() {
    let server = start(Registry::in_memory()).await;
    assert_eq!(server.get("/mode").await.1, json!({"mode": "READWRITE"}));
    assert_error(
        server.put("/mode", json!({"mode": "SIDEWAYS"})).await,
        422,
        42204,
    );
    assert_eq!(
        server.put("/mode", json!({"mode": "READONLY"})).await.1,
        json!({"mode": "READONLY"})
    );
    assert_error(
        server.register("s", &record("V", &[("a", "int")])).await,
        422,
        42205,
    );
    assert_eq!(
        server.put("/mode", json!({"mode": "READWRITE"})).await.1,
        json!({"mode": "READWRITE"})
    );
    server.register_id("s", &record("V", &[("a", "int")])).await;

    assert_error(server.get("/mode/s").await, 404, 40409);
    assert_eq!(
        server.put("/mode/s", json!({"mode": "READONLY"})).await.1,
        json!({"mode": "READONLY"})
    );
    assert_error(server.delete("/subjects/s").await, 422, 42205);
    assert_eq!(
        server.delete("/mode/s").await.1,
        json!({"mode": "READONLY"})
    );
    assert_eq!(server.delete("/subjects/s").await.1, json!([1]));

    // IMPORT keeps the ids and versions it is given; it needs force on a used registry.
    assert_error(
        server.put("/mode", json!({"mode": "IMPORT"})).await,
        422,
        42205,
    );
    assert_eq!(
        server
            .put("/mode?force=true", json!({"mode": "IMPORT"}))
            .await
            .1,
        json!({"mode": "IMPORT"})
    );
    let (status, body) = server
        .post(
            "/subjects/imported/versions",
            json!({"schema": record("I", &[("a", "int")]), "id": 42, "version": 7}),
        )
        .await;
    assert_eq!((status, body), (StatusCode::OK, json!({"id": 42})));
    assert_eq!(
        server.get("/subjects/imported/versions").await.1,
        json!([7])
    );
    server.put("/mode", json!({"mode": "READWRITE"})).await;
    assert_error(
        server
            .post(
                "/subjects/other/versions",
                json!({"schema": record("O", &[("a", "int")]), "id": 50}),
            )
            .await,
        422,
        42205,
    );
    assert_eq!(
        server
            .register_id("next", &record("N", &[("a", "int")]))
            .await,
        43
    );

    // The largest id Java's int allows can be imported; past it, no new id is made.
    server
        .put("/mode?force=true", json!({"mode": "IMPORT"}))
        .await;
    let (status, body) = server
        .post(
            "/subjects/top/versions",
            json!({"schema": record("T", &[("a", "int")]), "id": 2_147_483_647_i64}),
        )
        .await;
    assert_eq!(
        (status, body),
        (StatusCode::OK, json!({"id": 2_147_483_647_i64}))
    );
    server.put("/mode", json!({"mode": "READWRITE"})).await;
    assert_error(
        server
            .register("after", &record("A", &[("a", "int")]))
            .await,
        500,
        50001,
    );
}

#[tokio::test]
async fn registry_restart_from_the_file_log_keeps_ids() {
    let dir = temp_dir("restart");
    let v1 = record("Value", &[("id", "int")]);
    let v2 = with_default("Value", &[("id", "int")], "note", Value::Null);
    let key = record("Key", &[("id", "int")]);
    {
        let server = start(Registry::open(&dir).unwrap()).await;
        assert_eq!(server.register_id("orders-key", &key).await, 1);
        assert_eq!(server.register_id("orders-value", &v1).await, 2);
        assert_eq!(server.register_id("orders-value", &v2).await, 3);
        server.delete("/subjects/orders-value/versions/1").await;
        server
            .put("/config/orders-value", json!({"compatibility": "FULL"}))
            .await;
        server
            .put("/config", json!({"compatibility": "NONE"}))
            .await;
        server
            .register_id("gone", &record("Gone", &[("x", "int")]))
            .await;
        server.delete("/subjects/gone").await;
        server.delete("/subjects/gone?permanent=true").await;
    }
    // A crash in the middle of a write leaves a torn last line; it is cut off.
    let log = dir.join("schemas.log");
    let mut text = std::fs::read_to_string(&log).unwrap();
    text.push_str("{\"keytype\":\"SCHEMA\",\"subj");
    std::fs::write(&log, text).unwrap();

    let server = start(Registry::open(&dir).unwrap()).await;
    assert_eq!(
        server.get("/subjects").await.1,
        json!(["orders-key", "orders-value"])
    );
    assert_eq!(
        server.get("/subjects/orders-value/versions").await.1,
        json!([2])
    );
    assert_eq!(
        server
            .get("/subjects/orders-value/versions?deleted=true")
            .await
            .1,
        json!([1, 2])
    );
    assert_eq!(
        server.get("/subjects/orders-value/versions/2").await.1["id"],
        3
    );
    assert_eq!(
        server.get("/config/orders-value").await.1,
        json!({"compatibilityLevel": "FULL"})
    );
    assert_eq!(
        server.get("/config").await.1,
        json!({"compatibilityLevel": "NONE"})
    );
    assert_eq!(server.register_id("again", &key).await, 1);
    assert_eq!(
        server
            .register_id("new", &record("New", &[("n", "int")]))
            .await,
        5
    );
    assert_eq!(
        server
            .register_id("gone", &record("Gone", &[("x", "int")]))
            .await,
        4
    );
    drop(server);

    let server = start(Registry::open(&dir).unwrap()).await;
    assert_eq!(
        server.get("/schemas/ids/5/subjects").await.1,
        json!(["new"])
    );
    assert_eq!(
        server.get("/subjects").await.1,
        json!(["again", "gone", "new", "orders-key", "orders-value"])
    );
    drop(server);

    // A corrupt line before the end is a store error, not a silent loss.
    let mut text = std::fs::read_to_string(&log).unwrap();
    text.insert_str(0, "garbage\n");
    std::fs::write(&log, text).unwrap();
    let error = Registry::open(&dir).unwrap_err();
    assert_eq!(error.error_code(), 50001);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn registry_references_and_listing() {
    let server = start(Registry::in_memory()).await;
    let address = r#"{"type":"record","name":"Address","namespace":"x","fields":[{"name":"city","type":"string"}]}"#;
    assert_eq!(server.register_id("address", address).await, 1);
    let person = r#"{"type":"record","name":"Person","namespace":"x","fields":[{"name":"home","type":"Address"}]}"#;
    let references = json!([{"name": "x.Address", "subject": "address", "version": 1}]);
    // Without its reference the schema does not parse.
    assert_error(server.register("person", person).await, 422, 42201);
    let (status, body) = server
        .post(
            "/subjects/person/versions",
            json!({"schema": person, "schemaType": "AVRO", "references": references}),
        )
        .await;
    assert_eq!((status, body), (StatusCode::OK, json!({"id": 2})));
    let (_, version) = server.get("/subjects/person/versions/1").await;
    assert_eq!(version["references"], references);
    let (_, by_id) = server.get("/schemas/ids/2").await;
    assert_eq!(by_id["references"], references);
    assert_eq!(
        server
            .get("/subjects/address/versions/1/referencedby")
            .await
            .1,
        json!([2])
    );
    assert_eq!(
        server
            .get("/subjects/person/versions/1/referencedby")
            .await
            .1,
        json!([])
    );
    assert_error(
        server.delete("/subjects/address/versions/1").await,
        422,
        42206,
    );
    assert_error(server.delete("/subjects/address").await, 422, 42206);
    let (_, found) = server
        .post(
            "/subjects/person",
            json!({"schema": person, "references": references}),
        )
        .await;
    assert_eq!(found["id"], 2);

    let (_, all) = server.get("/schemas").await;
    let listed: Vec<(String, u64)> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["subject"].as_str().unwrap().to_owned(),
                s["id"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        listed,
        vec![("address".to_owned(), 1), ("person".to_owned(), 2)]
    );
    let (_, some) = server
        .get("/schemas?subjectPrefix=pers&latestOnly=true")
        .await;
    assert_eq!(some.as_array().unwrap().len(), 1);
    let (_, paged) = server.get("/schemas?offset=1&limit=1").await;
    assert_eq!(paged[0]["subject"], "person");

    // The referencing subject can go, then what it referenced.
    assert_eq!(server.delete("/subjects/person").await.1, json!([1]));
    assert_eq!(
        server.delete("/subjects/address/versions/1").await.1,
        json!(1)
    );
}

#[tokio::test]
async fn registry_serves_until_shutdown_and_reports_bad_addresses() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(registry::serve_until(
        listener,
        Arc::new(Registry::in_memory()),
        async {
            let _ = stopped.await;
        },
    ));
    let response = reqwest::get(format!("{base}/subjects")).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    stop.send(()).unwrap();
    tokio::time::timeout(std::time::Duration::from_secs(10), server)
        .await
        .unwrap()
        .unwrap()
        .unwrap();

    let error = registry::run(
        "not an address",
        registry::Storage::Memory,
        std::time::Instant::now(),
        async {},
    )
    .await
    .unwrap_err();
    assert!(error.to_string().contains("not an address"), "{error}");
}

#[tokio::test]
async fn registry_never_answers_5xx_to_bad_input() {
    let server = start(Registry::in_memory()).await;
    server.register_id("s", &record("V", &[("a", "int")])).await;
    let deep_json = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    let mut deep_schema = json!("int");
    for _ in 0..100 {
        deep_schema = json!({"type": "array", "items": deep_schema});
    }
    let bodies = vec![
        String::new(),
        "null".into(),
        "[]".into(),
        "42".into(),
        "\"text\"".into(),
        "{\"schema\": null}".into(),
        "{\"schema\": \"\\u0000\"}".into(),
        "{\"schema\": \"{\\\"type\\\": \\\"record\\\", \\\"name\\\": \\\"é\\\", \\\"fields\\\": []}\"}".into(),
        "{\"schema\": \"int\", \"references\": 5}".into(),
        "{\"schema\": \"\\\"int\\\"\", \"references\": [{\"name\": 1}]}".into(),
        "{\"schema\": \"\\\"int\\\"\", \"id\": -5, \"version\": 99999999999}".into(),
        "{\"compatibility\": 7}".into(),
        "{\"mode\": []}".into(),
        deep_json,
        json!({ "schema": deep_schema.to_string() }).to_string(),
        String::from_utf8_lossy(&[0xff, 0xfe, 0x00, 0x7b]).into_owned(),
    ];
    let targets = [
        (Method::POST, "/subjects/s/versions"),
        (Method::POST, "/subjects/s"),
        (Method::POST, "/subjects/new/versions"),
        (
            Method::POST,
            "/compatibility/subjects/s/versions/latest?verbose=true",
        ),
        (Method::POST, "/compatibility/subjects/s/versions"),
        (Method::PUT, "/config"),
        (Method::PUT, "/config/s"),
        (Method::PUT, "/mode"),
        (Method::PUT, "/mode/s"),
    ];
    for body in &bodies {
        for (method, path) in &targets {
            let response = server
                .client
                .request(method.clone(), format!("{}{path}", server.base))
                .header("Content-Type", V1)
                .body(body.clone())
                .send()
                .await
                .unwrap();
            let status = response.status();
            let text = response.text().await.unwrap();
            assert!(
                !status.is_server_error(),
                "{method} {path} with {:.80}: {status} {text}",
                body
            );
            if status.is_client_error() {
                let error: Value = serde_json::from_str(&text).unwrap();
                assert!(error["error_code"].is_u64(), "{text}");
            }
        }
    }
    // The registry still works, and holds what it held.
    assert_eq!(server.get("/mode").await.1, json!({"mode": "READWRITE"}));
    let (_, versions) = server.get("/subjects/s/versions").await;
    assert!(versions.as_array().unwrap().contains(&json!(1)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registry_concurrent_registrations_agree_on_ids() {
    let dir = temp_dir("concurrent");
    let server = Arc::new(start(Registry::open(&dir).unwrap()).await);
    let shared = record("Shared", &[("a", "int")]);
    let mut tasks = Vec::new();
    for i in 0..24 {
        let server = Arc::clone(&server);
        let shared = shared.clone();
        tasks.push(tokio::spawn(async move {
            let own = record(&format!("Own{i}"), &[("a", "int")]);
            let shared_id = server.register_id(&format!("subject{i}"), &shared).await;
            let own_id = server.register_id(&format!("own{i}"), &own).await;
            (shared_id, own_id)
        }));
    }
    let mut own_ids = std::collections::BTreeSet::new();
    let mut shared_ids = std::collections::BTreeSet::new();
    for task in tasks {
        let (shared_id, own_id) = task.await.unwrap();
        shared_ids.insert(shared_id);
        own_ids.insert(own_id);
    }
    assert_eq!(shared_ids.len(), 1, "{shared_ids:?}");
    assert_eq!(own_ids.len(), 24);
    assert!(!own_ids.iter().any(|id| shared_ids.contains(id)));
    let (_, max) = server.get("/schemas/ids/1?fetchMaxId=true").await;
    assert_eq!(max["maxId"], 25);
    drop(server);
    let server = start(Registry::open(&dir).unwrap()).await;
    assert_eq!(
        server.get("/subjects").await.1.as_array().unwrap().len(),
        48
    );
    drop(server);
    std::fs::remove_dir_all(&dir).unwrap();
}
