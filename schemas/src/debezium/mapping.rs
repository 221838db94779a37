//! PostgreSQL column → Connect field schema, as Debezium's PostgreSQL connector maps
//! it (`PostgresValueConverter.schemaBuilder`), for every handling mode in
//! [`ValueModes`]. Each rule below is pinned by the fixtures in
//! `tests/fixtures/debezium/` (named in the tests); the notable ones:
//!
//! - `bit(1)` (and `varbit(1)`) is a BOOLEAN, longer bit strings `Bits` with `length`;
//! - unconstrained `numeric` is `VariableScaleDecimal` in `precise` mode, constrained
//!   `numeric(p,s)` a `Decimal` with `scale` and `connect.decimal.precision`, `money` a
//!   `Decimal` with `money.fraction.digits` and no precision;
//! - `time(p)` and `timestamp(p)` pick millisecond or microsecond types by precision
//!   in the `adaptive` modes; `timetz`/`timestamptz` are ISO strings in every mode;
//! - a column of a type Debezium has no mapping for is left out of the event (`xid`,
//!   `xid8`, `pg_lsn`, `tsquery`, multiranges, composites), or becomes bytes of its
//!   text with `include.unknown.datatypes`; arrays of `money`, `name`, `interval`,
//!   `varbit`, `xml` and `point` are left out even then;
//! - array items are optional, except the items of an enum array.

use super::column::{typmod, ColumnDescription, PgColumnType, PgScalar};
use super::logical;
use super::modes::{
    BinaryHandlingMode, DecimalHandlingMode, HstoreHandlingMode, IntervalHandlingMode,
    TimePrecisionMode, ValueModes,
};
use super::source_type;
use crate::connect::Schema;

/// The schema of a column's field in the table's `Value` struct (`before`/`after`),
/// or `None` when Debezium leaves the column out.
pub fn value_field_schema(column: &ColumnDescription, modes: &ValueModes) -> Option<Schema> {
    let mut schema = field_schema(column, modes)?;
    if column.propagate_source_type {
        source_type::add_parameters(&mut schema, column);
    }
    Some(schema)
}

/// The schema of a key column's field in the table's `Key` struct: the value field's
/// schema without the `__debezium.source.column.*` parameters.
pub fn key_field_schema(column: &ColumnDescription, modes: &ValueModes) -> Option<Schema> {
    field_schema(column, modes)
}

fn field_schema(column: &ColumnDescription, modes: &ValueModes) -> Option<Schema> {
    let mut schema = match column.pg_type {
        PgColumnType::Scalar(scalar) => scalar_schema(scalar, column, modes)?,
        PgColumnType::Array(element) => array_schema(element, column, modes)?,
    };
    schema.optional = column.optional;
    schema.default = column.default.clone();
    Some(schema)
}

/// The schema of a scalar column (or of an array's element), required.
pub fn scalar_schema(
    scalar: PgScalar,
    column: &ColumnDescription,
    modes: &ValueModes,
) -> Option<Schema> {
    use PgScalar as P;
    Some(match scalar {
        P::Bool => Schema::boolean(),
        P::Int2 => Schema::int16(),
        P::Int4 => Schema::int32(),
        P::Int8 | P::Oid => Schema::int64(),
        P::Float4 => Schema::float32(),
        P::Float8 => Schema::float64(),
        P::Numeric => numeric_schema(column.typmod, modes.decimal),
        P::Money => match modes.decimal {
            DecimalHandlingMode::Precise => {
                logical::decimal(i32::from(modes.money_fraction_digits))
            }
            DecimalHandlingMode::Double => Schema::float64(),
            DecimalHandlingMode::String => Schema::string(),
        },
        P::Text
        | P::Varchar
        | P::Bpchar
        | P::Name
        | P::Char
        | P::Citext
        | P::Inet
        | P::Cidr
        | P::Macaddr
        | P::Macaddr8
        | P::Int4Range
        | P::Int8Range
        | P::NumRange
        | P::TsRange
        | P::TstzRange
        | P::DateRange => Schema::string(),
        P::Bytea => binary_schema(modes.binary),
        P::Uuid => logical::uuid(),
        P::Json | P::Jsonb => logical::json(),
        P::Xml => logical::xml(),
        P::Date => date_schema(modes.time),
        P::Time => time_schema(typmod::time_precision(column.typmod), modes.time),
        P::Timestamp => timestamp_schema(typmod::time_precision(column.typmod), modes.time),
        P::Timetz => logical::zoned_time(),
        P::Timestamptz => logical::zoned_timestamp(),
        P::Interval => match modes.interval {
            IntervalHandlingMode::Numeric => logical::micro_duration(),
            IntervalHandlingMode::String => logical::interval(),
        },
        P::Bit | P::Varbit => {
            let length = bit_length(scalar, column.typmod);
            if length > 1 {
                logical::bits(length)
            } else {
                Schema::boolean()
            }
        }
        P::Point => logical::point(),
        P::Line => logical::line(),
        P::Lseg | P::Box | P::Path | P::Polygon | P::Geometry => logical::geometry(),
        P::Circle => logical::circle(),
        P::Geography => logical::geography(),
        P::Tsvector => logical::tsvector(),
        P::Enum => logical::enumeration(&column.enum_values),
        P::Hstore => hstore_schema(modes.hstore),
        P::Ltree => logical::ltree(),
        P::Xid | P::Xid8 | P::PgLsn | P::Tsquery | P::Multirange | P::Unknown => {
            if modes.include_unknown_datatypes {
                binary_schema(modes.binary)
            } else {
                return None;
            }
        }
    })
}

