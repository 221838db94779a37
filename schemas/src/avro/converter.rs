//! [`AvroConverter`]: Kafka Connect's `io.confluent.connect.avro.AvroConverter`,
//! split in two so that the hot path never waits on the network:
//!
//! 1. [`AvroConverter::prepare`] (async): converts a Connect schema to Avro, picks
//!    its subject and registers (or looks up) it, once per topic, key/value side and
//!    schema; afterwards it answers from memory;
//! 2. [`AvroConverter::encode`] (sync): the record's bytes in Confluent's wire
//!    format, appended to a buffer the caller reuses.
//!
//! [`AvroConverter::from_connect_data`] does both, with the same shape as
//! [`crate::json::JsonConverter::from_connect_data`]: `None` for a record with no
//! bytes (a tombstone, a null key).

use std::collections::HashMap;
use std::sync::Arc;

use crate::connect::{Schema, Value};

use super::client::RegistryClient;
use super::config::AvroConverterConfig;
use super::diff::field_changes;
use super::encode::EncodeError;
use super::parse::parse_schema;
use super::props::Json;
use super::schema::{AvroKind, AvroSchema};
use super::{wire, AvroError, SchemaId};

/// Schemas remembered per topic and side: a table whose schema changed keeps
/// writing with the new one, the old ones are rarely needed again.
const PREPARED_PER_TOPIC: usize = 8;

#[derive(Debug)]
pub struct AvroConverter {
    config: AvroConverterConfig,
    client: Arc<RegistryClient>,
    /// topic → the key (`[1]`) and value (`[0]`) schemas prepared for it, most
    /// recent last.
    prepared: HashMap<String, [Vec<(Schema, SchemaId)>; 2]>,
}

impl AvroConverter {
    /// A converter with its own registry client.
    pub fn new(config: AvroConverterConfig) -> Result<AvroConverter, AvroError> {
        let client = Arc::new(RegistryClient::new(&config)?);
        Ok(AvroConverter::with_client(config, client))
    }

    /// A converter sharing `client` (and its cache) with others.
    pub fn with_client(config: AvroConverterConfig, client: Arc<RegistryClient>) -> AvroConverter {
        AvroConverter {
            config,
            client,
            prepared: HashMap::new(),
        }
    }

    pub fn config(&self) -> &AvroConverterConfig {
        &self.config
    }

    pub fn client(&self) -> &Arc<RegistryClient> {
        &self.client
    }

    /// The Avro schema this converter writes `schema` with.
    pub fn avro_schema(&self, schema: &Schema) -> Result<AvroSchema, AvroError> {
        self.config.avro_data.from_connect_schema(schema)
    }

    /// The id `prepare` found for this schema before, without any registry call (a
    /// hash lookup and a comparison of schemas: callers on the hot path keep the id
    /// with their schema instead).
    pub fn prepared_id(&self, topic: &str, is_key: bool, schema: &Schema) -> Option<SchemaId> {
        self.prepared.get(topic)?[usize::from(is_key)]
            .iter()
            .rev()
            .find(|(s, _)| s == schema)
            .map(|(_, id)| *id)
    }

    /// The schema id records of `topic` with this key (`is_key`) or value schema are
    /// written with: registered under the subject of the configured strategy when
    /// `auto.register.schemas=true` (the default), otherwise looked up, or with
    /// `use.latest.version=true` the subject's latest version (which must be this
    /// schema). Cached: a schema prepared before costs no registry call.
    pub async fn prepare(
        &mut self,
        topic: &str,
        is_key: bool,
        schema: &Schema,
    ) -> Result<SchemaId, AvroError> {
        if let Some(id) = self.prepared_id(topic, is_key, schema) {
            return Ok(id);
        }
        let avro = self.avro_schema(schema)?;
        let text = avro.to_text();
        let subject = self
            .config
            .subject_name_strategy(is_key)
            .subject(topic, is_key, &avro)?;
        let id = if self.config.auto_register_schemas {
            match self.client.register(&subject, &text).await {
                Ok(id) => id,
                Err(AvroError::Registry {
                    status: 409,
                    message,
                    ..
                }) => return Err(self.incompatible(subject, message, &avro).await),
                Err(other) => return Err(other),
            }
        } else if self.config.use_latest_version {
            let latest = self.client.latest_version(&subject).await?;
            if !same_schema(&latest.schema, &avro)? {
                return Err(AvroError::LatestVersionDiffers {
                    subject,
                    id: latest.id,
                });
            }
            latest.id
        } else {
            self.client.lookup(&subject, &text).await?
        };
        tracing::debug!(topic, is_key, %subject, %id, "Avro schema ready");
        let prepared = &mut self.prepared.entry(topic.to_owned()).or_default()[usize::from(is_key)];
        if prepared.len() == PREPARED_PER_TOPIC {
            prepared.remove(0);
        }
        prepared.push((schema.clone(), id));
        Ok(id)
    }

