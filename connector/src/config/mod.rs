//! The Debezium PostgreSQL connector's configuration, by Debezium's property names and
//! with Debezium's defaults (read off Debezium 3.7's own validation endpoint, kept in
//! `tests/fixtures/debezium/postgres-connector-config-definitions.json`). Parsed once,
//! validated once with every problem named by its property, then passed around typed.
//!
//! Where pgcdc differs, on purpose:
//! - `plugin.name` defaults to `pgoutput` (Debezium: `decoderbufs`, a server plugin
//!   pgcdc does not decode); any other value is an error.
//! - Properties pgcdc does not know are accepted and reported as warnings (a Connect
//!   config carries settings for other components), except single message
//!   transforms (`transforms`, `predicates`), which would change the output and are
//!   refused.

mod delivery;
mod filters;
mod properties;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

pub use delivery::{
    DeliveryConfig, ExactlyOnceSupport, TransactionBoundary, DEFAULT_TRANSACTION_INTERVAL,
};
pub use filters::{CaptureFilters, Filter, MessageKeyColumns, Patterns};
pub use properties::{ConfigErrors, Properties, PropertyError};

use pgcdc_schemas::avro::{AvroConverterConfig, AvroError};
use pgcdc_schemas::debezium::ValueModes;

use crate::producer::TopicSettings;
use crate::publication::AutocreateMode;
use crate::replication::{validate_slot_name, Secret, SslMode};

pub const CONNECTOR_CLASS: &str = "io.debezium.connector.postgresql.PostgresConnector";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SnapshotMode {
    /// Snapshot when the connector has no offsets yet, then stream.
    Initial,
    /// Snapshot when it has no offsets yet, then stop.
    InitialOnly,
    /// Never snapshot (Debezium's `no_data`, formerly `never`).
    NoData,
    /// Snapshot at every start.
    Always,
    /// Snapshot when there are no offsets or the slot no longer has the WAL they need.
    WhenNeeded,
}

/// How change events are encoded, per Kafka Connect's `key.converter` /
/// `value.converter`.
#[derive(Debug, Clone, PartialEq)]
pub enum Converter {
    /// `org.apache.kafka.connect.json.JsonConverter`.
    Json { schemas_enable: bool },
    /// `io.confluent.connect.avro.AvroConverter`, through a Schema Registry.
    Avro {
        registry_url: String,
        config: Box<AvroConverterConfig>,
    },
}

const JSON_CONVERTER: &str = "org.apache.kafka.connect.json.JsonConverter";
const AVRO_CONVERTER: &str = "io.confluent.connect.avro.AvroConverter";

/// Which operations are not published (`skipped.operations`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SkippedOperations {
    pub create: bool,
    pub update: bool,
    pub delete: bool,
    pub truncate: bool,
}

#[derive(Debug, Clone)]
pub struct DatabaseConfig {
    pub hostname: String,
    pub port: u16,
    pub user: String,
    pub password: Secret,
    pub dbname: String,
    pub sslmode: SslMode,
    pub sslrootcert: Option<PathBuf>,
}

/// A validated Debezium PostgreSQL connector configuration.
#[derive(Debug, Clone)]
pub struct PostgresConnectorConfig {
    pub name: String,
    pub database: DatabaseConfig,
    pub topic_prefix: String,
    pub filters: CaptureFilters,
    pub message_key_columns: MessageKeyColumns,
    pub slot_name: String,
    pub slot_drop_on_stop: bool,
    pub publication_name: String,
    pub publication_autocreate_mode: AutocreateMode,
    pub snapshot_mode: SnapshotMode,
    pub snapshot_max_threads: u32,
    pub snapshot_fetch_size: u32,
    pub tombstones_on_delete: bool,
    pub skipped_operations: SkippedOperations,
    pub provide_transaction_metadata: bool,
    pub heartbeat_interval: Option<Duration>,
    pub heartbeat_action_query: Option<String>,
    pub heartbeat_topics_prefix: String,
    pub max_batch_size: usize,
    pub max_queue_size: usize,
    pub poll_interval: Duration,
    /// The mapping modes (`decimal.handling.mode`, `time.precision.mode`,
    /// `binary.handling.mode`, `interval.handling.mode`, `hstore.handling.mode`,
    /// `money.fraction.digits`, `include.unknown.datatypes`,
    /// `unavailable.value.placeholder`).
    pub value_modes: ValueModes,
    pub column_propagate_source_type: Option<Patterns>,
    pub key_converter: Converter,
    pub value_converter: Converter,
    pub topic_creation: TopicSettings,
    /// `exactly.once.support`, `transaction.boundary`, `transaction.boundary.interval.ms`.
    pub delivery: DeliveryConfig,
}

/// A configuration that parsed, with the properties nobody read.
#[derive(Debug, Clone)]
pub struct Parsed {
    pub config: PostgresConnectorConfig,
    pub unknown_properties: Vec<String>,
}

