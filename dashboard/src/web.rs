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
/// reconnects when Redis goes away.
pub async fn relay_notifications(
    redis_url: String,
    channel: String,
    events: broadcast::Sender<String>,
) {
    use futures_util::StreamExt;
    loop {
        let subscribed = async {
            let client = redis::Client::open(redis_url.as_str())?;
            let mut pubsub = client.get_async_pubsub().await?;
            pubsub.subscribe(&channel).await?;
            let mut messages = pubsub.on_message();
            while let Some(message) = messages.next().await {
                if let Ok(text) = message.get_payload::<String>() {
                    let _ = events.send(text);
                }
            }
            Ok::<(), redis::RedisError>(())
        };
        if let Err(e) = subscribed.await {
            tracing::warn!(error = %e, "Redis notifications interrupted; resubscribing");
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

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
    let text = match state
        .http
        .get(url)
        .timeout(Duration::from_secs(3))
        .send()
        .await
    {
        Ok(response) => match response.text().await {
            Ok(text) => text,
            Err(e) => {
                return error_response(StatusCode::BAD_GATEWAY, format!("reading {url}: {e}"))
            }
        },
        Err(e) => return error_response(StatusCode::BAD_GATEWAY, format!("fetching {url}: {e}")),
    };
    Json(json!({"connectors": parse_lag(&text)})).into_response()
}

/// Picks the replication-lag gauges out of Prometheus text.
fn parse_lag(text: &str) -> Vec<Value> {
    let mut connectors: Vec<(String, serde_json::Map<String, Value>)> = Vec::new();
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let Some((series, value)) = line.rsplit_once(' ') else {
            continue;
        };
        let Ok(value) = value.parse::<f64>() else {
            continue;
        };
        let (name, labels) = series.split_once('{').unwrap_or((series, ""));
        let field = match name {
            "pgcdc_replication_lag_bytes" => "lag_bytes",
            "pgcdc_milliseconds_behind_source" => "ms_behind_source",
            _ => continue,
        };
        let connector = labels
            .split(',')
            .find_map(|l| l.strip_prefix("connector=\""))
            .map(|l| l.trim_end_matches('}').trim_end_matches('"').to_owned())
            .unwrap_or_default();
        let entry = match connectors.iter_mut().find(|(c, _)| *c == connector) {
            Some(entry) => entry,
            None => {
                connectors.push((connector.clone(), serde_json::Map::new()));
                connectors.last_mut().expect("just pushed")
            }
        };
        entry.1.insert(field.to_owned(), json!(value));
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
}
