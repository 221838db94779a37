//! Connect field schema → PostgreSQL column type: the way back from Debezium's
//! mapping (`pgcdc_schemas::debezium::mapping`), by the schema's logical name first,
//! then by its Connect type. Pure; each rule is a unit test below.
//!
//! | Connect / Debezium | PostgreSQL |
//! | --- | --- |
//! | int8, int16 / int32 / int64 | `smallint` / `integer` / `bigint` |
//! | float / double | `real` / `double precision` |
//! | boolean, string, bytes | `boolean`, `text`, `bytea` |
//! | `Decimal` with `connect.decimal.precision` p, scale s / without | `numeric(p,s)` / `numeric` |
//! | `VariableScaleDecimal` | `numeric` |
//! | `Date`, Connect `Date` | `date` |
//! | `Time`, Connect `Time` / `MicroTime`, `NanoTime` | `time(3)` / `time(6)` |
//! | `Timestamp`, Connect `Timestamp` / `MicroTimestamp`, `NanoTimestamp` | `timestamp(3)` / `timestamp(6)` |
//! | `ZonedTimestamp` / `ZonedTime` | `timestamptz` / `timetz` |
//! | `MicroDuration`, `Interval` | `interval` |
//! | `Json` / `Xml` / `Uuid` | `json` / `xml` / `uuid` |
//! | `Enum`, `EnumSet`, `Ltree` | `text` |
//! | `Tsvector` | `tsvector` |
//! | `Bits` with `length` n | `bit varying(n)` (`bit(n)` when the source type says `BIT`) |
//! | `geometry.Point` / `Line` / `Circle` | `point` / `line` / `circle` |
//! | `geometry.Geometry`, `Geography` | `bytea` (the WKB) |
//! | array of T | T`[]` |
//! | map, other structs | `jsonb` |
//!
//! With `column.propagate.source.type` on the source connector, a string field whose
//! `__debezium.source.column.type` names a PostgreSQL type whose text Debezium passes
//! through (`varchar(n)`, `char(n)`, `jsonb`, `inet`, ranges, …) gets that type, and
//! time types their precision, so the warehouse column is the source column.

use pgcdc_schemas::connect::{Schema, SchemaKind};
use pgcdc_schemas::debezium::logical;

pub const NANO_TIME: &str = "io.debezium.time.NanoTime";
pub const NANO_TIMESTAMP: &str = "io.debezium.time.NanoTimestamp";
pub const ENUM_SET: &str = "io.debezium.data.EnumSet";
const SOURCE_TYPE: &str = "__debezium.source.column.type";
const SOURCE_LENGTH: &str = "__debezium.source.column.length";
const SOURCE_SCALE: &str = "__debezium.source.column.scale";

/// The column type for a field, as SQL text.
pub fn column_type(schema: &Schema) -> Result<String, String> {
    if let Some(from_source) = source_type(schema) {
        return Ok(from_source);
    }
    if let Some(name) = schema.name.as_deref() {
        if let Some(mapped) = logical_type(name, schema)? {
            return Ok(mapped);
        }
    }
    Ok(match &schema.kind {
        SchemaKind::Int8 | SchemaKind::Int16 => "smallint".to_owned(),
        SchemaKind::Int32 => "integer".to_owned(),
        SchemaKind::Int64 => "bigint".to_owned(),
        SchemaKind::Float32 => "real".to_owned(),
        SchemaKind::Float64 => "double precision".to_owned(),
        SchemaKind::Boolean => "boolean".to_owned(),
        SchemaKind::String => "text".to_owned(),
        SchemaKind::Bytes => "bytea".to_owned(),
        SchemaKind::Array(items) => {
            let item = column_type(items)?;
            if item == "jsonb" && items.schema_type() != pgcdc_schemas::connect::SchemaType::String
            {
                // An array of maps or structs: one JSON document.
                "jsonb".to_owned()
            } else if item.ends_with("[]") {
                item
            } else {
                format!("{item}[]")
            }
        }
        SchemaKind::Map { .. } | SchemaKind::Struct(_) => "jsonb".to_owned(),
    })
}

