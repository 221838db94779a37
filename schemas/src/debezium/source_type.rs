//! `column.propagate.source.type`: the `__debezium.source.column.*` parameters that
//! describe a column's PostgreSQL type in its value field (not in key fields).
//!
//! Debezium writes, after the schema's own parameters: `type` (the type name in upper
//! case: `INT4`, `_TEXT`, a domain's or enum's own name), `length` and `scale` as the
//! PostgreSQL JDBC driver reports them for the column's type and modifier, and `name`.
//! The lengths below are that driver's display sizes, as the streaming schemas of
//! `propagate_source_type.json` show them.
//!
//! Known difference: Debezium's *snapshot* schema reports unconstrained `numeric` with
//! length 0 and no scale (from JDBC result metadata) and switches to 131089/0 with the
//! first streamed change of the table (`Envelope` vs `Envelope@2` in that fixture);
//! this module always gives the streaming form.

use super::column::{typmod, ColumnDescription, PgScalar};
use crate::connect::Schema;

/// What the driver reports for types without a length of their own.
const UNBOUNDED: i32 = i32::MAX;

/// Adds the `__debezium.source.column.*` parameters to a value field's schema.
pub fn add_parameters(schema: &mut Schema, column: &ColumnDescription) {
    let (length, scale) = length_and_scale(column);
    schema.set_parameter(
        "__debezium.source.column.type",
        column.type_name.to_uppercase(),
    );
    schema.set_parameter("__debezium.source.column.length", length.to_string());
    schema.set_parameter("__debezium.source.column.scale", scale.to_string());
    schema.set_parameter("__debezium.source.column.name", column.name.clone());
}

/// (length, scale) of a column's type, for an array its element type's.
pub fn length_and_scale(column: &ColumnDescription) -> (i32, i32) {
    use PgScalar as P;
    let time = |base: i32| {
        let precision = typmod::time_precision(column.typmod);
        let fraction = if precision > 0 { precision + 1 } else { 0 };
        (base + fraction, precision)
    };
    match column.pg_type.element() {
        P::Bool => (1, 0),
        P::Int2 => (5, 0),
        P::Int4 | P::Oid => (10, 0),
        P::Int8 => (19, 0),
        P::Float4 => (8, 8),
        P::Float8 => (17, 17),
        // 1000 digits before the point + 16383 after, PostgreSQL's numeric maximum.
        P::Numeric => typmod::numeric(column.typmod).unwrap_or((131_089, 0)),
        P::Varchar | P::Bpchar => (typmod::char_length(column.typmod).unwrap_or(UNBOUNDED), 0),
        P::Char => (1, 0),
        P::Bit | P::Varbit => (
            super::mapping::bit_length(column.pg_type.element(), column.typmod),
            0,
        ),
        P::Date => (13, 0),
        P::Time => time(8),
        P::Timetz => time(14),
        P::Timestamp => time(22),
        P::Timestamptz => time(28),
        P::Interval => (49, typmod::interval_precision(column.typmod)),
        _ => (UNBOUNDED, 0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::debezium::column::PgColumnType::{Array, Scalar};

    fn length_scale(pg_type: super::super::column::PgColumnType, typmod: i32) -> (i32, i32) {
        length_and_scale(&ColumnDescription::new("c", pg_type, "t", typmod))
    }

    // From propagate_source_type.json (Envelope@2).
    #[test]
    fn as_the_driver_reports_them() {
        assert_eq!(length_scale(Scalar(PgScalar::Float4), -1), (8, 8));
        assert_eq!(length_scale(Scalar(PgScalar::Numeric), -1), (131_089, 0));
        assert_eq!(length_scale(Scalar(PgScalar::Numeric), 198_658), (3, 2046));
        assert_eq!(length_scale(Scalar(PgScalar::Time), 0), (8, 0));
        assert_eq!(length_scale(Scalar(PgScalar::Time), 3), (12, 3));
        assert_eq!(length_scale(Scalar(PgScalar::Timetz), -1), (21, 6));
        assert_eq!(length_scale(Scalar(PgScalar::Timestamp), 0), (22, 0));
        assert_eq!(length_scale(Scalar(PgScalar::Timestamptz), 3), (32, 3));
        assert_eq!(length_scale(Scalar(PgScalar::Interval), -1), (49, 6));
        assert_eq!(length_scale(Scalar(PgScalar::Varbit), -1), (UNBOUNDED, 0));
        assert_eq!(length_scale(Array(PgScalar::Varchar), 9), (5, 0));
        assert_eq!(length_scale(Scalar(PgScalar::Money), -1), (UNBOUNDED, 0));
    }
}
