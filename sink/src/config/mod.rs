//! The sink's configuration, by the property names and defaults of Debezium's JDBC
//! sink connector (`io.debezium.connector.jdbc.JdbcSinkConnector`, Debezium 3.x:
//! `JdbcSinkConnectorConfig` and `SinkConnectorConfig`). Parsed once, validated once
//! with every problem named by its property, then passed around typed.
//!
//! Where pgcdc differs, on purpose:
//! - `insert.mode=upsert` and `update` need a key: `primary.key.mode=none` with them is
//!   an error here (Debezium only asks that `primary.key.mode` be set);
//! - the modes and features pgcdc does not implement yet are errors naming the
//!   property, never silently ignored: `primary.key.mode` `kafka`/`record_header`,
//!   `field.include.list`/`field.exclude.list`, custom naming strategies,
//!   `transforms`, converters other than JsonConverter with schemas and Confluent's
//!   AvroConverter;
//! - `errors.tolerance=all` covers the records pgcdc can blame on the record itself
//!   (see [`crate::poison`]); a table-level problem (a missing table under
//!   `schema.evolution=none`) still stops the task;
//! - three settings of its own: `batch.max.latency.ms` (how long a partial batch may
//!   wait, default 200), `offsets.table.name` (the warehouse table holding the consumed
//!   offsets, default `pgcdc_sink_offsets`) and `unavailable.value.placeholder` (the
//!   source connector's, default `__debezium_unavailable_value`: a column carrying it
//!   keeps its stored value).

mod errors;
mod properties;
pub mod url;

use std::collections::BTreeMap;
use std::time::Duration;

pub use errors::{DeadLetterQueue, ErrorTolerance};
pub use properties::{ConfigErrors, PropertyError};
pub use url::{parse_jdbc_url, Secret, SslMode, WarehouseUrl};

use properties::Properties;

pub const CONNECTOR_CLASS: &str = "io.debezium.connector.jdbc.JdbcSinkConnector";
pub const JSON_CONVERTER: &str = "org.apache.kafka.connect.json.JsonConverter";
pub const AVRO_CONVERTER: &str = "io.confluent.connect.avro.AvroConverter";
const DEFAULT_COLLECTION_NAMING: &str = "io.debezium.sink.naming.DefaultCollectionNamingStrategy";
const DEFAULT_COLUMN_NAMING: &str = "io.debezium.connector.jdbc.naming.DefaultColumnNamingStrategy";

/// `insert.mode`: how a create, read or update event is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InsertMode {
    /// Plain `INSERT` (a key that exists is an error).
    Insert,
    /// `INSERT … ON CONFLICT (key) DO UPDATE`.
    Upsert,
    /// `UPDATE … WHERE key` (a key that does not exist changes nothing).
    Update,
}

/// `primary.key.mode`: where the target table's key comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrimaryKeyMode {
    /// No key: every change is appended.
    None,
    /// The Kafka record key's fields (all, or `primary.key.fields`).
    RecordKey,
    /// The value's fields named by `primary.key.fields`.
    RecordValue,
}

/// `schema.evolution`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SchemaEvolution {
    /// Tables must exist with every column the records carry.
    None,
    /// Missing tables are created and new fields added as columns.
    Basic,
}

/// `topics` or `topics.regex`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TopicSelection {
    List(Vec<String>),
    /// A Java regular expression that must match a whole topic name.
    Regex(String),
}

/// How record bytes are decoded (`key.converter` / `value.converter`).
#[derive(Debug, Clone, PartialEq)]
pub enum Converter {
    /// Kafka's JsonConverter with `schemas.enable=true`: each record carries its schema.
    JsonWithSchemas,
    /// Confluent's AvroConverter: the wire format's schema id is looked up in the
    /// registry (`<side>.converter.schema.registry.url` and its basic auth settings).
    Avro(Box<AvroConverterConfig>),
}

impl Converter {
    /// The converter's Java class, as Kafka Connect names it (DLQ headers, logs).
    pub fn class_name(&self) -> &'static str {
        match self {
            Converter::JsonWithSchemas => JSON_CONVERTER,
            Converter::Avro(_) => AVRO_CONVERTER,
        }
    }
}