fn array_schema(
    element: PgScalar,
    column: &ColumnDescription,
    modes: &ValueModes,
) -> Option<Schema> {
    use PgScalar as P;
    let items = match element {
        // Not implemented in Debezium (DBZ-459): no schema, whatever the options.
        P::Money | P::Name | P::Interval | P::Varbit | P::Xml | P::Point => return None,
        // The enum builder is used as is: its items are required.
        P::Enum => return Some(Schema::array(logical::enumeration(&column.enum_values))),
        P::Bool
        | P::Int2
        | P::Int4
        | P::Int8
        | P::Oid
        | P::Float4
        | P::Float8
        | P::Numeric
        | P::Text
        | P::Varchar
        | P::Bpchar
        | P::Char
        | P::Citext
        | P::Inet
        | P::Cidr
        | P::Macaddr
        | P::Macaddr8
        | P::Int4Range
        | P::Int8Range
        | P::NumRange
        | P::TsRange
        | P::TstzRange
        | P::DateRange
        | P::Bytea
        | P::Uuid
        | P::Json
        | P::Jsonb
        | P::Date
        | P::Time
        | P::Timetz
        | P::Timestamp
        | P::Timestamptz
        | P::Hstore
        | P::Ltree
        | P::Geometry
        | P::Geography => scalar_schema(element, column, modes)?.optional(),
        // Other element types go through Debezium's generic element mapping, whose
        // schema is not made optional (not covered by the fixtures).
        _ => scalar_schema(element, column, modes)?,
    };
    Some(Schema::array(items))
}

fn numeric_schema(column_typmod: i32, mode: DecimalHandlingMode) -> Schema {
    match (mode, typmod::numeric(column_typmod)) {
        (DecimalHandlingMode::Precise, None) => logical::variable_scale_decimal(),
        (DecimalHandlingMode::Precise, Some((precision, scale))) => logical::decimal(scale)
            .with_parameter("connect.decimal.precision", precision.to_string()),
        (DecimalHandlingMode::Double, _) => Schema::float64(),
        (DecimalHandlingMode::String, _) => Schema::string(),
    }
}

fn binary_schema(mode: BinaryHandlingMode) -> Schema {
    match mode {
        BinaryHandlingMode::Bytes => Schema::bytes(),
        BinaryHandlingMode::Base64
        | BinaryHandlingMode::Base64UrlSafe
        | BinaryHandlingMode::Hex => Schema::string(),
    }
}

fn hstore_schema(mode: HstoreHandlingMode) -> Schema {
    match mode {
        HstoreHandlingMode::Json => logical::json(),
        // Keys are never null in an hstore; values can be.
        HstoreHandlingMode::Map => Schema::map(Schema::string(), Schema::string().optional()),
    }
}

fn date_schema(mode: TimePrecisionMode) -> Schema {
    match mode {
        TimePrecisionMode::Adaptive | TimePrecisionMode::AdaptiveTimeMicroseconds => {
            logical::date()
        }
        TimePrecisionMode::Connect => logical::connect_date(),
    }
}

