//! Confluent's AvroConverter read back: a record is the wire format (magic byte 0,
//! the 4-byte schema id, the Avro datum); the id's schema comes from the registry
//! (`schema_by_id`, cached by the client), is parsed and turned into its Connect
//! schema once ([`schema`]), and every datum is read with it ([`value`]).
//!
//! Fetching is async and decoding is not: [`AvroDecoder::fetch`] brings in the
//! schemas a batch needs before the batch is decoded, so the pure part stays pure. A
//! registry that cannot be reached is the task's problem (retried); an id the
//! registry does not know, or a schema with no Connect form, is the record's.

pub mod read;
pub mod schema;
pub mod value;

use std::collections::HashMap;
use std::sync::Arc;

#[cfg(test)]
use pgcdc_schemas::avro::decode_datum_named;
use pgcdc_schemas::avro::parse::parse_schema;
use pgcdc_schemas::avro::{wire, AvroConverterConfig, AvroError, RegistryClient, SchemaId};
use pgcdc_schemas::connect::{Schema, Value};

/// How many distinct schema ids are kept parsed before the cache starts over.
const SCHEMA_CACHE_LIMIT: usize = 4096;

/// A writer's schema: its Connect form, and how to read its datums as that.
#[derive(Debug)]
struct WriterSchema {
    reading: read::Reading,
    connect: Arc<Schema>,
}

#[derive(Debug)]
pub struct AvroDecoder {
    registry: RegistryClient,
    /// By id: the schema, or why its records cannot be read.
    schemas: HashMap<SchemaId, Result<Arc<WriterSchema>, String>>,
}

impl AvroDecoder {
    pub fn new(config: &AvroConverterConfig) -> Result<AvroDecoder, AvroError> {
        Ok(AvroDecoder {
            registry: RegistryClient::new(config)?,
            schemas: HashMap::new(),
        })
    }

    /// The schema id of a record this decoder has not resolved yet.
    pub fn missing(&self, bytes: &[u8]) -> Option<SchemaId> {
        let (id, _) = wire::split(bytes).ok()?;
        (!self.schemas.contains_key(&id)).then_some(id)
    }

    /// Fetches and converts the schema `id`. Only a retriable failure (the registry
    /// unreachable or failing) is returned; any other is kept as the reason why
    /// records with this id cannot be read.
    pub async fn fetch(&mut self, id: SchemaId) -> Result<(), AvroError> {
        if self.schemas.contains_key(&id) {
            return Ok(());
        }
        let resolved = match self.registry.schema_by_id(id).await {
            Ok(text) => writer_schema(&text).map(Arc::new),
            Err(e) if e.is_retriable() => return Err(e),
            Err(e) => Err(e.to_string()),
        };
        if let Err(why) = &resolved {
            tracing::warn!(schema_id = %id, reason = %why, "records with this schema id cannot be read");
        }
        if self.schemas.len() >= SCHEMA_CACHE_LIMIT {
            self.schemas.clear();
        }
        self.schemas.insert(id, resolved);
        Ok(())
    }

    /// The schema and value of one key or value in the wire format. The schema must
    /// have been fetched.
    pub fn decode(&self, bytes: &[u8]) -> Result<(Arc<Schema>, Value), String> {
        let (id, datum) = wire::split(bytes).map_err(|e| e.to_string())?;
        let writer = match self.schemas.get(&id) {
            Some(Ok(writer)) => writer,
            Some(Err(why)) => return Err(format!("schema id {id}: {why}")),
            None => return Err(format!("schema id {id} was not fetched")),
        };
        let value = writer
            .reading
            .read_datum(datum)
            .map_err(|e| format!("Avro data of schema id {id}: {e}"))?;
        Ok((Arc::clone(&writer.connect), value))
    }
}

/// A registry's schema text, parsed and converted.
fn writer_schema(text: &str) -> Result<WriterSchema, String> {
    let avro = parse_schema(text).map_err(|e| e.to_string())?;
    let connect = schema::connect_schema(&avro)?;
    let reading = read::compile(&avro, &connect, &schema::names(&avro))?;
    Ok(WriterSchema {
        reading,
        connect: Arc::new(connect),
    })
}

/// For tests: reads a datum of a schema text without a registry, the way the sink
/// does.
#[cfg(test)]
pub(crate) fn decode_with(text: &str, datum: &[u8]) -> Result<(Schema, Value), String> {
    let writer = writer_schema(text)?;
    let value = writer
        .reading
        .read_datum(datum)
        .map_err(|e| e.to_string())?;
    Ok((Arc::unwrap_or_clone(writer.connect), value))
}

/// For tests: a schema text's compiled reading, and the same datum read in two steps
/// (into an Avro value, that into a Connect value), to hold one to the other.
#[cfg(test)]
pub(crate) struct BothPaths {
    writer: WriterSchema,
    avro: pgcdc_schemas::avro::AvroSchema,
    names: schema::Names,
}

#[cfg(test)]
impl BothPaths {
    pub(crate) fn new(text: &str) -> Result<BothPaths, String> {
        let avro = parse_schema(text).map_err(|e| e.to_string())?;
        Ok(BothPaths {
            writer: writer_schema(text)?,
            names: schema::names(&avro),
            avro,
        })
    }

    pub(crate) fn compiled(&self, datum: &[u8]) -> Result<Value, String> {
        self.writer
            .reading
            .read_datum(datum)
            .map_err(|e| e.to_string())
    }

    pub(crate) fn in_two_steps(&self, datum: &[u8]) -> Result<Value, String> {
        let avro_value =
            decode_datum_named(&self.avro, &self.names, datum).map_err(|e| e.to_string())?;
        value::connect_value(&self.avro, &self.writer.connect, &avro_value, &self.names)
    }
}

#[cfg(test)]
mod tests;
