//! `money`: a 64-bit count of the currency's minor units, printed through the
//! server's `lc_monetary` locale (`$1,234.50` in C/en_US, `1.234,50 €` in de_DE). The
//! text is therefore always kept; the amount is read only from the one layout that is
//! unambiguous.

use std::borrow::Cow;

use super::error::ValueError;
use super::types::{PgType, ScalarType};

/// A `money` value. Debezium reads it as a decimal with `money.fraction.digits`
/// (default 2) of scale; `minor_units` is that decimal's unscaled value at scale 2.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Money<'a> {
    /// Exactly as PostgreSQL printed it.
    pub text: Cow<'a, str>,
    /// The amount in hundredths, when the text has the C-locale layout: an optional
    /// `-` (or parentheses), an optional non-digit currency symbol, digits grouped by
    /// `,`, then `.` and exactly two digits. `None` otherwise, rather than guessing
    /// what a locale's separators mean.
    pub minor_units: Option<i64>,
}

impl Money<'_> {
    pub fn into_owned(self) -> Money<'static> {
        Money {
            text: Cow::Owned(self.text.into_owned()),
            minor_units: self.minor_units,
        }
    }
}

pub fn parse_money(text: &[u8]) -> Result<Money<'_>, ValueError> {
    let text = std::str::from_utf8(text)
        .map_err(|_| ValueError::invalid_utf8(PgType::Scalar(ScalarType::Money), text))?;
    Ok(Money {
        text: Cow::Borrowed(text),
        minor_units: minor_units(text),
    })
}

fn minor_units(text: &str) -> Option<i64> {
    let mut s = text.trim();
    let mut negative = false;
    if let Some(inner) = s.strip_prefix('(').and_then(|s| s.strip_suffix(')')) {
        negative = true;
        s = inner.trim();
    }
    if let Some(rest) = s.strip_prefix('-') {
        negative = !negative;
        s = rest;
    }
    // Currency symbol before or after the number, e.g. "$" or " EUR".
    let s = s.trim_start_matches(|c: char| !c.is_ascii_digit() && c != '-');
    let s = s.trim_end_matches(|c: char| !c.is_ascii_digit());
    let s = match s.strip_prefix('-') {
        Some(rest) if !negative => {
            negative = true;
            rest
        }
        _ => s,
    };
    let (whole, cents) = s.split_once('.')?;
    if cents.len() != 2 || !cents.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    // Groups of three digits after the first, separated by ','.
    let mut groups = whole.split(',');
    let first = groups.next()?;
    if first.is_empty() || (first.len() > 3 && whole.contains(',')) {
        return None;
    }
    let mut value: i128 = 0;
    for (i, group) in std::iter::once(first).chain(groups).enumerate() {
        let valid_len = if i == 0 {
            !group.is_empty()
        } else {
            group.len() == 3
        };
        if !valid_len || !group.bytes().all(|b| b.is_ascii_digit()) || group.len() > 20 {
            return None;
        }
        for b in group.bytes() {
            value = value.checked_mul(10)?.checked_add(i128::from(b - b'0'))?;
        }
    }
    for b in cents.bytes() {
        value = value * 10 + i128::from(b - b'0');
    }
    i64::try_from(if negative { -value } else { value }).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn units(text: &str) -> Option<i64> {
        parse_money(text.as_bytes()).expect("utf-8").minor_units
    }

    // Printed by PostgreSQL 15 with lc_monetary = C.UTF-8.
    #[test]
    fn c_locale_output() {
        assert_eq!(units("$1,234.50"), Some(123450));
        assert_eq!(units("-$1,234.50"), Some(-123450));
        assert_eq!(units("$92,233,720,368,547,758.07"), Some(i64::MAX));
        assert_eq!(units("-$92,233,720,368,547,758.08"), Some(i64::MIN));
        assert_eq!(units("$0.00"), Some(0));
        let m = parse_money(b"$1,234.50").expect("money");
        assert_eq!(m.text, "$1,234.50");
    }

    #[test]
    fn other_layouts() {
        assert_eq!(units("($5.00)"), Some(-500));
        assert_eq!(units("1,234.50 EUR"), Some(123450));
        assert_eq!(units("12.34"), Some(1234));
        assert_eq!(units("$1234.50"), Some(123450));
        // Locales with other separators or digit counts are not guessed at.
        assert_eq!(units("1.234,50 €"), None);
        assert_eq!(units("12,34 €"), None);
        assert_eq!(units("￥1,235"), None);
        assert_eq!(units("$1,23.45"), None);
        assert_eq!(units("$1234,567.00"), None);
        assert_eq!(units(""), None);
        assert_eq!(units("$92,233,720,368,547,758.08"), None);
        assert!(parse_money(b"\xff").is_err());
    }
}
