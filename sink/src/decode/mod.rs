//! Record bytes → Connect schema and value: the one step that depends on the
//! converter. Everything after it (envelope, mapping, merge) works on
//! [`pgcdc_schemas::connect`] values, so another converter (Avro through the
//! registry) is one more variant here.

pub mod json;

use std::sync::Arc;

use pgcdc_schemas::connect::{Schema, Value};

use crate::config::Converter;

/// A key or value read with its schema.
#[derive(Debug, Clone, PartialEq)]
pub struct ConnectData {
    pub schema: Arc<Schema>,
    pub value: Value,
}

/// One Kafka record, decoded. `None` for an absent key or value (a tombstone).
#[derive(Debug, Clone, PartialEq)]
pub struct DecodedRecord {
    pub key: Option<ConnectData>,
    pub value: Option<ConnectData>,
}

/// Decodes records of the configured converter, keeping what it learned (parsed
/// schemas) from one record to the next.
#[derive(Debug)]
pub enum RecordDecoder {
    Json {
        keys: json::JsonDecoder,
        values: json::JsonDecoder,
    },
}

impl RecordDecoder {
    pub fn new(converter: Converter) -> RecordDecoder {
        match converter {
            Converter::JsonWithSchemas => RecordDecoder::Json {
                keys: json::JsonDecoder::default(),
                values: json::JsonDecoder::default(),
            },
        }
    }

    /// The key and value of one record; the error says which side failed and why.
    pub fn decode(
        &mut self,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
    ) -> Result<DecodedRecord, String> {
        match self {
            RecordDecoder::Json { keys, values } => {
                let key = match key {
                    None => None,
                    Some(bytes) => keys
                        .decode(bytes)
                        .map_err(|e| format!("key: {e}"))?
                        .map(|(schema, value)| ConnectData { schema, value }),
                };
                let value = match value {
                    None => None,
                    Some(bytes) => values
                        .decode(bytes)
                        .map_err(|e| format!("value: {e}"))?
                        .map(|(schema, value)| ConnectData { schema, value }),
                };
                Ok(DecodedRecord { key, value })
            }
        }
    }
}
