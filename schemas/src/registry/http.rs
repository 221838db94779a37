//! The HTTP face of the registry: Confluent Schema Registry's REST API (paths, query
//! parameters, bodies, `error_code`s), so that Confluent's clients, serializers and
//! converters work against it unchanged. Request bodies are read as JSON whatever
//! their declared content type (`application/vnd.schemaregistry.v1+json`,
//! `application/vnd.schemaregistry+json`, `application/json`, or none); answers are
//! `application/vnd.schemaregistry.v1+json`.

// axum handlers are `async` by contract even when they do not await.
#![allow(clippy::unused_async)]

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, MatchedPath, Path, Query, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde::Deserialize;
use serde_json::{json, Value};

use super::compatibility::Level;
use super::error::RegistryError;
use super::metrics::Registration;
use super::records::{Mode, Record, Reference, SchemaId};
use super::state::{NewSchema, SubjectVersion, VersionSelector};
use super::store::Registry;

/// Confluent's response content type.
pub const CONTENT_TYPE: &str = "application/vnd.schemaregistry.v1+json";

/// The largest request body accepted; larger ones get 413.
pub const MAX_BODY_BYTES: usize = 8 * 1024 * 1024;

type Shared = State<Arc<Registry>>;
type Params = Query<HashMap<String, String>>;
type Body = Result<Bytes, BytesRejection>;
type Reply = Result<Response, RegistryError>;

/// The registry's routes, ready to serve.
pub fn router(registry: Arc<Registry>) -> Router {
    Router::new()
        .route("/", get(root))
        .route("/metrics", get(metrics))
        .route("/subjects", get(list_subjects))
        .route("/subjects/{subject}", post(lookup).delete(delete_subject))
        .route(
            "/subjects/{subject}/versions",
            get(list_versions).post(register),
        )
        .route(
            "/subjects/{subject}/versions/{version}",
            get(get_version).delete(delete_version),
        )
        .route(
            "/subjects/{subject}/versions/{version}/schema",
            get(get_version_schema),
        )
        .route(
            "/subjects/{subject}/versions/{version}/referencedby",
            get(referenced_by),
        )
        .route("/schemas", get(list_schemas))
        .route("/schemas/types", get(schema_types))
        .route("/schemas/ids/{id}", get(schema_by_id))
        .route("/schemas/ids/{id}/schema", get(schema_text_by_id))
        .route("/schemas/ids/{id}/subjects", get(subjects_by_id))
        .route("/schemas/ids/{id}/versions", get(versions_by_id))
        .route(
            "/config",
            get(get_global_config)
                .put(put_global_config)
                .delete(delete_global_config),
        )
        .route(
            "/config/{subject}",
            get(get_subject_config)
                .put(put_subject_config)
                .delete(delete_subject_config),
        )
        .route("/mode", get(get_global_mode).put(put_global_mode))
        .route(
            "/mode/{subject}",
            get(get_subject_mode)
                .put(put_subject_mode)
                .delete(delete_subject_mode),
        )
        .route(
            "/compatibility/subjects/{subject}/versions",
            post(check_all),
        )
        .route(
            "/compatibility/subjects/{subject}/versions/{version}",
            post(check_version),
        )
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(axum::middleware::map_response(confluent_error_shape))
        .layer(axum::middleware::from_fn_with_state(
            Arc::clone(&registry),
            observe,
        ))
        .with_state(registry)
}

/// Counts and times every request by its route template (see [`super::metrics`]).
async fn observe(State(registry): Shared, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let endpoint = request
        .extensions()
        .get::<MatchedPath>()
        .map(|path| path.as_str().to_owned());
    let response = next.run(request).await;
    let endpoint = endpoint.as_deref().unwrap_or("unmatched");
    let status = response.status().as_u16();
    let elapsed = started.elapsed();
    registry
        .metrics()
        .observe_request(method.as_str(), endpoint, status, elapsed);
    tracing::debug!(
        method = %method,
        endpoint,
        status,
        micros = elapsed.as_micros() as u64,
        "registry request"
    );
    response
}