impl PostgresConnectorConfig {
    /// Reads a connector's flat properties (`name` included, as in a Connect config).
    pub fn from_properties(map: &BTreeMap<String, String>) -> Result<Parsed, ConfigErrors> {
        let mut p = Properties::new(map);
        let name = p.required("name");
        let class = p.required("connector.class");
        if !class.is_empty() && class != CONNECTOR_CLASS {
            p.error(
                "connector.class",
                format!("{class:?} is not {CONNECTOR_CLASS}"),
            );
        }
        if p.parsed::<u32>("tasks.max", 1, "a positive number") == 0 {
            p.error(
                "tasks.max",
                "must be at least 1 (the connector always runs one task)",
            );
        }
        let plugin = p.string("plugin.name", "pgoutput");
        if plugin != "pgoutput" {
            p.error(
                "plugin.name",
                format!("{plugin:?} is not supported: pgcdc decodes pgoutput only"),
            );
        }
        for property in ["transforms", "predicates"] {
            if p.raw(property).is_some() {
                p.error(property, "single message transforms are not supported: they would change the records consumers see");
            }
        }

        let database = DatabaseConfig {
            hostname: p.required("database.hostname"),
            port: p.parsed("database.port", 5432, "a port number"),
            user: p.required("database.user"),
            password: Secret::new(p.string("database.password", "")),
            dbname: p.required("database.dbname"),
            sslmode: p.parsed(
                "database.sslmode",
                SslMode::Prefer,
                "one of disable, prefer, require, verify-ca, verify-full",
            ),
            sslrootcert: p.optional("database.sslrootcert").map(PathBuf::from),
        };
        let topic_prefix = p.required("topic.prefix");
        if !topic_prefix.is_empty()
            && !topic_prefix
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
        {
            p.error(
                "topic.prefix",
                format!("{topic_prefix:?} may contain only letters, digits, '_', '-' and '.'"),
            );
        }
        let filters = CaptureFilters::read(&mut p);
        let message_key_columns = MessageKeyColumns::read(&mut p);

        let slot_name = p.string("slot.name", "debezium");
        if let Err(e) = validate_slot_name(&slot_name) {
            p.error("slot.name", e.to_string());
        }
        let publication_autocreate_mode = p.choice(
            "publication.autocreate.mode",
            AutocreateMode::AllTables,
            &[
                ("all_tables", AutocreateMode::AllTables),
                ("filtered", AutocreateMode::Filtered),
                ("disabled", AutocreateMode::Disabled),
            ],
        );
        let snapshot_mode = p.choice(
            "snapshot.mode",
            SnapshotMode::Initial,
            &[
                ("initial", SnapshotMode::Initial),
                ("initial_only", SnapshotMode::InitialOnly),
                ("no_data", SnapshotMode::NoData),
                ("never", SnapshotMode::NoData),
                ("always", SnapshotMode::Always),
                ("when_needed", SnapshotMode::WhenNeeded),
            ],
        );
        let snapshot_max_threads = p.parsed("snapshot.max.threads", 1u32, "a positive number");
        if snapshot_max_threads == 0 {
            p.error("snapshot.max.threads", "must be at least 1");
        }
        let skipped_operations = read_skipped_operations(&mut p);
        let heartbeat_ms = p.parsed("heartbeat.interval.ms", 0u64, "a number of milliseconds");
        let max_batch_size = p.parsed("max.batch.size", 2048usize, "a positive number");
        let max_queue_size = p.parsed("max.queue.size", 8192usize, "a positive number");
        if max_queue_size <= max_batch_size {
            // Debezium's own rule: the queue must hold more than one batch.
            p.error(
                "max.queue.size",
                format!("must be larger than max.batch.size ({max_batch_size})"),
            );
        }

        let config = PostgresConnectorConfig {
            name,
            database,
            topic_prefix,
            filters,
            message_key_columns,
            slot_name,
            slot_drop_on_stop: p.bool("slot.drop.on.stop", false),
            publication_name: p.string("publication.name", "dbz_publication"),
            publication_autocreate_mode,
            snapshot_mode,
            snapshot_max_threads,
            snapshot_fetch_size: p.parsed("snapshot.fetch.size", 10_240u32, "a positive number"),
            tombstones_on_delete: p.bool("tombstones.on.delete", true),
            skipped_operations,
            provide_transaction_metadata: p.bool("provide.transaction.metadata", false),
            heartbeat_interval: (heartbeat_ms > 0).then(|| Duration::from_millis(heartbeat_ms)),
            heartbeat_action_query: p.optional("heartbeat.action.query"),
            heartbeat_topics_prefix: p.string("heartbeat.topics.prefix", "__debezium-heartbeat"),
            max_batch_size,
            max_queue_size,
            poll_interval: Duration::from_millis(p.parsed(
                "poll.interval.ms",
                500u64,
                "a number of milliseconds",
            )),
            value_modes: read_value_modes(&mut p, map),
            column_propagate_source_type: Patterns::read(&mut p, "column.propagate.source.type"),
            key_converter: read_converter(&mut p, "key.converter"),
            value_converter: read_converter(&mut p, "value.converter"),
            topic_creation: TopicSettings {
                partitions: p.parsed("topic.creation.default.partitions", 1, "a positive number"),
                // -1: the broker's default.replication.factor.
                replication_factor: p.parsed(
                    "topic.creation.default.replication.factor",
                    -1,
                    "a number",
                ),
            },
            delivery: DeliveryConfig::read(&mut p),
        };
        // Connect-level settings that concern the worker, not this connector.
        for prefix in [
            "topic.creation.",
            "errors.",
            "producer.override.",
            "header.converter",
            "config.action.reload",
        ] {
            p.claim_prefix(prefix);
        }
        if p.errors.is_empty() {
            Ok(Parsed {
                unknown_properties: p.unused(),
                config,
            })
        } else {
            Err(ConfigErrors(p.errors))
        }
    }
}