/// A validated sink configuration.
#[derive(Debug, Clone)]
pub struct SinkConfig {
    pub name: String,
    pub tasks_max: u32,
    pub topics: TopicSelection,
    pub connection: WarehouseUrl,
    pub insert_mode: InsertMode,
    pub primary_key_mode: PrimaryKeyMode,
    /// `primary.key.fields`, in the order given.
    pub primary_key_fields: Vec<String>,
    pub delete_enabled: bool,
    pub truncate_enabled: bool,
    pub schema_evolution: SchemaEvolution,
    /// `collection.name.format` (formerly `table.name.format`).
    pub table_name_format: String,
    pub quote_identifiers: bool,
    pub batch_size: usize,
    pub batch_max_latency: Duration,
    pub key_converter: Converter,
    pub value_converter: Converter,
    /// `errors.tolerance`.
    pub errors_tolerance: ErrorTolerance,
    /// `errors.deadletterqueue.*`, when a topic is named.
    pub dead_letter_queue: Option<DeadLetterQueue>,
    pub offsets_table: String,
    pub unavailable_value_placeholder: Vec<u8>,
    /// `history.enabled` and its settings ([`crate::history`]).
    pub history: Option<HistoryConfig>,
}

/// A configuration and what was worth a warning in it.
#[derive(Debug, Clone)]
pub struct ParsedSinkConfig {
    pub config: SinkConfig,
    pub warnings: Vec<String>,
}

/// Properties accepted and not used: connection pooling and retry knobs of the JDBC
/// sink's Hibernate layer, which the sink's single connection and its own retry loop
/// replace.
const ACCEPTED_UNUSED: &[&str] = &[
    "connection.provider",
    "connection.pool.min_size",
    "connection.pool.max_size",
    "connection.pool.acquire_increment",
    "connection.pool.timeout",
    "connection.restart.on.errors",
    "flush.max.retries",
    "flush.retry.delay.ms",
    "use.reduction.buffer",
    "dialect.postgres.postgis.schema",
    "dialect.postgres.unnest.insert.enabled",
    "dialect.sqlserver.identity.insert",
    "collection.table.format",
    "cloud.events.schema.name.pattern",
    "errors.log.enable",
    "errors.log.include.messages",
    "errors.retry.timeout",
    "errors.retry.delay.max.ms",
];

use pgcdc_schemas::avro::AvroConverterConfig;

use crate::history::HistoryConfig;

