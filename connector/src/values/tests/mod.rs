//! Whole-module tests: every type through [`parse_text`] with text printed by
//! PostgreSQL 15, the fallback rule, and properties (no input panics; values we format
//! the way PostgreSQL does parse back to themselves).

mod pg_format;
mod properties;
mod server_output;

use std::borrow::Cow;

use super::*;

pub(super) fn scalar(ty: ScalarType, text: &str) -> PgValue<'_> {
    parse_text(PgType::Scalar(ty), Typmod::NONE, text.as_bytes())
        .unwrap_or_else(|e| panic!("{ty:?} {text:?}: {e}"))
}

pub(super) fn array(ty: ScalarType, text: &str) -> PgArray<'_> {
    match parse_text(PgType::Array(ty), Typmod::NONE, text.as_bytes()) {
        Ok(PgValue::Array(a)) => a,
        other => panic!("{ty:?}[] {text:?}: {other:?}"),
    }
}

pub(super) fn text(value: &str) -> PgValue<'_> {
    PgValue::Text(Cow::Borrowed(value))
}

/// Every scalar type this module classifies, for the exhaustive checks.
pub(super) const ALL_SCALARS: &[ScalarType] = &[
    ScalarType::Bool,
    ScalarType::Int2,
    ScalarType::Int4,
    ScalarType::Int8,
    ScalarType::Float4,
    ScalarType::Float8,
    ScalarType::Numeric,
    ScalarType::Money,
    ScalarType::Text,
    ScalarType::Varchar,
    ScalarType::Bpchar,
    ScalarType::Name,
    ScalarType::Char,
    ScalarType::Bytea,
    ScalarType::Uuid,
    ScalarType::Json,
    ScalarType::Jsonb,
    ScalarType::Xml,
    ScalarType::Date,
    ScalarType::Time,
    ScalarType::Timetz,
    ScalarType::Timestamp,
    ScalarType::Timestamptz,
    ScalarType::Interval,
    ScalarType::Bit,
    ScalarType::Varbit,
    ScalarType::Inet,
    ScalarType::Cidr,
    ScalarType::Macaddr,
    ScalarType::Macaddr8,
    ScalarType::Point,
    ScalarType::Line,
    ScalarType::Lseg,
    ScalarType::Box,
    ScalarType::Path,
    ScalarType::Polygon,
    ScalarType::Circle,
    ScalarType::Oid,
    ScalarType::Xid,
    ScalarType::Xid8,
    ScalarType::PgLsn,
    ScalarType::Tsvector,
    ScalarType::Tsquery,
    ScalarType::Int4Range,
    ScalarType::Int8Range,
    ScalarType::NumRange,
    ScalarType::TsRange,
    ScalarType::TstzRange,
    ScalarType::DateRange,
    ScalarType::Multirange,
    ScalarType::Enum,
    ScalarType::Hstore,
    ScalarType::Ltree,
    ScalarType::Citext,
    ScalarType::Geometry,
    ScalarType::Geography,
    ScalarType::Unknown,
];
