//! What a request says — path parameters, query flags and JSON bodies — read as
//! Kafka Connect reads them, except that every malformed input is a 4xx with a JSON
//! error body naming what is wrong (Connect answers 500 for bodies it cannot
//! deserialize, and plain-text or HTML pages for bad paths).

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Query, RawPathParams, Request};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use pgcdc_connector::config::PropertyError;
use serde_json::Value;

use super::error;
use crate::runtime::WorkerError;
use crate::store::TargetState;

/// A request whose path or query cannot be read, answered with Connect's error body.
#[derive(Debug)]
pub(super) struct Rejection {
    status: StatusCode,
    message: String,
}

impl IntoResponse for Rejection {
    fn into_response(self) -> Response {
        error(self.status, &self.message)
    }
}

fn bad_request(message: String) -> Rejection {
    Rejection {
        status: StatusCode::BAD_REQUEST,
        message,
    }
}

/// Path parameters by name, percent-decoded.
async fn path_params<S: Send + Sync>(
    parts: &mut Parts,
    state: &S,
) -> Result<BTreeMap<String, String>, Rejection> {
    // A percent-encoded byte sequence that is not UTF-8 cannot name anything.
    let params = RawPathParams::from_request_parts(parts, state)
        .await
        .map_err(|e| bad_request(e.body_text()))?;
    Ok(params
        .iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect())
}

fn param(params: &BTreeMap<String, String>, name: &str) -> Result<String, Rejection> {
    params.get(name).cloned().ok_or_else(|| Rejection {
        status: StatusCode::INTERNAL_SERVER_ERROR,
        message: format!("the route has no {{{name}}}"),
    })
}

/// `{name}` of `/connectors/{name}/…`.
#[derive(Debug)]
pub(super) struct ConnectorPath(pub String);

impl<S: Send + Sync> FromRequestParts<S> for ConnectorPath {
    type Rejection = Rejection;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Rejection> {
        let params = path_params(parts, state).await?;
        Ok(ConnectorPath(param(&params, "name")?))
    }
}

/// `{name}` and `{task}` of `/connectors/{name}/tasks/{task}/…`. A task id that is
/// not a number names no task: 404, as Connect's JAX-RS routing answers.
#[derive(Debug)]
pub(super) struct TaskPath {
    pub name: String,
    pub task: u32,
}

impl<S: Send + Sync> FromRequestParts<S> for TaskPath {
    type Rejection = Rejection;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Rejection> {
        let params = path_params(parts, state).await?;
        let name = param(&params, "name")?;
        let task = param(&params, "task")?;
        let task = task.parse().map_err(|_| Rejection {
            status: StatusCode::NOT_FOUND,
            message: format!("connector {name} has no task {task:?}: task ids are numbers from 0"),
        })?;
        Ok(TaskPath { name, task })
    }
}

/// `{class}` of `/connector-plugins/{class}/…`.
#[derive(Debug)]
pub(super) struct PluginPath(pub String);

impl<S: Send + Sync> FromRequestParts<S> for PluginPath {
    type Rejection = Rejection;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Rejection> {
        let params = path_params(parts, state).await?;
        Ok(PluginPath(param(&params, "class")?))
    }
}

/// The query string's pairs, percent-decoded, in order (`expand` may repeat).
#[derive(Debug)]
pub(super) struct QueryParams(Vec<(String, String)>);

impl<S: Send + Sync> FromRequestParts<S> for QueryParams {
    type Rejection = Rejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Rejection> {
        Query::<Vec<(String, String)>>::try_from_uri(&parts.uri)
            .map(|Query(pairs)| QueryParams(pairs))
            .map_err(|e| bad_request(e.body_text()))
    }
}

