//! Arrays. Debezium reads an array through the JDBC driver's `PgArray` and converts
//! each element, which gives three whole-array rules (all in `defaults.json`):
//!
//! - a multi-dimensional array becomes its outer dimension of nulls
//!   (`{{1,2},{3,4}}` → `[null, null]`: the inner arrays do not convert);
//! - a `numeric` array holding `NaN` or an infinity is null, in every decimal mode;
//! - an enum array with a NULL element is null (its items are required).
//!
//! Lower bounds are dropped (`[0:1]={…}` is a plain list).

use pgcdc_schemas::connect::Value;
use pgcdc_schemas::debezium::PgScalar;

use super::{numeric, Converter};
use crate::events::error::EventError;
use crate::values::PgValue;

pub(super) fn convert(
    converter: &Converter<'_>,
    value: &PgValue<'_>,
    element: PgScalar,
) -> Result<Value, EventError> {
    let PgValue::Array(array) = value else {
        return Err(EventError::UnexpectedValue {
            column: converter.column.name.clone(),
            expected: "array",
            found: super::value_kind(value),
        });
    };
    if array.dims.len() > 1 {
        return Ok(Value::Array(vec![Value::Null; array.dims[0].len]));
    }
    let elements = array.elements.iter();
    if element == PgScalar::Numeric
        && elements
            .clone()
            .flatten()
            .any(|e| matches!(e, PgValue::Numeric(n) if !numeric::is_finite(n)))
    {
        return Ok(Value::Null);
    }
    if element == PgScalar::Enum && array.elements.iter().any(Option::is_none) {
        return Ok(Value::Null);
    }
    elements
        .map(|e| match e {
            None => Ok(Value::Null),
            Some(v) => converter.scalar(v, element, true),
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Value::Array)
}
