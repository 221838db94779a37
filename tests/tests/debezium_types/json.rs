//! Writing the fixtures: an ordered JSON writer, and a pretty-printer that keeps
//! every string and number token of Debezium's JSON verbatim.

use std::fmt::Write as _;

/// Splits `{"schema":S,"payload":P}` into the verbatim texts of S and P.
pub(crate) fn split_record(text: &str) -> (&str, &str) {
    let rest = text.strip_prefix("{\"schema\":").unwrap();
    let schema_end = value_end(rest);
    let schema = &rest[..schema_end];
    let rest = rest[schema_end..].strip_prefix(",\"payload\":").unwrap();
    let payload = rest.strip_suffix('}').unwrap();
    assert_eq!(value_end(payload), payload.len());
    (schema, payload)
}

/// The length of the JSON value at the start of `text` (compact JSON).
pub(crate) fn value_end(text: &str) -> usize {
    let bytes = text.as_bytes();
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for (i, &b) in bytes.iter().enumerate() {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => {
                    in_string = false;
                    if depth == 0 {
                        return i + 1;
                    }
                }
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'{' | b'[' => depth += 1,
            b'}' | b']' => {
                depth -= 1;
                if depth == 0 {
                    return i + 1;
                }
            }
            b',' if depth == 0 => return i,
            _ => {}
        }
    }
    bytes.len()
}

/// Containers whose compact form is at most this long are written on one line.
pub(crate) const INLINE_WIDTH: usize = 100;

/// Pretty-prints compact JSON `text` at indentation `depth` into `out`, copying every
/// string and number token verbatim: removing the whitespace outside strings gives
/// `text` back.
pub(crate) fn write_compact_value(text: &str, depth: usize, out: &mut String) {
    let open = text.as_bytes().first().copied();
    if !matches!(open, Some(b'{' | b'[')) || text.len() <= INLINE_WIDTH || text.len() == 2 {
        // Scalars verbatim; short containers on one line, spaced after `,` and `:`.
        let mut in_string = false;
        let mut escaped = false;
        for c in text.chars() {
            out.push(c);
            if in_string {
                match (escaped, c) {
                    (true, _) => escaped = false,
                    (false, '\\') => escaped = true,
                    (false, '"') => in_string = false,
                    _ => {}
                }
            } else if c == '"' {
                in_string = true;
            } else if c == ',' || c == ':' {
                out.push(' ');
            }
        }
        return;
    }
    let close = if open == Some(b'{') { '}' } else { ']' };
    out.push(char::from(open.unwrap_or(b'[')));
    let mut rest = &text[1..text.len() - 1];
    let mut first = true;
    while !rest.is_empty() {
        if !first {
            rest = rest.strip_prefix(',').unwrap();
            out.push(',');
        }
        first = false;
        newline(out, depth + 1);
        if open == Some(b'{') {
            let key_end = value_end(rest);
            out.push_str(&rest[..key_end]);
            out.push_str(": ");
            rest = rest[key_end..].strip_prefix(':').unwrap();
        }
        let end = value_end(rest);
        write_compact_value(&rest[..end], depth + 1, out);
        rest = &rest[end..];
    }
    newline(out, depth);
    out.push(close);
}

pub(crate) fn newline(out: &mut String, depth: usize) {
    out.push('\n');
    for _ in 0..depth {
        out.push_str("  ");
    }
}

// --- a tiny ordered JSON writer ------------------------------------------------------

/// JSON with the key order we choose; `Raw` is compact JSON copied verbatim.
#[derive(Clone, Debug)]
pub(crate) enum J {
    Null,
    Bool(bool),
    Num(String),
    Str(String),
    Arr(Vec<J>),
    Obj(Vec<(String, J)>),
    Raw(String),
}

impl J {
    pub(crate) fn str(s: impl Into<String>) -> J {
        J::Str(s.into())
    }

    pub(crate) fn num(n: impl ToString) -> J {
        J::Num(n.to_string())
    }

    pub(crate) fn obj<const N: usize>(fields: [(&str, J); N]) -> J {
        J::Obj(fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
    }

    pub(crate) fn compact(&self, out: &mut String) {
        match self {
            J::Null => out.push_str("null"),
            J::Bool(b) => write!(out, "{b}").unwrap(),
            J::Num(n) => out.push_str(n),
            J::Str(s) => out.push_str(&serde_json::to_string(s).unwrap()),
            J::Raw(raw) => out.push_str(raw),
            J::Arr(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    item.compact(out);
                }
                out.push(']');
            }
            J::Obj(fields) => {
                out.push('{');
                for (i, (key, value)) in fields.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(&serde_json::to_string(key).unwrap());
                    out.push(':');
                    value.compact(out);
                }
                out.push('}');
            }
        }
    }

    pub(crate) fn write(&self, out: &mut String, depth: usize) {
        let mut compact = String::new();
        self.compact(&mut compact);
        write_compact_value(&compact, depth, out);
    }
}
