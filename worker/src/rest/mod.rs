//! Kafka Connect's REST API: the same paths, JSON shapes and status codes, so that
//! `curl` scripts, `kcctl` and anything written against a Connect worker drive pgcdc
//! unchanged. Errors are `{"error_code": <HTTP status>, "message": …}` as Connect
//! writes them, for unknown paths (404) and methods (405) too. Where Connect answers
//! 500 for a request it cannot read, pgcdc answers 400 (see [`params`]).
//!
//! Every route is one row of [`routes`]' table, from which [`router`] is built; the
//! OpenAPI description (`worker/openapi.yaml`) is checked against that table by a
//! test, so the description and the server cannot drift apart.

// axum handlers are `async` by contract even when they do not await.
#![allow(clippy::unused_async)]

mod auth;
mod params;

use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{on, MethodFilter, MethodRouter};
use axum::Router;
use pgcdc_connector::config::PropertyError;
use serde_json::{json, Value};

pub use auth::ApiAuth;
pub use params::properties;
use params::{
    check_config_name, check_name, json_body, patch_properties, Body, ConnectorPath, CreateRequest,
    PluginPath, QueryParams, TaskPath,
};

use crate::class::{class_error, ConnectorClass};
use crate::metrics;
use crate::runtime::{Worker, WorkerError};
use crate::store::TargetState;
use crate::validate::{config_definitions, validation_response};

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

/// The HTTP methods the API uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verb {
    Get,
    Post,
    Put,
    Patch,
    Delete,
}

impl Verb {
    fn method(self) -> Method {
        match self {
            Verb::Get => Method::GET,
            Verb::Post => Method::POST,
            Verb::Put => Method::PUT,
            Verb::Patch => Method::PATCH,
            Verb::Delete => Method::DELETE,
        }
    }

    fn filter(self) -> MethodFilter {
        match self {
            Verb::Get => MethodFilter::GET,
            Verb::Post => MethodFilter::POST,
            Verb::Put => MethodFilter::PUT,
            Verb::Patch => MethodFilter::PATCH,
            Verb::Delete => MethodFilter::DELETE,
        }
    }
}

/// One route the worker serves: a method and a path template in axum's (and
/// OpenAPI's) syntax, `/connectors/{name}/status`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub method: Method,
    pub path: &'static str,
}

struct Endpoint {
    verb: Verb,
    path: &'static str,
    handler: MethodRouter<AppState>,
}

fn endpoint<H, T>(verb: Verb, path: &'static str, handler: H) -> Endpoint
where
    H: axum::handler::Handler<T, AppState>,
    T: 'static,
{
    Endpoint {
        verb,
        path,
        handler: on(verb.filter(), handler),
    }
}

/// The table the router is built from.
fn endpoints() -> Vec<Endpoint> {
    use Verb::{Delete, Get, Patch, Post, Put};
    vec![
        endpoint(Get, "/", root),
        endpoint(Get, "/connectors", list),
        endpoint(Post, "/connectors", create),
        endpoint(Get, "/connectors/{name}", info),
        endpoint(Delete, "/connectors/{name}", delete),
        endpoint(Get, "/connectors/{name}/config", config),
        endpoint(Put, "/connectors/{name}/config", put_config),
        endpoint(Patch, "/connectors/{name}/config", patch_config),
        endpoint(Get, "/connectors/{name}/status", status),
        endpoint(Get, "/connectors/{name}/tasks", tasks),
        endpoint(Get, "/connectors/{name}/tasks/{task}/status", task_status),
        endpoint(
            Post,
            "/connectors/{name}/tasks/{task}/restart",
            restart_task,
        ),
        endpoint(Put, "/connectors/{name}/pause", pause),
        endpoint(Put, "/connectors/{name}/resume", resume),
        endpoint(Put, "/connectors/{name}/stop", stop),
        endpoint(Post, "/connectors/{name}/restart", restart),
        endpoint(Get, "/connectors/{name}/offsets", offsets),
        endpoint(Patch, "/connectors/{name}/offsets", alter_offsets),
        endpoint(Delete, "/connectors/{name}/offsets", alter_offsets),
        endpoint(Get, "/connector-plugins", plugins),
        endpoint(Get, "/connector-plugins/{class}/config", plugin_config),
        endpoint(Put, "/connector-plugins/{class}/config/validate", validate),
        endpoint(Get, "/metrics", metrics_text),
        endpoint(Get, "/health", health),
    ]
}

/// Every route the router serves (a GET route answers HEAD too, as HTTP wants).
pub fn routes() -> Vec<Route> {
    endpoints()
        .into_iter()
        .map(|e| Route {
            method: e.verb.method(),
            path: e.path,
        })
        .collect()
}

/// The router of the worker's API, `/metrics` and `/health` included.
pub fn router(worker: Arc<Worker>, auth: ApiAuth) -> Router {
    let state = AppState {
        worker,
        auth: Arc::new(auth),
    };
    let mut router = Router::new();
    for endpoint in endpoints() {
        // Routes on one path merge into one method router.
        router = router.route(endpoint.path, endpoint.handler);
    }
    router
        // After the routes: it applies to the routes present when it is called.
        .method_not_allowed_fallback(method_not_allowed)
        .fallback(not_found)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::authenticate,
        ))
        .with_state(state)
}

