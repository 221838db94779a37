//! JSON string literals as Jackson writes them, in two flavours that differ in one
//! rule and both show up in Debezium's records.

use crate::encoding::TextSink;

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
///
/// Most strings need no escape at all: they are checked eight bytes at a time and
/// copied whole; the others are copied run by run between the bytes to escape.
#[inline]
pub fn write_json_string(s: &str, supplementary: Supplementary, out: &mut impl TextSink) {
    let surrogates = supplementary == Supplementary::EscapeSurrogates;
    let first = next_to_escape(s.as_bytes(), 0, surrogates);
    if first == s.len() {
        out.reserve(s.len() + 2);
        out.push_ascii_byte(b'"');
        out.push_str(s);
        out.push_ascii_byte(b'"');
    } else {
        write_escaped(s, first, surrogates, out);
    }
}

/// [`write_json_string`] for a string whose first byte to escape is at `first`.
#[inline(never)]
fn write_escaped(s: &str, first: usize, surrogates: bool, out: &mut impl TextSink) {
    let bytes = s.as_bytes();
    out.reserve(bytes.len() + 8);
    out.push_ascii_byte(b'"');
    let mut run_start = 0;
    let mut i = first;
    // `i` is always at an ASCII byte or the lead byte of a sequence: a char boundary.
    while let Some(&b) = bytes.get(i) {
        out.push_str(&s[run_start..i]);
        if b >= 0xF0 {
            // Four-byte UTF-8 sequences are exactly the characters above U+FFFF.
            let c = s[i..].chars().next().unwrap_or(char::REPLACEMENT_CHARACTER);
            let mut units = [0u16; 2];
            for &unit in c.encode_utf16(&mut units).iter() {
                write_unicode_escape(unit, out);
            }
            run_start = i + c.len_utf8();
        } else {
            match b {
                b'"' => out.push_str("\\\""),
                b'\\' => out.push_str("\\\\"),
                0x08 => out.push_str("\\b"),
                b'\t' => out.push_str("\\t"),
                b'\n' => out.push_str("\\n"),
                0x0c => out.push_str("\\f"),
                b'\r' => out.push_str("\\r"),
                _ => write_unicode_escape(u16::from(b), out),
            }
            run_start = i + 1;
        }
        i = next_to_escape(bytes, run_start, surrogates);
    }
    out.push_str(&s[run_start..]);
    out.push_ascii_byte(b'"');
}

/// `\uXXXX` with upper-case hex, as Jackson writes it.
fn write_unicode_escape(unit: u16, out: &mut impl TextSink) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let hex = |shift: u16| HEX[usize::from((unit >> shift) & 0xF)];
    out.push_ascii(&[b'\\', b'u', hex(12), hex(8), hex(4), hex(0)]);
}

