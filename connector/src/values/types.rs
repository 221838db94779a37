//! Which parser a column needs, decided once per column from its type OID.
//!
//! Built-in types have OIDs fixed by PostgreSQL's catalog (`pg_type.dat`) and are
//! classified here without any catalog access. Extension and user-defined types get
//! OIDs at `CREATE` time, so they are identified by name and kind through
//! [`TypeRegistry`](super::TypeRegistry).

use std::fmt;

/// Type OIDs are the same identifiers pgoutput carries in Relation and Type messages;
/// one newtype for both, so the relation cache hands them over without conversion.
pub use crate::pgoutput::Oid;

/// The scalar types the value parser tells apart. Types with the same text form but a
/// different Debezium schema (text vs json vs enum) stay distinct, so the events layer
/// can pick the schema from the classification alone.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ScalarType {
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
    /// `character(n)`: the text keeps PostgreSQL's blank padding.
    Bpchar,
    Name,
    /// The single-byte `"char"` type (bytes ≥ 0x80 print as `\ooo`).
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
    /// Any of the six built-in multirange types (PostgreSQL 14+).
    Multirange,
    /// A user-defined enum: the value is its label.
    Enum,
    /// contrib `hstore`.
    Hstore,
    /// contrib `ltree`.
    Ltree,
    /// contrib `citext`.
    Citext,
    /// PostGIS `geometry` (text form is hex EWKB).
    Geometry,
    /// PostGIS `geography` (text form is hex EWKB).
    Geography,
    /// Anything else (composites, user ranges, unknown extensions, internal catalog
    /// types): kept as the raw text. See the module documentation for the rule.
    Unknown,
}

/// A column's type as the parser sees it: a scalar, or an array of a scalar.
/// PostgreSQL has no arrays of arrays (multi-dimensional arrays are one array type),
/// so one level is enough.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PgType {
    Scalar(ScalarType),
    Array(ScalarType),
}

/// Built-in type OIDs, from PostgreSQL's `pg_type.dat` (checked against
/// `SELECT oid, typname, typarray FROM pg_type` on PostgreSQL 15): (scalar OID, array
/// OID, classification). An array OID of 0 means the type has no array type.
const BUILTINS: &[(u32, u32, ScalarType)] = &[
    (16, 1000, ScalarType::Bool),
    (17, 1001, ScalarType::Bytea),
    (18, 1002, ScalarType::Char),
    (19, 1003, ScalarType::Name),
    (20, 1016, ScalarType::Int8),
    (21, 1005, ScalarType::Int2),
    (23, 1007, ScalarType::Int4),
    (25, 1009, ScalarType::Text),
    (26, 1028, ScalarType::Oid),
    (28, 1011, ScalarType::Xid),
    (114, 199, ScalarType::Json),
    (142, 143, ScalarType::Xml),
    (600, 1017, ScalarType::Point),
    (601, 1018, ScalarType::Lseg),
    (602, 1019, ScalarType::Path),
    (603, 1020, ScalarType::Box),
    (604, 1027, ScalarType::Polygon),
    (628, 629, ScalarType::Line),
    (650, 651, ScalarType::Cidr),
    (700, 1021, ScalarType::Float4),
    (701, 1022, ScalarType::Float8),
    (718, 719, ScalarType::Circle),
    (774, 775, ScalarType::Macaddr8),
    (790, 791, ScalarType::Money),
    (829, 1040, ScalarType::Macaddr),
    (869, 1041, ScalarType::Inet),
    (1042, 1014, ScalarType::Bpchar),
    (1043, 1015, ScalarType::Varchar),
    (1082, 1182, ScalarType::Date),
    (1083, 1183, ScalarType::Time),
    (1114, 1115, ScalarType::Timestamp),
    (1184, 1185, ScalarType::Timestamptz),
    (1186, 1187, ScalarType::Interval),
    (1266, 1270, ScalarType::Timetz),
    (1560, 1561, ScalarType::Bit),
    (1562, 1563, ScalarType::Varbit),
    (1700, 1231, ScalarType::Numeric),
    (2950, 2951, ScalarType::Uuid),
    (3220, 3221, ScalarType::PgLsn),
    (3614, 3643, ScalarType::Tsvector),
    (3615, 3645, ScalarType::Tsquery),
    (3802, 3807, ScalarType::Jsonb),
    (3904, 3905, ScalarType::Int4Range),
    (3906, 3907, ScalarType::NumRange),
    (3908, 3909, ScalarType::TsRange),
    (3910, 3911, ScalarType::TstzRange),
    (3912, 3913, ScalarType::DateRange),
    (3926, 3927, ScalarType::Int8Range),
    (4451, 6150, ScalarType::Multirange),
    (4532, 6151, ScalarType::Multirange),
    (4533, 6152, ScalarType::Multirange),
    (4534, 6153, ScalarType::Multirange),
    (4535, 6155, ScalarType::Multirange),
    (4536, 6157, ScalarType::Multirange),
    (5069, 271, ScalarType::Xid8),
];

/// OIDs below this are assigned by initdb; user and extension objects get larger ones
/// (`FirstNormalObjectId` in PostgreSQL's `transam.h`).
pub const FIRST_NORMAL_OID: u32 = 16384;

impl PgType {
    /// Classifies a built-in type OID (scalar or array). `None` for OIDs this module
    /// does not know, which includes every user-defined and extension type.
    pub fn from_builtin_oid(oid: Oid) -> Option<PgType> {
        // A linear scan over ~55 entries compiles to a tight loop; it runs once per
        // column per relation message, not per row.
        for &(scalar, array, ty) in BUILTINS {
            if oid.0 == scalar {
                return Some(PgType::Scalar(ty));
            }
            if oid.0 == array && array != 0 {
                return Some(PgType::Array(ty));
            }
        }
        None
    }

