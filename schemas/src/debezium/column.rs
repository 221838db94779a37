//! What the mapping needs to know about a column: its own small description, so this
//! crate stays independent of how the connector learned it (pgoutput Relation
//! messages, the catalog, a snapshot's result metadata).

use crate::connect::Value;

/// PostgreSQL types as Debezium tells them apart. Built-in types are matched by OID in
/// Debezium, extension types by name (`hstore`, `ltree`, `citext`, PostGIS), enums and
/// domains through the catalog; [`PgScalar::from_type_name`] covers the names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PgScalar {
    Bool,
    Int2,
    Int4,
    Int8,
    Float4,
    Float8,
    Numeric,
    Money,
    Text,
    Varchar,
    Bpchar,
    Name,
    /// The one-byte `"char"`.
    Char,
    Bytea,
    Uuid,
    Json,
    Jsonb,
    Xml,
    Date,
    Time,
    Timetz,
    Timestamp,
    Timestamptz,
    Interval,
    Bit,
    Varbit,
    Inet,
    Cidr,
    Macaddr,
    Macaddr8,
    Point,
    Line,
    Lseg,
    Box,
    Path,
    Polygon,
    Circle,
    Oid,
    Xid,
    Xid8,
    PgLsn,
    Tsvector,
    Tsquery,
    Int4Range,
    Int8Range,
    NumRange,
    TsRange,
    TstzRange,
    DateRange,
    Multirange,
    Enum,
    Hstore,
    Ltree,
    Citext,
    Geometry,
    Geography,
    /// Anything else (composites, user ranges, unknown extension types).
    Unknown,
}

impl PgScalar {
    /// Classifies a `pg_type.typname` of a built-in or a recognised extension type.
    /// Enums and domains are not recognisable by name; `None` for those and for
    /// unknown names.
    pub fn from_type_name(name: &str) -> Option<PgScalar> {
        use PgScalar::*;
        Some(match name {
            "bool" => Bool,
            "int2" => Int2,
            "int4" => Int4,
            "int8" => Int8,
            "float4" => Float4,
            "float8" => Float8,
            "numeric" => Numeric,
            "money" => Money,
            "text" => Text,
            "varchar" => Varchar,
            "bpchar" => Bpchar,
            "name" => Name,
            "char" => Char,
            "bytea" => Bytea,
            "uuid" => Uuid,
            "json" => Json,
            "jsonb" => Jsonb,
            "xml" => Xml,
            "date" => Date,
            "time" => Time,
            "timetz" => Timetz,
            "timestamp" => Timestamp,
            "timestamptz" => Timestamptz,
            "interval" => Interval,
            "bit" => Bit,
            "varbit" => Varbit,
            "inet" => Inet,
            "cidr" => Cidr,
            "macaddr" => Macaddr,
            "macaddr8" => Macaddr8,
            "point" => Point,
            "line" => Line,
            "lseg" => Lseg,
            "box" => Box,
            "path" => Path,
            "polygon" => Polygon,
            "circle" => Circle,
            "oid" => Oid,
            "xid" => Xid,
            "xid8" => Xid8,
            "pg_lsn" => PgLsn,
            "tsvector" => Tsvector,
            "tsquery" => Tsquery,
            "int4range" => Int4Range,
            "int8range" => Int8Range,
            "numrange" => NumRange,
            "tsrange" => TsRange,
            "tstzrange" => TstzRange,
            "daterange" => DateRange,
            "int4multirange" | "int8multirange" | "nummultirange" | "tsmultirange"
            | "tstzmultirange" | "datemultirange" => Multirange,
            "hstore" => Hstore,
            "ltree" => Ltree,
            "citext" => Citext,
            "geometry" => Geometry,
            "geography" => Geography,
            _ => return None,
        })
    }
}

/// A column's type: a scalar, or an array of one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PgColumnType {
    Scalar(PgScalar),
    Array(PgScalar),
}

impl PgColumnType {
    pub fn element(self) -> PgScalar {
        match self {
            PgColumnType::Scalar(s) | PgColumnType::Array(s) => s,
        }
    }
}

