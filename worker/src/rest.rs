//! Kafka Connect's REST API: the same paths, JSON shapes and status codes, so that
//! `curl` scripts, `kcctl` and anything written against a Connect worker drive pgcdc
//! unchanged. Errors are `{"error_code": <HTTP status>, "message": …}` as Connect
//! writes them. Where Connect answers 500 for a malformed request body, pgcdc answers
//! 400.

// axum handlers are `async` by contract even when they do not await.
#![allow(clippy::unused_async)]

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::Router;
use pgcdc_connector::config::CONNECTOR_CLASS;
use serde_json::{json, Value};

use crate::metrics;
use crate::runtime::{Worker, WorkerError};
use crate::store::TargetState;
use crate::validate::validation_response;

/// Optional API authentication: HTTP basic (`user:password`) or a bearer token.
#[derive(Debug, Clone, Default)]
pub struct ApiAuth {
    pub basic: Option<String>,
    pub bearer: Option<String>,
}

#[derive(Debug, Clone)]
struct AppState {
    worker: Arc<Worker>,
    auth: Arc<ApiAuth>,
}

impl IntoResponse for WorkerError {
    fn into_response(self) -> Response {
        let status =
            StatusCode::from_u16(self.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        error(status, &self.to_string())
    }
}

fn error(status: StatusCode, message: &str) -> Response {
    (
        status,
        axum::Json(json!({"error_code": status.as_u16(), "message": message})),
    )
        .into_response()
}

fn ok(status: StatusCode, body: Value) -> Response {
    (status, axum::Json(body)).into_response()
}

type Reply = Result<Response, WorkerError>;

/// The router of the worker's API, `/metrics` and `/health` included.
pub fn router(worker: Arc<Worker>, auth: ApiAuth) -> Router {
    let state = AppState {
        worker,
        auth: Arc::new(auth),
    };
    Router::new()
        .route("/", get(root))
        .route("/connectors", get(list).post(create))
        .route("/connectors/{name}", get(info).delete(delete))
        .route("/connectors/{name}/config", get(config).put(put_config))
        .route("/connectors/{name}/status", get(status))
        .route("/connectors/{name}/tasks", get(tasks))
        .route("/connectors/{name}/tasks/{task}/status", get(task_status))
        .route("/connectors/{name}/pause", put(pause))
        .route("/connectors/{name}/resume", put(resume))
        .route("/connectors/{name}/stop", put(stop))
        .route("/connectors/{name}/restart", post(restart))
        .route(
            "/connectors/{name}/tasks/{task}/restart",
            post(restart_task),
        )
        .route(
            "/connectors/{name}/offsets",
            get(offsets).patch(alter_offsets).delete(alter_offsets),
        )
        .route("/connector-plugins", get(plugins))
        .route("/connector-plugins/{class}/config/validate", put(validate))
        .route("/metrics", get(metrics_text))
        .route("/health", get(health))
        .fallback(not_found)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            authenticate,
        ))
        .with_state(state)
}

async fn authenticate(
    State(state): State<AppState>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let auth = &state.auth;
    if auth.basic.is_none() && auth.bearer.is_none() || request.uri().path() == "/health" {
        return next.run(request).await;
    }
    let given = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let basic_ok = auth.basic.as_deref().is_some_and(|expected| {
        given
            .strip_prefix("Basic ")
            .and_then(|b64| decode_base64(b64.trim()))
            .is_some_and(|credentials| {
                constant_time_eq(credentials.as_bytes(), expected.as_bytes())
            })
    });
    let bearer_ok = auth.bearer.as_deref().is_some_and(|expected| {
        given
            .strip_prefix("Bearer ")
            .is_some_and(|token| constant_time_eq(token.trim().as_bytes(), expected.as_bytes()))
    });
    if basic_ok || bearer_ok {
        next.run(request).await
    } else {
        let mut response = error(StatusCode::UNAUTHORIZED, "authentication required");
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            header::HeaderValue::from_static("Basic realm=\"pgcdc\""),
        );
        response
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn decode_base64(text: &str) -> Option<String> {
    let value = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => u32::from(c - b'A'),
            b'a'..=b'z' => u32::from(c - b'a') + 26,
            b'0'..=b'9' => u32::from(c - b'0') + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        })
    };
    let bytes = text.trim_end_matches('=').as_bytes();
    let mut out = Vec::with_capacity(bytes.len() * 3 / 4);
    for chunk in bytes.chunks(4) {
        let mut n = 0u32;
        for (i, &c) in chunk.iter().enumerate() {
            n |= value(c)? << (18 - 6 * i);
        }
        let produced = chunk.len() * 6 / 8;
        out.extend_from_slice(&n.to_be_bytes()[1..=produced]);
    }
    String::from_utf8(out).ok()
}

