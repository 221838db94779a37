//! Which subject a record's schema is registered under: Confluent's subject name
//! strategies, chosen by `key.subject.name.strategy` and
//! `value.subject.name.strategy` (package `io.confluent.kafka.serializers.subject`):
//!
//! - `TopicNameStrategy` (the default): `<topic>-key` or `<topic>-value`;
//! - `RecordNameStrategy`: the record's full name;
//! - `TopicRecordNameStrategy`: `<topic>-<record full name>`.
//!
//! The two record strategies need a record schema: an optional struct (a union) or a
//! primitive is refused with the message Confluent's serializer gives.

use super::schema::{AvroKind, AvroSchema};
use super::AvroError;

const PACKAGE: &str = "io.confluent.kafka.serializers.subject.";

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SubjectNameStrategy {
    #[default]
    TopicName,
    RecordName,
    TopicRecordName,
}

impl SubjectNameStrategy {
    /// From a strategy's class name, full (`io.confluent.kafka.serializers.subject.RecordNameStrategy`)
    /// or simple (`RecordNameStrategy`).
    pub fn from_class_name(class: &str) -> Option<SubjectNameStrategy> {
        let class = class.trim();
        let simple = class.strip_prefix(PACKAGE).unwrap_or(class);
        match simple {
            "TopicNameStrategy" => Some(SubjectNameStrategy::TopicName),
            "RecordNameStrategy" => Some(SubjectNameStrategy::RecordName),
            "TopicRecordNameStrategy" => Some(SubjectNameStrategy::TopicRecordName),
            _ => None,
        }
    }

    pub fn class_name(self) -> String {
        let simple = match self {
            SubjectNameStrategy::TopicName => "TopicNameStrategy",
            SubjectNameStrategy::RecordName => "RecordNameStrategy",
            SubjectNameStrategy::TopicRecordName => "TopicRecordNameStrategy",
        };
        format!("{PACKAGE}{simple}")
    }

    /// The subject of a key (`is_key`) or value of `topic` written with `schema`.
    pub fn subject(
        self,
        topic: &str,
        is_key: bool,
        schema: &AvroSchema,
    ) -> Result<String, AvroError> {
        match self {
            SubjectNameStrategy::TopicName => {
                Ok(format!("{topic}-{}", if is_key { "key" } else { "value" }))
            }
            SubjectNameStrategy::RecordName => self.record_name(is_key, schema),
            SubjectNameStrategy::TopicRecordName => {
                Ok(format!("{topic}-{}", self.record_name(is_key, schema)?))
            }
        }
    }

    fn record_name(self, is_key: bool, schema: &AvroSchema) -> Result<String, AvroError> {
        match &schema.kind {
            AvroKind::Record { name, .. } => Ok(name.full_name()),
            _ => Err(AvroError::Subject(format!(
                "In configuration {}.subject.name.strategy = {}, the message {} must only be a record schema",
                if is_key { "key" } else { "value" },
                self.class_name(),
                if is_key { "key" } else { "value" },
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::avro::schema::Name;

    fn record(full: &str) -> AvroSchema {
        AvroKind::Record {
            name: Name::parse(full),
            doc: None,
            fields: Vec::new(),
            aliases: Vec::new(),
        }
        .into()
    }

    // Confluent's TopicNameStrategy, RecordNameStrategy and TopicRecordNameStrategy.
    #[test]
    fn subjects_as_confluent_names_them() {
        let envelope = record("shop.public.orders.Envelope");
        let s = |strategy: SubjectNameStrategy, is_key| {
            strategy
                .subject("shop.public.orders", is_key, &envelope)
                .expect("subject")
        };
        assert_eq!(
            s(SubjectNameStrategy::TopicName, true),
            "shop.public.orders-key"
        );
        assert_eq!(
            s(SubjectNameStrategy::TopicName, false),
            "shop.public.orders-value"
        );
        assert_eq!(
            s(SubjectNameStrategy::RecordName, false),
            "shop.public.orders.Envelope"
        );
        assert_eq!(
            s(SubjectNameStrategy::TopicRecordName, false),
            "shop.public.orders-shop.public.orders.Envelope"
        );
        let union: AvroSchema = AvroKind::Union(vec![AvroSchema::null(), envelope]).into();
        let refused = SubjectNameStrategy::RecordName
            .subject("t", true, &union)
            .expect_err("a union has no record name");
        assert_eq!(
            refused.to_string(),
            "In configuration key.subject.name.strategy = io.confluent.kafka.serializers.subject.RecordNameStrategy, the message key must only be a record schema"
        );
    }

    #[test]
    fn class_names() {
        for strategy in [
            SubjectNameStrategy::TopicName,
            SubjectNameStrategy::RecordName,
            SubjectNameStrategy::TopicRecordName,
        ] {
            assert_eq!(
                SubjectNameStrategy::from_class_name(&strategy.class_name()),
                Some(strategy)
            );
        }
        assert_eq!(
            SubjectNameStrategy::from_class_name("RecordNameStrategy"),
            Some(SubjectNameStrategy::RecordName)
        );
        assert_eq!(
            SubjectNameStrategy::from_class_name("com.example.Mine"),
            None
        );
    }
}