/// The mapping modes, parsed by the mapping itself so the two cannot disagree on a
/// name or a default.
fn read_value_modes(p: &mut Properties<'_>, map: &BTreeMap<String, String>) -> ValueModes {
    for property in VALUE_MODE_PROPERTIES {
        p.optional(property);
    }
    let modes = map
        .iter()
        .filter(|(key, _)| VALUE_MODE_PROPERTIES.contains(&key.as_str()))
        .map(|(key, value)| (key.as_str(), value.as_str()));
    match ValueModes::from_properties(modes) {
        Ok(modes) => modes,
        Err(invalid) => {
            for e in invalid {
                p.error(
                    &e.property,
                    format!("{:?} is not valid: expected {}", e.value, e.expected),
                );
            }
            ValueModes::default()
        }
    }
}

const VALUE_MODE_PROPERTIES: [&str; 8] = [
    "decimal.handling.mode",
    "time.precision.mode",
    "binary.handling.mode",
    "interval.handling.mode",
    "hstore.handling.mode",
    "money.fraction.digits",
    "include.unknown.datatypes",
    "unavailable.value.placeholder",
];

fn read_skipped_operations(p: &mut Properties<'_>) -> SkippedOperations {
    const PROPERTY: &str = "skipped.operations";
    // Debezium 3 skips truncates unless told otherwise.
    let Some(items) = p.list(PROPERTY) else {
        return SkippedOperations {
            truncate: true,
            ..SkippedOperations::default()
        };
    };
    let mut skipped = SkippedOperations::default();
    for item in items {
        match item.as_str() {
            "none" => {}
            "c" => skipped.create = true,
            "u" => skipped.update = true,
            "d" => skipped.delete = true,
            "t" => skipped.truncate = true,
            other => p.error(
                PROPERTY,
                format!("{other:?} is not one of c, u, d, t, none"),
            ),
        }
    }
    skipped
}

fn read_converter(p: &mut Properties<'_>, property: &str) -> Converter {
    let settings = p.claim_prefix(&format!("{property}."));
    match p.string(property, JSON_CONVERTER).as_str() {
        JSON_CONVERTER => {
            let schemas_enable = match settings
                .get("schemas.enable")
                .map(|v| v.trim().to_ascii_lowercase())
            {
                None => true,
                Some(v) if v == "true" => true,
                Some(v) if v == "false" => false,
                Some(v) => {
                    p.error(
                        &format!("{property}.schemas.enable"),
                        format!("{v:?} is not a boolean (true or false)"),
                    );
                    true
                }
            };
            Converter::Json { schemas_enable }
        }
        AVRO_CONVERTER => match settings
            .get("schema.registry.url")
            .map(|v| v.trim())
            .filter(|v| !v.is_empty())
        {
            Some(url) => {
                let pairs = settings.iter().map(|(k, v)| (k.as_str(), v.as_str()));
                match AvroConverterConfig::from_properties(pairs) {
                    Ok(config) => Converter::Avro {
                        registry_url: url.to_owned(),
                        config: Box::new(config),
                    },
                    Err(AvroError::Config { problems }) => {
                        for problem in problems {
                            p.error(&format!("{property}.{}", problem.property), problem.reason);
                        }
                        Converter::Json {
                            schemas_enable: true,
                        }
                    }
                    Err(other) => {
                        p.error(property, other.to_string());
                        Converter::Json {
                            schemas_enable: true,
                        }
                    }
                }
            }
            None => {
                p.error(
                    &format!("{property}.schema.registry.url"),
                    "is required with the Avro converter",
                );
                Converter::Json {
                    schemas_enable: true,
                }
            }
        },
        other => {
            p.error(
                property,
                format!("{other:?} is not supported: use {JSON_CONVERTER} or {AVRO_CONVERTER}"),
            );
            Converter::Json {
                schemas_enable: true,
            }
        }
    }
}

#[cfg(test)]
mod tests;
