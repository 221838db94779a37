//! One parsed column value ([`PgValue`]) → the Connect value of its field, for every
//! type and handling mode Debezium's PostgreSQL connector has (the schemas these
//! values belong to come from `pgcdc_schemas::debezium::mapping`). One module per
//! family; the rules and the fixtures that pin them are documented there.

mod array;
pub mod decimal;
pub mod geometric;
pub mod numeric;
pub mod temporal;
pub mod text;

use pgcdc_schemas::connect::Value;
use pgcdc_schemas::debezium::column::typmod;
use pgcdc_schemas::debezium::mapping::{self, TimeUnit};
use pgcdc_schemas::debezium::{
    ColumnDescription, IntervalHandlingMode, PgColumnType, PgScalar, ValueModes,
};

use super::error::EventError;
use crate::values::PgValue;

/// Where a value was read. Debezium's snapshot reads rows over JDBC and its streaming
/// reads pgoutput text; for a few types the two give different values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ReadPath {
    Snapshot,
    Streaming,
}

/// Converts a non-null column value.
pub fn convert(
    value: &PgValue<'_>,
    column: &ColumnDescription,
    modes: &ValueModes,
    path: ReadPath,
) -> Result<Value, EventError> {
    let converter = Converter {
        column,
        modes,
        path,
    };
    match column.pg_type {
        PgColumnType::Scalar(scalar) => converter.scalar(value, scalar, false),
        PgColumnType::Array(element) => array::convert(&converter, value, element),
    }
}

struct Converter<'a> {
    column: &'a ColumnDescription,
    modes: &'a ValueModes,
    path: ReadPath,
}

impl Converter<'_> {
    fn unexpected(&self, expected: PgScalar, value: &PgValue<'_>) -> EventError {
        EventError::UnexpectedValue {
            column: self.column.name.clone(),
            expected: scalar_name(expected),
            found: value_kind(value),
        }
    }

    fn out_of_range(&self, reason: &str) -> EventError {
        EventError::OutOfRange {
            column: self.column.name.clone(),
            reason: reason.to_owned(),
        }
    }

    /// A scalar value, or an element of an array (`in_array`), which Debezium reads
    /// through different code for some types.
    fn scalar(
        &self,
        value: &PgValue<'_>,
        scalar: PgScalar,
        in_array: bool,
    ) -> Result<Value, EventError> {
        use PgScalar as P;
        let modes = self.modes;
        let typmod = self.column.typmod;
        Ok(match (scalar, value) {
            (P::Bool, PgValue::Bool(v)) => Value::Boolean(*v),
            (P::Int2, PgValue::Int2(v)) => Value::Int16(*v),
            (P::Int4, PgValue::Int4(v)) => Value::Int32(*v),
            (P::Int8, PgValue::Int8(v)) => Value::Int64(*v),
            (P::Oid, PgValue::Oid(v)) => Value::Int64(i64::from(v.0)),
            (P::Float4, PgValue::Float4(v)) => Value::Float32(*v),
            (P::Float8, PgValue::Float8(v)) => Value::Float64(*v),
            (P::Numeric, PgValue::Numeric(v)) => numeric::numeric(v, typmod, modes.decimal),
            (P::Money, PgValue::Money(v)) => {
                numeric::money(v, modes.decimal, modes.money_fraction_digits).ok_or_else(|| {
                    EventError::Unsupported {
                        column: self.column.name.clone(),
                        reason: format!(
                            "money text {:?} is not in the C locale's layout; set the server's \
                         lc_monetary to C",
                            v.text
                        ),
                    }
                })?
            }
            (
                P::Text
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
                | P::Json
                | P::Jsonb
                | P::Xml
                | P::Tsvector
                | P::Ltree
                | P::Enum,
                PgValue::Text(text),
            ) => Value::String(text.to_string()),
            // pgoutput gives Debezium a `name` it cannot read: null, unless unknown
            // types are included (`defaults.json` vs `include_unknown_datatypes.json`).
            (P::Name, PgValue::Text(text)) => {
                if self.path == ReadPath::Snapshot || modes.include_unknown_datatypes {
                    Value::String(text.to_string())
                } else {
                    Value::Null
                }
            }
            (P::Bytea, PgValue::Bytea(bytes)) => text::binary(bytes, modes.binary),
            (P::Uuid, PgValue::Uuid(bytes)) => text::uuid(bytes),
            (P::Date, PgValue::Date(date)) => Value::Int32(if in_array {
                temporal::array_date_days(*date)
            } else {
                temporal::date_days(*date)
            }),
            (P::Time, PgValue::Time(micros)) => {
                let unit = mapping::time_unit(typmod, modes.time);
                let millis = if in_array {
                    temporal::array_time_millis(*micros)
                } else {
                    micros / 1000
                };
                match (unit, in_array) {
                    (TimeUnit::Micros, false) => Value::Int64(*micros),
                    (TimeUnit::Micros, true) => Value::Int64(millis * 1000),
                    (TimeUnit::Millis, _) => Value::Int32(
                        i32::try_from(millis)
                            .map_err(|_| self.out_of_range("time beyond a day"))?,
                    ),
                }
            }
            (P::Timestamp, PgValue::Timestamp(ts)) => {
                let value = match mapping::timestamp_unit(typmod, modes.time) {
                    TimeUnit::Micros => temporal::timestamp_micros(*ts),
                    TimeUnit::Millis => temporal::timestamp_millis(*ts),
                };
                Value::Int64(value.ok_or_else(|| {
                    self.out_of_range("timestamp beyond 294247 AD does not fit Debezium's INT64")
                })?)
            }
            (P::Timetz, PgValue::TimeTz(t)) => Value::String(temporal::zoned_time(*t)),
            (P::Timestamptz, PgValue::Timestamptz(ts)) => Value::String(temporal::zoned_timestamp(
                *ts,
                typmod::time_precision(typmod),
                in_array,
            )),
            (P::Interval, PgValue::Interval(interval)) => match modes.interval {
                IntervalHandlingMode::Numeric => Value::Int64(temporal::micro_duration(*interval)),
                IntervalHandlingMode::String => Value::String(temporal::iso_interval(*interval)),
            },
            (P::Bit | P::Varbit, PgValue::Bits(bits)) => {
                if mapping::bit_length(scalar, typmod) > 1 {
                    text::bits(bits)
                } else {
                    text::bit_boolean(bits)
                }
            }
            (P::Point, PgValue::Point(p)) => geometric::point(p),
            (P::Line, PgValue::Line(l)) => geometric::line(l),
            (P::Lseg, PgValue::Lseg(l)) => geometric::lseg(l),
            (P::Box, PgValue::Box(b)) => geometric::pg_box(b),
            (P::Path, PgValue::Path(p)) => geometric::path(p),
            (P::Polygon, PgValue::Polygon(points)) => geometric::polygon(points),
            (P::Circle, PgValue::Circle(c)) => geometric::circle(c),
            (P::Geometry, PgValue::Ewkb(ewkb)) => geometric::geometry(ewkb),
            (P::Geography, PgValue::Ewkb(ewkb)) => geometric::geography(ewkb),
            (P::Hstore, PgValue::Hstore(pairs)) => text::hstore(pairs, modes.hstore),
            // Types without a mapping: only here with include.unknown.datatypes, as the
            // bytes of their text.
            (P::Xid, PgValue::Xid(v)) => self.unknown(&v.to_string()),
            (P::Xid8, PgValue::Xid8(v)) => self.unknown(&v.to_string()),
            (P::PgLsn, PgValue::Lsn(v)) => self.unknown(&v.to_string()),
            (P::Tsquery | P::Multirange | P::Unknown, PgValue::Text(text)) => self.unknown(text),
            _ => return Err(self.unexpected(scalar, value)),
        })
    }

    fn unknown(&self, text: &str) -> Value {
        if self.modes.include_unknown_datatypes {
            text::binary(text.as_bytes(), self.modes.binary)
        } else {
            Value::Null
        }
    }
}