async fn not_found() -> Response {
    error(StatusCode::NOT_FOUND, "HTTP 404 Not Found")
}

async fn root(State(state): State<AppState>) -> Response {
    ok(
        StatusCode::OK,
        json!({
            "version": env!("CARGO_PKG_VERSION"),
            "commit": option_env!("PGCDC_GIT_COMMIT").unwrap_or("unknown"),
            "kafka_cluster_id": state.worker.kafka_cluster_id(),
        }),
    )
}

fn query_values<'a>(query: &'a Option<String>, name: &str) -> Vec<&'a str> {
    query
        .as_deref()
        .unwrap_or("")
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .filter(|(k, _)| *k == name)
        .map(|(_, v)| v)
        .collect()
}

async fn list(State(state): State<AppState>, RawQuery(query): RawQuery) -> Response {
    let expand = query_values(&query, "expand");
    if expand.is_empty() {
        return ok(StatusCode::OK, json!(state.worker.names().await));
    }
    let status = expand.contains(&"status");
    let info = expand.contains(&"info");
    ok(StatusCode::OK, state.worker.expanded(status, info).await)
}

/// A JSON object of string-able values → properties (numbers and booleans as text,
/// as Connect accepts them).
pub fn properties(value: &Value) -> Result<BTreeMap<String, String>, WorkerError> {
    let object = value.as_object().ok_or_else(|| {
        WorkerError::BadRequest("the connector configuration must be a JSON object".to_owned())
    })?;
    let mut map = BTreeMap::new();
    for (key, value) in object {
        let text = match value {
            Value::String(s) => s.clone(),
            Value::Number(_) | Value::Bool(_) => value.to_string(),
            Value::Null => continue,
            other => {
                return Err(WorkerError::InvalidConfig(vec![
                    pgcdc_connector::config::PropertyError {
                        property: key.clone(),
                        message: format!("{other} is not a string, number or boolean"),
                    },
                ]))
            }
        };
        map.insert(key.clone(), text);
    }
    Ok(map)
}

fn json_body(body: &Bytes) -> Result<Value, WorkerError> {
    serde_json::from_slice(body)
        .map_err(|e| WorkerError::BadRequest(format!("the request body is not JSON: {e}")))
}

async fn create(State(state): State<AppState>, body: Bytes) -> Reply {
    let request = json_body(&body)?;
    let name = request
        .get("name")
        .and_then(Value::as_str)
        .filter(|n| !n.trim().is_empty())
        .ok_or_else(|| {
            WorkerError::BadRequest("the request needs a connector \"name\"".to_owned())
        })?
        .to_owned();
    let config = properties(request.get("config").ok_or_else(|| {
        WorkerError::BadRequest("the request needs a \"config\" object".to_owned())
    })?)?;
    if let Some(other) = config.get("name").filter(|n| **n != name) {
        return Err(WorkerError::BadRequest(format!(
            "connector name {name:?} differs from the config's name {other:?}"
        )));
    }
    let info = state.worker.create(&name, config).await?;
    Ok(ok(StatusCode::CREATED, info))
}

async fn info(State(state): State<AppState>, Path(name): Path<String>) -> Reply {
    Ok(ok(StatusCode::OK, state.worker.info(&name).await?))
}

async fn config(State(state): State<AppState>, Path(name): Path<String>) -> Reply {
    Ok(ok(StatusCode::OK, state.worker.config(&name).await?))
}

async fn put_config(State(state): State<AppState>, Path(name): Path<String>, body: Bytes) -> Reply {
    let config = properties(&json_body(&body)?)?;
    if let Some(other) = config.get("name").filter(|n| **n != name) {
        return Err(WorkerError::BadRequest(format!(
            "connector name {name:?} differs from the config's name {other:?}"
        )));
    }
    let (created, info) = state.worker.put_config(&name, config).await?;
    Ok(ok(
        if created {
            StatusCode::CREATED
        } else {
            StatusCode::OK
        },
        info,
    ))
}

async fn status(State(state): State<AppState>, Path(name): Path<String>) -> Reply {
    Ok(ok(StatusCode::OK, state.worker.status(&name).await?))
}

