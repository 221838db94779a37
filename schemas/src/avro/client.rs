//! A Confluent Schema Registry client (REST API v1), caching every answer the way
//! Confluent's `CachedSchemaRegistryClient` does: a schema registered (or looked up)
//! under a subject is never asked about again, a schema fetched by id is kept, and so
//! is a subject's latest version (Confluent's `latest.cache.ttl.sec=-1`).
//!
//! Calls go to the first URL of `schema.registry.url`, and to the next ones only
//! when a URL cannot be reached; an HTTP error answer is final. A refusal keeps the
//! registry's `error_code` and `message` verbatim ([`AvroError::Registry`]): for an
//! incompatible schema (409) the message names the field and the rule broken.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE};
use reqwest::Method;
use serde::Deserialize;

use super::config::{AvroConverterConfig, BasicAuth};
use super::{AvroError, SchemaId};

const CONTENT: &str = "application/vnd.schemaregistry.v1+json";
/// What Confluent's Java client accepts, in its order of preference.
const ACCEPTED: &str = "application/vnd.schemaregistry.v1+json, application/vnd.schemaregistry+json; qs=0.9, application/json; qs=0.5";

/// A schema as registered under a subject.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct RegisteredSchema {
    pub subject: String,
    pub version: u32,
    pub id: SchemaId,
    pub schema: String,
}

#[derive(Default)]
struct Cache {
    /// subject → schema text → id.
    ids: HashMap<String, HashMap<String, SchemaId>>,
    by_id: HashMap<SchemaId, Arc<str>>,
    latest: HashMap<String, RegisteredSchema>,
}

pub struct RegistryClient {
    http: reqwest::Client,
    urls: Vec<String>,
    auth: Option<BasicAuth>,
    cache: Mutex<Cache>,
    requests: AtomicU64,
}

impl std::fmt::Debug for RegistryClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistryClient")
            .field("urls", &self.urls)
            .field("auth", &self.auth)
            .field("requests", &self.requests_sent())
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct IdAnswer {
    id: SchemaId,
}

#[derive(Deserialize)]
struct SchemaAnswer {
    schema: String,
}

#[derive(Deserialize)]
struct ErrorAnswer {
    error_code: u32,
    message: String,
}

impl RegistryClient {
    pub fn new(config: &AvroConverterConfig) -> Result<RegistryClient, AvroError> {
        let http = reqwest::Client::builder()
            .connect_timeout(config.connect_timeout)
            .read_timeout(config.read_timeout)
            .build()
            .map_err(|e| AvroError::Unreachable {
                operation: "creating the HTTP client".to_owned(),
                reason: e.to_string(),
            })?;
        Ok(RegistryClient {
            http,
            urls: config
                .registry_urls
                .iter()
                .map(|u| u.trim_end_matches('/').to_owned())
                .collect(),
            auth: config.basic_auth.clone(),
            cache: Mutex::new(Cache::default()),
            requests: AtomicU64::new(0),
        })
    }

