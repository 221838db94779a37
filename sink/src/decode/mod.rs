//! Record bytes → Connect schema and value: the one step that depends on the
//! converter. Everything after it (envelope, mapping, merge) works on
//! [`pgcdc_schemas::connect`] values. Keys and values have converters of their own
//! (`key.converter`, `value.converter`), as in Kafka Connect.

pub mod avro;
pub mod json;
pub mod payload;

use std::sync::Arc;

use pgcdc_schemas::avro::{AvroError, SchemaId};
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

/// A record's key and value bytes (`None`: absent).
pub type RecordBytes<'a> = (Option<&'a [u8]>, Option<&'a [u8]>);

/// Which side of a record a converter failed on (Kafka Connect's
/// `KEY_CONVERTER` / `VALUE_CONVERTER` stages).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Key,
    Value,
}

/// Bytes a converter could not read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {reason}", match side { Side::Key => "key", Side::Value => "value" })]
pub struct DecodeFailure {
    pub side: Side,
    pub reason: String,
}

/// One side's converter, keeping what it learned (parsed schemas) from one record to
/// the next.
#[derive(Debug)]
pub enum SideDecoder {
    Json(json::JsonDecoder),
    Avro(Box<avro::AvroDecoder>),
}

impl SideDecoder {
    pub fn new(converter: &Converter) -> Result<SideDecoder, AvroError> {
        Ok(match converter {
            Converter::JsonWithSchemas => SideDecoder::Json(json::JsonDecoder::default()),
            Converter::Avro(config) => SideDecoder::Avro(Box::new(avro::AvroDecoder::new(config)?)),
        })
    }

    fn decode(&mut self, bytes: &[u8]) -> Result<Option<ConnectData>, String> {
        let decoded = match self {
            SideDecoder::Json(json) => json.decode(bytes)?,
            SideDecoder::Avro(avro) => Some(avro.decode(bytes)?),
        };
        Ok(decoded.map(|(schema, value)| ConnectData { schema, value }))
    }

    fn missing(&self, bytes: &[u8]) -> Option<SchemaId> {
        match self {
            SideDecoder::Json(_) => None,
            SideDecoder::Avro(avro) => avro.missing(bytes),
        }
    }

    async fn fetch(&mut self, id: SchemaId) -> Result<(), AvroError> {
        match self {
            SideDecoder::Json(_) => Ok(()),
            SideDecoder::Avro(avro) => avro.fetch(id).await,
        }
    }
}

/// Decodes records with the configured converters.
#[derive(Debug)]
pub struct RecordDecoder {
    keys: SideDecoder,
    values: SideDecoder,
}

impl RecordDecoder {
    pub fn new(key: &Converter, value: &Converter) -> Result<RecordDecoder, AvroError> {
        Ok(RecordDecoder {
            keys: SideDecoder::new(key)?,
            values: SideDecoder::new(value)?,
        })
    }

    /// Brings in the schemas these records need (Avro: from the registry), so that
    /// [`RecordDecoder::decode`] needs no I/O. Fails only when retrying may help.
    pub async fn fetch_schemas<'a>(
        &mut self,
        records: impl IntoIterator<Item = RecordBytes<'a>>,
    ) -> Result<(), AvroError> {
        for (key, value) in records {
            if let Some(id) = key.and_then(|k| self.keys.missing(k)) {
                self.keys.fetch(id).await?;
            }
            if let Some(id) = value.and_then(|v| self.values.missing(v)) {
                self.values.fetch(id).await?;
            }
        }
        Ok(())
    }

    /// The key and value of one record; the error says which side failed and why.
    pub fn decode(
        &mut self,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
    ) -> Result<DecodedRecord, DecodeFailure> {
        let key = match key {
            None => None,
            Some(bytes) => self.keys.decode(bytes).map_err(|reason| DecodeFailure {
                side: Side::Key,
                reason,
            })?,
        };
        let value = match value {
            None => None,
            Some(bytes) => self.values.decode(bytes).map_err(|reason| DecodeFailure {
                side: Side::Value,
                reason,
            })?,
        };
        Ok(DecodedRecord { key, value })
    }
}