async fn metrics(State(registry): Shared) -> Response {
    let text = registry
        .read(|state| Ok(registry.metrics().render(state)))
        .unwrap_or_default();
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        text,
    )
        .into_response()
}

impl IntoResponse for RegistryError {
    fn into_response(self) -> Response {
        let status =
            StatusCode::from_u16(self.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        if status.is_server_error() {
            tracing::error!(error = %self, "registry request failed");
        }
        reply(
            status,
            &json!({"error_code": self.error_code(), "message": self.to_string()}),
        )
    }
}

/// Gives the errors axum itself answers (a path that does not decode, a method not
/// allowed) Confluent's `{"error_code", "message"}` shape too.
async fn confluent_error_shape(response: Response) -> Response {
    let status = response.status();
    let ours = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v == CONTENT_TYPE);
    if ours || !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let text = axum::body::to_bytes(response.into_body(), 64 * 1024)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_owned())
        .unwrap_or_default();
    let message = if text.is_empty() {
        format!("HTTP {status}")
    } else {
        text
    };
    reply(
        status,
        &json!({"error_code": status.as_u16(), "message": message}),
    )
}

fn reply(status: StatusCode, body: &Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, CONTENT_TYPE)],
        body.to_string(),
    )
        .into_response()
}

fn ok(body: &Value) -> Reply {
    Ok(reply(StatusCode::OK, body))
}

/// A boolean query parameter: absent is false; anything but `true` or `false` is a
/// 400 rather than a silent false (Confluent's Jersey reads `?deleted=yes`, and even
/// a bare `?deleted`, as false).
fn flag(params: &HashMap<String, String>, name: &str) -> Result<bool, RegistryError> {
    match params.get(name).map(String::as_str) {
        None => Ok(false),
        Some(v) if v.eq_ignore_ascii_case("true") => Ok(true),
        Some(v) if v.eq_ignore_ascii_case("false") => Ok(false),
        Some(v) => Err(RegistryError::BadRequest {
            reason: format!("query parameter '{name}' must be true or false, not '{v}'"),
        }),
    }
}

/// An integer query parameter; one that does not parse is a 400.
fn integer(params: &HashMap<String, String>, name: &str) -> Result<Option<i64>, RegistryError> {
    params
        .get(name)
        .map(|v| {
            v.parse::<i64>().map_err(|_| RegistryError::BadRequest {
                reason: format!("query parameter '{name}' must be an integer, not '{v}'"),
            })
        })
        .transpose()
}

/// Parses a JSON body: unparsable JSON is a 400, a wrong shape a 422.
fn parse_body<T: for<'de> Deserialize<'de>>(body: Body) -> Result<T, RegistryError> {
    let bytes = body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            RegistryError::PayloadTooLarge {
                limit: MAX_BODY_BYTES,
            }
        } else {
            RegistryError::BadRequest {
                reason: rejection.body_text(),
            }
        }
    })?;
    serde_json::from_slice(&bytes).map_err(|e| match e.classify() {
        serde_json::error::Category::Data => RegistryError::Unprocessable {
            reason: format!("Unprocessable request body: {e}"),
        },
        _ => RegistryError::BadRequest {
            reason: format!("Malformed JSON request body: {e}"),
        },
    })
}

/// Runs a change off the async runtime (the log fsyncs).
async fn write<T: Send + 'static>(
    registry: Arc<Registry>,
    change: impl FnOnce(&Registry) -> Result<T, RegistryError> + Send + 'static,
) -> Result<T, RegistryError> {
    tokio::task::spawn_blocking(move || change(&registry))
        .await
        .map_err(|e| RegistryError::Store {
            reason: format!("registry task failed: {e}"),
        })?
}

#[derive(Debug, Deserialize)]
struct SchemaBody {
    #[serde(default)]
    schema: Option<String>,
    #[serde(rename = "schemaType", default)]
    schema_type: Option<String>,
    #[serde(default)]
    references: Option<Vec<Reference>>,
    #[serde(default)]
    id: Option<i64>,
    #[serde(default)]
    version: Option<i64>,
}