/// The index of the first byte at or after `from` that is not copied as it is
/// (`bytes.len()` when there is none): `"`, `\`, a control character, or with
/// `surrogates` the lead byte of a four-byte sequence (0xF0 and above).
#[inline(always)]
fn next_to_escape(bytes: &[u8], from: usize, surrogates: bool) -> usize {
    let len = bytes.len();
    let mut i = from;
    while let Some(word) = word_at(bytes, i) {
        let found = to_escape(word, surrogates);
        if found != 0 {
            return i + (found.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    if len - from >= 8 {
        // The last eight bytes, overlapping ones already found clean.
        let last = len - 8;
        let found = word_at(bytes, last).map_or(0, |word| to_escape(word, surrogates));
        return if found == 0 {
            len
        } else {
            last + (found.trailing_zeros() / 8) as usize
        };
    }
    // Fewer than eight bytes in all: the first four and the last four (which overlap
    // when there are fewer than eight) checked as one word.
    if len - i >= 4 {
        let last = len - 4;
        let (Some(head), Some(tail)) = (quad_at(bytes, i), quad_at(bytes, last)) else {
            return len;
        };
        let found = to_escape(u64::from(head) | (u64::from(tail) << 32), surrogates);
        return match found.trailing_zeros() / 8 {
            8 => len,
            k @ 0..4 => i + k as usize,
            k => last + (k - 4) as usize,
        };
    }
    while let Some(&b) = bytes.get(i) {
        if b < 0x20 || b == b'"' || b == b'\\' || (surrogates && b >= 0xF0) {
            return i;
        }
        i += 1;
    }
    len
}

fn word_at(bytes: &[u8], i: usize) -> Option<u64> {
    let chunk = bytes.get(i..i.checked_add(8)?)?;
    Some(u64::from_le_bytes(chunk.try_into().ok()?))
}

fn quad_at(bytes: &[u8], i: usize) -> Option<u32> {
    let chunk = bytes.get(i..i.checked_add(4)?)?;
    Some(u32::from_le_bytes(chunk.try_into().ok()?))
}

/// The high bit of each byte of `word` (read little-endian) that must be escaped;
/// the lowest set bit always belongs to the first such byte, as a borrow only runs
/// towards higher bytes.
#[inline(always)]
fn to_escape(word: u64, surrogates: bool) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    // A byte of `x` is zero exactly when `any_zero` sets its high bit.
    let any_zero = |x: u64| x.wrapping_sub(ONES) & !x & HIGH;
    // Below 0x20: subtracting 0x20 borrows into the high bit of a byte that had it
    // clear; bytes of 0x80 and above are masked out by `!word`.
    let mut found = word.wrapping_sub(0x20 * ONES) & !word & HIGH;
    found |= any_zero(word ^ (u64::from(b'"') * ONES));
    found |= any_zero(word ^ (u64::from(b'\\') * ONES));
    if surrogates {
        found |= any_zero((word & (0xF0 * ONES)) ^ (0xF0 * ONES));
    }
    found
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

    /// The rules above applied one character at a time: the plain reading of Jackson's
    /// escaping, against which the run-copying writer is checked.
    fn one_char_at_a_time(s: &str, supplementary: Supplementary) -> String {
        let mut out = String::from("\"");
        for c in s.chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\u{8}' => out.push_str("\\b"),
                '\t' => out.push_str("\\t"),
                '\n' => out.push_str("\\n"),
                '\u{c}' => out.push_str("\\f"),
                '\r' => out.push_str("\\r"),
                c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04X}", c as u32)),
                c if (c as u32) > 0xFFFF && supplementary == Supplementary::EscapeSurrogates => {
                    let mut units = [0u16; 2];
                    for unit in c.encode_utf16(&mut units) {
                        out.push_str(&format!("\\u{unit:04X}"));
                    }
                }
                c => out.push(c),
            }
        }
        out.push('"');
        out
    }

    proptest::proptest! {
        #[test]
        fn same_as_one_char_at_a_time(
            s in "(\\PC|[\\x00-\\x1f\"\\\\\u{7f}\u{2028}\u{10000}-\u{10ffff}])*"
        ) {
            for supplementary in [Supplementary::EscapeSurrogates, Supplementary::Raw] {
                let mut out = String::from("prefix");
                write_json_string(&s, supplementary, &mut out);
                proptest::prop_assert_eq!(&out[6..], one_char_at_a_time(&s, supplementary));
            }
        }
    }

    // Every length up to 20 with one byte to escape at every position, and none: the
    // word-at-a-time search has separate paths for under 4, under 8 and longer strings.
    #[test]
    fn every_position_of_every_length() {
        for len in 0..20 {
            for special in ["", "\"", "\\", "\u{0}", "\u{1f}", "🎉", " ", "é", "\u{7f}"] {
                for at in 0..=len {
                    let s = format!("{}{special}{}", "a".repeat(at), "b".repeat(len - at));
                    for supplementary in [Supplementary::EscapeSurrogates, Supplementary::Raw] {
                        let mut out = String::new();
                        write_json_string(&s, supplementary, &mut out);
                        assert_eq!(out, one_char_at_a_time(&s, supplementary), "{s:?}");
                    }
                }
            }
        }
    }
}