    /// The registry's refusal, with the fields that differ from the subject's latest
    /// schema (none when that cannot be read).
    async fn incompatible(
        &self,
        subject: String,
        message: String,
        refused: &AvroSchema,
    ) -> AvroError {
        let changes = match self.client.fetch_latest_version(&subject).await {
            Ok(latest) => match parse_schema(&latest.schema) {
                Ok(latest) => field_changes(&latest, refused),
                Err(_) => Vec::new(),
            },
            Err(e) => {
                tracing::warn!(%subject, error = %e, "cannot read the latest schema to name the incompatible fields");
                Vec::new()
            }
        };
        AvroError::Incompatible {
            subject,
            message,
            changes,
        }
    }

    /// Appends the record for `value` (of `schema`) in Confluent's wire format with
    /// schema `id` to `out` (clear it first to reuse it). A null value is a
    /// tombstone, which has no bytes: see [`AvroConverter::from_connect_data`].
    pub fn encode(
        &self,
        id: SchemaId,
        schema: &Schema,
        value: &Value,
        out: &mut Vec<u8>,
    ) -> Result<(), AvroError> {
        if value.is_null() {
            return Err(EncodeError::NullRecord.into());
        }
        wire::write_header(id, out);
        self.config
            .datum_writer
            .write(schema, value, "record", out)?;
        Ok(())
    }

    /// The record bytes for `value` written with `schema` on `topic`, preparing the
    /// schema first if needed. `None` when the record has no bytes: a null value of
    /// an optional schema, or no schema and no value (Debezium's tombstones), as
    /// Confluent's serializer returns null for a null object.
    pub async fn from_connect_data(
        &mut self,
        topic: &str,
        is_key: bool,
        schema: Option<&Schema>,
        value: &Value,
    ) -> Result<Option<Vec<u8>>, AvroError> {
        let Some(schema) = schema else {
            return if value.is_null() {
                Ok(None)
            } else {
                Err(EncodeError::Schemaless.into())
            };
        };
        if value.is_null() {
            return if schema.optional {
                Ok(None)
            } else {
                Err(EncodeError::RequiredNull {
                    path: "record".to_owned(),
                }
                .into())
            };
        }
        let id = self.prepare(topic, is_key, schema).await?;
        let mut out = Vec::with_capacity(64);
        self.encode(id, schema, value, &mut out)?;
        Ok(Some(out))
    }
}

/// Whether the registry's `text` describes the same schema as `ours`: the same
/// types, names and properties, however the text spells namespaces or orders
/// properties.
fn same_schema(text: &str, ours: &AvroSchema) -> Result<bool, AvroError> {
    let ours = parse_schema(&ours.to_text())?;
    let theirs = parse_schema(text)?;
    Ok(normalized(theirs) == normalized(ours))
}

fn normalized(mut schema: AvroSchema) -> AvroSchema {
    fn sort(props: &mut [(String, Json)]) {
        props.sort_by(|a, b| a.0.cmp(&b.0));
    }
    sort(&mut schema.props);
    schema.kind = match schema.kind {
        AvroKind::Array(items) => AvroKind::Array(Box::new(normalized(*items))),
        AvroKind::Map(values) => AvroKind::Map(Box::new(normalized(*values))),
        AvroKind::Union(branches) => {
            AvroKind::Union(branches.into_iter().map(normalized).collect())
        }
        AvroKind::Record {
            name,
            doc,
            fields,
            aliases,
        } => AvroKind::Record {
            name,
            doc,
            fields: fields
                .into_iter()
                .map(|mut f| {
                    sort(&mut f.props);
                    f.schema = normalized(f.schema);
                    f
                })
                .collect(),
            aliases,
        },
        other => other,
    };
    schema
}
