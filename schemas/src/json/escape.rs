//! JSON string literals as Jackson writes them, in two flavours that differ in one
//! rule and both show up in Debezium's records.

use std::fmt::Write as _;

/// How characters outside the Basic Multilingual Plane are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Supplementary {
    /// `\uD83C\uDF89` for 🎉: what Kafka's JsonConverter output shows (Jackson's UTF-8
    /// generator escapes each UTF-16 surrogate; see the `c_text` column of
    /// `defaults.json`, row 4).
    EscapeSurrogates,
    /// The character itself, in UTF-8: what Jackson's `Writer`-based generator does,
    /// which Debezium uses to build the JSON text of an `hstore` in `json` mode.
    Raw,
}

/// Appends `s` as a JSON string literal (with quotes). Jackson escapes `"` and `\`,
/// writes `\b \t \n \f \r` short, other control characters below U+0020 as `\u00XX`
/// with upper-case hex, and leaves everything else (DEL, U+2028, non-ASCII letters)
/// as it is.
pub fn write_json_string(s: &str, supplementary: Supplementary, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{8}' => out.push_str("\\b"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\u{c}' => out.push_str("\\f"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04X}", c as u32);
            }
            c if (c as u32) > 0xFFFF && supplementary == Supplementary::EscapeSurrogates => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    let _ = write!(out, "\\u{:04X}", unit);
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kafka(s: &str) -> String {
        let mut out = String::new();
        write_json_string(s, Supplementary::EscapeSurrogates, &mut out);
        out
    }

    // The c_text value of defaults.json row 4, as Kafka held it.
    #[test]
    fn as_kafka_wrote_it() {
        assert_eq!(
            kafka("héllo 🎉 \"q\" \\ / \n\t\u{1} \u{7f} \u{2028} \u{8}\u{c}\r\u{1b}\u{1f} <>&\u{a0}"),
            "\"héllo \\uD83C\\uDF89 \\\"q\\\" \\\\ / \\n\\t\\u0001 \u{7f} \u{2028} \\b\\f\\r\\u001B\\u001F <>&\u{a0}\""
        );
    }

    #[test]
    fn raw_supplementary() {
        let mut out = String::new();
        write_json_string("ü🎉", Supplementary::Raw, &mut out);
        assert_eq!(out, "\"ü🎉\"");
    }
}
