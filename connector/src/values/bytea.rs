//! `bytea` in both output formats (`bytea_output`): `hex` (the default since
//! PostgreSQL 9.0: `\x` then two hex digits per byte) and the legacy `escape` format
//! (printable ASCII as is, `\\` for a backslash, `\ooo` octal for everything else).

use std::borrow::Cow;

use super::error::ValueError;
use super::scalar::hex_pair;
use super::types::{PgType, ScalarType};

const TY: PgType = PgType::Scalar(ScalarType::Bytea);

/// Decodes either format; escape-format text without backslashes is borrowed.
pub fn parse_bytea(text: &[u8]) -> Result<Cow<'_, [u8]>, ValueError> {
    match text.strip_prefix(b"\\x") {
        Some(hex) => decode_hex(hex)
            .map(Cow::Owned)
            .ok_or_else(|| ValueError::malformed(TY, text, "odd length or non-hex digit")),
        None => decode_escape(text),
    }
}

/// Two hex digits per byte; PostgreSQL prints lower case, upper case is accepted.
pub(crate) fn decode_hex(hex: &[u8]) -> Option<Vec<u8>> {
    if hex.len() % 2 != 0 {
        return None;
    }
    hex.chunks_exact(2)
        .map(|pair| hex_pair(pair[0], pair[1]))
        .collect()
}

fn decode_escape(text: &[u8]) -> Result<Cow<'_, [u8]>, ValueError> {
    if memchr::memchr(b'\\', text).is_none() {
        return Ok(Cow::Borrowed(text));
    }
    let mut out = Vec::with_capacity(text.len());
    let mut rest = text;
    while let Some((&b, tail)) = rest.split_first() {
        if b != b'\\' {
            out.push(b);
            rest = tail;
            continue;
        }
        match tail {
            [b'\\', more @ ..] => {
                out.push(b'\\');
                rest = more;
            }
            [a @ b'0'..=b'3', b @ b'0'..=b'7', c @ b'0'..=b'7', more @ ..] => {
                out.push(((a - b'0') << 6) | ((b - b'0') << 3) | (c - b'0'));
                rest = more;
            }
            _ => {
                return Err(ValueError::malformed(
                    TY,
                    text,
                    "backslash not followed by \\ or three octal digits",
                ))
            }
        }
    }
    Ok(Cow::Owned(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    // Printed by PostgreSQL 15 with bytea_output = hex (default) and = escape.
    #[test]
    fn hex_format() {
        assert_eq!(
            parse_bytea(br"\xdeadbeef").as_deref(),
            Ok(&[0xde, 0xad, 0xbe, 0xef][..])
        );
        assert_eq!(parse_bytea(br"\x").as_deref(), Ok(&[][..]));
        assert_eq!(parse_bytea(br"\x61626300").as_deref(), Ok(&b"abc\0"[..]));
        assert_eq!(parse_bytea(br"\xDEAD").as_deref(), Ok(&[0xde, 0xad][..]));
        assert!(parse_bytea(br"\xabc").is_err());
        assert!(parse_bytea(br"\xzz").is_err());
    }

    #[test]
    fn escape_format() {
        assert_eq!(
            parse_bytea(br"\336\255\276\357\000'\\ ").as_deref(),
            Ok(&[0xde, 0xad, 0xbe, 0xef, 0, b'\'', b'\\', b' '][..])
        );
        assert_eq!(parse_bytea(br"a\\b").as_deref(), Ok(&b"a\\b"[..]));
        assert_eq!(parse_bytea(br"\177\200").as_deref(), Ok(&[0x7f, 0x80][..]));
        assert!(matches!(parse_bytea(b"plain"), Ok(Cow::Borrowed(b"plain"))));
        assert_eq!(parse_bytea(b"").as_deref(), Ok(&[][..]));
        for bad in [&br"\"[..], br"\4", br"\400", br"\19", br"a\b"] {
            assert!(parse_bytea(bad).is_err(), "{bad:?}");
        }
    }
}