impl SchemaBody {
    fn into_new_schema(self) -> Result<NewSchema, RegistryError> {
        let schema = self
            .schema
            .filter(|s| !s.trim().is_empty())
            .ok_or_else(|| RegistryError::InvalidSchema {
                reason: "the request has no 'schema'".into(),
            })?;
        // Ids and versions are Java `int`s in Confluent's API.
        let positive = |n: Option<i64>| {
            n.and_then(|n| i32::try_from(n).ok())
                .and_then(|n| u32::try_from(n).ok())
                .filter(|n| *n > 0)
        };
        Ok(NewSchema {
            schema,
            schema_type: self.schema_type,
            references: self.references.unwrap_or_default(),
            id: positive(self.id),
            version: positive(self.version),
        })
    }
}

fn new_schema(body: Body) -> Result<NewSchema, RegistryError> {
    parse_body::<SchemaBody>(body)?.into_new_schema()
}

/// A schema's JSON as Confluent answers it: `schemaType` only when not AVRO,
/// `references` only when there are some.
fn schema_fields(object: &mut serde_json::Map<String, Value>, version: &SubjectVersion<'_>) {
    let schema = version.schema;
    if schema.schema_type != "AVRO" {
        object.insert("schemaType".into(), json!(schema.schema_type));
    }
    if !schema.references.is_empty() {
        object.insert("references".into(), json!(schema.references));
    }
}

fn subject_version_json(version: &SubjectVersion<'_>) -> Value {
    let mut object = serde_json::Map::new();
    object.insert("subject".into(), json!(version.subject));
    object.insert("version".into(), json!(version.version));
    object.insert("id".into(), json!(version.schema.id));
    schema_fields(&mut object, version);
    object.insert("schema".into(), json!(version.schema.schema));
    Value::Object(object)
}

fn parse_id(id: &str) -> Result<SchemaId, RegistryError> {
    id.parse::<u32>()
        .map(SchemaId)
        .map_err(|_| RegistryError::SchemaNotFound {
            id: Some(id.to_owned()),
        })
}

async fn root() -> Reply {
    ok(&json!({}))
}

async fn not_found() -> Reply {
    Err(RegistryError::NotFound)
}

async fn list_subjects(State(registry): Shared, Query(params): Params) -> Reply {
    let deleted = flag(&params, "deleted")?;
    let prefix = params.get("subjectPrefix").cloned().unwrap_or_default();
    registry.read(|state| {
        let subjects: Vec<&str> = state
            .subjects(deleted)
            .into_iter()
            .filter(|s| s.starts_with(&prefix))
            .collect();
        ok(&json!(subjects))
    })
}

async fn register(
    State(registry): Shared,
    Path(subject): Path<String>,
    Query(params): Params,
    body: Body,
) -> Reply {
    // Accepted and ignored (see the module docs), but it must be a boolean.
    flag(&params, "normalize")?;
    let new = new_schema(body).inspect_err(|_| {
        registry.metrics().registration(Registration::Rejected);
    })?;
    let registered = write(Arc::clone(&registry), move |r| {
        r.write(|state| {
            let (id, records) = state.register(&subject, &new)?;
            let version = records.iter().find_map(|record| match record {
                Record::Schema { version, .. } => Some(*version),
                _ => None,
            });
            Ok(((subject.clone(), id, version), records))
        })
    })
    .await;
    let (subject, id, version) = match registered {
        Ok(registered) => registered,
        Err(e) => {
            if matches!(
                e,
                RegistryError::Incompatible { .. } | RegistryError::InvalidSchema { .. }
            ) {
                registry.metrics().registration(Registration::Rejected);
            }
            return Err(e);
        }
    };
    match version {
        Some(version) => {
            registry.metrics().registration(Registration::Created);
            tracing::info!(subject, version, id = id.0, "schema registered");
        }
        None => registry.metrics().registration(Registration::Existing),
    }
    ok(&json!({ "id": id }))
}

