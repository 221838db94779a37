//! Array literals as `array_out` prints them: `{1,2,NULL}`, `{{1,2},{3,4}}`, `{}`, and
//! `[0:1]={1,2}` when a lower bound is not 1. An element is quoted when it is empty,
//! is `NULL` spelled as text, or contains the delimiter, braces, quotes, backslashes
//! or whitespace; inside quotes `"` and `\` are backslash-escaped. The delimiter is
//! the element type's `typdelim`: `;` for `box`, `,` for everything else.
//!
//! The input syntax's extras are accepted too (whitespace around items, backslash
//! escapes in unquoted elements), since they cost nothing to allow.

use std::borrow::Cow;

use super::error::ValueError;
use super::text::{is_array_space, unescape};
use super::types::{PgType, ScalarType};
use super::typmod::Typmod;
use super::value::PgValue;

/// PostgreSQL's limit on array dimensions (`MAXDIM`).
pub const MAX_DIMENSIONS: usize = 6;

/// One dimension of an array: PostgreSQL arrays may start at any index.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ArrayDim {
    pub lower_bound: i32,
    pub len: usize,
}

/// A possibly multi-dimensional array, flattened. Debezium emits Connect ARRAYs of the
/// element schema; nested ARRAYs for more dimensions can be rebuilt from `dims`.
#[derive(Clone, Debug, PartialEq)]
pub struct PgArray<'a> {
    /// Outermost first. Empty for the empty array `{}`.
    pub dims: Vec<ArrayDim>,
    /// Row-major (last dimension varies fastest); `None` is SQL NULL.
    pub elements: Vec<Option<PgValue<'a>>>,
}

impl PgArray<'_> {
    pub fn into_owned(self) -> PgArray<'static> {
        PgArray {
            dims: self.dims,
            elements: self
                .elements
                .into_iter()
                .map(|e| e.map(PgValue::into_owned))
                .collect(),
        }
    }
}

/// Parses an array of `element` values; each element is parsed with
/// [`parse_scalar`](super::parse_scalar) and the column's typmod.
pub fn parse_array(
    element: ScalarType,
    typmod: Typmod,
    text: &[u8],
) -> Result<PgArray<'_>, ValueError> {
    let ty = PgType::Array(element);
    let text_str = super::text::utf8(ty, text)?;
    let malformed = |reason| ValueError::malformed(ty, text, reason);

    let (explicit_bounds, body) = parse_bounds(text_str)
        .ok_or_else(|| malformed("bad dimension prefix; expected [lower:upper]...={...}"))?;
    let delimiter = element.array_delimiter();
    let bytes = body.as_bytes();
    if bytes.first() != Some(&b'{') {
        return Err(malformed("expected '{'"));
    }

    // At most one element per delimiter plus one: sized once, bounded by the input.
    let mut elements = Vec::with_capacity(memchr::memchr_iter(delimiter, bytes).count() + 1);
    // Items seen so far at each open level, and each level's length once known.
    let mut counts = [0usize; MAX_DIMENSIONS];
    let mut lengths: [Option<usize>; MAX_DIMENSIONS] = [None; MAX_DIMENSIONS];
    // The level elements live at; fixed by the first element or inner '{'.
    let mut element_depth: Option<usize> = None;
    let mut depth = 0usize;
    // True after an item at the current level, until a delimiter.
    let mut after_item = false;
    let mut i = 0usize;

    while i < bytes.len() {
        let b = bytes[i];
        if is_array_space(b) {
            i += 1;
            continue;
        }
        if depth == 0 && i > 0 {
            return Err(malformed("junk after the closing '}'"));
        }
        match b {
            b'{' if !after_item => {
                if depth == MAX_DIMENSIONS {
                    return Err(malformed("more than 6 dimensions"));
                }
                if element_depth.is_some_and(|d| d <= depth) {
                    return Err(malformed("sub-array where an element was expected"));
                }
                depth += 1;
                counts[depth - 1] = 0;
                i += 1;
            }
            b'}' => {
                let count = counts[depth - 1];
                if count == 0 {
                    // Only the whole array may be empty, and only if nothing was in it.
                    if depth != 1 || element_depth.is_some() || !elements.is_empty() {
                        return Err(malformed("empty sub-array"));
                    }
                } else if !after_item {
                    return Err(malformed("delimiter before '}'"));
                }
                if element_depth.is_none() && count > 0 {
                    return Err(malformed("sub-arrays without elements"));
                }
                match lengths[depth - 1] {
                    Some(len) if len != count => {
                        return Err(malformed("sub-arrays of different lengths"))
                    }
                    _ => lengths[depth - 1] = Some(count),
                }
                depth -= 1;
                if depth > 0 {
                    counts[depth - 1] += 1;
                }
                after_item = true;
                i += 1;
            }
            b if b == delimiter && after_item && depth > 0 => {
                after_item = false;
                i += 1;
            }
            _ if !after_item && depth > 0 => {
                match element_depth {
                    None => element_depth = Some(depth),
                    Some(d) if d != depth => {
                        return Err(malformed("element where a sub-array was expected"))
                    }
                    Some(_) => {}
                }
                let (item, next) = if b == b'"' {
                    quoted_item(body, i).ok_or_else(|| malformed("unterminated quotes"))?
                } else {
                    unquoted_item(body, i, delimiter)
                        .ok_or_else(|| malformed("'{', '}' or '\"' inside an unquoted element"))?
                };
                elements.push(match item {
                    Item::Null => None,
                    Item::Text(Cow::Borrowed(s)) => {
                        Some(super::parse_scalar(element, typmod, s.as_bytes())?)
                    }
                    Item::Text(Cow::Owned(s)) => {
                        Some(super::parse_scalar(element, typmod, s.as_bytes())?.into_owned())
                    }
                });
                counts[depth - 1] += 1;
                after_item = true;
                i = next;
            }
            _ => return Err(malformed("unexpected character")),
        }
    }
    if depth != 0 {
        return Err(malformed("missing '}'"));
    }

    let dims: Vec<ArrayDim> = match element_depth {
        None => Vec::new(),
        Some(ndim) => (0..ndim)
            .map(|d| ArrayDim {
                lower_bound: 1,
                len: lengths[d].unwrap_or(0),
            })
            .collect(),
    };
    let dims = match explicit_bounds {
        None => dims,
        Some(bounds) => {
            let matches =
                bounds.len() == dims.len() && bounds.iter().zip(&dims).all(|(b, d)| b.len == d.len);
            if !matches {
                return Err(malformed("dimension prefix does not match the elements"));
            }
            bounds
        }
    };
    Ok(PgArray { dims, elements })
}

