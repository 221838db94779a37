//! Column text (pgoutput and COPY text form) → typed values.
//!
//! pgoutput sends every column as its type's text output function would print it, and
//! so does `COPY ... TO STDOUT` in text format (after COPY's own de-escaping, which the
//! snapshot reader does). This module turns that text into a [`PgValue`] that keeps
//! everything Debezium's PostgreSQL connector needs to build its Kafka Connect value
//! in any of its handling modes: exact decimals with their scale, the three parts of
//! an interval, infinities, the UTC offset of a `timetz`, multi-dimensional arrays with
//! their bounds, and the raw text where the text is the value.
//!
//! # Flow
//!
//! 1. Once per column (on each Relation message): [`TypeRegistry::resolve`] turns the
//!    type OID and typmod into a [`ResolvedType`]. Built-in OIDs are classified by
//!    [`PgType::from_builtin_oid`]; user types (enums, domains, arrays of them,
//!    extension types) need a [`TypeEntry`] registered first.
//! 2. Per column value: [`parse_text`] with the resolved type. Pure, no I/O, no
//!    allocation for scalars; text borrows from the message buffer.
//!
//! # Session settings the text depends on
//!
//! Output functions run in the walsender (or the snapshot session), so their settings
//! shape the text. pgcdc sets these explicitly on every replication and snapshot
//! connection (startup `options=-c DateStyle=ISO -c IntervalStyle=postgres ...`):
//!
//! | setting | required value | why |
//! | --- | --- | --- |
//! | `client_encoding` | `UTF8` | text is converted to it; non-UTF-8 text is an error here |
//! | `DateStyle` | `ISO` (any order part) | `2024-01-01 12:00:00+05:30` and ` BC` suffixes |
//! | `IntervalStyle` | `postgres` | `1 year 2 mons -3 days +04:05:06`; other styles are rejected |
//! | `extra_float_digits` | `1` (default) or more | shortest exact float output; lower values round |
//! | `bytea_output` | either | both `hex` and `escape` are decoded |
//! | `TimeZone` | any | `timestamptz` offsets are applied, values are UTC instants |
//! | `lc_monetary` | any | `money` keeps its text; the amount is read only from the C layout |
//!
//! # What happens to text this module does not understand
//!
//! The rule is: a value is never dropped, altered or guessed at, and no input makes the
//! parser panic or allocate more than a small multiple of the input's size.
//!
//! - A column whose type is not classified (an unregistered OID, a composite, a user
//!   range, an unknown extension base type, an internal catalog type such as `tid` or
//!   `regclass`) is [`PgValue::Text`] with the exact text. Arrays of such types are
//!   still split into elements, each kept as text.
//! - Types recognised only by name (`hstore`, `geometry`, `geography`) fall back to
//!   `Text` as well if their text does not have the expected form, because a
//!   different type could share the name.
//! - Built-in types whose text is malformed return a [`ValueError`]: with the settings
//!   above PostgreSQL never prints such text, so it means a corrupt stream or a changed
//!   setting, which must stop the connector rather than publish a wrong value.
//! - Non-UTF-8 text is [`ValueError::InvalidUtf8`] for every type (it cannot be a
//!   `Text` without loss).

mod array;
mod bits;
mod bytea;
mod datetime;
mod error;
mod geometric;
mod hstore;
mod interval;
mod money;
mod numeric;
mod registry;
mod scalar;
mod text;
mod types;
mod typmod;
mod value;

#[cfg(test)]
mod tests;

use std::borrow::Cow;

pub use array::{ArrayDim, PgArray, MAX_DIMENSIONS};
pub use bits::BitString;
pub use datetime::{civil_from_days, days_from_civil, Date, TimeTz, Timestamp};
pub use error::ValueError;
pub use geometric::{Circle, Line, Lseg, Path, PgBox, Point};
pub use hstore::HstorePairs;
pub use interval::Interval;
pub use money::Money;
pub use numeric::{Decimal, Numeric, UnscaledBytes};
pub use registry::{ResolvedType, TypeEntry, TypeKind, TypeRegistry};
pub use types::{Oid, PgType, ScalarType, FIRST_NORMAL_OID};
pub use typmod::Typmod;
pub use value::{Ewkb, PgValue};