async fn task_status(
    State(state): State<AppState>,
    Path((name, task)): Path<(String, u32)>,
) -> Reply {
    let status = state.worker.status(&name).await?;
    match status["tasks"]
        .as_array()
        .and_then(|t| t.get(task as usize))
    {
        Some(task) => Ok(ok(StatusCode::OK, task.clone())),
        None => Err(WorkerError::NotFound(format!("{name} task {task}"))),
    }
}

async fn tasks(State(state): State<AppState>, Path(name): Path<String>) -> Reply {
    Ok(ok(StatusCode::OK, state.worker.tasks(&name).await?))
}

async fn pause(State(state): State<AppState>, Path(name): Path<String>) -> Reply {
    state.worker.set_target(&name, TargetState::Paused).await?;
    Ok(StatusCode::ACCEPTED.into_response())
}

async fn resume(State(state): State<AppState>, Path(name): Path<String>) -> Reply {
    state.worker.set_target(&name, TargetState::Running).await?;
    Ok(StatusCode::ACCEPTED.into_response())
}

async fn stop(State(state): State<AppState>, Path(name): Path<String>) -> Reply {
    state.worker.set_target(&name, TargetState::Stopped).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn restart(
    State(state): State<AppState>,
    Path(name): Path<String>,
    RawQuery(query): RawQuery,
) -> Reply {
    let flag = |name: &str| {
        query_values(&query, name)
            .first()
            .is_some_and(|v| *v == "true")
    };
    let include_tasks = flag("includeTasks");
    let only_failed = flag("onlyFailed");
    state.worker.restart(&name, only_failed).await?;
    if include_tasks || only_failed {
        // Connect answers these with 202 and the status as the restart leaves it.
        Ok(ok(StatusCode::ACCEPTED, state.worker.status(&name).await?))
    } else {
        Ok(StatusCode::NO_CONTENT.into_response())
    }
}

async fn restart_task(
    State(state): State<AppState>,
    Path((name, task)): Path<(String, u32)>,
) -> Reply {
    if task != 0 {
        return Err(WorkerError::NotFound(format!("{name} task {task}")));
    }
    state.worker.restart(&name, false).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn delete(State(state): State<AppState>, Path(name): Path<String>) -> Reply {
    state.worker.delete(&name).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn offsets(State(state): State<AppState>, Path(name): Path<String>) -> Reply {
    Ok(ok(StatusCode::OK, state.worker.offsets(&name).await?))
}

/// Altering offsets needs a stopped connector, as in Connect; pgcdc's positions live
/// in the slot and the topics' tails, so it refuses to rewrite them by hand.
async fn alter_offsets(State(state): State<AppState>, Path(name): Path<String>) -> Reply {
    let status = state.worker.status(&name).await?;
    if status["connector"]["state"] != "STOPPED" {
        return Err(WorkerError::NotStopped(name));
    }
    Err(WorkerError::BadRequest(
        "pgcdc resumes from the replication slot and the tails of its topics; to start over, \
         delete the connector (with slot.drop.on.stop=true) and create it again"
            .to_owned(),
    ))
}

async fn plugins() -> Response {
    ok(
        StatusCode::OK,
        json!([{"class": CONNECTOR_CLASS, "type": "source", "version": env!("CARGO_PKG_VERSION")}]),
    )
}

async fn validate(Path(class): Path<String>, body: Bytes) -> Reply {
    let config = properties(&json_body(&body)?)?;
    let short = CONNECTOR_CLASS
        .rsplit('.')
        .next()
        .unwrap_or(CONNECTOR_CLASS);
    if class != CONNECTOR_CLASS && class != short {
        return Err(WorkerError::NotFound(format!("connector plugin {class}")));
    }
    Ok(ok(StatusCode::OK, validation_response(&config)))
}

async fn metrics_text(State(state): State<AppState>) -> Response {
    let body = metrics::render(&state.worker).await;
    let mut headers = HeaderMap::new();
    headers.insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("text/plain; version=0.0.4"),
    );
    (StatusCode::OK, headers, body).into_response()
}

async fn health() -> Response {
    ok(StatusCode::OK, json!({"status": "UP"}))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_credentials_decode() {
        assert_eq!(decode_base64("dXNlcjpwYXNz").as_deref(), Some("user:pass"));
        assert_eq!(decode_base64("YQ==").as_deref(), Some("a"));
        assert_eq!(decode_base64("YWI=").as_deref(), Some("ab"));
        assert_eq!(decode_base64("not base64!"), None);
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }
}