async fn lookup(
    State(registry): Shared,
    Path(subject): Path<String>,
    Query(params): Params,
    body: Body,
) -> Reply {
    flag(&params, "normalize")?;
    let new = new_schema(body)?;
    let deleted = flag(&params, "deleted")?;
    registry.read(|state| {
        ok(&subject_version_json(
            &state.lookup(&subject, &new, deleted)?,
        ))
    })
}

async fn list_versions(
    State(registry): Shared,
    Path(subject): Path<String>,
    Query(params): Params,
) -> Reply {
    let deleted = flag(&params, "deleted")?;
    registry.read(|state| ok(&json!(state.versions(&subject, deleted)?)))
}

async fn get_version(
    State(registry): Shared,
    Path((subject, version)): Path<(String, String)>,
    Query(params): Params,
) -> Reply {
    let selector = VersionSelector::parse(&version)?;
    let deleted = flag(&params, "deleted")?;
    registry.read(|state| {
        ok(&subject_version_json(
            &state.version(&subject, selector, deleted)?,
        ))
    })
}

async fn get_version_schema(
    State(registry): Shared,
    Path((subject, version)): Path<(String, String)>,
    Query(params): Params,
) -> Reply {
    let selector = VersionSelector::parse(&version)?;
    let deleted = flag(&params, "deleted")?;
    registry.read(|state| {
        let text = state
            .version(&subject, selector, deleted)?
            .schema
            .schema
            .clone();
        Ok(raw_schema(text))
    })
}

/// A schema's own text as the body (it is JSON already).
fn raw_schema(text: String) -> Response {
    (StatusCode::OK, [(header::CONTENT_TYPE, CONTENT_TYPE)], text).into_response()
}

async fn delete_subject(
    State(registry): Shared,
    Path(subject): Path<String>,
    Query(params): Params,
) -> Reply {
    let permanent = flag(&params, "permanent")?;
    let name = subject.clone();
    let versions = write(registry, move |r| {
        r.write(|state| state.delete_subject(&subject, permanent))
    })
    .await?;
    tracing::info!(subject = name, ?versions, permanent, "subject deleted");
    ok(&json!(versions))
}

async fn delete_version(
    State(registry): Shared,
    Path((subject, version)): Path<(String, String)>,
    Query(params): Params,
) -> Reply {
    let selector = VersionSelector::parse(&version)?;
    let permanent = flag(&params, "permanent")?;
    let name = subject.clone();
    let version = write(registry, move |r| {
        r.write(|state| state.delete_version(&subject, selector, permanent))
    })
    .await?;
    tracing::info!(
        subject = name,
        version,
        permanent,
        "subject version deleted"
    );
    ok(&json!(version))
}

async fn referenced_by(
    State(registry): Shared,
    Path((subject, version)): Path<(String, String)>,
) -> Reply {
    let selector = VersionSelector::parse(&version)?;
    registry.read(|state| ok(&json!(state.referenced_by(&subject, selector)?)))
}

async fn list_schemas(State(registry): Shared, Query(params): Params) -> Reply {
    let deleted = flag(&params, "deleted")?;
    let latest_only = flag(&params, "latestOnly")?;
    let prefix = params.get("subjectPrefix").cloned().unwrap_or_default();
    let offset = integer(&params, "offset")?.map_or(0, |o| usize::try_from(o).unwrap_or(0));
    let limit = integer(&params, "limit")?.filter(|l| *l > 0);
    registry.read(|state| {
        let schemas: Vec<Value> = state
            .all_versions(deleted, latest_only)
            .iter()
            .filter(|v| v.subject.starts_with(&prefix))
            .skip(offset)
            .take(limit.map_or(usize::MAX, |l| usize::try_from(l).unwrap_or(usize::MAX)))
            .map(subject_version_json)
            .collect();
        ok(&json!(schemas))
    })
}

async fn schema_types() -> Reply {
    ok(&json!(["AVRO"]))
}