enum Item<'a> {
    Null,
    Text(Cow<'a, str>),
}

/// `"..."` starting at `start`; returns the unescaped content and the index after it.
fn quoted_item(body: &str, start: usize) -> Option<(Item<'_>, usize)> {
    let bytes = body.as_bytes();
    let mut i = start + 1;
    let mut escaped = false;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => {
                escaped = true;
                i += 2;
            }
            b'"' => {
                let inner = &body[start + 1..i];
                let text = if escaped {
                    unescape(inner)
                } else {
                    Cow::Borrowed(inner)
                };
                return Some((Item::Text(text), i + 1));
            }
            _ => i += 1,
        }
    }
    None
}

/// An unquoted element: up to the delimiter or `}`, trailing whitespace trimmed,
/// `NULL` (any case) meaning SQL NULL.
fn unquoted_item(body: &str, start: usize, delimiter: u8) -> Option<(Item<'_>, usize)> {
    let bytes = body.as_bytes();
    let mut i = start;
    let mut escaped = false;
    // End of the last byte that is not unescaped whitespace.
    let mut content_end = start;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => {
                // Step over the whole escaped character, which may be multi-byte.
                escaped = true;
                i += 1 + body[i + 1..].chars().next().map_or(0, char::len_utf8);
                content_end = i;
            }
            b'}' => break,
            b if b == delimiter => break,
            b'{' | b'"' => return None,
            b if is_array_space(b) => i += 1,
            _ => {
                i += 1;
                content_end = i;
            }
        }
    }
    let raw = &body[start..content_end];
    if !escaped && raw.eq_ignore_ascii_case("NULL") {
        return Some((Item::Null, i));
    }
    Some((Item::Text(unescape(raw)), i))
}

/// Optional `[lo:hi][lo:hi]=` prefix. Returns the bounds (if any) and the rest.
fn parse_bounds(text: &str) -> Option<(Option<Vec<ArrayDim>>, &str)> {
    if !text.starts_with('[') {
        return Some((None, text));
    }
    let mut rest = text;
    let mut bounds = Vec::new();
    while let Some(after) = rest.strip_prefix('[') {
        if bounds.len() == MAX_DIMENSIONS {
            return None;
        }
        let close = after.find(']')?;
        let (lower, upper) = after[..close].split_once(':')?;
        let lower: i32 = bound(lower)?;
        let upper: i32 = bound(upper)?;
        let len = i64::from(upper) - i64::from(lower) + 1;
        if len < 1 {
            return None;
        }
        bounds.push(ArrayDim {
            lower_bound: lower,
            len: usize::try_from(len).ok()?,
        });
        rest = &after[close + 1..];
    }
    Some((Some(bounds), rest.strip_prefix('=')?))
}