fn scalar_name(scalar: PgScalar) -> &'static str {
    use PgScalar as P;
    match scalar {
        P::Bool => "bool",
        P::Int2 => "int2",
        P::Int4 => "int4",
        P::Int8 => "int8",
        P::Float4 => "float4",
        P::Float8 => "float8",
        P::Numeric => "numeric",
        P::Money => "money",
        P::Bytea => "bytea",
        P::Uuid => "uuid",
        P::Date => "date",
        P::Time => "time",
        P::Timetz => "timetz",
        P::Timestamp => "timestamp",
        P::Timestamptz => "timestamptz",
        P::Interval => "interval",
        P::Bit | P::Varbit => "bit string",
        P::Point => "point",
        P::Line => "line",
        P::Lseg => "lseg",
        P::Box => "box",
        P::Path => "path",
        P::Polygon => "polygon",
        P::Circle => "circle",
        P::Oid => "oid",
        P::Xid => "xid",
        P::Xid8 => "xid8",
        P::PgLsn => "pg_lsn",
        P::Hstore => "hstore",
        P::Geometry | P::Geography => "PostGIS EWKB",
        _ => "text",
    }
}

fn value_kind(value: &PgValue<'_>) -> &'static str {
    match value {
        PgValue::Bool(_) => "bool",
        PgValue::Int2(_) => "int2",
        PgValue::Int4(_) => "int4",
        PgValue::Int8(_) => "int8",
        PgValue::Float4(_) => "float4",
        PgValue::Float8(_) => "float8",
        PgValue::Numeric(_) => "numeric",
        PgValue::Money(_) => "money",
        PgValue::Text(_) => "text",
        PgValue::Bytea(_) => "bytea",
        PgValue::Uuid(_) => "uuid",
        PgValue::Date(_) => "date",
        PgValue::Time(_) => "time",
        PgValue::TimeTz(_) => "timetz",
        PgValue::Timestamp(_) => "timestamp",
        PgValue::Timestamptz(_) => "timestamptz",
        PgValue::Interval(_) => "interval",
        PgValue::Bits(_) => "bit string",
        PgValue::Point(_) => "point",
        PgValue::Line(_) => "line",
        PgValue::Lseg(_) => "lseg",
        PgValue::Box(_) => "box",
        PgValue::Path(_) => "path",
        PgValue::Polygon(_) => "polygon",
        PgValue::Circle(_) => "circle",
        PgValue::Oid(_) => "oid",
        PgValue::Xid(_) => "xid",
        PgValue::Xid8(_) => "xid8",
        PgValue::Lsn(_) => "pg_lsn",
        PgValue::Hstore(_) => "hstore",
        PgValue::Ewkb(_) => "PostGIS EWKB",
        PgValue::Array(_) => "array",
    }
}
