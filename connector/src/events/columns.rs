//! A captured table's columns as the mapping needs them: what pgoutput says (name, type
//! OID and modifier, resolved by `values`) plus what only the catalog knows and
//! Debezium uses — `NOT NULL`, primary-key order, the default expression, enum labels
//! and the declared type's name. Reading the catalog is the shell's job; this module
//! only combines.

use pgcdc_schemas::debezium::{ColumnDescription, PgColumnType, PgScalar, ValueModes};

use super::defaults::default_value;
use crate::values::{PgType, ResolvedType, ScalarType};

/// Catalog facts about one column (`pg_attribute`, `pg_index`, `pg_attrdef`,
/// `pg_type`, `pg_enum`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ColumnCatalog {
    /// The declared type's `pg_type.typname` (a domain's own name, `_int4` for
    /// `int4[]`).
    pub type_name: String,
    pub not_null: bool,
    /// 0-based position in the primary key.
    pub primary_key_position: Option<usize>,
    /// `pg_get_expr(adbin, adrelid)`.
    pub default_expression: Option<String>,
    /// The labels of an enum (or of an enum array's element) in `enumsortorder`.
    pub enum_labels: Vec<String>,
}

/// The mapping's classification of a resolved column type.
pub fn column_type(resolved: ResolvedType) -> PgColumnType {
    match resolved.ty {
        PgType::Scalar(s) => PgColumnType::Scalar(scalar(s)),
        PgType::Array(s) => PgColumnType::Array(scalar(s)),
    }
}

fn scalar(s: ScalarType) -> PgScalar {
    use ScalarType as S;
    match s {
        S::Bool => PgScalar::Bool,
        S::Int2 => PgScalar::Int2,
        S::Int4 => PgScalar::Int4,
        S::Int8 => PgScalar::Int8,
        S::Float4 => PgScalar::Float4,
        S::Float8 => PgScalar::Float8,
        S::Numeric => PgScalar::Numeric,
        S::Money => PgScalar::Money,
        S::Text => PgScalar::Text,
        S::Varchar => PgScalar::Varchar,
        S::Bpchar => PgScalar::Bpchar,
        S::Name => PgScalar::Name,
        S::Char => PgScalar::Char,
        S::Bytea => PgScalar::Bytea,
        S::Uuid => PgScalar::Uuid,
        S::Json => PgScalar::Json,
        S::Jsonb => PgScalar::Jsonb,
        S::Xml => PgScalar::Xml,
        S::Date => PgScalar::Date,
        S::Time => PgScalar::Time,
        S::Timetz => PgScalar::Timetz,
        S::Timestamp => PgScalar::Timestamp,
        S::Timestamptz => PgScalar::Timestamptz,
        S::Interval => PgScalar::Interval,
        S::Bit => PgScalar::Bit,
        S::Varbit => PgScalar::Varbit,
        S::Inet => PgScalar::Inet,
        S::Cidr => PgScalar::Cidr,
        S::Macaddr => PgScalar::Macaddr,
        S::Macaddr8 => PgScalar::Macaddr8,
        S::Point => PgScalar::Point,
        S::Line => PgScalar::Line,
        S::Lseg => PgScalar::Lseg,
        S::Box => PgScalar::Box,
        S::Path => PgScalar::Path,
        S::Polygon => PgScalar::Polygon,
        S::Circle => PgScalar::Circle,
        S::Oid => PgScalar::Oid,
        S::Xid => PgScalar::Xid,
        S::Xid8 => PgScalar::Xid8,
        S::PgLsn => PgScalar::PgLsn,
        S::Tsvector => PgScalar::Tsvector,
        S::Tsquery => PgScalar::Tsquery,
        S::Int4Range => PgScalar::Int4Range,
        S::Int8Range => PgScalar::Int8Range,
        S::NumRange => PgScalar::NumRange,
        S::TsRange => PgScalar::TsRange,
        S::TstzRange => PgScalar::TstzRange,
        S::DateRange => PgScalar::DateRange,
        S::Multirange => PgScalar::Multirange,
        S::Enum => PgScalar::Enum,
        S::Hstore => PgScalar::Hstore,
        S::Ltree => PgScalar::Ltree,
        S::Citext => PgScalar::Citext,
        S::Geometry => PgScalar::Geometry,
        S::Geography => PgScalar::Geography,
        S::Unknown => PgScalar::Unknown,
    }
}

/// One column's description: its resolved type, catalog facts, the connector's modes,
/// and whether `column.propagate.source.type` selects it. The default expression is
/// turned into a default value here, as Debezium does when it builds the schema.
pub fn describe_column(
    name: &str,
    resolved: ResolvedType,
    catalog: &ColumnCatalog,
    modes: &ValueModes,
    propagate_source_type: bool,
) -> ColumnDescription {
    let mut column = ColumnDescription {
        name: name.to_owned(),
        pg_type: column_type(resolved),
        type_name: catalog.type_name.clone(),
        typmod: resolved.typmod.0,
        optional: !catalog.not_null,
        default: None,
        enum_values: catalog.enum_labels.clone(),
        key_position: catalog.primary_key_position,
        propagate_source_type,
    };
    column.default = catalog
        .default_expression
        .as_deref()
        .and_then(|expression| default_value(expression, &column, resolved, modes));
    column
}
