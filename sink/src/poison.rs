//! Records the sink cannot apply, and what it says about them. Pure.
//!
//! A record is poison when the fault is its own: its bytes do not decode, it is not
//! a change event the sink understands, its key or values do not fit its table, or
//! the warehouse refuses its row (a data exception or a constraint violation,
//! SQLSTATE classes 22 and 23). With `errors.tolerance=none` the first one stops the
//! task, naming it; with `all` it is skipped and, when a dead-letter topic is set,
//! written there with Kafka Connect's error context headers.
//!
//! Problems of a whole table or of the configuration (a table missing under
//! `schema.evolution=none`, a warehouse that is down) are never blamed on a record.

use crate::batch::Consumed;
use crate::config::Converter;

/// Kafka Connect's stage names (`__connect.errors.stage`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    KeyConverter,
    ValueConverter,
    /// Turning the record into rows and applying them (the JDBC sink's `put`).
    TaskPut,
}

impl Stage {
    pub fn name(self) -> &'static str {
        match self {
            Stage::KeyConverter => "KEY_CONVERTER",
            Stage::ValueConverter => "VALUE_CONVERTER",
            Stage::TaskPut => "TASK_PUT",
        }
    }
}

/// Why a record cannot be applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordFailure {
    pub stage: Stage,
    pub reason: String,
    /// Set when the warehouse refused the row (the Java class a JVM sink would have
    /// reported differs, so the header says what happened instead).
    pub refused_by_warehouse: bool,
}

impl RecordFailure {
    pub fn new(stage: Stage, reason: impl Into<String>) -> RecordFailure {
        RecordFailure {
            stage,
            reason: reason.into(),
            refused_by_warehouse: false,
        }
    }

    pub fn warehouse(reason: impl Into<String>) -> RecordFailure {
        RecordFailure {
            stage: Stage::TaskPut,
            reason: reason.into(),
            refused_by_warehouse: true,
        }
    }

    /// The exception class Kafka Connect reports for this kind of failure:
    /// converters and record shapes throw `DataException`, a failed write a
    /// `ConnectException`.
    pub fn exception_class(&self) -> &'static str {
        if self.refused_by_warehouse {
            "org.apache.kafka.connect.errors.ConnectException"
        } else {
            "org.apache.kafka.connect.errors.DataException"
        }
    }
}

/// A record of a batch (by its index in the batch) and why it was not applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected {
    pub index: usize,
    pub failure: RecordFailure,
}

/// The class that was executing, as Connect names it (`__connect.errors.class.name`).
pub const SINK_TASK_CLASS: &str = "io.debezium.connector.jdbc.JdbcSinkConnectorTask";

/// Kafka Connect's dead-letter context headers for `record` (KIP-298,
/// `errors.deadletterqueue.context.headers.enable=true`), values as UTF-8 text.
pub fn context_headers(
    record: &Consumed,
    failure: &RecordFailure,
    connector: &str,
    key_converter: &Converter,
    value_converter: &Converter,
) -> Vec<(&'static str, String)> {
    let executing = match failure.stage {
        Stage::KeyConverter => key_converter.class_name(),
        Stage::ValueConverter => value_converter.class_name(),
        Stage::TaskPut => SINK_TASK_CLASS,
    };
    vec![
        ("__connect.errors.topic", record.topic.clone()),
        ("__connect.errors.partition", record.partition.to_string()),
        ("__connect.errors.offset", record.offset.to_string()),
        ("__connect.errors.connector.name", connector.to_owned()),
        ("__connect.errors.task.id", "0".to_owned()),
        ("__connect.errors.stage", failure.stage.name().to_owned()),
        ("__connect.errors.class.name", executing.to_owned()),
        (
            "__connect.errors.exception.class.name",
            failure.exception_class().to_owned(),
        ),
        ("__connect.errors.exception.message", failure.reason.clone()),
        // There is no JVM stack to give; the message with where it happened is the
        // most a reader can act on.
        (
            "__connect.errors.exception.stacktrace",
            format!(
                "{}: {}\n\tat pgcdc sink {connector} ({}) {}/{}@{}",
                failure.exception_class(),
                failure.reason,
                failure.stage.name(),
                record.topic,
                record.partition,
                record.offset
            ),
        ),
    ]
}

/// SQLSTATE classes that blame the row: 22 data exception (a value out of range, too
/// long, malformed) and 23 integrity constraint violation (not null, unique, foreign
/// key, check, exclusion).
pub fn is_row_rejection(error: &tokio_postgres::Error) -> bool {
    error
        .code()
        .is_some_and(|code| code.code().starts_with("22") || code.code().starts_with("23"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connects_header_names_and_values() {
        let record = Consumed {
            topic: "shop.public.orders".to_owned(),
            partition: 2,
            offset: 41,
            key: None,
            value: Some(b"x".to_vec()),
            headers: Vec::new(),
        };
        let failure = RecordFailure::new(Stage::ValueConverter, "value: not JSON");
        let headers = context_headers(
            &record,
            &failure,
            "dw",
            &Converter::JsonWithSchemas,
            &Converter::JsonWithSchemas,
        );
        let get = |name: &str| {
            headers
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(get("__connect.errors.topic"), Some("shop.public.orders"));
        assert_eq!(get("__connect.errors.partition"), Some("2"));
        assert_eq!(get("__connect.errors.offset"), Some("41"));
        assert_eq!(get("__connect.errors.connector.name"), Some("dw"));
        assert_eq!(get("__connect.errors.task.id"), Some("0"));
        assert_eq!(get("__connect.errors.stage"), Some("VALUE_CONVERTER"));
        assert_eq!(
            get("__connect.errors.class.name"),
            Some("org.apache.kafka.connect.json.JsonConverter")
        );
        assert_eq!(
            get("__connect.errors.exception.class.name"),
            Some("org.apache.kafka.connect.errors.DataException")
        );
        assert_eq!(
            get("__connect.errors.exception.message"),
            Some("value: not JSON")
        );
        assert!(get("__connect.errors.exception.stacktrace")
            .is_some_and(|s| s.contains("shop.public.orders/2@41")));
        let refused = RecordFailure::warehouse("null value in column \"v\"");
        let headers = context_headers(
            &record,
            &refused,
            "dw",
            &Converter::JsonWithSchemas,
            &Converter::JsonWithSchemas,
        );
        assert!(headers.contains(&("__connect.errors.stage", "TASK_PUT".to_owned())));
        assert!(headers.contains(&(
            "__connect.errors.exception.class.name",
            "org.apache.kafka.connect.errors.ConnectException".to_owned()
        )));
    }
}
