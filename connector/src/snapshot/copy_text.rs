//! `COPY ... TO STDOUT` text format → rows of column text, as pgoutput sends them.
//!
//! The format ("COPY", File Formats, Text Format): one line per row, columns separated
//! by a tab, `\N` for NULL, and backslash escapes for the bytes that would break the
//! framing. After unescaping, a column holds exactly the type's text output, the same
//! text pgoutput sends, so snapshot rows and streamed rows parse alike.

use std::borrow::Cow;

/// A line that is not valid COPY text output.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CopyTextError {
    #[error("row has {found} columns, expected {expected}")]
    ColumnCount { expected: usize, found: usize },
    #[error("backslash at the end of column {column}")]
    DanglingBackslash { column: usize },
}

/// One column: `None` is SQL NULL.
pub type CopyColumn<'a> = Option<Cow<'a, [u8]>>;

/// Splits one line (without its trailing newline) into `expected` columns, unescaping
/// each. Columns without escapes borrow from the line.
pub fn parse_line(line: &[u8], expected: usize) -> Result<Vec<CopyColumn<'_>>, CopyTextError> {
    let mut columns = Vec::with_capacity(expected.min(line.len() + 1));
    for (index, field) in line.split(|&b| b == b'\t').enumerate() {
        if index >= expected {
            return Err(CopyTextError::ColumnCount {
                expected,
                found: line.split(|&b| b == b'\t').count(),
            });
        }
        columns.push(parse_field(field, index)?);
    }
    if columns.len() != expected {
        return Err(CopyTextError::ColumnCount {
            expected,
            found: columns.len(),
        });
    }
    Ok(columns)
}

fn parse_field(field: &[u8], column: usize) -> Result<CopyColumn<'_>, CopyTextError> {
    if field == b"\\N" {
        return Ok(None);
    }
    if !field.contains(&b'\\') {
        return Ok(Some(Cow::Borrowed(field)));
    }
    let mut out = Vec::with_capacity(field.len());
    let mut i = 0;
    while i < field.len() {
        let byte = field[i];
        if byte != b'\\' {
            out.push(byte);
            i += 1;
            continue;
        }
        let Some(&next) = field.get(i + 1) else {
            return Err(CopyTextError::DanglingBackslash { column });
        };
        i += 2;
        match next {
            b'b' => out.push(0x08),
            b'f' => out.push(0x0c),
            b'n' => out.push(b'\n'),
            b'r' => out.push(b'\r'),
            b't' => out.push(b'\t'),
            b'v' => out.push(0x0b),
            b'0'..=b'7' => {
                // One to three octal digits.
                let mut value = u32::from(next - b'0');
                for _ in 0..2 {
                    match field.get(i) {
                        Some(&d @ b'0'..=b'7') => {
                            value = value * 8 + u32::from(d - b'0');
                            i += 1;
                        }
                        _ => break,
                    }
                }
                out.push((value & 0xff) as u8);
            }
            b'x' if field.get(i).is_some_and(u8::is_ascii_hexdigit) => {
                // One or two hex digits.
                let mut value = 0u32;
                for _ in 0..2 {
                    match field.get(i).and_then(|d| (*d as char).to_digit(16)) {
                        Some(d) => {
                            value = value * 16 + d;
                            i += 1;
                        }
                        None => break,
                    }
                }
                out.push(value as u8);
            }
            // Any other escaped byte stands for itself (`\\`, `\.`, ...).
            other => out.push(other),
        }
    }
    Ok(Some(Cow::Owned(out)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn texts(line: &[u8], n: usize) -> Vec<Option<String>> {
        parse_line(line, n)
            .unwrap()
            .into_iter()
            .map(|c| c.map(|c| String::from_utf8(c.into_owned()).unwrap()))
            .collect()
    }

    #[test]
    fn splits_columns_and_reads_nulls() {
        assert_eq!(
            texts(b"1\tAda\t\\N", 3),
            [Some("1".into()), Some("Ada".into()), None]
        );
        assert_eq!(texts(b"", 1), [Some(String::new())], "one empty column");
        assert_eq!(texts(b"\t", 2), [Some(String::new()), Some(String::new())]);
    }

    #[test]
    fn unescapes_what_copy_escapes() {
        assert_eq!(
            texts(b"a\\tb\\nc\\\\d\\re", 1),
            [Some("a\tb\nc\\d\re".into())]
        );
        assert_eq!(texts(b"\\b\\f\\v", 1), [Some("\u{8}\u{c}\u{b}".into())]);
        assert_eq!(
            texts(b"\\101\\60\\7x", 1),
            [Some("A0\u{7}x".into())],
            "octal, 1 to 3 digits"
        );
        assert_eq!(
            texts(b"\\x41\\x4", 1),
            [Some("A\u{4}".into())],
            "hex, 1 or 2 digits"
        );
        assert_eq!(
            texts(b"\\q\\.", 1),
            [Some("q.".into())],
            "any other byte stands for itself"
        );
        assert_eq!(
            texts(b"\\\\N", 1),
            [Some("\\N".into())],
            "an escaped backslash is not NULL"
        );
    }

    #[test]
    fn borrows_when_nothing_is_escaped() {
        let line = b"plain\ttext";
        let columns = parse_line(line, 2).unwrap();
        assert!(columns.iter().all(|c| matches!(c, Some(Cow::Borrowed(_)))));
    }

    #[test]
    fn rejects_malformed_lines() {
        assert_eq!(
            parse_line(b"1\t2", 3),
            Err(CopyTextError::ColumnCount {
                expected: 3,
                found: 2
            })
        );
        assert_eq!(
            parse_line(b"1\t2\t3", 2),
            Err(CopyTextError::ColumnCount {
                expected: 2,
                found: 3
            })
        );
        assert_eq!(
            parse_line(b"ab\\", 1),
            Err(CopyTextError::DanglingBackslash { column: 0 })
        );
    }

    /// COPY's own escaping, written from the documentation, to round-trip through.
    fn escape(value: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        for &b in value {
            match b {
                b'\\' => out.extend_from_slice(b"\\\\"),
                b'\t' => out.extend_from_slice(b"\\t"),
                b'\n' => out.extend_from_slice(b"\\n"),
                b'\r' => out.extend_from_slice(b"\\r"),
                other => out.push(other),
            }
        }
        out
    }

    proptest! {
        #[test]
        fn escaped_columns_round_trip(columns in proptest::collection::vec(
            proptest::option::of(proptest::collection::vec(any::<u8>(), 0..20)), 1..8)) {
            let line: Vec<u8> = columns
                .iter()
                .map(|c| c.as_ref().map_or_else(|| b"\\N".to_vec(), |v| escape(v)))
                .collect::<Vec<_>>()
                .join(&b'\t');
            let parsed: Vec<Option<Vec<u8>>> = parse_line(&line, columns.len())
                .unwrap()
                .into_iter()
                .map(|c| c.map(Cow::into_owned))
                .collect();
            prop_assert_eq!(parsed, columns);
        }

        #[test]
        fn arbitrary_lines_never_panic(line in proptest::collection::vec(any::<u8>(), 0..64), n in 0usize..6) {
            let _ = parse_line(&line, n);
        }
    }
}