fn bound(text: &str) -> Option<i32> {
    let digits = text.strip_prefix('-').unwrap_or(text);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ints(text: &str) -> PgArray<'_> {
        parse_array(ScalarType::Int4, Typmod::NONE, text.as_bytes()).expect(text)
    }

    fn texts(text: &str) -> Vec<Option<String>> {
        parse_array(ScalarType::Text, Typmod::NONE, text.as_bytes())
            .expect(text)
            .elements
            .into_iter()
            .map(|e| e.map(|v| v.as_str().expect("text").to_owned()))
            .collect()
    }

    fn dim(lower_bound: i32, len: usize) -> ArrayDim {
        ArrayDim { lower_bound, len }
    }

    fn int_elements(array: &PgArray<'_>) -> Vec<Option<i32>> {
        array
            .elements
            .iter()
            .map(|e| {
                e.as_ref().map(|v| match v {
                    PgValue::Int4(i) => *i,
                    other => panic!("{other:?}"),
                })
            })
            .collect()
    }

    // Array texts printed by PostgreSQL 15.
    #[test]
    fn int_arrays() {
        let a = ints("{1,2,NULL}");
        assert_eq!(a.dims, vec![dim(1, 3)]);
        assert_eq!(int_elements(&a), vec![Some(1), Some(2), None]);
        let a = ints("{}");
        assert!(a.dims.is_empty() && a.elements.is_empty());
        let a = ints("[0:1]={1,2}");
        assert_eq!(a.dims, vec![dim(0, 2)]);
        let a = ints("{{1,2},{3,4}}");
        assert_eq!(a.dims, vec![dim(1, 2), dim(1, 2)]);
        assert_eq!(int_elements(&a), vec![Some(1), Some(2), Some(3), Some(4)]);
        let a = ints("[-2:-1][3:4]={{1,2},{3,4}}");
        assert_eq!(a.dims, vec![dim(-2, 2), dim(3, 2)]);
        let a = ints("{{{1}},{{2}}}");
        assert_eq!(a.dims, vec![dim(1, 2), dim(1, 1), dim(1, 1)]);
        let a = ints("{{NULL,NULL}}");
        assert_eq!(a.dims, vec![dim(1, 1), dim(1, 2)]);
        assert_eq!(int_elements(&a), vec![None, None]);
        // Input-syntax extras.
        assert_eq!(int_elements(&ints("{  1 ,  2  }")), vec![Some(1), Some(2)]);
        assert_eq!(
            int_elements(&ints(r#"{"1",  "2"}"#)),
            vec![Some(1), Some(2)]
        );
        assert_eq!(int_elements(&ints("{null,Null}")), vec![None, None]);
    }

    #[test]
    fn text_arrays() {
        let s = |v: &str| Some(v.to_owned());
        assert_eq!(
            texts(r#"{"a,b","c\"d","e\\f","{g}",""," h ","NULL",NULL,"null","x y",é🦀}"#),
            vec![
                s("a,b"),
                s("c\"d"),
                s("e\\f"),
                s("{g}"),
                s(""),
                s(" h "),
                s("NULL"),
                None,
                s("null"),
                s("x y"),
                s("é🦀"),
            ]
        );
        assert_eq!(
            texts("{a,b,\"c d\",\"e f\"}"),
            vec![s("a"), s("b"), s("c d"), s("e f")]
        );
        assert_eq!(
            texts("{\"\t\",\"\n\",\"a\\\\b\"}"),
            vec![s("\t"), s("\n"), s("a\\b")]
        );
        assert_eq!(texts(r#"{""}"#), vec![s("")]);
        assert_eq!(texts(r#"{" "}"#), vec![s(" ")]);
        assert_eq!(texts(r#"{"{}"}"#), vec![s("{}")]);
        assert_eq!(texts(r#"{a\,b, c\"d}"#), vec![s("a,b"), s("c\"d")]);
        assert_eq!(texts(r"{a\ }"), vec![s("a ")]);
        assert_eq!(texts(r"{\NULL}"), vec![s("NULL")]);
    }

    #[test]
    fn borrows_unescaped_elements() {
        let a = parse_array(
            ScalarType::Text,
            Typmod::NONE,
            br#"{plain,"quoted","es\"c"}"#,
        )
        .expect("array");
        let borrowed: Vec<bool> = a
            .elements
            .iter()
            .map(|e| matches!(e, Some(PgValue::Text(Cow::Borrowed(_)))))
            .collect();
        assert_eq!(borrowed, vec![true, true, false]);
    }

    #[test]
    fn box_arrays_use_semicolons() {
        let a = parse_array(ScalarType::Box, Typmod::NONE, b"{(1,1),(0,0);(3,3),(2,2)}")
            .expect("box[]");
        assert_eq!(a.elements.len(), 2);
        assert!(matches!(&a.elements[1], Some(PgValue::Box(b)) if b.high.x == 3.0));
    }

    #[test]
    fn malformed() {
        for bad in [
            "",
            "{",
            "}",
            "{1,2",
            "{1,,2}",
            "{,1}",
            "{1,}",
            "{{}}",
            "{{},{}}",
            "{{1,2},{3}}",
            "{{1},2}",
            "{1,{2}}",
            "{1}}",
            "{1} x",
            "{1}{2}",
            "1,2",
            "{1 2}",
            "{\"1}",
            "{1\"}",
            "{{{{{{{1}}}}}}}",
            "[1:2]={1}",
            "[1:1]={{1}}",
            "[2:1]={}",
            "[1:1]{1}",
            "[a:1]={1}",
            "[1:2147483648]={1}",
            "[1:0]={}",
            "{x}",
        ] {
            assert!(
                parse_array(ScalarType::Int4, Typmod::NONE, bad.as_bytes()).is_err(),
                "{bad:?}"
            );
        }
        assert!(parse_array(ScalarType::Text, Typmod::NONE, b"{\xff}").is_err());
    }
}
