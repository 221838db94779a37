//! Connect values.

/// A value of some [`Schema`](super::Schema). Which variant fits which schema follows
/// Connect's Java types: `Int16` for INT16, `Bytes` for BYTES (and for `Decimal`,
/// whose bytes are the unscaled integer), `Struct` holding one value per schema field
/// in field order.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Null,
    Boolean(bool),
    Int8(i8),
    Int16(i16),
    Int32(i32),
    Int64(i64),
    Float32(f32),
    Float64(f64),
    String(String),
    Bytes(Vec<u8>),
    Array(Vec<Value>),
    /// Entries in iteration order: converters write them in this order, and Debezium's
    /// maps iterate in a `HashMap`'s order, which the producer of the value reproduces.
    Map(Vec<(Value, Value)>),
    /// One value per field of the struct schema, in field order.
    Struct(Vec<Value>),
}

impl Value {
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    pub fn string(s: impl Into<String>) -> Value {
        Value::String(s.into())
    }

    /// The value, or `Null` when absent.
    pub fn from_option(value: Option<Value>) -> Value {
        value.unwrap_or(Value::Null)
    }
}

impl From<bool> for Value {
    fn from(v: bool) -> Value {
        Value::Boolean(v)
    }
}

impl From<i16> for Value {
    fn from(v: i16) -> Value {
        Value::Int16(v)
    }
}

impl From<i32> for Value {
    fn from(v: i32) -> Value {
        Value::Int32(v)
    }
}

impl From<i64> for Value {
    fn from(v: i64) -> Value {
        Value::Int64(v)
    }
}

impl From<f64> for Value {
    fn from(v: f64) -> Value {
        Value::Float64(v)
    }
}

impl From<String> for Value {
    fn from(v: String) -> Value {
        Value::String(v)
    }
}

impl From<&str> for Value {
    fn from(v: &str) -> Value {
        Value::String(v.to_owned())
    }
}

impl From<Vec<u8>> for Value {
    fn from(v: Vec<u8>) -> Value {
        Value::Bytes(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversions() {
        assert_eq!(Value::from(true), Value::Boolean(true));
        assert_eq!(Value::from("x"), Value::String("x".to_owned()));
        assert_eq!(Value::from_option(None), Value::Null);
        assert!(Value::Null.is_null());
        assert!(!Value::from(1i64).is_null());
    }
}