    /// HTTP requests sent so far (each URL tried counts).
    pub fn requests_sent(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, Cache> {
        self.cache.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The id of `schema` under `subject` if this client has seen it.
    pub fn cached_id(&self, subject: &str, schema: &str) -> Option<SchemaId> {
        self.cache().ids.get(subject)?.get(schema).copied()
    }

    fn remember(&self, subject: &str, schema: &str, id: SchemaId) {
        let mut cache = self.cache();
        cache
            .ids
            .entry(subject.to_owned())
            .or_default()
            .insert(schema.to_owned(), id);
        cache.by_id.entry(id).or_insert_with(|| Arc::from(schema));
    }

    /// `POST /subjects/{subject}/versions`: registers `schema` (a new version unless
    /// the subject has it already) and returns its global id.
    pub async fn register(&self, subject: &str, schema: &str) -> Result<SchemaId, AvroError> {
        if let Some(id) = self.cached_id(subject, schema) {
            return Ok(id);
        }
        let body = serde_json::json!({ "schema": schema }).to_string();
        let answer: IdAnswer = self
            .call(
                Method::POST,
                &format!("/subjects/{}/versions", encode_segment(subject)),
                Some(body),
                &format!("registering a schema under subject {subject}"),
            )
            .await?;
        self.remember(subject, schema, answer.id);
        Ok(answer.id)
    }

    /// `POST /subjects/{subject}`: the version and id of `schema` under `subject`,
    /// without registering it (`auto.register.schemas=false`).
    pub async fn lookup(&self, subject: &str, schema: &str) -> Result<SchemaId, AvroError> {
        if let Some(id) = self.cached_id(subject, schema) {
            return Ok(id);
        }
        let body = serde_json::json!({ "schema": schema }).to_string();
        let answer: RegisteredSchema = self
            .call(
                Method::POST,
                &format!("/subjects/{}", encode_segment(subject)),
                Some(body),
                &format!("looking up a schema under subject {subject}"),
            )
            .await?;
        self.remember(subject, schema, answer.id);
        Ok(answer.id)
    }

    /// `GET /subjects/{subject}/versions/latest`, cached for the client's lifetime.
    pub async fn latest_version(&self, subject: &str) -> Result<RegisteredSchema, AvroError> {
        if let Some(latest) = self.cache().latest.get(subject) {
            return Ok(latest.clone());
        }
        self.fetch_latest_version(subject).await
    }

    /// `GET /subjects/{subject}/versions/latest`, asking the registry even when a
    /// latest version is cached (and caching the answer).
    pub async fn fetch_latest_version(&self, subject: &str) -> Result<RegisteredSchema, AvroError> {
        let answer: RegisteredSchema = self
            .call(
                Method::GET,
                &format!("/subjects/{}/versions/latest", encode_segment(subject)),
                None,
                &format!("reading the latest version of subject {subject}"),
            )
            .await?;
        let mut cache = self.cache();
        cache
            .by_id
            .entry(answer.id)
            .or_insert_with(|| Arc::from(answer.schema.as_str()));
        cache.latest.insert(subject.to_owned(), answer.clone());
        Ok(answer)
    }

    /// `GET /schemas/ids/{id}`: a schema's text, for readers of records.
    pub async fn schema_by_id(&self, id: SchemaId) -> Result<Arc<str>, AvroError> {
        if let Some(schema) = self.cache().by_id.get(&id) {
            return Ok(Arc::clone(schema));
        }
        let answer: SchemaAnswer = self
            .call(
                Method::GET,
                &format!("/schemas/ids/{id}"),
                None,
                &format!("reading schema {id}"),
            )
            .await?;
        let schema: Arc<str> = Arc::from(answer.schema);
        self.cache().by_id.insert(id, Arc::clone(&schema));
        Ok(schema)
    }

    async fn call<T: serde::de::DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<String>,
        operation: &str,
    ) -> Result<T, AvroError> {
        let unreachable = |reason: String| AvroError::Unreachable {
            operation: operation.to_owned(),
            reason,
        };
        let mut failures = Vec::new();
        for base in &self.urls {
            let url = format!("{base}{path}");
            let mut request = self
                .http
                .request(method.clone(), &url)
                .header(ACCEPT, ACCEPTED);
            if let Some(body) = &body {
                request = request.header(CONTENT_TYPE, CONTENT).body(body.clone());
            }
            if let Some(auth) = &self.auth {
                request = request.header(AUTHORIZATION, auth.header());
            }
            self.requests.fetch_add(1, Ordering::Relaxed);
            let response = match request.send().await {
                Ok(response) => response,
                Err(e) => {
                    tracing::warn!(url = %base, error = %e, "schema registry unreachable, trying the next URL if any");
                    failures.push(format!("{base}: {e}"));
                    continue;
                }
            };
            let status = response.status();
            let text = response
                .text()
                .await
                .map_err(|e| unreachable(format!("{base}: reading the answer: {e}")))?;
            if status.is_success() {
                return serde_json::from_str(&text).map_err(|e| {
                    unreachable(format!(
                        "{base}: not a schema registry answer ({e}): {text}"
                    ))
                });
            }
            let (error_code, message) = match serde_json::from_str::<ErrorAnswer>(&text) {
                Ok(error) => (error.error_code, error.message),
                Err(_) => (u32::from(status.as_u16()), text),
            };
            return Err(AvroError::Registry {
                operation: operation.to_owned(),
                status: status.as_u16(),
                error_code,
                message,
            });
        }
        Err(unreachable(if failures.is_empty() {
            "no schema.registry.url".to_owned()
        } else {
            failures.join("; ")
        }))
    }
}

/// Percent-encodes a path segment (subjects may hold `/`, `:` or spaces).
fn encode_segment(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    for b in segment.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_are_encoded_as_path_segments() {
        assert_eq!(
            encode_segment("shop.public.orders-value"),
            "shop.public.orders-value"
        );
        assert_eq!(encode_segment(":.ctx:a/b c"), "%3A.ctx%3Aa%2Fb%20c");
        assert_eq!(encode_segment("é"), "%C3%A9");
    }
}