/// One column of a captured table, as the mapping needs it.
#[derive(Clone, Debug, PartialEq)]
pub struct ColumnDescription {
    pub name: String,
    pub pg_type: PgColumnType,
    /// The declared type's `pg_type.typname`: `int4`, `_text`, `mood`, or a domain's
    /// own name (`amount`), which is what `column.propagate.source.type` reports.
    pub type_name: String,
    /// The type modifier that applies (`atttypmod`, or a domain's `typtypmod` when the
    /// column has none); -1 when none.
    pub typmod: i32,
    /// Nullable (`NOT NULL` absent).
    pub optional: bool,
    /// The column's default as a value of its field schema, when Debezium would
    /// propagate one.
    pub default: Option<Value>,
    /// An enum's labels in `enumsortorder` (Debezium's `allowed` parameter).
    pub enum_values: Vec<String>,
    /// The column's 0-based position in the primary key, for key columns.
    pub key_position: Option<usize>,
    /// Whether `column.propagate.source.type` (or `datatype.propagate.source.type`)
    /// selects this column.
    pub propagate_source_type: bool,
}

impl ColumnDescription {
    /// A nullable, non-key column without default, with no source-type propagation.
    pub fn new(
        name: impl Into<String>,
        pg_type: PgColumnType,
        type_name: impl Into<String>,
        typmod: i32,
    ) -> ColumnDescription {
        ColumnDescription {
            name: name.into(),
            pg_type,
            type_name: type_name.into(),
            typmod,
            optional: true,
            default: None,
            enum_values: Vec::new(),
            key_position: None,
            propagate_source_type: false,
        }
    }
}

/// Type-modifier layouts, as Debezium (through the PostgreSQL JDBC driver) reads them.
pub mod typmod {
    /// `numeric(p, s)`: (precision, scale). The scale is read with the pre-PostgreSQL-15
    /// formula `(typmod - 4) & 0xFFFF`, so a negative scale comes out as a large
    /// positive one: `numeric(3,-2)` has scale 2046 in Debezium's schema
    /// (`c_numeric_neg` of `defaults.json`). `None` when unconstrained.
    pub fn numeric(typmod: i32) -> Option<(i32, i32)> {
        (typmod >= 4).then(|| {
            let packed = typmod - 4;
            ((packed >> 16) & 0xFFFF, packed & 0xFFFF)
        })
    }

    /// `varchar(n)` / `char(n)`: n.
    pub fn char_length(typmod: i32) -> Option<i32> {
        (typmod >= 4).then_some(typmod - 4)
    }

    /// `bit(n)` / `varbit(n)`: n.
    pub fn bit_length(typmod: i32) -> Option<i32> {
        (typmod >= 0).then_some(typmod)
    }

    /// Fractional-second digits of `time`, `timetz`, `timestamp`, `timestamptz`;
    /// PostgreSQL's (and Debezium's) default is 6.
    pub fn time_precision(typmod: i32) -> i32 {
        if (0..=6).contains(&typmod) {
            typmod
        } else {
            6
        }
    }

    /// Fractional-second digits of `interval(p)`; 6 when unspecified.
    pub fn interval_precision(typmod: i32) -> i32 {
        if typmod < 0 {
            return 6;
        }
        let precision = typmod & 0xFFFF;
        if precision == 0xFFFF {
            6
        } else {
            precision
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(PgScalar::from_type_name("int4"), Some(PgScalar::Int4));
        assert_eq!(PgScalar::from_type_name("char"), Some(PgScalar::Char));
        assert_eq!(
            PgScalar::from_type_name("datemultirange"),
            Some(PgScalar::Multirange)
        );
        assert_eq!(PgScalar::from_type_name("mood"), None);
        assert_eq!(
            PgColumnType::Array(PgScalar::Text).element(),
            PgScalar::Text
        );
    }

    // Typmods from the fixtures' table descriptions.
    #[test]
    fn typmods() {
        assert_eq!(typmod::numeric(655366), Some((10, 2)));
        assert_eq!(typmod::numeric(327684), Some((5, 0)));
        assert_eq!(typmod::numeric(198658), Some((3, 2046)));
        assert_eq!(typmod::numeric(-1), None);
        assert_eq!(typmod::char_length(14), Some(10));
        assert_eq!(typmod::bit_length(10), Some(10));
        assert_eq!(typmod::bit_length(-1), None);
        assert_eq!(typmod::time_precision(3), 3);
        assert_eq!(typmod::time_precision(-1), 6);
        assert_eq!(typmod::interval_precision(2147418115), 3);
        assert_eq!(typmod::interval_precision(-1), 6);
    }
}
