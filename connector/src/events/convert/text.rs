//! Strings, bytes, bit strings and `hstore`.

use std::fmt::Write as _;

use pgcdc_schemas::connect::Value;
use pgcdc_schemas::debezium::java::hashmap_iteration_order;
use pgcdc_schemas::debezium::{BinaryHandlingMode, HstoreHandlingMode};
use pgcdc_schemas::encoding;
use pgcdc_schemas::json::escape::{write_json_string, Supplementary};

use crate::values::{BitString, HstorePairs};

/// `bytea` (and the text of types without a mapping, with
/// `include.unknown.datatypes`) in the `binary.handling.mode`.
pub fn binary(bytes: &[u8], mode: BinaryHandlingMode) -> Value {
    match mode {
        BinaryHandlingMode::Bytes => Value::Bytes(bytes.to_vec()),
        BinaryHandlingMode::Base64 => Value::String(encoding::base64(bytes)),
        BinaryHandlingMode::Base64UrlSafe => Value::String(encoding::base64_url_safe(bytes)),
        BinaryHandlingMode::Hex => Value::String(encoding::hex(bytes)),
    }
}

/// `io.debezium.data.Bits`: the bit string read as a binary number (first printed bit
/// most significant), written as little-endian bytes, as few as hold the highest set
/// bit — no bytes at all for zero, whatever the declared length (`c_bit10` of
/// `defaults.json`: `1000000001` → `01 02`, `0000000000` → empty).
pub fn bits(value: &BitString) -> Value {
    let n = value.len();
    let highest = (0..n).find(|&i| value.get(i) == Some(true));
    let Some(highest) = highest else {
        return Value::Bytes(Vec::new());
    };
    // Bit k of the number (k = 0 least significant) is printed bit n-1-k.
    let significant = n - highest;
    let mut bytes = vec![0u8; significant.div_ceil(8)];
    for k in 0..significant {
        if value.get(n - 1 - k) == Some(true) {
            bytes[k / 8] |= 1 << (k % 8);
        }
    }
    Value::Bytes(bytes)
}

/// A one-bit string (`bit(1)`, `varbit(1)`) as a BOOLEAN.
pub fn bit_boolean(value: &BitString) -> Value {
    Value::Boolean((0..value.len()).any(|i| value.get(i) == Some(true)))
}

/// `uuid` in its canonical lower-case text.
pub fn uuid(bytes: &[u8; 16]) -> Value {
    let hex = encoding::hex(bytes);
    Value::String(format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    ))
}

/// `hstore` in the `hstore.handling.mode`. Debezium parses it into a `HashMap` first,
/// so pairs come out in that map's iteration order, not PostgreSQL's; in `json` mode
/// the object is written compactly by Jackson (`{"a":"1","b":null}`).
pub fn hstore(pairs: &HstorePairs<'_>, mode: HstoreHandlingMode) -> Value {
    let keys: Vec<&str> = pairs.iter().map(|(k, _)| k.as_ref()).collect();
    let order = hashmap_iteration_order(&keys);
    match mode {
        HstoreHandlingMode::Json => {
            let mut json = String::from("{");
            for (n, &i) in order.iter().enumerate() {
                if n > 0 {
                    json.push(',');
                }
                let (key, value) = &pairs[i];
                write_json_string(key, Supplementary::Raw, &mut json);
                json.push(':');
                match value {
                    Some(v) => write_json_string(v, Supplementary::Raw, &mut json),
                    None => {
                        let _ = write!(json, "null");
                    }
                }
            }
            json.push('}');
            Value::String(json)
        }
        HstoreHandlingMode::Map => Value::Map(
            order
                .into_iter()
                .map(|i| {
                    let (key, value) = &pairs[i];
                    (
                        Value::from(key.as_ref()),
                        value
                            .as_ref()
                            .map_or(Value::Null, |v| Value::from(v.as_ref())),
                    )
                })
                .collect(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::borrow::Cow;

    fn bit_string(text: &str) -> BitString {
        match crate::values::parse_text(
            crate::values::PgType::Scalar(crate::values::ScalarType::Varbit),
            crate::values::Typmod::NONE,
            text.as_bytes(),
        ) {
            Ok(crate::values::PgValue::Bits(b)) => b,
            other => panic!("{other:?}"),
        }
    }

    // c_bit10, c_varbit, c_varbit_any of defaults.json.
    #[test]
    fn bits_little_endian_minimal() {
        let b64 = |text: &str| match bits(&bit_string(text)) {
            Value::Bytes(b) => encoding::base64(&b),
            other => panic!("{other:?}"),
        };
        assert_eq!(b64("1000000001"), "AQI=");
        assert_eq!(b64("1010000001"), "gQI=");
        assert_eq!(b64("0000000000"), "");
        assert_eq!(b64("1111111111"), "/wM=");
        assert_eq!(b64("101"), "BQ==");
        assert_eq!(b64("1101011011001"), "2Ro=");
        assert_eq!(b64("11111111111111111111"), "//8P");
        assert_eq!(b64("10000000000000000"), "AAAB");
        assert_eq!(b64("000000001"), "AQ==");
        assert_eq!(b64(""), "");
        assert_eq!(bit_boolean(&bit_string("0")), Value::Boolean(false));
    }

    #[test]
    fn hstore_json() {
        let pairs: HstorePairs<'_> = vec![
            (Cow::Borrowed("a"), Some(Cow::Borrowed("1"))),
            (Cow::Borrowed("b"), None),
            (
                Cow::Borrowed("key with space"),
                Some(Cow::Borrowed("value \"quoted\"")),
            ),
        ];
        assert_eq!(
            hstore(&pairs, HstoreHandlingMode::Json),
            Value::from(r#"{"a":"1","b":null,"key with space":"value \"quoted\""}"#)
        );
        assert_eq!(
            uuid(&[0xff; 16]),
            Value::from("ffffffff-ffff-ffff-ffff-ffffffffffff")
        );
    }
}
