//! JSON values inside Avro schemas (properties such as `connect.parameters`, field
//! defaults), kept in insertion order and written as Avro Java writes them through
//! Jackson: compact, numbers as Java prints them, non-ASCII text raw.

use crate::json::escape::{write_json_string, Supplementary};
use crate::json::java_number;

/// A JSON value whose objects keep their member order (Avro Java's properties are a
/// `LinkedHashMap`, Connect's parameters too).
#[derive(Clone, Debug, PartialEq)]
pub enum Json {
    Null,
    Bool(bool),
    Int(i64),
    /// A Jackson `FloatNode`: printed as Java's `Float.toString`.
    Float(f32),
    /// A Jackson `DoubleNode`: printed as Java's `Double.toString`.
    Double(f64),
    String(String),
    Array(Vec<Json>),
    Object(Vec<(String, Json)>),
}

impl Json {
    pub fn string(s: impl Into<String>) -> Json {
        Json::String(s.into())
    }

    /// Appends the compact JSON text. Non-finite numbers are written as the strings
    /// `"NaN"`, `"Infinity"`, `"-Infinity"` (Jackson's `WRITE_NAN_AS_STRINGS`, on by
    /// default); strings are escaped as Jackson's writer-based generator does.
    pub fn write(&self, out: &mut String) {
        match self {
            Json::Null => out.push_str("null"),
            Json::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Json::Int(i) => out.push_str(&i.to_string()),
            Json::Float(f) if f.is_finite() => out.push_str(&java_number::float_to_string(*f)),
            Json::Double(d) if d.is_finite() => out.push_str(&java_number::double_to_string(*d)),
            Json::Float(f) => write_non_finite(f64::from(*f), out),
            Json::Double(d) => write_non_finite(*d, out),
            Json::String(s) => write_json_string(s, Supplementary::Raw, out),
            Json::Array(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    item.write(out);
                }
                out.push(']');
            }
            Json::Object(members) => {
                out.push('{');
                for (i, (key, value)) in members.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write_json_string(key, Supplementary::Raw, out);
                    out.push(':');
                    value.write(out);
                }
                out.push('}');
            }
        }
    }

    pub fn to_text(&self) -> String {
        let mut out = String::new();
        self.write(&mut out);
        out
    }

    /// From parsed JSON (object members then come in `serde_json`'s key order).
    pub fn from_serde(value: &serde_json::Value) -> Json {
        match value {
            serde_json::Value::Null => Json::Null,
            serde_json::Value::Bool(b) => Json::Bool(*b),
            serde_json::Value::Number(n) => match n.as_i64() {
                Some(i) => Json::Int(i),
                None => Json::Double(n.as_f64().unwrap_or(f64::NAN)),
            },
            serde_json::Value::String(s) => Json::String(s.clone()),
            serde_json::Value::Array(items) => {
                Json::Array(items.iter().map(Json::from_serde).collect())
            }
            serde_json::Value::Object(members) => Json::Object(
                members
                    .iter()
                    .map(|(k, v)| (k.clone(), Json::from_serde(v)))
                    .collect(),
            ),
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Json::String(s) => Some(s),
            _ => None,
        }
    }

    pub fn is_integral(&self) -> bool {
        matches!(self, Json::Int(_))
    }

    pub fn is_number(&self) -> bool {
        matches!(self, Json::Int(_) | Json::Float(_) | Json::Double(_))
    }
}

fn write_non_finite(v: f64, out: &mut String) {
    out.push_str(if v.is_nan() {
        "\"NaN\""
    } else if v > 0.0 {
        "\"Infinity\""
    } else {
        "\"-Infinity\""
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_as_jackson_does() {
        let value = Json::Object(vec![
            ("b".to_owned(), Json::Float(12.2)),
            ("a".to_owned(), Json::Double(f64::from(12.2f32))),
            ("n".to_owned(), Json::Array(vec![Json::Int(-3), Json::Null])),
            ("s".to_owned(), Json::string("é\u{1}\"🎉")),
            ("x".to_owned(), Json::Double(f64::NAN)),
            ("t".to_owned(), Json::Bool(true)),
        ]);
        assert_eq!(
            value.to_text(),
            "{\"b\":12.2,\"a\":12.199999809265137,\"n\":[-3,null],\"s\":\"é\\u0001\\\"🎉\",\"x\":\"NaN\",\"t\":true}"
        );
    }

    #[test]
    fn from_parsed_json() {
        let parsed: serde_json::Value =
            serde_json::from_str(r#"{"a":[1,2.5,"x",null,false]}"#).expect("json");
        assert_eq!(
            Json::from_serde(&parsed),
            Json::Object(vec![(
                "a".to_owned(),
                Json::Array(vec![
                    Json::Int(1),
                    Json::Double(2.5),
                    Json::string("x"),
                    Json::Null,
                    Json::Bool(false)
                ])
            )])
        );
    }
}