impl SinkConfig {
    /// Reads and validates Connect-style flat properties.
    pub fn from_properties(
        map: &BTreeMap<String, String>,
    ) -> Result<ParsedSinkConfig, ConfigErrors> {
        let mut p = Properties::new(map);
        let name = p.required("name");
        match p.raw("connector.class") {
            None => p.error(
                "connector.class",
                format!("is required ({CONNECTOR_CLASS})"),
            ),
            Some(CONNECTOR_CLASS) => {}
            Some(other) => p.error(
                "connector.class",
                format!("{other:?} is not {CONNECTOR_CLASS}, the only sink class pgcdc runs"),
            ),
        }
        let tasks_max = p.parsed("tasks.max", 1u32, "a positive number");
        if tasks_max == 0 {
            p.error("tasks.max", "must be at least 1");
        }
        let topics = read_topics(&mut p);
        let connection = read_connection(&mut p);

        let insert_mode = p.choice(
            "insert.mode",
            InsertMode::Insert,
            &[
                ("insert", InsertMode::Insert),
                ("upsert", InsertMode::Upsert),
                ("update", InsertMode::Update),
            ],
        );
        let primary_key_mode = read_primary_key_mode(&mut p);
        let primary_key_fields = p.list("primary.key.fields").unwrap_or_default();
        let delete_enabled = p.bool("delete.enabled", false);
        let truncate_enabled = p.bool("truncate.enabled", false);
        let schema_evolution = p.choice(
            "schema.evolution",
            SchemaEvolution::None,
            &[
                ("none", SchemaEvolution::None),
                ("basic", SchemaEvolution::Basic),
            ],
        );
        let table_name_format = read_table_name_format(&mut p);
        let quote_identifiers = p.bool("quote.identifiers", false);
        let batch_size = p.parsed("batch.size", 500usize, "a positive number");
        if batch_size == 0 {
            p.error("batch.size", "must be at least 1");
        }
        let latency_ms = p.parsed("batch.max.latency.ms", 200u64, "a number of milliseconds");
        let converters = read_converters(&mut p);
        let (errors_tolerance, dead_letter_queue) = errors::read(&mut p);
        let offsets_table = p.string("offsets.table.name", "pgcdc_sink_offsets");
        let unavailable_value_placeholder = p
            .string(
                "unavailable.value.placeholder",
                "__debezium_unavailable_value",
            )
            .into_bytes();
        let history = read_history(&mut p);

        // Cross-property rules.
        let key_mode_set = p.has("primary.key.mode");
        match insert_mode {
            InsertMode::Upsert if !key_mode_set => p.error(
                "insert.mode",
                "upsert needs primary.key.mode (record_key or record_value)",
            ),
            InsertMode::Upsert | InsertMode::Update if primary_key_mode == PrimaryKeyMode::None => {
                p.error(
                    "primary.key.mode",
                    format!(
                        "none cannot be used with insert.mode={}: there is no key to match rows on",
                        if insert_mode == InsertMode::Upsert {
                            "upsert"
                        } else {
                            "update"
                        }
                    ),
                )
            }
            _ => {}
        }
        if delete_enabled && primary_key_mode != PrimaryKeyMode::RecordKey {
            p.error(
                "delete.enabled",
                "true needs primary.key.mode=record_key (deletes and tombstones carry only the key)",
            );
        }
        if primary_key_mode == PrimaryKeyMode::RecordValue && primary_key_fields.is_empty() {
            p.error(
                "primary.key.fields",
                "is required with primary.key.mode=record_value",
            );
        }
        if primary_key_mode == PrimaryKeyMode::None && !primary_key_fields.is_empty() {
            p.error(
                "primary.key.fields",
                "is set but primary.key.mode is none (set primary.key.mode to record_key or record_value)",
            );
        }

        read_unsupported(&mut p);
        for property in ACCEPTED_UNUSED {
            p.raw(property);
        }
        p.claim_prefix("consumer.override.");
        p.claim_prefix("hibernate.");

        let mut warnings: Vec<String> = p
            .unused()
            .into_iter()
            .map(|key| format!("unknown property {key} is ignored"))
            .collect();
        if errors_tolerance == ErrorTolerance::None {
            if let Some(queue) = &dead_letter_queue {
                warnings.push(format!(
                    "errors.deadletterqueue.topic.name {} is set but errors.tolerance is none: the first bad record stops the task and nothing reaches the dead-letter topic",
                    queue.topic
                ));
            }
        }
        if let Some(url) = &connection {
            warnings.extend(
                url.ignored
                    .iter()
                    .map(|key| format!("connection.url property {key} is ignored")),
            );
        }
        if !p.errors.is_empty() {
            return Err(ConfigErrors(p.errors));
        }
        let (Some(topics), Some(connection), Some((key_converter, value_converter))) =
            (topics, connection, converters)
        else {
            // Each of these reported its problem above.
            return Err(ConfigErrors(vec![PropertyError {
                property: "name".to_owned(),
                message: "incomplete configuration".to_owned(),
            }]));
        };
        Ok(ParsedSinkConfig {
            config: SinkConfig {
                name,
                tasks_max,
                topics,
                connection,
                insert_mode,
                primary_key_mode,
                primary_key_fields,
                delete_enabled,
                truncate_enabled,
                schema_evolution,
                table_name_format,
                quote_identifiers,
                batch_size,
                batch_max_latency: Duration::from_millis(latency_ms),
                key_converter,
                value_converter,
                errors_tolerance,
                dead_letter_queue,
                offsets_table,
                unavailable_value_placeholder,
                history,
            },
            warnings,
        })
    }

