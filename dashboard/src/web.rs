//! The dashboard's HTTP side: the live page, a JSON API over the windows in Redis,
//! Server-Sent Events relaying Redis notifications, and `/metrics`.
//!
//! | path | answers |
//! | --- | --- |
//! | `GET /` | the live page |
//! | `GET /api/config` | the metrics and alert rules configured (no connection settings) |
//! | `GET /api/metrics/{name}?from_ms=&to_ms=&limit=&group=` | merged windows, oldest first |
//! | `GET /api/alerts?limit=` | the newest alerts |
//! | `GET /api/lag` | replication lag read from the worker's `/metrics` |
//! | `GET /api/events` | `text/event-stream`: `update` and `alert` events |
//! | `GET /metrics` | Prometheus text |
//! | `GET /health` | `ok`, or 503 with the aggregation loop's error while it restarts |

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use futures_util::Stream;
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::sync::broadcast;

use crate::metrics::DashboardMetrics;
use crate::spec::Spec;
use crate::store::Reader;
use crate::view::window_view;

const PAGE: &str = include_str!("page.html");

/// What every handler shares.
#[derive(Debug)]
pub struct AppState {
    pub spec: Arc<Spec>,
    pub reader: Reader,
    pub metrics: Arc<DashboardMetrics>,
    pub events: broadcast::Sender<String>,
    pub http: reqwest::Client,
}

pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/", get(page))
        .route("/api/config", get(config))
        .route("/api/metrics/{name}", get(metric_windows))
        .route("/api/alerts", get(alerts))
        .route("/api/lag", get(lag))
        .route("/api/events", get(events))
        .route("/metrics", get(prometheus))
        .route("/health", get(health))
        .with_state(state)
}

/// Relays the Redis notification channel to every open page until the process ends;
/// reconnects when Redis goes away. It is subscribed only while a page listens: every
/// changed window is announced, thousands a second under load, and reading them for
/// nobody would cost the aggregations CPU. A page that opens gets the updates from
/// within [`RELAY_IDLE_CHECK`]; it reads the windows when it loads anyway.
pub async fn relay_notifications(
    redis_url: String,
    channel: String,
    events: broadcast::Sender<String>,
) {
    use futures_util::StreamExt;
    loop {
        while events.receiver_count() == 0 {
            tokio::time::sleep(RELAY_IDLE_CHECK).await;
        }
        let subscribed = async {
            let client = redis::Client::open(redis_url.as_str())?;
            let mut pubsub = client.get_async_pubsub().await?;
            pubsub.subscribe(&channel).await?;
            let mut messages = pubsub.on_message();
            loop {
                let message = tokio::select! {
                    message = messages.next() => message,
                    () = tokio::time::sleep(RELAY_IDLE_CHECK) => {
                        if events.receiver_count() == 0 {
                            return Ok(()); // the last page closed
                        }
                        continue;
                    }
                };
                let Some(message) = message else {
                    return Ok::<(), redis::RedisError>(());
                };
                if let Ok(text) = message.get_payload::<String>() {
                    if events.send(text).is_err() {
                        return Ok(()); // the last page closed
                    }
                }
            }
        };
        match subscribed.await {
            Ok(()) if events.receiver_count() == 0 => continue,
            Ok(()) => tracing::warn!("Redis notifications ended; resubscribing"),
            Err(e) => tracing::warn!(error = %e, "Redis notifications interrupted; resubscribing"),
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// How often the relay looks whether a page listens.
const RELAY_IDLE_CHECK: Duration = Duration::from_millis(250);

/// 200 while the aggregation loop commits; 503 with its error while it restarts.
async fn health(State(state): State<Arc<AppState>>) -> Response {
    match state.metrics.last_error() {
        None => (StatusCode::OK, "ok").into_response(),
        Some(error) => error_response(StatusCode::SERVICE_UNAVAILABLE, error),
    }
}

async fn page() -> Html<&'static str> {
    Html(PAGE)
}

fn error_response(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({"error": message.into()}))).into_response()
}