    /// The OID of a built-in type's array type, for looking up `_name` from `name`.
    pub fn builtin_array_oid(scalar_oid: Oid) -> Option<Oid> {
        BUILTINS
            .iter()
            .find(|(scalar, _, _)| *scalar == scalar_oid.0)
            .map(|&(_, array, _)| Oid(array))
    }

    /// The scalar type, or for an array, its element type.
    pub fn element(self) -> ScalarType {
        match self {
            PgType::Scalar(ty) | PgType::Array(ty) => ty,
        }
    }

    pub fn is_array(self) -> bool {
        matches!(self, PgType::Array(_))
    }
}

impl ScalarType {
    /// The name used in error messages (PostgreSQL's `typname` where there is one).
    pub fn name(self) -> &'static str {
        use ScalarType::*;
        match self {
            Bool => "bool",
            Int2 => "int2",
            Int4 => "int4",
            Int8 => "int8",
            Float4 => "float4",
            Float8 => "float8",
            Numeric => "numeric",
            Money => "money",
            Text => "text",
            Varchar => "varchar",
            Bpchar => "bpchar",
            Name => "name",
            Char => "char",
            Bytea => "bytea",
            Uuid => "uuid",
            Json => "json",
            Jsonb => "jsonb",
            Xml => "xml",
            Date => "date",
            Time => "time",
            Timetz => "timetz",
            Timestamp => "timestamp",
            Timestamptz => "timestamptz",
            Interval => "interval",
            Bit => "bit",
            Varbit => "varbit",
            Inet => "inet",
            Cidr => "cidr",
            Macaddr => "macaddr",
            Macaddr8 => "macaddr8",
            Point => "point",
            Line => "line",
            Lseg => "lseg",
            Box => "box",
            Path => "path",
            Polygon => "polygon",
            Circle => "circle",
            Oid => "oid",
            Xid => "xid",
            Xid8 => "xid8",
            PgLsn => "pg_lsn",
            Tsvector => "tsvector",
            Tsquery => "tsquery",
            Int4Range => "int4range",
            Int8Range => "int8range",
            NumRange => "numrange",
            TsRange => "tsrange",
            TstzRange => "tstzrange",
            DateRange => "daterange",
            Multirange => "multirange",
            Enum => "enum",
            Hstore => "hstore",
            Ltree => "ltree",
            Citext => "citext",
            Geometry => "geometry",
            Geography => "geography",
            Unknown => "unknown type",
        }
    }

    /// The element separator in this type's array literals (`pg_type.typdelim`): `;`
    /// for `box`, whose own text contains commas, and `,` for every other type.
    pub fn array_delimiter(self) -> u8 {
        if self == ScalarType::Box {
            b';'
        } else {
            b','
        }
    }

    /// Extension types recognised by their `pg_type.typname`, whatever schema the
    /// extension was installed into.
    pub fn from_extension_type_name(name: &str) -> Option<ScalarType> {
        match name {
            "hstore" => Some(ScalarType::Hstore),
            "ltree" => Some(ScalarType::Ltree),
            "citext" => Some(ScalarType::Citext),
            "geometry" => Some(ScalarType::Geometry),
            "geography" => Some(ScalarType::Geography),
            _ => None,
        }
    }
}

impl fmt::Display for PgType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PgType::Scalar(ty) => f.write_str(ty.name()),
            PgType::Array(ty) => write!(f, "{}[]", ty.name()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_scalars_and_arrays() {
        assert_eq!(
            PgType::from_builtin_oid(Oid(23)),
            Some(PgType::Scalar(ScalarType::Int4))
        );
        assert_eq!(
            PgType::from_builtin_oid(Oid(1007)),
            Some(PgType::Array(ScalarType::Int4))
        );
        assert_eq!(
            PgType::from_builtin_oid(Oid(1009)),
            Some(PgType::Array(ScalarType::Text))
        );
        assert_eq!(
            PgType::from_builtin_oid(Oid(271)),
            Some(PgType::Array(ScalarType::Xid8))
        );
        assert_eq!(
            PgType::from_builtin_oid(Oid(1020)),
            Some(PgType::Array(ScalarType::Box))
        );
        assert_eq!(
            PgType::from_builtin_oid(Oid(3220)),
            Some(PgType::Scalar(ScalarType::PgLsn))
        );
        assert_eq!(PgType::from_builtin_oid(Oid(0)), None);
        assert_eq!(PgType::from_builtin_oid(Oid(16390)), None);
        assert_eq!(PgType::builtin_array_oid(Oid(1184)), Some(Oid(1185)));
    }

    #[test]
    fn oids_are_unique() {
        let mut seen = std::collections::HashSet::new();
        for &(scalar, array, _) in BUILTINS {
            assert!(seen.insert(scalar), "duplicate {scalar}");
            assert!(seen.insert(array), "duplicate {array}");
            assert!(scalar < FIRST_NORMAL_OID && array < FIRST_NORMAL_OID);
        }
    }

    #[test]
    fn display_names() {
        assert_eq!(
            PgType::Array(ScalarType::Timestamptz).to_string(),
            "timestamptz[]"
        );
        assert_eq!(ScalarType::Box.array_delimiter(), b';');
        assert_eq!(ScalarType::Point.array_delimiter(), b',');
    }
}