    /// Kafka Connect's consumer group for a sink connector: `connect-<name>`.
    pub fn group_id(&self) -> String {
        format!("connect-{}", self.name)
    }

    /// The warehouse connection settings for tokio-postgres.
    pub fn postgres_config(&self) -> tokio_postgres::Config {
        self.connection
            .postgres_config(&format!("pgcdc sink {}", self.name))
    }
}

fn read_topics(p: &mut Properties<'_>) -> Option<TopicSelection> {
    let list = p.list("topics").filter(|l| !l.is_empty());
    let regex = p.optional("topics.regex");
    match (list, regex) {
        (Some(_), Some(_)) => {
            p.error(
                "topics.regex",
                "cannot be set together with topics; use one of them",
            );
            None
        }
        (Some(list), None) => Some(TopicSelection::List(list)),
        (None, Some(regex)) => match regex::Regex::new(&format!("^(?:{regex})$")) {
            Ok(_) => Some(TopicSelection::Regex(regex)),
            Err(e) => {
                p.error(
                    "topics.regex",
                    format!("{regex:?} is not a regular expression: {e}"),
                );
                None
            }
        },
        (None, None) => {
            p.error("topics", "one of topics or topics.regex is required");
            None
        }
    }
}

fn read_connection(p: &mut Properties<'_>) -> Option<WarehouseUrl> {
    let url = p.required("connection.url");
    let username = p.optional("connection.username");
    let password = p.optional("connection.password");
    if url.is_empty() {
        return None;
    }
    match parse_jdbc_url(&url) {
        Ok(mut parsed) => {
            if let Some(user) = username {
                parsed.user = Some(user);
            }
            if let Some(password) = password {
                parsed.password = Some(Secret::new(password));
            }
            if parsed.user.is_none() {
                p.error("connection.username", "is required");
            }
            Some(parsed)
        }
        Err(why) => {
            p.error("connection.url", why);
            None
        }
    }
}