async fn not_found() -> Response {
    error(StatusCode::NOT_FOUND, "HTTP 404 Not Found")
}

/// axum adds the `Allow` header listing the path's methods.
async fn method_not_allowed() -> Response {
    error(
        StatusCode::METHOD_NOT_ALLOWED,
        "HTTP 405 Method Not Allowed",
    )
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

/// `?expand=status` and `?expand=info` (repeatable); other values add nothing, as in
/// Connect.
async fn list(State(state): State<AppState>, query: QueryParams) -> Response {
    let expand: Vec<&str> = query.values("expand").collect();
    if expand.is_empty() {
        return ok(StatusCode::OK, json!(state.worker.names().await));
    }
    let status = expand.contains(&"status");
    let info = expand.contains(&"info");
    ok(StatusCode::OK, state.worker.expanded(status, info).await)
}

async fn create(State(state): State<AppState>, Body(body): Body) -> Reply {
    let request = CreateRequest::parse(&body)?;
    let info = state
        .worker
        .create(&request.name, request.config, request.initial_state)
        .await?;
    Ok(ok(StatusCode::CREATED, info))
}

async fn info(State(state): State<AppState>, ConnectorPath(name): ConnectorPath) -> Reply {
    Ok(ok(StatusCode::OK, state.worker.info(&name).await?))
}

async fn config(State(state): State<AppState>, ConnectorPath(name): ConnectorPath) -> Reply {
    Ok(ok(StatusCode::OK, state.worker.config(&name).await?))
}

async fn put_config(
    State(state): State<AppState>,
    ConnectorPath(name): ConnectorPath,
    Body(body): Body,
) -> Reply {
    check_name(&name)?;
    let config = properties(&json_body(&body)?)?;
    check_config_name(&name, &config)?;
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

async fn patch_config(
    State(state): State<AppState>,
    ConnectorPath(name): ConnectorPath,
    Body(body): Body,
) -> Reply {
    let patch = patch_properties(&json_body(&body)?)?;
    if let Some(Some(other)) = patch.get("name").filter(|n| n.as_deref() != Some(&name)) {
        return Err(WorkerError::InvalidConfig(vec![PropertyError {
            property: "name".to_owned(),
            message: format!("the patch's name {other:?} is not the connector's name {name:?}"),
        }]));
    }
    Ok(ok(
        StatusCode::OK,
        state.worker.patch_config(&name, patch).await?,
    ))
}

async fn status(State(state): State<AppState>, ConnectorPath(name): ConnectorPath) -> Reply {
    Ok(ok(StatusCode::OK, state.worker.status(&name).await?))
}

async fn task_status(State(state): State<AppState>, TaskPath { name, task }: TaskPath) -> Reply {
    let status = state.worker.status(&name).await?;
    match status["tasks"]
        .as_array()
        .and_then(|t| t.get(task as usize))
    {
        Some(task) => Ok(ok(StatusCode::OK, task.clone())),
        None => Err(WorkerError::NotFound(format!("{name} task {task}"))),
    }
}

async fn tasks(State(state): State<AppState>, ConnectorPath(name): ConnectorPath) -> Reply {
    Ok(ok(StatusCode::OK, state.worker.tasks(&name).await?))
}

async fn pause(State(state): State<AppState>, ConnectorPath(name): ConnectorPath) -> Reply {
    state.worker.set_target(&name, TargetState::Paused).await?;
    Ok(StatusCode::ACCEPTED.into_response())
}

async fn resume(State(state): State<AppState>, ConnectorPath(name): ConnectorPath) -> Reply {
    state.worker.set_target(&name, TargetState::Running).await?;
    Ok(StatusCode::ACCEPTED.into_response())
}

async fn stop(State(state): State<AppState>, ConnectorPath(name): ConnectorPath) -> Reply {
    state.worker.set_target(&name, TargetState::Stopped).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn restart(
    State(state): State<AppState>,
    ConnectorPath(name): ConnectorPath,
    query: QueryParams,
) -> Reply {
    let include_tasks = query.flag("includeTasks")?;
    let only_failed = query.flag("onlyFailed")?;
    state.worker.restart(&name, only_failed).await?;
    if include_tasks || only_failed {
        // Connect answers these with 202 and the status as the restart leaves it.
        Ok(ok(StatusCode::ACCEPTED, state.worker.status(&name).await?))
    } else {
        Ok(StatusCode::NO_CONTENT.into_response())
    }
}

async fn restart_task(State(state): State<AppState>, TaskPath { name, task }: TaskPath) -> Reply {
    // Existence first: an unknown connector is "not found" whatever the task id.
    state.worker.info(&name).await?;
    if task != 0 {
        return Err(WorkerError::NotFound(format!("{name} task {task}")));
    }
    state.worker.restart(&name, false).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn delete(State(state): State<AppState>, ConnectorPath(name): ConnectorPath) -> Reply {
    state.worker.delete(&name).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn offsets(State(state): State<AppState>, ConnectorPath(name): ConnectorPath) -> Reply {
    Ok(ok(StatusCode::OK, state.worker.offsets(&name).await?))
}

/// Altering offsets needs a stopped connector, as in Connect; pgcdc's positions live
/// in the slot and the topics' tails, so it refuses to rewrite them by hand.
async fn alter_offsets(State(state): State<AppState>, ConnectorPath(name): ConnectorPath) -> Reply {
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
    let plugins: Vec<Value> = ConnectorClass::ALL
        .iter()
        .map(|class| {
            json!({
                "class": class.name(),
                "type": class.plugin_type(),
                "version": env!("CARGO_PKG_VERSION"),
            })
        })
        .collect();
    ok(StatusCode::OK, Value::Array(plugins))
}

/// The definitions of the plugin's properties (Connect's `GET
/// /connector-plugins/{class}/config`, KIP-769).
async fn plugin_config(PluginPath(class): PluginPath) -> Reply {
    let Some(plugin) = ConnectorClass::from_name(&class) else {
        return Err(WorkerError::NoPlugin { class });
    };
    Ok(ok(StatusCode::OK, config_definitions(plugin)))
}

async fn validate(PluginPath(class): PluginPath, Body(body): Body) -> Reply {
    let config = properties(&json_body(&body)?)?;
    let Some(plugin) = ConnectorClass::from_name(&class) else {
        return Err(class_error(format!(
            "{class:?} is not a connector plugin this worker has ({})",
            ConnectorClass::names()
        )));
    };
    // As in Connect, the configuration names its class, and it must be the one asked.
    match config.get("connector.class") {
        None => return Err(class_error("is required".to_owned())),
        Some(given) if ConnectorClass::from_name(given) != Some(plugin) => {
            return Err(class_error(format!(
                "{given:?} does not match the plugin being validated, {class}"
            )))
        }
        Some(_) => {}
    }
    Ok(ok(StatusCode::OK, validation_response(plugin, &config)))
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
    fn every_route_is_listed_once() {
        let routes = routes();
        for (i, route) in routes.iter().enumerate() {
            assert!(
                !routes[..i].contains(route),
                "{} {} twice",
                route.method,
                route.path
            );
        }
    }
}
