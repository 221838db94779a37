//! contrib `hstore`: `"a"=>"1", "b"=>NULL`. `hstore_out` quotes every key and value
//! (escaping `"` and `\` with a backslash), prints SQL NULL values as a bare `NULL`, and
//! orders pairs by key length then bytes. The input syntax also allows unquoted
//! words and free whitespace; both are accepted.

use std::borrow::Cow;

use super::error::ValueError;
use super::text::{is_array_space, unescape};

/// Key/value pairs in the order printed; a `None` value is SQL NULL. Debezium's
/// `hstore.handling.mode` turns these into a JSON string or a Connect MAP.
pub type HstorePairs<'a> = Vec<(Cow<'a, str>, Option<Cow<'a, str>>)>;

/// A word: quoted (backslash escapes) or a bare run ending at whitespace, `,`, `=`.
/// Returns the word, whether it was quoted, and the rest.
fn word(input: &str) -> Option<(Cow<'_, str>, bool, &str)> {
    let bytes = input.as_bytes();
    if bytes.first() == Some(&b'"') {
        let mut i = 1;
        let mut escaped = false;
        while i < bytes.len() {
            match bytes[i] {
                b'\\' => {
                    escaped = true;
                    i += 2;
                }
                b'"' => {
                    let inner = &input[1..i];
                    let text = if escaped {
                        unescape(inner)
                    } else {
                        Cow::Borrowed(inner)
                    };
                    return Some((text, true, &input[i + 1..]));
                }
                _ => i += 1,
            }
        }
        return None;
    }
    let end = bytes
        .iter()
        .position(|&b| is_array_space(b) || b == b',' || b == b'=' || b == b'"')
        .unwrap_or(bytes.len());
    if end == 0 {
        return None;
    }
    let raw = &input[..end];
    let text = if raw.contains('\\') {
        unescape(raw)
    } else {
        Cow::Borrowed(raw)
    };
    Some((text, false, &input[end..]))
}

fn skip_space(input: &str) -> &str {
    input.trim_start_matches(|c: char| c.is_ascii() && is_array_space(c as u8))
}

pub fn parse_hstore(text: &str) -> Result<HstorePairs<'_>, ValueError> {
    parse(text).ok_or_else(|| {
        ValueError::malformed(
            super::PgType::Scalar(super::ScalarType::Hstore),
            text.as_bytes(),
            "expected \"key\"=>\"value\" pairs separated by ','",
        )
    })
}

fn parse(text: &str) -> Option<HstorePairs<'_>> {
    let mut pairs = Vec::new();
    let mut rest = skip_space(text);
    while !rest.is_empty() {
        let (key, _, after) = word(rest)?;
        rest = skip_space(after).strip_prefix("=>")?;
        let (value, quoted, after) = word(skip_space(rest))?;
        let value = (quoted || !value.eq_ignore_ascii_case("NULL")).then_some(value);
        pairs.push((key, value));
        rest = skip_space(after);
        if let Some(after) = rest.strip_prefix(',') {
            rest = skip_space(after);
            if rest.is_empty() {
                return None;
            }
        } else if !rest.is_empty() {
            return None;
        }
    }
    Some(pairs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(text: &str) -> Vec<(String, Option<String>)> {
        parse_hstore(text)
            .expect(text)
            .into_iter()
            .map(|(k, v)| (k.into_owned(), v.map(Cow::into_owned)))
            .collect()
    }

    fn kv(k: &str, v: Option<&str>) -> (String, Option<String>) {
        (k.to_owned(), v.map(str::to_owned))
    }

    // Printed by PostgreSQL 15 with contrib hstore.
    #[test]
    fn server_output() {
        assert_eq!(
            pairs(r#""a"=>"1", "b"=>NULL, "c d"=>"x\"y", "e\\f"=>"""#),
            vec![
                kv("a", Some("1")),
                kv("b", None),
                kv("c d", Some("x\"y")),
                kv("e\\f", Some("")),
            ]
        );
        assert_eq!(pairs(""), vec![]);
        assert_eq!(pairs(r#""NULL"=>"NULL""#), vec![kv("NULL", Some("NULL"))]);
        assert_eq!(pairs(r#""é"=>"🦀""#), vec![kv("é", Some("🦀"))]);
    }

    #[test]
    fn input_syntax_and_borrowing() {
        assert_eq!(
            pairs("a=>1,  b => null ,c=>\"\""),
            vec![kv("a", Some("1")), kv("b", None), kv("c", Some(""))]
        );
        let parsed = parse_hstore(r#""k"=>"v""#).expect("hstore");
        assert!(matches!(parsed[0].0, Cow::Borrowed("k")));
    }

    #[test]
    fn malformed() {
        for bad in [
            r#""a"=>"#,
            r#""a""#,
            r#""a"=>"1","#,
            r#""a"=>"1" "b"=>"2""#,
            r#""a"=>"1"#,
            r#""a"->"1""#,
            r#"=>"1""#,
            r#""a"=>"1",,"b"=>"2""#,
        ] {
            assert!(parse_hstore(bad).is_err(), "{bad}");
        }
    }
}