fn logical_type(name: &str, schema: &Schema) -> Result<Option<String>, String> {
    Ok(Some(match name {
        logical::DECIMAL => {
            let scale = schema.parameter("scale").unwrap_or("0");
            match schema.parameter("connect.decimal.precision") {
                Some(precision) => {
                    let (p, s) = (parse_param(precision, name)?, parse_param(scale, name)?);
                    if (1..=1000).contains(&p) && (0..=p).contains(&s) {
                        format!("numeric({p},{s})")
                    } else {
                        "numeric".to_owned()
                    }
                }
                None => "numeric".to_owned(),
            }
        }
        logical::VARIABLE_SCALE_DECIMAL => "numeric".to_owned(),
        logical::DATE | logical::CONNECT_DATE => "date".to_owned(),
        logical::TIME | logical::CONNECT_TIME => "time(3)".to_owned(),
        logical::MICRO_TIME | NANO_TIME => "time(6)".to_owned(),
        logical::TIMESTAMP | logical::CONNECT_TIMESTAMP => "timestamp(3)".to_owned(),
        logical::MICRO_TIMESTAMP | NANO_TIMESTAMP => "timestamp(6)".to_owned(),
        logical::ZONED_TIMESTAMP => "timestamptz".to_owned(),
        logical::ZONED_TIME => "timetz".to_owned(),
        logical::MICRO_DURATION | logical::INTERVAL => "interval".to_owned(),
        logical::JSON => "json".to_owned(),
        logical::XML => "xml".to_owned(),
        logical::UUID => "uuid".to_owned(),
        logical::ENUM | ENUM_SET | logical::LTREE => "text".to_owned(),
        logical::TSVECTOR => "tsvector".to_owned(),
        logical::BITS => match schema.parameter("length") {
            Some(length) => {
                let n = parse_param(length, name)?;
                if n > 0 && n < 83_886_080 {
                    format!("bit varying({n})")
                } else {
                    "bit varying".to_owned()
                }
            }
            None => "bit varying".to_owned(),
        },
        logical::POINT => "point".to_owned(),
        logical::LINE => "line".to_owned(),
        logical::CIRCLE => "circle".to_owned(),
        logical::GEOMETRY | logical::GEOGRAPHY => "bytea".to_owned(),
        _ => return Ok(None),
    }))
}

fn parse_param(text: &str, name: &str) -> Result<i64, String> {
    text.trim()
        .parse()
        .map_err(|_| format!("{name}: parameter {text:?} is not a number"))
}