/// Parses one non-NULL column value printed by PostgreSQL's output function for `ty`.
/// `typmod` is the column's modifier (used for the declared scale of `numeric`).
pub fn parse_text(ty: PgType, typmod: Typmod, text: &[u8]) -> Result<PgValue<'_>, ValueError> {
    match ty {
        PgType::Scalar(scalar) => parse_scalar(scalar, typmod, text),
        PgType::Array(element) => array::parse_array(element, typmod, text).map(PgValue::Array),
    }
}

/// Parses one scalar (a column value or an array element).
pub fn parse_scalar(
    ty: ScalarType,
    typmod: Typmod,
    text: &[u8],
) -> Result<PgValue<'_>, ValueError> {
    use ScalarType as S;
    let as_text = || text::utf8(PgType::Scalar(ty), text).map(|s| PgValue::Text(Cow::Borrowed(s)));
    Ok(match ty {
        S::Bool => PgValue::Bool(scalar::parse_bool(text)?),
        S::Int2 => PgValue::Int2(scalar::parse_int2(text)?),
        S::Int4 => PgValue::Int4(scalar::parse_int4(text)?),
        S::Int8 => PgValue::Int8(scalar::parse_int8(text)?),
        S::Float4 => PgValue::Float4(scalar::parse_float4(text)?),
        S::Float8 => PgValue::Float8(scalar::parse_float8(text)?),
        S::Numeric => PgValue::Numeric(numeric::parse_numeric(text, typmod)?),
        S::Money => PgValue::Money(money::parse_money(text)?),
        S::Bytea => PgValue::Bytea(bytea::parse_bytea(text)?),
        S::Uuid => PgValue::Uuid(scalar::parse_uuid(text)?),
        S::Date => PgValue::Date(datetime::parse_date(text)?),
        S::Time => PgValue::Time(datetime::parse_time(text)?),
        S::Timetz => PgValue::TimeTz(datetime::parse_timetz(text)?),
        S::Timestamp => PgValue::Timestamp(datetime::parse_timestamp(text, false)?),
        S::Timestamptz => PgValue::Timestamptz(datetime::parse_timestamp(text, true)?),
        S::Interval => PgValue::Interval(interval::parse_interval(text)?),
        S::Bit | S::Varbit => PgValue::Bits(bits::parse_bits(ty, text)?),
        S::Point => PgValue::Point(geometric::parse_point(text)?),
        S::Line => PgValue::Line(geometric::parse_line(text)?),
        S::Lseg => PgValue::Lseg(geometric::parse_lseg(text)?),
        S::Box => PgValue::Box(geometric::parse_box(text)?),
        S::Path => PgValue::Path(geometric::parse_path(text)?),
        S::Polygon => PgValue::Polygon(geometric::parse_polygon(text)?),
        S::Circle => PgValue::Circle(geometric::parse_circle(text)?),
        S::Oid => PgValue::Oid(Oid(scalar::parse_u32(ty, text)?)),
        S::Xid => PgValue::Xid(scalar::parse_u32(ty, text)?),
        S::Xid8 => PgValue::Xid8(scalar::parse_u64(ty, text)?),
        S::PgLsn => PgValue::Lsn(scalar::parse_lsn(text)?),
        S::Hstore => {
            let s = text::utf8(PgType::Scalar(ty), text)?;
            match hstore::parse_hstore(s) {
                Ok(pairs) => PgValue::Hstore(pairs),
                Err(_) => PgValue::Text(Cow::Borrowed(s)),
            }
        }
        S::Geometry | S::Geography => match bytea::decode_hex(text) {
            Some(bytes) if !bytes.is_empty() => PgValue::Ewkb(Ewkb(bytes)),
            _ => as_text()?,
        },
        S::Text
        | S::Varchar
        | S::Bpchar
        | S::Name
        | S::Char
        | S::Json
        | S::Jsonb
        | S::Xml
        | S::Inet
        | S::Cidr
        | S::Macaddr
        | S::Macaddr8
        | S::Tsvector
        | S::Tsquery
        | S::Int4Range
        | S::Int8Range
        | S::NumRange
        | S::TsRange
        | S::TstzRange
        | S::DateRange
        | S::Multirange
        | S::Enum
        | S::Ltree
        | S::Citext
        | S::Unknown => as_text()?,
    })
}
