//! The JDBC sink class's property definitions: the properties pgcdc's sink reads
//! (`pgcdc_sink::config`), with Debezium's names, types and defaults, and pgcdc's
//! own at the end.

use std::sync::OnceLock;

use serde_json::Value;

use super::{from_table, Definition};

#[allow(clippy::too_many_arguments)]
const fn def(
    name: &'static str,
    kind: &'static str,
    default: Option<&'static str>,
    required: bool,
    importance: &'static str,
    group: &'static str,
    display_name: &'static str,
    documentation: &'static str,
    recommended: &'static [&'static str],
) -> Definition {
    Definition {
        name,
        kind,
        default,
        required,
        importance,
        group,
        display_name,
        documentation,
        recommended,
    }
}

const NONE: &[&str] = &[];
const BOOLEAN: &[&str] = &["true", "false"];

const TABLE: &[Definition] = &[
    def("name", "STRING", None, true, "HIGH", "Common", "Connector name", "Names the connector; the consumer group is connect-<name>.", NONE),
    def("connector.class", "STRING", None, true, "HIGH", "Common", "Connector class", "io.debezium.connector.jdbc.JdbcSinkConnector", NONE),
    def("tasks.max", "INT", Some("1"), false, "HIGH", "Common", "Tasks max", "One task runs; it must be at least 1.", NONE),
    def("topics", "LIST", None, false, "HIGH", "Common", "Topics", "The topics to consume (or topics.regex).", NONE),
    def("topics.regex", "STRING", None, false, "HIGH", "Common", "Topics regex", "A regular expression matching whole topic names (or topics).", NONE),
    def("key.converter", "CLASS", Some("org.apache.kafka.connect.json.JsonConverter"), false, "LOW", "Common", "Key converter class", "JsonConverter with schemas, or io.confluent.connect.avro.AvroConverter with key.converter.schema.registry.url.", &["org.apache.kafka.connect.json.JsonConverter", "io.confluent.connect.avro.AvroConverter"]),
    def("value.converter", "CLASS", Some("org.apache.kafka.connect.json.JsonConverter"), false, "LOW", "Common", "Value converter class", "JsonConverter with schemas, or io.confluent.connect.avro.AvroConverter with value.converter.schema.registry.url.", &["org.apache.kafka.connect.json.JsonConverter", "io.confluent.connect.avro.AvroConverter"]),
    def("connection.url", "STRING", None, true, "HIGH", "Connection", "Connection URL", "The warehouse, jdbc:postgresql://host:port/database[?properties].", NONE),
    def("connection.username", "STRING", None, false, "HIGH", "Connection", "Connection user", "Required unless the URL names the user.", NONE),
    def("connection.password", "PASSWORD", None, false, "HIGH", "Connection", "Connection password", "Masked in every response; may be a ${env:...} or ${file:...} reference.", NONE),
    def("insert.mode", "STRING", Some("insert"), false, "HIGH", "Writes", "Insert mode", "insert, upsert (INSERT ... ON CONFLICT) or update.", &["insert", "upsert", "update"]),
    def("delete.enabled", "BOOLEAN", Some("false"), false, "MEDIUM", "Writes", "Delete enabled", "Apply deletes and tombstones (needs primary.key.mode=record_key).", BOOLEAN),
    def("truncate.enabled", "BOOLEAN", Some("false"), false, "MEDIUM", "Writes", "Truncate enabled", "Apply truncate events.", BOOLEAN),
    def("primary.key.mode", "STRING", Some("none"), false, "MEDIUM", "Writes", "Primary key mode", "none, record_key or record_value.", &["none", "record_key", "record_value"]),
    def("primary.key.fields", "LIST", None, false, "MEDIUM", "Writes", "Primary key fields", "The key's fields (all of the record key's by default; required with record_value).", NONE),
    def("schema.evolution", "STRING", Some("none"), false, "MEDIUM", "Writes", "Schema evolution", "none, or basic: missing tables are created and new fields added as columns.", &["none", "basic"]),
    def("collection.name.format", "STRING", Some("${topic}"), false, "MEDIUM", "Writes", "Table name format", "The target table of a topic; ${topic} and ${source.*} are replaced.", NONE),
    def("quote.identifiers", "BOOLEAN", Some("false"), false, "MEDIUM", "Writes", "Quote identifiers", "Quote table and column names (keeping their case).", BOOLEAN),
    def("batch.size", "INT", Some("500"), false, "MEDIUM", "Writes", "Batch size", "Records applied per warehouse transaction at most.", NONE),
    def("use.time.zone", "STRING", Some("UTC"), false, "LOW", "Writes", "Time zone", "Only UTC is supported.", &["UTC"]),
    def("errors.tolerance", "STRING", Some("none"), false, "MEDIUM", "Error Handling", "Error tolerance", "none: a bad record fails the task; all: it is skipped (and sent to the dead-letter topic, if any).", &["none", "all"]),
    def("errors.deadletterqueue.topic.name", "STRING", None, false, "MEDIUM", "Error Handling", "Dead letter queue topic name", "Where tolerated records go.", NONE),
    def("errors.deadletterqueue.topic.replication.factor", "SHORT", Some("3"), false, "MEDIUM", "Error Handling", "Dead letter queue topic replication factor", "Used when the sink creates the topic (-1: the broker's default).", NONE),
    def("errors.deadletterqueue.context.headers.enable", "BOOLEAN", Some("false"), false, "MEDIUM", "Error Handling", "Enable error context headers", "Add Connect's __connect.errors.* headers.", BOOLEAN),
    def("batch.max.latency.ms", "LONG", Some("200"), false, "MEDIUM", "pgcdc", "Batch latency", "How long a partial batch may wait before it is applied.", NONE),
    def("offsets.table.name", "STRING", Some("pgcdc_sink_offsets"), false, "MEDIUM", "pgcdc", "Offsets table", "The warehouse table holding the consumed offsets, written with the rows.", NONE),
    def("history.enabled", "BOOLEAN", Some("false"), false, "MEDIUM", "pgcdc", "History tables", "Append every applied change to <table><history.table.suffix>, partitioned by day on the source commit time.", BOOLEAN),
    def("history.table.suffix", "STRING", Some("_history"), false, "LOW", "pgcdc", "History table suffix", "The history table of a target is its name with this suffix.", NONE),
    def("history.partitions.ahead", "INT", Some("3"), false, "LOW", "pgcdc", "History partitions ahead", "Days after today whose partitions are created before they are needed (0-366).", NONE),
    def("unavailable.value.placeholder", "STRING", Some("__debezium_unavailable_value"), false, "LOW", "pgcdc", "Unavailable value placeholder", "A column carrying it keeps its stored value (unchanged TOAST).", NONE),
];

pub(super) fn definitions() -> &'static [Value] {
    static BUILT: OnceLock<Vec<Value>> = OnceLock::new();
    BUILT.get_or_init(|| from_table(TABLE))
}