async fn config(State(state): State<Arc<AppState>>) -> Json<Value> {
    Json(state.spec.public_view())
}

#[derive(Debug, Deserialize)]
struct WindowQuery {
    from_ms: Option<i64>,
    to_ms: Option<i64>,
    limit: Option<usize>,
    /// Only this group (its JSON, e.g. `["books"]`).
    group: Option<String>,
}

async fn metric_windows(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
    Query(query): Query<WindowQuery>,
) -> Response {
    if !state.spec.metrics.iter().any(|m| m.name == name) {
        return error_response(StatusCode::NOT_FOUND, format!("no metric named {name:?}"));
    }
    let from = query.from_ms.unwrap_or(0);
    let to = query.to_ms.unwrap_or(i64::MAX / 2);
    let (windows, watermarks) = match tokio::try_join!(
        state.reader.windows(&name, from, to),
        state.reader.watermarks()
    ) {
        Ok(read) => read,
        Err(e) => {
            return error_response(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("reading Redis: {e}"),
            )
        }
    };
    let mut views: Vec<_> = windows
        .iter()
        .filter(|w| query.group.as_deref().is_none_or(|g| g == w.window.group))
        .map(|w| window_view(&state.spec, &name, w, &watermarks))
        .collect();
    let limit = query.limit.unwrap_or(1000);
    if views.len() > limit {
        views.drain(..views.len() - limit);
    }
    Json(json!({"metric": name, "windows": views})).into_response()
}

#[derive(Debug, Deserialize)]
struct LimitQuery {
    limit: Option<isize>,
}

async fn alerts(State(state): State<Arc<AppState>>, Query(query): Query<LimitQuery>) -> Response {
    match state
        .reader
        .alerts(query.limit.unwrap_or(50).clamp(1, 200))
        .await
    {
        Ok(alerts) => Json(json!({"alerts": alerts})).into_response(),
        Err(e) => error_response(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("reading Redis: {e}"),
        ),
    }
}

/// The worker's lag gauges, one object per connector.
async fn lag(State(state): State<Arc<AppState>>) -> Response {
    let Some(url) = state.spec.worker_metrics_url.as_deref() else {
        return Json(json!({"connectors": [], "note": "worker.metrics.url is not configured"}))
            .into_response();
    };
    let response = match state
        .http
        .get(url)
        .timeout(Duration::from_secs(3))
        .send()
        .await
    {
        Ok(response) => response,
        Err(e) => return error_response(StatusCode::BAD_GATEWAY, format!("fetching {url}: {e}")),
    };
    // An error page (401 from a worker with API auth, 404 for a wrong path) has no
    // gauges: say so rather than show an empty panel.
    let status = response.status();
    if !status.is_success() {
        return error_response(
            StatusCode::BAD_GATEWAY,
            format!("fetching {url}: HTTP {status}"),
        );
    }
    match response.text().await {
        Ok(text) => Json(json!({"connectors": parse_lag(&text)})).into_response(),
        Err(e) => error_response(StatusCode::BAD_GATEWAY, format!("reading {url}: {e}")),
    }
}

/// One sample of the Prometheus text format: `name{label="value",…} value [timestamp]`.
#[derive(Debug, PartialEq)]
struct Sample<'a> {
    name: &'a str,
    labels: Vec<(&'a str, String)>,
    value: f64,
}