async fn schema_by_id(
    State(registry): Shared,
    Path(id): Path<String>,
    Query(params): Params,
) -> Reply {
    let id = parse_id(&id)?;
    let fetch_max_id = flag(&params, "fetchMaxId")?;
    registry.read(|state| {
        let schema = state.schema_by_id(id)?;
        let mut object = serde_json::Map::new();
        if schema.schema_type != "AVRO" {
            object.insert("schemaType".into(), json!(schema.schema_type));
        }
        object.insert("schema".into(), json!(schema.schema));
        if !schema.references.is_empty() {
            object.insert("references".into(), json!(schema.references));
        }
        if fetch_max_id {
            object.insert("maxId".into(), json!(state.max_id()));
        }
        ok(&Value::Object(object))
    })
}

async fn schema_text_by_id(State(registry): Shared, Path(id): Path<String>) -> Reply {
    let id = parse_id(&id)?;
    registry.read(|state| Ok(raw_schema(state.schema_by_id(id)?.schema.clone())))
}

async fn subjects_by_id(
    State(registry): Shared,
    Path(id): Path<String>,
    Query(params): Params,
) -> Reply {
    let id = parse_id(&id)?;
    let deleted = flag(&params, "deleted")?;
    registry.read(|state| {
        let mut subjects: Vec<&str> = state
            .versions_of_id(id, deleted)?
            .into_iter()
            .map(|(s, _)| s)
            .collect();
        subjects.dedup();
        ok(&json!(subjects))
    })
}

async fn versions_by_id(
    State(registry): Shared,
    Path(id): Path<String>,
    Query(params): Params,
) -> Reply {
    let id = parse_id(&id)?;
    let deleted = flag(&params, "deleted")?;
    registry.read(|state| {
        let versions: Vec<Value> = state
            .versions_of_id(id, deleted)?
            .into_iter()
            .map(|(subject, version)| json!({"subject": subject, "version": version}))
            .collect();
        ok(&json!(versions))
    })
}

#[derive(Debug, Deserialize)]
struct ConfigBody {
    #[serde(default)]
    compatibility: Option<String>,
    #[serde(rename = "compatibilityLevel", default)]
    compatibility_level: Option<String>,
}

/// The level of a config body: `compatibility` (what Confluent's clients send) or
/// `compatibilityLevel`; each one given must be a level.
fn level_of(body: Body) -> Result<Level, RegistryError> {
    let body: ConfigBody = parse_body(body)?;
    let level = body
        .compatibility
        .as_deref()
        .map(str::parse::<Level>)
        .transpose()?;
    let alternative = body
        .compatibility_level
        .as_deref()
        .map(str::parse::<Level>)
        .transpose()?;
    match level.or(alternative) {
        Some(level) => Ok(level),
        None => "".parse(),
    }
}

async fn get_global_config(State(registry): Shared) -> Reply {
    registry.read(|state| ok(&json!({"compatibilityLevel": state.global_compatibility()})))
}

async fn put_global_config(State(registry): Shared, body: Body) -> Reply {
    let level = level_of(body)?;
    write(registry, move |r| {
        r.write(|state| Ok(((), state.set_compatibility(None, level))))
    })
    .await?;
    tracing::info!(level = %level, "global compatibility set");
    ok(&json!({ "compatibility": level }))
}

async fn delete_global_config(State(registry): Shared) -> Reply {
    let previous = write(registry, |r| {
        r.write(|state| state.delete_compatibility(None))
    })
    .await?;
    ok(&json!({ "compatibilityLevel": previous }))
}

async fn get_subject_config(
    State(registry): Shared,
    Path(subject): Path<String>,
    Query(params): Params,
) -> Reply {
    let default_to_global = flag(&params, "defaultToGlobal")?;
    registry.read(|state| {
        let level = match state.subject_compatibility(&subject) {
            Some(level) => level,
            None if default_to_global => state.global_compatibility(),
            None => {
                return Err(RegistryError::SubjectCompatibilityNotConfigured {
                    subject: subject.clone(),
                })
            }
        };
        ok(&json!({ "compatibilityLevel": level }))
    })
}

