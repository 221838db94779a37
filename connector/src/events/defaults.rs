//! Column defaults in schemas: Debezium turns a column's `DEFAULT` expression (as
//! `pg_get_expr` prints it) into the field schema's `default`, for a fixed set of types
//! (`PostgresDefaultValueConverter`):
//!
//! - a literal (`'hello'::text`, `42`, `1.5`, `'happy'::mood`) is that value;
//! - a function call or `CURRENT_TIMESTAMP`-like keyword is the type's "zero" (`0`,
//!   `''`, `{}`, `false`, `1970-01-01`, `00:00`, the nil UUID): `now()` on a
//!   `timestamptz` gives `1970-01-01T00:00:00.000000Z` (`c_nn_ts` of `defaults.json`);
//! - `NULL::type`, an expression it cannot parse, and every other type (arrays,
//!   domains, geometric, network types) give no default.
//!
//! The value then goes through the column's converter, so a `numeric(8,3)` default of
//! `1.5` is `1.500` (`c_nn_numeric`).

use pgcdc_schemas::connect::Value;
use pgcdc_schemas::debezium::{ColumnDescription, PgColumnType, PgScalar, ValueModes};

use super::convert::{convert, ReadPath};
use crate::values::{parse_text, ResolvedType};

/// The default value of a column with DEFAULT `expression`, or `None`.
pub fn default_value(
    expression: &str,
    column: &ColumnDescription,
    resolved: ResolvedType,
    modes: &ValueModes,
) -> Option<Value> {
    let PgColumnType::Scalar(scalar) = column.pg_type else {
        return None;
    };
    let text = literal_text(expression.trim(), scalar, &column.type_name)?;
    let value = parse_text(resolved.ty, resolved.typmod, text.as_bytes()).ok()?;
    let converted = convert(&value, column, modes, ReadPath::Streaming).ok()?;
    (!converted.is_null()).then_some(converted)
}

/// The text of the default in the type's output form, or `None` when Debezium would
/// not propagate one.
fn literal_text(expression: &str, scalar: PgScalar, type_name: &str) -> Option<String> {
    use PgScalar as P;
    // Debezium looks mappers up by the declared type name: a domain has none.
    let generated = match scalar {
        P::Bool => "f",
        P::Int2 | P::Int4 | P::Int8 => "0",
        P::Float4 | P::Float8 | P::Numeric => "0.0",
        P::Text | P::Varchar | P::Bpchar | P::Xml => "",
        P::Json | P::Jsonb => "{}",
        P::Uuid => "00000000-0000-0000-0000-000000000000",
        P::Date => "1970-01-01",
        P::Time => "00:00:00",
        P::Timestamp => "1970-01-01 00:00:00",
        P::Timestamptz => "1970-01-01 00:00:00+00",
        P::Interval => "00:00:00",
        P::Bit | P::Varbit | P::Enum => "",
        _ => return None,
    };
    let builtin_name_matches = scalar == P::Enum
        || PgScalar::from_type_name(type_name).is_some_and(|named| named == scalar);
    if !builtin_name_matches {
        return None;
    }
    if expression.starts_with("NULL::") || expression.eq_ignore_ascii_case("null") {
        return None;
    }
    if is_generated(expression) {
        return match scalar {
            // An enum's or bit string's generated default has no usable value.
            P::Enum | P::Bit | P::Varbit => None,
            _ => Some(generated.to_owned()),
        };
    }
    let literal = if expression.contains('\'') {
        quoted_literal(expression)?
    } else {
        expression.to_owned()
    };
    Some(match scalar {
        // Boolean.parseBoolean: "true" in any case, everything else false.
        P::Bool => if literal.eq_ignore_ascii_case("true") {
            "t"
        } else {
            "f"
        }
        .to_owned(),
        P::Bit | P::Varbit => literal
            .strip_prefix('B')
            .map(|bits| bits.trim_matches('\'').to_owned())
            .unwrap_or(literal),
        _ => literal,
    })
}

/// A function call (`now()`, `nextval('s'::regclass)`, `(gen_random_uuid())`) or one
/// of SQL's current-time keywords.
fn is_generated(expression: &str) -> bool {
    const KEYWORDS: [&str; 5] = [
        "current_timestamp",
        "current_time",
        "current_date",
        "localtime",
        "localtimestamp",
    ];
    if KEYWORDS.contains(&expression.to_ascii_lowercase().as_str()) {
        return true;
    }
    let body = expression.strip_prefix('(').unwrap_or(expression);
    let name_len = body
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '.'))
        .unwrap_or(body.len());
    name_len > 0 && body[name_len..].starts_with('(') && body.contains(')')
}

/// The first single-quoted literal, with `''` unescaped.
fn quoted_literal(expression: &str) -> Option<String> {
    let start = expression.find('\'')? + 1;
    let mut out = String::new();
    let mut chars = expression[start..].chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\'' {
            if chars.peek() == Some(&'\'') {
                chars.next();
                out.push('\'');
            } else {
                return Some(out);
            }
        } else {
            out.push(c);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_and_generated_values() {
        assert_eq!(
            literal_text("'hello'::text", PgScalar::Text, "text"),
            Some("hello".to_owned())
        );
        assert_eq!(
            literal_text("'it''s'::character varying", PgScalar::Varchar, "varchar"),
            Some("it's".to_owned())
        );
        assert_eq!(
            literal_text("42", PgScalar::Int4, "int4"),
            Some("42".to_owned())
        );
        assert_eq!(
            literal_text("now()", PgScalar::Timestamptz, "timestamptz"),
            Some("1970-01-01 00:00:00+00".to_owned())
        );
        assert_eq!(
            literal_text("nextval('t_id_seq'::regclass)", PgScalar::Int8, "int8"),
            Some("0".to_owned())
        );
        assert_eq!(
            literal_text("CURRENT_TIMESTAMP", PgScalar::Timestamptz, "timestamptz"),
            Some("1970-01-01 00:00:00+00".to_owned())
        );
        assert_eq!(literal_text("NULL::text", PgScalar::Text, "text"), None);
        assert_eq!(
            literal_text("'x'::amount", PgScalar::Numeric, "amount"),
            None
        );
        assert_eq!(
            literal_text("'{1}'::integer[]", PgScalar::Point, "point"),
            None
        );
        assert_eq!(
            literal_text("'happy'::mood", PgScalar::Enum, "mood"),
            Some("happy".to_owned())
        );
        assert_eq!(
            literal_text("true", PgScalar::Bool, "bool"),
            Some("t".to_owned())
        );
    }
}