/// The source column's own type, where Debezium's value is that type's text (or the
/// precision of a time type is all that is missing).
fn source_type(schema: &Schema) -> Option<String> {
    let source = schema.parameter(SOURCE_TYPE)?.to_ascii_uppercase();
    let length: Option<i64> = schema
        .parameter(SOURCE_LENGTH)
        .and_then(|l| l.parse().ok())
        .filter(|l| *l > 0 && *l < i64::from(i32::MAX));
    let scale: Option<i64> = schema
        .parameter(SOURCE_SCALE)
        .and_then(|s| s.parse().ok())
        .filter(|s| (0..=6).contains(s));
    let string = matches!(schema.kind, SchemaKind::String);
    let name = schema.name.as_deref();
    Some(match (source.as_str(), name) {
        ("VARCHAR", None) if string => match length {
            Some(n) => format!("varchar({n})"),
            None => "varchar".to_owned(),
        },
        ("BPCHAR", None) if string => format!("char({})", length.unwrap_or(1)),
        ("TEXT", None) if string => "text".to_owned(),
        ("JSONB", Some(logical::JSON)) => "jsonb".to_owned(),
        (
            t @ ("INET" | "CIDR" | "MACADDR" | "MACADDR8" | "INT4RANGE" | "INT8RANGE" | "NUMRANGE"
            | "TSRANGE" | "TSTZRANGE" | "DATERANGE"),
            None,
        ) if string => t.to_ascii_lowercase(),
        ("BIT", Some(logical::BITS)) => format!("bit({})", length.unwrap_or(1)),
        ("TIMESTAMPTZ", Some(logical::ZONED_TIMESTAMP)) => match scale {
            Some(p) => format!("timestamptz({p})"),
            None => "timestamptz".to_owned(),
        },
        ("TIMETZ", Some(logical::ZONED_TIME)) => match scale {
            Some(p) => format!("timetz({p})"),
            None => "timetz".to_owned(),
        },
        ("TIMESTAMP", Some(logical::MICRO_TIMESTAMP | logical::TIMESTAMP)) => match scale {
            Some(p) => format!("timestamp({p})"),
            None => return None,
        },
        ("TIME", Some(logical::MICRO_TIME | logical::TIME)) => match scale {
            Some(p) => format!("time({p})"),
            None => return None,
        },
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use pgcdc_schemas::connect::Field;

    fn sql(schema: &Schema) -> String {
        column_type(schema).expect("maps")
    }

    #[test]
    fn primitives() {
        assert_eq!(sql(&Schema::int8()), "smallint");
        assert_eq!(sql(&Schema::int16()), "smallint");
        assert_eq!(sql(&Schema::int32()), "integer");
        assert_eq!(sql(&Schema::int64()), "bigint");
        assert_eq!(sql(&Schema::float32()), "real");
        assert_eq!(sql(&Schema::float64()), "double precision");
        assert_eq!(sql(&Schema::boolean()), "boolean");
        assert_eq!(sql(&Schema::string()), "text");
        assert_eq!(sql(&Schema::bytes()), "bytea");
    }

    #[test]
    fn debezium_logical_types() {
        assert_eq!(
            sql(&logical::decimal(3).with_parameter("connect.decimal.precision", "12")),
            "numeric(12,3)"
        );
        assert_eq!(sql(&logical::decimal(2)), "numeric", "money: no precision");
        assert_eq!(sql(&logical::variable_scale_decimal()), "numeric");
        assert_eq!(sql(&logical::date()), "date");
        assert_eq!(sql(&logical::connect_date()), "date");
        assert_eq!(sql(&logical::time()), "time(3)");
        assert_eq!(sql(&logical::micro_time()), "time(6)");
        assert_eq!(sql(&logical::timestamp()), "timestamp(3)");
        assert_eq!(sql(&logical::micro_timestamp()), "timestamp(6)");
        assert_eq!(sql(&logical::connect_timestamp()), "timestamp(3)");
        assert_eq!(sql(&logical::zoned_timestamp()), "timestamptz");
        assert_eq!(sql(&logical::zoned_time()), "timetz");
        assert_eq!(sql(&logical::micro_duration()), "interval");
        assert_eq!(sql(&logical::interval()), "interval");
        assert_eq!(sql(&logical::json()), "json");
        assert_eq!(sql(&logical::xml()), "xml");
        assert_eq!(sql(&logical::uuid()), "uuid");
        assert_eq!(sql(&logical::enumeration(&["a".to_owned()])), "text");
        assert_eq!(sql(&logical::bits(10)), "bit varying(10)");
        assert_eq!(sql(&logical::bits(i32::MAX)), "bit varying");
        assert_eq!(sql(&logical::point()), "point");
        assert_eq!(sql(&logical::geometry()), "bytea");
    }

    #[test]
    fn containers() {
        assert_eq!(sql(&Schema::array(Schema::int32().optional())), "integer[]");
        assert_eq!(
            sql(&Schema::array(logical::micro_timestamp().optional())),
            "timestamp(6)[]"
        );
        assert_eq!(
            sql(&Schema::array(Schema::array(Schema::string()))),
            "text[]",
            "PostgreSQL arrays of any dimension share one type"
        );
        assert_eq!(
            sql(&Schema::map(Schema::string(), Schema::string().optional())),
            "jsonb"
        );
        assert_eq!(
            sql(&Schema::structure(vec![Field::new("a", Schema::int32())])),
            "jsonb"
        );
        assert_eq!(
            sql(&Schema::array(Schema::map(
                Schema::string(),
                Schema::string()
            ))),
            "jsonb"
        );
    }

    #[test]
    fn propagated_source_types() {
        let varchar = Schema::string()
            .with_parameter(SOURCE_TYPE, "VARCHAR")
            .with_parameter(SOURCE_LENGTH, "20")
            .with_parameter(SOURCE_SCALE, "0");
        assert_eq!(sql(&varchar), "varchar(20)");
        let jsonb = logical::json().with_parameter(SOURCE_TYPE, "JSONB");
        assert_eq!(sql(&jsonb), "jsonb");
        let inet = Schema::string().with_parameter(SOURCE_TYPE, "INET");
        assert_eq!(sql(&inet), "inet");
        let ts3 = logical::timestamp()
            .with_parameter(SOURCE_TYPE, "TIMESTAMP")
            .with_parameter(SOURCE_SCALE, "3");
        assert_eq!(sql(&ts3), "timestamp(3)");
        let bit = logical::bits(4)
            .with_parameter(SOURCE_TYPE, "BIT")
            .with_parameter(SOURCE_LENGTH, "4");
        assert_eq!(sql(&bit), "bit(4)");
        // A type whose value is not its text keeps the logical mapping.
        let money = logical::decimal(2).with_parameter(SOURCE_TYPE, "MONEY");
        assert_eq!(sql(&money), "numeric");
    }
}
