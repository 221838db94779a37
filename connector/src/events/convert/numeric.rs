//! `numeric` and `money` in the three `decimal.handling.mode`s.
//!
//! | value | `precise` | `double` | `string` |
//! | --- | --- | --- | --- |
//! | `numeric(p,s)` | `Decimal` bytes at scale `s` | nearest double | plain text at scale `s` |
//! | `numeric` | `VariableScaleDecimal {scale, value}`, trailing zeros stripped | nearest double | the text (`1.10`) |
//! | `NaN`, `±Infinity` | null | `"NaN"`, `"±Infinity"` | `NAN`, `POSITIVE_INFINITY`, `NEGATIVE_INFINITY` |
//! | `money` | `Decimal` at `money.fraction.digits` | nearest double | plain text |
//!
//! The scale `s` is Debezium's reading of the type modifier, which turns a negative
//! scale into a large positive one (`numeric(3,-2)` → 2046): values of such columns
//! are written with 2046 fraction digits, as Debezium does (`decimal_string.json`).

use pgcdc_schemas::connect::Value;
use pgcdc_schemas::debezium::column::typmod;
use pgcdc_schemas::debezium::DecimalHandlingMode;

use super::decimal::BigDecimal;
use crate::values::{Money, Numeric};

/// A `numeric` value in the column's representation.
pub fn numeric(value: &Numeric, column_typmod: i32, mode: DecimalHandlingMode) -> Value {
    let declared_scale = typmod::numeric(column_typmod).map(|(_, scale)| scale);
    match (value, mode) {
        (Numeric::Finite(d), DecimalHandlingMode::Precise) => {
            let decimal = BigDecimal::from_decimal(d);
            match declared_scale {
                Some(scale) => Value::Bytes(
                    decimal
                        .with_scale_at_least(scale)
                        .unscaled_twos_complement(),
                ),
                None => variable_scale(decimal),
            }
        }
        (Numeric::Finite(d), DecimalHandlingMode::Double) => {
            Value::Float64(BigDecimal::from_decimal(d).to_f64())
        }
        (Numeric::Finite(d), DecimalHandlingMode::String) => {
            let decimal = BigDecimal::from_decimal(d);
            let decimal = match declared_scale {
                Some(scale) => decimal.with_scale_at_least(scale),
                None => decimal,
            };
            Value::String(decimal.to_plain_string())
        }
        (_, DecimalHandlingMode::Precise) => Value::Null,
        (Numeric::NaN, DecimalHandlingMode::Double) => Value::Float64(f64::NAN),
        (Numeric::Infinity, DecimalHandlingMode::Double) => Value::Float64(f64::INFINITY),
        (Numeric::NegInfinity, DecimalHandlingMode::Double) => Value::Float64(f64::NEG_INFINITY),
        // SpecialValueDecimal's enum constant names.
        (Numeric::NaN, DecimalHandlingMode::String) => Value::from("NAN"),
        (Numeric::Infinity, DecimalHandlingMode::String) => Value::from("POSITIVE_INFINITY"),
        (Numeric::NegInfinity, DecimalHandlingMode::String) => Value::from("NEGATIVE_INFINITY"),
    }
}

/// `VariableScaleDecimal`: `{scale, value}` with trailing zeros stripped.
fn variable_scale(decimal: BigDecimal) -> Value {
    let stripped = decimal.strip_trailing_zeros();
    Value::Struct(vec![
        Value::Int32(stripped.scale()),
        Value::Bytes(stripped.unscaled_twos_complement()),
    ])
}

/// Whether a `numeric` value has a number (arrays with one that does not are null).
pub fn is_finite(value: &Numeric) -> bool {
    matches!(value, Numeric::Finite(_))
}

/// A `money` value; `None` when its text is not in the C-locale layout that pgcdc
/// reads (the caller reports it).
pub fn money(value: &Money<'_>, mode: DecimalHandlingMode, fraction_digits: u8) -> Option<Value> {
    let cents = value.minor_units?;
    let text = format!(
        "{}{}.{:02}",
        if cents < 0 { "-" } else { "" },
        cents.unsigned_abs() / 100,
        cents.unsigned_abs() % 100
    );
    let decimal = BigDecimal::from_plain(&text)?.with_scale_at_least(i32::from(fraction_digits));
    Some(match mode {
        DecimalHandlingMode::Precise => Value::Bytes(decimal.unscaled_twos_complement()),
        DecimalHandlingMode::Double => Value::Float64(decimal.to_f64()),
        DecimalHandlingMode::String => Value::String(decimal.to_plain_string()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::values::{parse_text, PgType, PgValue, ScalarType, Typmod};

    fn parse(text: &str, typmod: i32) -> Numeric {
        match parse_text(
            PgType::Scalar(ScalarType::Numeric),
            Typmod(typmod),
            text.as_bytes(),
        ) {
            Ok(PgValue::Numeric(n)) => n,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn modes() {
        // numeric(10,2) 1.50 → AJY= (150 at scale 2).
        assert_eq!(
            numeric(
                &parse("1.50", 655_366),
                655_366,
                DecimalHandlingMode::Precise
            ),
            Value::Bytes(vec![0x00, 0x96])
        );
        // numeric 1.10 → {scale: 1, value: 11}.
        assert_eq!(
            numeric(&parse("1.10", -1), -1, DecimalHandlingMode::Precise),
            Value::Struct(vec![Value::Int32(1), Value::Bytes(vec![11])])
        );
        assert_eq!(
            numeric(&parse("1.10", -1), -1, DecimalHandlingMode::String),
            Value::from("1.10")
        );
        assert_eq!(
            numeric(&Numeric::NaN, -1, DecimalHandlingMode::Precise),
            Value::Null
        );
        assert_eq!(
            numeric(&Numeric::NegInfinity, -1, DecimalHandlingMode::String),
            Value::from("NEGATIVE_INFINITY")
        );
    }

    #[test]
    fn money_amounts() {
        let m = match parse_text(
            PgType::Scalar(ScalarType::Money),
            Typmod::NONE,
            b"-$92,233,720,368,547,758.08",
        ) {
            Ok(PgValue::Money(m)) => m,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            money(&m, DecimalHandlingMode::String, 2),
            Some(Value::from("-92233720368547758.08"))
        );
        assert_eq!(
            money(&m, DecimalHandlingMode::Precise, 2),
            Some(Value::Bytes(vec![0x80, 0, 0, 0, 0, 0, 0, 0]))
        );
    }
}
