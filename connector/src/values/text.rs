//! Helpers shared by the parsers of quoted text (array elements, hstore words).

use std::borrow::Cow;

use super::error::ValueError;
use super::types::PgType;

/// The whitespace PostgreSQL's array and hstore input skip around items
/// (`array_isspace`: space, tab, newline, carriage return, vertical tab, form feed).
pub(crate) fn is_array_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | b'\x0b' | b'\x0c')
}

/// Removes backslash escapes: `\x` stands for `x`, whatever `x` is. A trailing lone
/// backslash is kept.
pub(crate) fn unescape(escaped: &str) -> Cow<'_, str> {
    if !escaped.contains('\\') {
        return Cow::Borrowed(escaped);
    }
    let mut out = String::with_capacity(escaped.len());
    let mut chars = escaped.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            out.push(chars.next().unwrap_or('\\'));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// Column text as `&str`. Every text-like type needs this check once; it is the only
/// cost of a `text` column (no copy).
pub(crate) fn utf8(ty: PgType, text: &[u8]) -> Result<&str, ValueError> {
    std::str::from_utf8(text).map_err(|_| ValueError::invalid_utf8(ty, text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unescapes() {
        assert!(matches!(unescape("plain"), Cow::Borrowed("plain")));
        assert_eq!(unescape(r#"a\"b\\c\,d\"#), r#"a"b\c,d\"#);
        assert_eq!(unescape(r"\é"), "é");
    }
}