fn read_primary_key_mode(p: &mut Properties<'_>) -> PrimaryKeyMode {
    #[derive(Clone, Copy)]
    enum Mode {
        Supported(PrimaryKeyMode),
        Unsupported(&'static str),
    }
    match p.choice(
        "primary.key.mode",
        Mode::Supported(PrimaryKeyMode::None),
        &[
            ("none", Mode::Supported(PrimaryKeyMode::None)),
            ("record_key", Mode::Supported(PrimaryKeyMode::RecordKey)),
            ("record_value", Mode::Supported(PrimaryKeyMode::RecordValue)),
            ("kafka", Mode::Unsupported("kafka")),
            ("record_header", Mode::Unsupported("record_header")),
        ],
    ) {
        Mode::Supported(mode) => mode,
        Mode::Unsupported(name) => {
            p.error(
                "primary.key.mode",
                format!("{name} is not supported by the pgcdc sink yet (use record_key, record_value or none)"),
            );
            PrimaryKeyMode::None
        }
    }
}

fn read_table_name_format(p: &mut Properties<'_>) -> String {
    let current = p.optional("collection.name.format");
    let deprecated = p.optional("table.name.format");
    let format = match (current, deprecated) {
        (Some(a), Some(b)) if a != b => {
            p.error(
                "table.name.format",
                format!("{b:?} contradicts collection.name.format {a:?} (table.name.format is its deprecated name)"),
            );
            a
        }
        (Some(a), _) => a,
        (None, Some(b)) => b,
        (None, None) => "${topic}".to_owned(),
    };
    let property = if p.has("collection.name.format") {
        "collection.name.format"
    } else {
        "table.name.format"
    };
    if let Err(why) = crate::naming::TableNameFormat::parse(&format) {
        p.error(property, why);
    }
    for (property, default) in [
        ("collection.naming.strategy", DEFAULT_COLLECTION_NAMING),
        ("table.naming.strategy", DEFAULT_COLLECTION_NAMING),
        ("column.naming.strategy", DEFAULT_COLUMN_NAMING),
    ] {
        if let Some(class) = p.raw(property) {
            let default_alias =
                class == "io.debezium.connector.jdbc.naming.DefaultTableNamingStrategy";
            if class != default && !default_alias {
                p.error(
                    property,
                    format!(
                        "{class:?}: only Debezium's default naming is supported by the pgcdc sink"
                    ),
                );
            }
        }
    }
    format
}

fn read_converters(p: &mut Properties<'_>) -> Option<(Converter, Converter)> {
    let mut read = |side: &str| -> Option<Converter> {
        let property = format!("{side}.converter");
        let settings = p.claim_prefix(&format!("{property}."));
        match p.raw(&property) {
            None | Some(JSON_CONVERTER) => read_json_converter(p, &property, &settings),
            Some(AVRO_CONVERTER) => {
                let pairs = settings.iter().map(|(k, v)| (k.as_str(), v.as_str()));
                match AvroConverterConfig::from_properties(pairs) {
                    Ok(config) => Some(Converter::Avro(Box::new(config))),
                    Err(pgcdc_schemas::avro::AvroError::Config { problems }) => {
                        for problem in problems {
                            p.error(&format!("{property}.{}", problem.property), problem.reason);
                        }
                        None
                    }
                    Err(other) => {
                        p.error(&property, other.to_string());
                        None
                    }
                }
            }
            Some(other) => {
                p.error(
                    &property,
                    format!(
                        "{other:?} is not supported (use {JSON_CONVERTER} or {AVRO_CONVERTER})"
                    ),
                );
                None
            }
        }
    };
    let key = read("key");
    let value = read("value");
    Some((key?, value?))
}

fn read_json_converter(
    p: &mut Properties<'_>,
    property: &str,
    settings: &BTreeMap<String, String>,
) -> Option<Converter> {
    let mut ok = true;
    if let Some(enabled) = settings.get("schemas.enable") {
        if !enabled.trim().eq_ignore_ascii_case("true") {
            p.error(
                &format!("{property}.schemas.enable"),
                "must be true: the sink creates and matches tables from the schema each record carries",
            );
            ok = false;
        }
    }
    if let Some(format) = settings.get("decimal.format") {
        if !format.trim().eq_ignore_ascii_case("BASE64") {
            p.error(
                &format!("{property}.decimal.format"),
                "only BASE64 (JsonConverter's default) is supported",
            );
            ok = false;
        }
    }
    ok.then_some(Converter::JsonWithSchemas)
}

/// Features of the JDBC sink that pgcdc does not implement: an error when they would
/// change what is written, so nobody gets a silently different warehouse.
fn read_unsupported(p: &mut Properties<'_>) {
    for property in [
        "field.include.list",
        "field.exclude.list",
        "transforms",
        "predicates",
    ] {
        if p.raw(property).is_some() {
            p.error(property, "is not supported by the pgcdc sink yet");
        }
    }
    p.claim_prefix("transforms.");
    p.claim_prefix("predicates.");
    for property in ["use.time.zone", "database.time_zone"] {
        if let Some(zone) = p.raw(property) {
            if !matches!(zone, "UTC" | "Z" | "Etc/UTC" | "GMT") {
                p.error(
                    property,
                    format!("{zone:?}: only UTC is supported (timestamps are written as the source had them)"),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests;

/// `history.enabled`, `history.table.suffix`, `history.partitions.ahead` (pgcdc's own).
fn read_history(p: &mut Properties<'_>) -> Option<HistoryConfig> {
    let enabled = p.bool("history.enabled", false);
    let suffix = p.string("history.table.suffix", "_history");
    let partitions_ahead = p.parsed("history.partitions.ahead", 3u32, "a number of days");
    if suffix.is_empty() {
        p.error(
            "history.table.suffix",
            "must not be empty: the history table would be the target table",
        );
    } else if suffix.contains('.') {
        p.error(
            "history.table.suffix",
            format!("{suffix:?} has a dot: the suffix is part of the table's name"),
        );
    }
    if partitions_ahead > 366 {
        p.error("history.partitions.ahead", "must be at most 366 days");
    }
    enabled.then_some(HistoryConfig {
        suffix,
        partitions_ahead,
    })
}