/// Parses a sample line; `None` for comments, blank and malformed lines.
fn parse_sample(line: &str) -> Option<Sample<'_>> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    let name_end = line.find(|c: char| c == '{' || c.is_whitespace())?;
    let name = &line[..name_end];
    let mut rest = &line[name_end..];
    let mut labels = Vec::new();
    if let Some(mut inside) = rest.strip_prefix('{') {
        loop {
            inside = inside.trim_start_matches([',', ' ']);
            if let Some(after) = inside.strip_prefix('}') {
                rest = after;
                break;
            }
            let (label, after) = inside.split_once("=\"")?;
            // Label values escape `\\`, `\"` and `\n` (the exposition format's rules).
            let mut value = String::new();
            let mut chars = after.char_indices();
            let end = loop {
                match chars.next()? {
                    (i, '"') => break i,
                    (_, '\\') => match chars.next()?.1 {
                        'n' => value.push('\n'),
                        other => value.push(other),
                    },
                    (_, c) => value.push(c),
                }
            };
            labels.push((label.trim(), value));
            inside = &after[end + 1..];
        }
    }
    let value = rest.split_whitespace().next()?.parse().ok()?;
    Some(Sample {
        name,
        labels,
        value,
    })
}

/// Picks the replication-lag gauges out of Prometheus text.
fn parse_lag(text: &str) -> Vec<Value> {
    let mut connectors: Vec<(String, serde_json::Map<String, Value>)> = Vec::new();
    for sample in text.lines().filter_map(parse_sample) {
        let field = match sample.name {
            "pgcdc_replication_lag_bytes" => "lag_bytes",
            "pgcdc_milliseconds_behind_source" => "ms_behind_source",
            _ => continue,
        };
        let connector = sample
            .labels
            .into_iter()
            .find(|(label, _)| *label == "connector")
            .map(|(_, value)| value)
            .unwrap_or_default();
        let entry = match connectors.iter_mut().find(|(c, _)| *c == connector) {
            Some(entry) => entry,
            None => {
                connectors.push((connector.clone(), serde_json::Map::new()));
                connectors.last_mut().expect("just pushed")
            }
        };
        entry.1.insert(field.to_owned(), json!(sample.value));
    }
    connectors
        .into_iter()
        .map(|(name, mut fields)| {
            fields.insert("connector".into(), Value::String(name));
            Value::Object(fields)
        })
        .collect()
}

async fn events(
    State(state): State<Arc<AppState>>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let receiver = state.events.subscribe();
    let stream = futures_util::stream::unfold(receiver, |mut receiver| async move {
        loop {
            match receiver.recv().await {
                Ok(text) => {
                    let kind = if text.starts_with("{\"alert\"") {
                        "alert"
                    } else {
                        "update"
                    };
                    return Some((Ok(Event::default().event(kind).data(text)), receiver));
                }
                // A slow page misses some updates; it re-reads the windows anyway.
                Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    });
    Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}

async fn prometheus(State(state): State<Arc<AppState>>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lag_gauges_are_read_per_connector() {
        let text = "# HELP x\npgcdc_replication_lag_bytes{connector=\"shop\"} 1024\n\
                    pgcdc_milliseconds_behind_source{connector=\"shop\"} 35\n\
                    pgcdc_events_total{connector=\"shop\",op=\"c\"} 9\n\
                    pgcdc_replication_lag_bytes{connector=\"crm\"} 0\n";
        assert_eq!(
            parse_lag(text),
            vec![
                json!({"connector": "shop", "lag_bytes": 1024.0, "ms_behind_source": 35.0}),
                json!({"connector": "crm", "lag_bytes": 0.0}),
            ]
        );
    }

    #[test]
    fn label_order_escapes_and_timestamps_do_not_confuse_the_parser() {
        let text = "pgcdc_replication_lag_bytes{state=\"x,y\",connector=\"a\\\"b\\\\c\"} 7 1700000000000\n\
                    pgcdc_milliseconds_behind_source{connector=\"a\\\"b\\\\c\"}\t12\n\
                    pgcdc_replication_lag_bytes 3\n\
                    pgcdc_replication_lag_bytes{connector=\"broken} 5\n";
        assert_eq!(
            parse_lag(text),
            vec![
                json!({"connector": "a\"b\\c", "lag_bytes": 7.0, "ms_behind_source": 12.0}),
                json!({"connector": "", "lag_bytes": 3.0}),
            ]
        );
    }
}