impl QueryParams {
    pub fn values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0
            .iter()
            .filter(move |(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// A boolean query parameter: absent is false. Connect reads anything but `true`
    /// as false; pgcdc refuses what is neither `true` nor `false` (in any case), so
    /// that a typo does not silently restart less than asked.
    pub fn flag(&self, name: &str) -> Result<bool, WorkerError> {
        match self.values(name).next() {
            None => Ok(false),
            Some(v) if v.eq_ignore_ascii_case("true") => Ok(true),
            Some(v) if v.eq_ignore_ascii_case("false") => Ok(false),
            Some(v) => Err(WorkerError::BadRequest(format!(
                "query parameter {name} must be true or false, not {v:?}"
            ))),
        }
    }
}

/// The request body, whatever its declared content type (Connect reads JSON); a
/// body over axum's limit (2 MiB) is a 413 in Connect's error shape.
#[derive(Debug)]
pub(super) struct Body(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for Body {
    type Rejection = Rejection;

    async fn from_request(request: Request, state: &S) -> Result<Self, Rejection> {
        Bytes::from_request(request, state)
            .await
            .map(Body)
            .map_err(|e| Rejection {
                status: e.status(),
                message: e.body_text(),
            })
    }
}

pub(super) fn json_body(body: &Bytes) -> Result<Value, WorkerError> {
    serde_json::from_slice(body)
        .map_err(|e| WorkerError::BadRequest(format!("the request body is not JSON: {e}")))
}

fn property_error(property: &str, message: impl Into<String>) -> WorkerError {
    WorkerError::InvalidConfig(vec![PropertyError {
        property: property.to_owned(),
        message: message.into(),
    }])
}

/// A JSON object of string-able values → properties (numbers and booleans as text,
/// and `null` as absent, as Connect reads them). Any other value is a 400 naming its
/// property.
pub fn properties(value: &Value) -> Result<BTreeMap<String, String>, WorkerError> {
    let object = value.as_object().ok_or_else(|| {
        WorkerError::BadRequest(format!(
            "the connector configuration must be a JSON object of properties, not {}",
            kind(value)
        ))
    })?;
    let mut map = BTreeMap::new();
    let mut errors = Vec::new();
    for (key, value) in object {
        let text = match value {
            Value::String(s) => s.clone(),
            Value::Number(_) | Value::Bool(_) => value.to_string(),
            Value::Null => continue,
            other => {
                errors.push(PropertyError {
                    property: key.clone(),
                    message: format!("must be a string, number or boolean, not {}", kind(other)),
                });
                continue;
            }
        };
        map.insert(key.clone(), text);
    }
    if errors.is_empty() {
        Ok(map)
    } else {
        Err(WorkerError::InvalidConfig(errors))
    }
}

/// A `PATCH …/config` body: properties to set, and `null` for those to remove.
pub(super) fn patch_properties(
    value: &Value,
) -> Result<BTreeMap<String, Option<String>>, WorkerError> {
    let object = value.as_object().ok_or_else(|| {
        WorkerError::BadRequest(format!(
            "the configuration patch must be a JSON object of properties, not {}",
            kind(value)
        ))
    })?;
    let removed = object
        .iter()
        .filter(|(_, v)| v.is_null())
        .map(|(k, _)| (k.clone(), None));
    let set = properties(value)?.into_iter().map(|(k, v)| (k, Some(v)));
    Ok(removed.chain(set).collect())
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Connect's rule for connector names (`ConfigDef.NonEmptyStringWithoutControlChars`):
/// not empty and no ISO control characters.
pub(super) fn check_name(name: &str) -> Result<(), WorkerError> {
    if name.trim().is_empty() {
        return Err(property_error("name", "may not be empty"));
    }
    if name.chars().any(char::is_control) {
        return Err(property_error(
            "name",
            format!("{name:?} may not contain control characters"),
        ));
    }
    Ok(())
}

/// The configuration's own `name`, when it has one, must be the connector's.
pub(super) fn check_config_name(
    name: &str,
    config: &BTreeMap<String, String>,
) -> Result<(), WorkerError> {
    match config.get("name") {
        Some(other) if other != name => Err(property_error(
            "name",
            format!("the configuration's name {other:?} is not the connector's name {name:?}"),
        )),
        _ => Ok(()),
    }
}

/// `POST /connectors`: `{"name": …, "config": {…}, "initial_state": …}`.
#[derive(Debug)]
pub(super) struct CreateRequest {
    pub name: String,
    pub config: BTreeMap<String, String>,
    pub initial_state: TargetState,
}

impl CreateRequest {
    pub fn parse(body: &Bytes) -> Result<CreateRequest, WorkerError> {
        let request = json_body(body)?;
        let object = request.as_object().ok_or_else(|| {
            WorkerError::BadRequest(format!(
                "the request must be a JSON object with \"name\" and \"config\", not {}",
                kind(&request)
            ))
        })?;
        // Connect's request entity has exactly these fields and refuses others.
        if let Some(unknown) = object
            .keys()
            .find(|k| !matches!(k.as_str(), "name" | "config" | "initial_state"))
        {
            return Err(WorkerError::BadRequest(format!(
                "unknown field {unknown:?} in the request (known: name, config, initial_state)"
            )));
        }
        // Connect trims the name.
        let name = match object.get("name") {
            Some(Value::String(name)) => name.trim().to_owned(),
            None | Some(Value::Null) => return Err(property_error("name", "is required")),
            Some(other) => {
                return Err(property_error(
                    "name",
                    format!("must be a string, not {}", kind(other)),
                ))
            }
        };
        check_name(&name)?;
        let config = match object.get("config") {
            Some(config @ Value::Object(_)) => properties(config)?,
            None | Some(Value::Null) => {
                return Err(WorkerError::BadRequest(
                    "the request needs a \"config\" object".to_owned(),
                ))
            }
            Some(other) => {
                return Err(WorkerError::BadRequest(format!(
                    "\"config\" must be a JSON object of properties, not {}",
                    kind(other)
                )))
            }
        };
        check_config_name(&name, &config)?;
        let initial_state = match object.get("initial_state") {
            None | Some(Value::Null) => TargetState::Running,
            Some(Value::String(state)) => match state.to_ascii_uppercase().as_str() {
                "RUNNING" => TargetState::Running,
                "PAUSED" => TargetState::Paused,
                "STOPPED" => TargetState::Stopped,
                _ => {
                    return Err(WorkerError::BadRequest(format!(
                        "initial_state {state:?} is not one of RUNNING, PAUSED, STOPPED"
                    )))
                }
            },
            Some(other) => {
                return Err(WorkerError::BadRequest(format!(
                    "initial_state must be a string, not {}",
                    kind(other)
                )))
            }
        };
        Ok(CreateRequest {
            name,
            config,
            initial_state,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(body: &str) -> Result<CreateRequest, String> {
        CreateRequest::parse(&Bytes::from(body.to_owned())).map_err(|e| e.to_string())
    }

    #[test]
    fn a_create_request_reads_as_connect_reads_it() {
        let request = parse(
            r#"{"name":" orders ","config":{"a":"x","b":5,"c":true,"d":null},"initial_state":"paused"}"#,
        )
        .expect("valid");
        assert_eq!(request.name, "orders");
        assert_eq!(request.initial_state, TargetState::Paused);
        let expected: BTreeMap<String, String> = [("a", "x"), ("b", "5"), ("c", "true")]
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        assert_eq!(request.config, expected);
    }

    #[test]
    fn bad_create_requests_name_what_is_wrong() {
        for (body, expected) in [
            (r#"{"config":{}}"#, "name: is required"),
            (r#"{"name":5,"config":{}}"#, "name: must be a string"),
            (r#"{"name":"  ","config":{}}"#, "name: may not be empty"),
            (
                "{\"name\":\"a\\u0001b\",\"config\":{}}",
                "may not contain control characters",
            ),
            (r#"{"name":"a"}"#, "\"config\" object"),
            (r#"{"name":"a","config":[]}"#, "not an array"),
            (
                r#"{"name":"a","config":{"p":{"x":1}}}"#,
                "p: must be a string",
            ),
            (
                r#"{"name":"a","config":{"name":"b"}}"#,
                "name: the configuration's name",
            ),
            (r#"{"name":"a","config":{},"x":1}"#, "unknown field \"x\""),
            (
                r#"{"name":"a","config":{},"initial_state":"gone"}"#,
                "initial_state",
            ),
            (
                r#"{"name":"a","config":{},"initial_state":1}"#,
                "initial_state",
            ),
            ("[]", "not an array"),
            ("{", "not JSON"),
        ] {
            let message = parse(body).expect_err(body);
            assert!(message.contains(expected), "{body}: {message}");
        }
    }

    #[test]
    fn a_patch_sets_and_removes() {
        let patch = patch_properties(&serde_json::json!({"a": "x", "b": 1, "c": null}))
            .expect("valid patch");
        assert_eq!(patch["a"].as_deref(), Some("x"));
        assert_eq!(patch["b"].as_deref(), Some("1"));
        assert_eq!(patch["c"], None);
        assert!(patch_properties(&serde_json::json!({"a": [1]})).is_err());
        assert!(patch_properties(&serde_json::json!("a")).is_err());
    }

    #[test]
    fn every_property_of_a_wrong_type_is_named() {
        let error = properties(&serde_json::json!({"a": [1], "b": {"c": 1}, "ok": "x"}))
            .expect_err("two bad values");
        let message = error.to_string();
        assert!(message.contains("a: must be a string, number or boolean, not an array"));
        assert!(message.contains("b: must be a string, number or boolean, not an object"));
        assert_eq!(error.status(), 400);
    }
}
