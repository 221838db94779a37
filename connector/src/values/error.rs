//! Why a column's text could not be turned into a value.

use super::types::PgType;

/// Longest excerpt of the offending text kept in an error, in characters. Values can be
/// megabytes long; an error (and the log line it ends up in) should not be.
const EXCERPT_CHARS: usize = 64;

/// The text of a column did not have the form PostgreSQL prints for its type.
///
/// With the session settings the module documentation lists, this means the stream is
/// corrupt or a setting was changed behind pgcdc's back: it is never retriable, and the
/// message names the type and shows the start of the text so the row can be found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValueError {
    #[error("invalid {ty} value {excerpt:?}: {reason}")]
    Malformed {
        ty: PgType,
        excerpt: String,
        reason: &'static str,
    },
    #[error("{ty} value {excerpt:?} is out of range: {reason}")]
    OutOfRange {
        ty: PgType,
        excerpt: String,
        reason: &'static str,
    },
    #[error(
        "{ty} value {excerpt:?} is not valid UTF-8: set client_encoding=UTF8 on the \
         replication and snapshot connections"
    )]
    InvalidUtf8 { ty: PgType, excerpt: String },
}

impl ValueError {
    pub(crate) fn malformed(ty: PgType, text: &[u8], reason: &'static str) -> Self {
        ValueError::Malformed {
            ty,
            excerpt: excerpt(text),
            reason,
        }
    }

    pub(crate) fn out_of_range(ty: PgType, text: &[u8], reason: &'static str) -> Self {
        ValueError::OutOfRange {
            ty,
            excerpt: excerpt(text),
            reason,
        }
    }

    pub(crate) fn invalid_utf8(ty: PgType, text: &[u8]) -> Self {
        ValueError::InvalidUtf8 {
            ty,
            excerpt: excerpt(text),
        }
    }

    /// The type whose text was rejected.
    pub fn pg_type(&self) -> PgType {
        match self {
            ValueError::Malformed { ty, .. }
            | ValueError::OutOfRange { ty, .. }
            | ValueError::InvalidUtf8 { ty, .. } => *ty,
        }
    }

    /// Re-reading the same WAL yields the same text, so no value error goes away on
    /// retry.
    pub fn is_retriable(&self) -> bool {
        false
    }
}

/// The first [`EXCERPT_CHARS`] characters of `text` (invalid UTF-8 shown as U+FFFD),
/// with `…` when cut.
fn excerpt(text: &[u8]) -> String {
    // Look at a bounded prefix only: 4 bytes per character at most.
    let prefix = &text[..text.len().min(EXCERPT_CHARS * 4 + 4)];
    let lossy = String::from_utf8_lossy(prefix);
    let mut chars = lossy.chars();
    let mut out: String = chars.by_ref().take(EXCERPT_CHARS).collect();
    // The prefix holds more than EXCERPT_CHARS characters whenever the text was cut.
    if chars.next().is_some() {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::types::ScalarType;
    use super::*;

    #[test]
    fn excerpts_are_short() {
        assert_eq!(excerpt(b"abc"), "abc");
        let long = "é".repeat(1000);
        let cut = excerpt(long.as_bytes());
        assert_eq!(cut.chars().count(), EXCERPT_CHARS + 1);
        assert!(cut.ends_with('…'));
        assert_eq!(excerpt(&[0xff, b'a']), "\u{fffd}a");
        let exact = "x".repeat(EXCERPT_CHARS);
        assert_eq!(excerpt(exact.as_bytes()), exact);
    }

    #[test]
    fn message_names_type_and_text() {
        let err = ValueError::malformed(PgType::Scalar(ScalarType::Int4), b"12x", "not a number");
        assert_eq!(err.to_string(), r#"invalid int4 value "12x": not a number"#);
        assert!(!err.is_retriable());
        let err = ValueError::invalid_utf8(PgType::Array(ScalarType::Text), b"\xff");
        assert!(err.to_string().starts_with("text[] value"));
    }
}