fn time_schema(precision: i32, mode: TimePrecisionMode) -> Schema {
    match mode {
        TimePrecisionMode::Adaptive if precision <= 3 => logical::time(),
        TimePrecisionMode::Adaptive | TimePrecisionMode::AdaptiveTimeMicroseconds => {
            logical::micro_time()
        }
        TimePrecisionMode::Connect => logical::connect_time(),
    }
}

fn timestamp_schema(precision: i32, mode: TimePrecisionMode) -> Schema {
    match mode {
        TimePrecisionMode::Adaptive | TimePrecisionMode::AdaptiveTimeMicroseconds
            if precision <= 3 =>
        {
            logical::timestamp()
        }
        TimePrecisionMode::Adaptive | TimePrecisionMode::AdaptiveTimeMicroseconds => {
            logical::micro_timestamp()
        }
        TimePrecisionMode::Connect => logical::connect_timestamp(),
    }
}

/// The declared length of a bit string: `bit` without a length is `bit(1)`, `varbit`
/// without one is unbounded (Debezium reports 2147483647).
pub fn bit_length(scalar: PgScalar, column_typmod: i32) -> i32 {
    match typmod::bit_length(column_typmod) {
        Some(length) => length,
        None if scalar == PgScalar::Bit => 1,
        None => i32::MAX,
    }
}

/// How a time-like column's values are scaled: what the events layer needs to turn a
/// microsecond count into the field's unit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimeUnit {
    Millis,
    Micros,
}

/// The unit of a `time` column's field.
pub fn time_unit(column_typmod: i32, mode: TimePrecisionMode) -> TimeUnit {
    match time_schema(typmod::time_precision(column_typmod), mode)
        .name
        .as_deref()
    {
        Some(logical::MICRO_TIME) => TimeUnit::Micros,
        _ => TimeUnit::Millis,
    }
}

/// The unit of a `timestamp` column's field.
pub fn timestamp_unit(column_typmod: i32, mode: TimePrecisionMode) -> TimeUnit {
    match timestamp_schema(typmod::time_precision(column_typmod), mode)
        .name
        .as_deref()
    {
        Some(logical::MICRO_TIMESTAMP) => TimeUnit::Micros,
        _ => TimeUnit::Millis,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::debezium::column::PgColumnType::{Array, Scalar};

    fn column(pg_type: PgColumnType, typmod: i32) -> ColumnDescription {
        ColumnDescription::new("c", pg_type, "t", typmod)
    }

    #[test]
    fn unknown_types_are_left_out_or_bytes() {
        let xid = column(Scalar(PgScalar::Xid), -1);
        assert_eq!(value_field_schema(&xid, &ValueModes::default()), None);
        let include = ValueModes {
            include_unknown_datatypes: true,
            ..ValueModes::default()
        };
        assert_eq!(
            value_field_schema(&xid, &include),
            Some(Schema::bytes().optional())
        );
        let money_array = column(Array(PgScalar::Money), -1);
        assert_eq!(value_field_schema(&money_array, &include), None);
    }

    #[test]
    fn bit_lengths() {
        assert_eq!(bit_length(PgScalar::Bit, -1), 1);
        assert_eq!(bit_length(PgScalar::Varbit, -1), i32::MAX);
        assert_eq!(bit_length(PgScalar::Varbit, 1), 1);
        assert_eq!(
            value_field_schema(&column(Scalar(PgScalar::Varbit), 1), &ValueModes::default()),
            Some(Schema::boolean().optional())
        );
    }

    #[test]
    fn time_units() {
        assert_eq!(time_unit(3, TimePrecisionMode::Adaptive), TimeUnit::Millis);
        assert_eq!(time_unit(-1, TimePrecisionMode::Adaptive), TimeUnit::Micros);
        assert_eq!(
            time_unit(0, TimePrecisionMode::AdaptiveTimeMicroseconds),
            TimeUnit::Micros
        );
        assert_eq!(time_unit(6, TimePrecisionMode::Connect), TimeUnit::Millis);
        assert_eq!(
            timestamp_unit(3, TimePrecisionMode::Adaptive),
            TimeUnit::Millis
        );
        assert_eq!(
            timestamp_unit(-1, TimePrecisionMode::AdaptiveTimeMicroseconds),
            TimeUnit::Micros
        );
        assert_eq!(
            timestamp_unit(6, TimePrecisionMode::Connect),
            TimeUnit::Millis
        );
    }
}