async fn put_subject_config(
    State(registry): Shared,
    Path(subject): Path<String>,
    body: Body,
) -> Reply {
    let level = level_of(body)?;
    let name = subject.clone();
    write(registry, move |r| {
        r.write(|state| Ok(((), state.set_compatibility(Some(&subject), level))))
    })
    .await?;
    tracing::info!(subject = name, level = %level, "subject compatibility set");
    ok(&json!({ "compatibility": level }))
}

async fn delete_subject_config(State(registry): Shared, Path(subject): Path<String>) -> Reply {
    let previous = write(registry, move |r| {
        r.write(|state| state.delete_compatibility(Some(&subject)))
    })
    .await?;
    ok(&json!({ "compatibilityLevel": previous }))
}

#[derive(Debug, Deserialize)]
struct ModeBody {
    #[serde(default)]
    mode: Option<String>,
}

fn mode_of(body: Body) -> Result<Mode, RegistryError> {
    let given = parse_body::<ModeBody>(body)?.mode.unwrap_or_default();
    Mode::parse(&given).ok_or(RegistryError::InvalidMode { given })
}

async fn get_global_mode(State(registry): Shared) -> Reply {
    registry.read(|state| ok(&json!({"mode": state.global_mode()})))
}

async fn put_global_mode(State(registry): Shared, Query(params): Params, body: Body) -> Reply {
    let mode = mode_of(body)?;
    let force = flag(&params, "force")?;
    write(registry, move |r| {
        r.write(|state| Ok(((), state.set_mode(None, mode, force)?)))
    })
    .await?;
    tracing::info!(mode = mode.as_str(), "global mode set");
    ok(&json!({ "mode": mode }))
}

async fn get_subject_mode(
    State(registry): Shared,
    Path(subject): Path<String>,
    Query(params): Params,
) -> Reply {
    let default_to_global = flag(&params, "defaultToGlobal")?;
    registry.read(|state| {
        let mode = match state.subject_mode(&subject) {
            Some(mode) => mode,
            None if default_to_global => state.global_mode(),
            None => {
                return Err(RegistryError::SubjectModeNotConfigured {
                    subject: subject.clone(),
                })
            }
        };
        ok(&json!({ "mode": mode }))
    })
}

async fn put_subject_mode(
    State(registry): Shared,
    Path(subject): Path<String>,
    Query(params): Params,
    body: Body,
) -> Reply {
    let mode = mode_of(body)?;
    let force = flag(&params, "force")?;
    let name = subject.clone();
    write(registry, move |r| {
        r.write(|state| Ok(((), state.set_mode(Some(&subject), mode, force)?)))
    })
    .await?;
    tracing::info!(subject = name, mode = mode.as_str(), "subject mode set");
    ok(&json!({ "mode": mode }))
}

async fn delete_subject_mode(State(registry): Shared, Path(subject): Path<String>) -> Reply {
    let previous = write(registry, move |r| {
        r.write(|state| Ok(state.delete_mode(Some(&subject))))
    })
    .await?;
    ok(&json!({ "mode": previous }))
}

fn compatibility_reply(messages: Vec<String>, verbose: bool) -> Reply {
    let mut object = serde_json::Map::new();
    object.insert("is_compatible".into(), json!(messages.is_empty()));
    if verbose {
        object.insert("messages".into(), json!(messages));
    }
    ok(&Value::Object(object))
}

async fn check_version(
    State(registry): Shared,
    Path((subject, version)): Path<(String, String)>,
    Query(params): Params,
    body: Body,
) -> Reply {
    let selector = VersionSelector::parse(&version)?;
    flag(&params, "normalize")?;
    let new = new_schema(body)?;
    let verbose = flag(&params, "verbose")?;
    let messages =
        registry.read(|state| state.check_compatibility(&subject, Some(selector), &new))?;
    compatibility_reply(messages, verbose)
}

async fn check_all(
    State(registry): Shared,
    Path(subject): Path<String>,
    Query(params): Params,
    body: Body,
) -> Reply {
    flag(&params, "normalize")?;
    let new = new_schema(body)?;
    let verbose = flag(&params, "verbose")?;
    let messages = registry.read(|state| state.check_compatibility(&subject, None, &new))?;
    compatibility_reply(messages, verbose)
}
