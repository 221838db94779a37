//! The named ("semantic") schemas Debezium and Kafka Connect define, each as the
//! builder in their Java code leaves it: required, no default. Callers make them
//! optional where the column is.

use crate::connect::{Field, Schema};

pub const DECIMAL: &str = "org.apache.kafka.connect.data.Decimal";
pub const CONNECT_DATE: &str = "org.apache.kafka.connect.data.Date";
pub const CONNECT_TIME: &str = "org.apache.kafka.connect.data.Time";
pub const CONNECT_TIMESTAMP: &str = "org.apache.kafka.connect.data.Timestamp";
pub const VARIABLE_SCALE_DECIMAL: &str = "io.debezium.data.VariableScaleDecimal";
pub const DATE: &str = "io.debezium.time.Date";
pub const TIME: &str = "io.debezium.time.Time";
pub const MICRO_TIME: &str = "io.debezium.time.MicroTime";
pub const TIMESTAMP: &str = "io.debezium.time.Timestamp";
pub const MICRO_TIMESTAMP: &str = "io.debezium.time.MicroTimestamp";
pub const ZONED_TIME: &str = "io.debezium.time.ZonedTime";
pub const ZONED_TIMESTAMP: &str = "io.debezium.time.ZonedTimestamp";
pub const MICRO_DURATION: &str = "io.debezium.time.MicroDuration";
pub const INTERVAL: &str = "io.debezium.time.Interval";
pub const BITS: &str = "io.debezium.data.Bits";
pub const JSON: &str = "io.debezium.data.Json";
pub const XML: &str = "io.debezium.data.Xml";
pub const UUID: &str = "io.debezium.data.Uuid";
pub const ENUM: &str = "io.debezium.data.Enum";
pub const LTREE: &str = "io.debezium.data.Ltree";
pub const TSVECTOR: &str = "io.debezium.data.Tsvector";
pub const POINT: &str = "io.debezium.data.geometry.Point";
pub const LINE: &str = "io.debezium.data.geometry.Line";
pub const CIRCLE: &str = "io.debezium.data.geometry.Circle";
pub const GEOMETRY: &str = "io.debezium.data.geometry.Geometry";
pub const GEOGRAPHY: &str = "io.debezium.data.geometry.Geography";

/// Connect `Decimal` with its `scale` parameter.
pub fn decimal(scale: i32) -> Schema {
    Schema::bytes()
        .named(DECIMAL)
        .versioned(1)
        .with_parameter("scale", scale.to_string())
}

/// `VariableScaleDecimal`: the scale travels with each value.
pub fn variable_scale_decimal() -> Schema {
    Schema::structure(vec![
        Field::new("scale", Schema::int32()),
        Field::new("value", Schema::bytes()),
    ])
    .named(VARIABLE_SCALE_DECIMAL)
    .versioned(1)
    .with_doc("Variable scaled decimal")
}

fn named(schema: Schema, name: &str) -> Schema {
    schema.named(name).versioned(1)
}

pub fn date() -> Schema {
    named(Schema::int32(), DATE)
}
pub fn connect_date() -> Schema {
    named(Schema::int32(), CONNECT_DATE)
}
pub fn time() -> Schema {
    named(Schema::int32(), TIME)
}
pub fn micro_time() -> Schema {
    named(Schema::int64(), MICRO_TIME)
}
pub fn connect_time() -> Schema {
    named(Schema::int32(), CONNECT_TIME)
}
pub fn timestamp() -> Schema {
    named(Schema::int64(), TIMESTAMP)
}
pub fn micro_timestamp() -> Schema {
    named(Schema::int64(), MICRO_TIMESTAMP)
}
pub fn connect_timestamp() -> Schema {
    named(Schema::int64(), CONNECT_TIMESTAMP)
}
pub fn zoned_time() -> Schema {
    named(Schema::string(), ZONED_TIME)
}
pub fn zoned_timestamp() -> Schema {
    named(Schema::string(), ZONED_TIMESTAMP)
}
pub fn micro_duration() -> Schema {
    named(Schema::int64(), MICRO_DURATION)
}
pub fn interval() -> Schema {
    named(Schema::string(), INTERVAL)
}
pub fn json() -> Schema {
    named(Schema::string(), JSON)
}
pub fn xml() -> Schema {
    named(Schema::string(), XML)
}
pub fn uuid() -> Schema {
    named(Schema::string(), UUID)
}
pub fn ltree() -> Schema {
    named(Schema::string(), LTREE)
}
pub fn tsvector() -> Schema {
    named(Schema::string(), TSVECTOR)
}

/// `Bits` with the declared `length` in bits (2147483647 for unbounded `varbit`).
pub fn bits(length: i32) -> Schema {
    named(Schema::bytes(), BITS).with_parameter("length", length.to_string())
}

/// `Enum` with its labels in sort order.
pub fn enumeration(labels: &[String]) -> Schema {
    named(Schema::string(), ENUM).with_parameter("allowed", labels.join(","))
}

/// `geometry.Point`: `x`, `y`, and the point as WKB with an optional SRID.
pub fn point() -> Schema {
    Schema::structure(vec![
        Field::new("x", Schema::float64()),
        Field::new("y", Schema::float64()),
        Field::new("wkb", Schema::bytes().optional()),
        Field::new("srid", Schema::int32().optional()),
    ])
    .named(POINT)
    .versioned(1)
    .with_doc("Geometry (POINT)")
}

/// `geometry.Line`: the infinite line `ax + by + c = 0`.
pub fn line() -> Schema {
    Schema::structure(vec![
        Field::new("a", Schema::float64()),
        Field::new("b", Schema::float64()),
        Field::new("c", Schema::float64()),
    ])
    .named(LINE)
    .versioned(1)
    .with_doc("Geometry (LINE)")
}

/// `geometry.Circle`: a required `Point` center and a radius.
pub fn circle() -> Schema {
    Schema::structure(vec![
        Field::new("center", point()),
        Field::new("radius", Schema::float64()),
    ])
    .named(CIRCLE)
    .versioned(1)
    .with_doc("Geometry (CIRCLE)")
}

/// `geometry.Geometry` version 2: WKB, SRID, and an `extensions` map that names the
/// native type of `box`, `lseg`, `path` and `polygon` values.
pub fn geometry() -> Schema {
    Schema::structure(vec![
        Field::new("wkb", Schema::bytes()),
        Field::new("srid", Schema::int32().optional()),
        Field::new(
            "extensions",
            Schema::map(Schema::string(), Schema::string()).optional(),
        ),
    ])
    .named(GEOMETRY)
    .versioned(2)
    .with_doc("Geometry")
}

/// `geometry.Geography` (version 1, no extensions).
pub fn geography() -> Schema {
    Schema::structure(vec![
        Field::new("wkb", Schema::bytes()),
        Field::new("srid", Schema::int32().optional()),
    ])
    .named(GEOGRAPHY)
    .versioned(1)
    .with_doc("Geography")
}
