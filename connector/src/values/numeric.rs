//! `numeric`: arbitrary-precision decimals, kept exactly.
//!
//! Debezium's `decimal.handling.mode=precise` emits Kafka Connect `Decimal` (the
//! unscaled integer as big-endian two's-complement bytes, plus the scale as a schema
//! parameter), or `VariableScaleDecimal` (the same plus the scale per value) for
//! unconstrained `numeric`. So the value is kept in exactly that shape: an unscaled
//! integer and a scale. Up to 38 significant digits the integer is an `i128` (no
//! allocation); beyond that, the bytes. `double` and `string` modes are served by
//! [`Decimal::to_f64`] and `Display`.
//!
//! `numeric_out` prints plain decimals (never exponents), `NaN`, `Infinity` and
//! `-Infinity` (the infinities since PostgreSQL 14); the scale is the number of digits
//! after the point, so `0.00` keeps scale 2.

use std::fmt;
use std::ops::Deref;

use super::error::ValueError;
use super::types::{PgType, ScalarType};
use super::typmod::Typmod;

const TY: PgType = PgType::Scalar(ScalarType::Numeric);

/// A `numeric` value, including the special values Kafka Connect's Decimal cannot hold
/// (Debezium maps those to null or to strings depending on its handling mode).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Numeric {
    Finite(Decimal),
    NaN,
    Infinity,
    NegInfinity,
}

/// `unscaled × 10^-scale`, exactly. Equal values with equal scales compare equal (the
/// unscaled integer is kept in canonical form); `1.0` and `1.00` differ, as in Kafka
/// Connect.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Decimal {
    unscaled: Unscaled,
    scale: i32,
}

#[derive(Clone, PartialEq, Eq, Hash)]
enum Unscaled {
    /// Every value that fits in an i128 is stored here.
    Small(i128),
    /// Minimal big-endian two's complement, longer than 16 bytes.
    Big(Box<[u8]>),
}

impl Decimal {
    pub fn new(unscaled: i128, scale: i32) -> Self {
        Decimal {
            unscaled: Unscaled::Small(unscaled),
            scale,
        }
    }

    /// Builds a decimal from big-endian two's-complement bytes (as Kafka Connect and
    /// Java's `BigInteger.toByteArray` write them). Empty bytes mean zero.
    pub fn from_unscaled_be_bytes(bytes: &[u8], scale: i32) -> Self {
        Decimal {
            unscaled: Unscaled::from_twos_complement(bytes),
            scale,
        }
    }

    /// Digits after the decimal point; negative for `numeric(p, s)` with `s < 0`.
    pub fn scale(&self) -> i32 {
        self.scale
    }

    /// The unscaled integer, if it fits in an i128 (always, up to 38 digits).
    pub fn unscaled_i128(&self) -> Option<i128> {
        match &self.unscaled {
            Unscaled::Small(v) => Some(*v),
            Unscaled::Big(_) => None,
        }
    }

    /// The unscaled integer as minimal big-endian two's complement, byte for byte what
    /// Kafka Connect's `Decimal.fromLogical` writes. No allocation.
    pub fn unscaled_be_bytes(&self) -> UnscaledBytes<'_> {
        match &self.unscaled {
            Unscaled::Small(v) => {
                let buf = v.to_be_bytes();
                let start = redundant_sign_bytes(&buf);
                UnscaledBytes::Inline { buf, start }
            }
            Unscaled::Big(bytes) => UnscaledBytes::Heap(bytes),
        }
    }

    pub fn is_negative(&self) -> bool {
        match &self.unscaled {
            Unscaled::Small(v) => *v < 0,
            Unscaled::Big(bytes) => bytes.first().is_some_and(|b| b & 0x80 != 0),
        }
    }

    /// The nearest f64 (Debezium's `decimal.handling.mode=double`).
    pub fn to_f64(&self) -> f64 {
        const EXACT_POWERS: [f64; 23] = [
            1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
            1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
        ];
        if let Unscaled::Small(v) = self.unscaled {
            // Both operands exact, so the one division rounds correctly.
            if v.unsigned_abs() < (1u128 << 53) && (0..=22).contains(&self.scale) {
                return v as f64 / EXACT_POWERS[self.scale as usize];
            }
        }
        // Rare: let the standard library's correctly rounded parser do it.
        self.to_string().parse().unwrap_or(f64::NAN)
    }

    /// Re-expresses the value at `scale` when that loses nothing: more digits are
    /// always possible; fewer only when the dropped digits are zeros.
    fn with_exact_scale(&self, scale: i32) -> Option<Decimal> {
        let Unscaled::Small(v) = self.unscaled else {
            return None;
        };
        let diff = scale.checked_sub(self.scale)?;
        let factor = 10i128.checked_pow(diff.unsigned_abs())?;
        let unscaled = if diff >= 0 {
            v.checked_mul(factor)?
        } else if v % factor == 0 {
            v / factor
        } else {
            return None;
        };
        Some(Decimal::new(unscaled, scale))
    }
}

impl fmt::Debug for Decimal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Decimal({self})")
    }
}

/// Plain notation as `numeric_out` prints it: `-0.50`, `12000` for scale -3.
impl fmt::Display for Decimal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (negative, digits) = match &self.unscaled {
            Unscaled::Small(v) => (*v < 0, v.unsigned_abs().to_string()),
            Unscaled::Big(bytes) => magnitude_digits(bytes),
        };
        if negative {
            f.write_str("-")?;
        }
        if self.scale <= 0 {
            f.write_str(&digits)?;
            if digits != "0" {
                for _ in 0..self.scale.unsigned_abs() {
                    f.write_str("0")?;
                }
            }
            return Ok(());
        }
        let scale = self.scale as usize;
        if digits.len() > scale {
            let (int, frac) = digits.split_at(digits.len() - scale);
            write!(f, "{int}.{frac}")
        } else {
            f.write_str("0.")?;
            for _ in 0..scale - digits.len() {
                f.write_str("0")?;
            }
            f.write_str(&digits)
        }
    }
}

/// Bytes of [`Decimal::unscaled_be_bytes`]; dereferences to `[u8]`.
#[derive(Debug)]
pub enum UnscaledBytes<'a> {
    Inline { buf: [u8; 16], start: usize },
    Heap(&'a [u8]),
}

impl Deref for UnscaledBytes<'_> {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        match self {
            UnscaledBytes::Inline { buf, start } => &buf[*start..],
            UnscaledBytes::Heap(bytes) => bytes,
        }
    }
}

/// How many leading bytes of a two's-complement number only repeat the sign.
fn redundant_sign_bytes(bytes: &[u8]) -> usize {
    let mut start = 0;
    while start + 1 < bytes.len() {
        let (b, next) = (bytes[start], bytes[start + 1]);
        if (b == 0x00 && next & 0x80 == 0) || (b == 0xFF && next & 0x80 != 0) {
            start += 1;
        } else {
            break;
        }
    }
    start
}

impl Unscaled {
    fn from_twos_complement(bytes: &[u8]) -> Unscaled {
        let bytes = &bytes[redundant_sign_bytes(bytes)..];
        if bytes.len() <= 16 {
            let fill = if bytes.first().is_some_and(|b| b & 0x80 != 0) {
                0xFF
            } else {
                0
            };
            let mut buf = [fill; 16];
            buf[16 - bytes.len()..].copy_from_slice(bytes);
            Unscaled::Small(i128::from_be_bytes(buf))
        } else {
            Unscaled::Big(bytes.into())
        }
    }
}

/// Sign and decimal digits of a big two's-complement integer.
fn magnitude_digits(bytes: &[u8]) -> (bool, String) {
    let negative = bytes.first().is_some_and(|b| b & 0x80 != 0);
    let mut magnitude = bytes.to_vec();
    if negative {
        negate_in_place(&mut magnitude);
    }
    // Little-endian u32 limbs, then repeated division by 10^9.
    let mut limbs: Vec<u32> = magnitude
        .rchunks(4)
        .map(|chunk| chunk.iter().fold(0u32, |acc, &b| (acc << 8) | u32::from(b)))
        .collect();
    let mut groups = Vec::with_capacity(bytes.len() * 8 / 29 + 1);
    while limbs.iter().any(|&l| l != 0) {
        let mut rem = 0u64;
        for limb in limbs.iter_mut().rev() {
            let cur = (rem << 32) | u64::from(*limb);
            *limb = (cur / 1_000_000_000) as u32;
            rem = cur % 1_000_000_000;
        }
        groups.push(rem as u32);
        while limbs.last() == Some(&0) {
            limbs.pop();
        }
    }
    let mut out = String::with_capacity(groups.len() * 9);
    for (i, group) in groups.iter().rev().enumerate() {
        if i == 0 {
            out.push_str(&group.to_string());
        } else {
            out.push_str(&format!("{group:09}"));
        }
    }
    if out.is_empty() {
        out.push('0');
    }
    (negative, out)
}

/// Two's-complement negation of a big-endian integer.
fn negate_in_place(bytes: &mut [u8]) {
    let mut carry = true;
    for b in bytes.iter_mut().rev() {
        let (sum, overflow) = (!*b).overflowing_add(u8::from(carry));
        *b = sum;
        carry = overflow;
    }
}

/// Parses `numeric_out` text. With a declared scale (`numeric(p, s)` typmod), the value
/// is expressed at that scale when that is exact, because the Kafka Connect Decimal
/// schema carries the declared scale and a value with another scale is rejected there.
pub fn parse_numeric(text: &[u8], typmod: Typmod) -> Result<Numeric, ValueError> {
    match text {
        b"NaN" => return Ok(Numeric::NaN),
        b"Infinity" => return Ok(Numeric::Infinity),
        b"-Infinity" => return Ok(Numeric::NegInfinity),
        _ => {}
    }
    let (negative, body) = match text.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, text),
    };
    let (int_part, frac_part) = match memchr::memchr(b'.', body) {
        Some(dot) => (&body[..dot], &body[dot + 1..]),
        None => (body, &body[..0]),
    };
    let has_dot = int_part.len() != body.len();
    if int_part.is_empty()
        || (has_dot && frac_part.is_empty())
        || !int_part.iter().all(u8::is_ascii_digit)
        || !frac_part.iter().all(u8::is_ascii_digit)
    {
        return Err(ValueError::malformed(
            TY,
            text,
            "expected digits with an optional '.', NaN or ±Infinity",
        ));
    }
    let scale = i32::try_from(frac_part.len())
        .map_err(|_| ValueError::out_of_range(TY, text, "too many digits after the point"))?;

    let decimal = match small_unscaled(int_part, frac_part) {
        Some(magnitude) => {
            let unscaled = if negative { -magnitude } else { magnitude };
            Decimal::new(unscaled, scale)
        }
        None => big_decimal(negative, int_part, frac_part, scale),
    };
    let decimal = match typmod.numeric_precision_scale() {
        Some((_, declared)) if i32::from(declared) != scale => decimal
            .with_exact_scale(declared.into())
            .or_else(|| big_with_exact_scale(negative, int_part, frac_part, declared.into()))
            .unwrap_or(decimal),
        _ => decimal,
    };
    Ok(Numeric::Finite(decimal))
}

/// The unscaled magnitude if it fits an i128 (fast path: one multiply-add per digit).
fn small_unscaled(int_part: &[u8], frac_part: &[u8]) -> Option<i128> {
    // Up to 19 digits fit a u64, whose multiply is cheaper than i128's.
    if int_part.len() + frac_part.len() <= 19 {
        let acc = int_part
            .iter()
            .chain(frac_part)
            .fold(0u64, |acc, &d| acc * 10 + u64::from(d - b'0'));
        return Some(i128::from(acc));
    }
    let mut acc: i128 = 0;
    for &d in int_part.iter().chain(frac_part) {
        acc = acc.checked_mul(10)?.checked_add(i128::from(d - b'0'))?;
    }
    Some(acc)
}

fn big_decimal(negative: bool, int_part: &[u8], frac_part: &[u8], scale: i32) -> Decimal {
    let digits = int_part.iter().chain(frac_part).copied();
    Decimal {
        unscaled: big_unscaled(negative, digits, int_part.len() + frac_part.len()),
        scale,
    }
}

/// The declared-scale rewrite for values too big for the i128 path: drop trailing
/// zeros or append zeros in the digit stream before converting.
fn big_with_exact_scale(
    negative: bool,
    int_part: &[u8],
    frac_part: &[u8],
    declared: i32,
) -> Option<Decimal> {
    let scale = i32::try_from(frac_part.len()).ok()?;
    let total = int_part.len() + frac_part.len();
    let all = int_part.iter().chain(frac_part).copied();
    let unscaled = if declared >= scale {
        let pad = usize::try_from(declared - scale).ok()?;
        big_unscaled(
            negative,
            all.chain(std::iter::repeat_n(b'0', pad)),
            total + pad,
        )
    } else {
        let drop = usize::try_from(scale - declared).ok()?;
        if drop >= total {
            return None;
        }
        let kept = total - drop;
        let dropped_all_zero = int_part
            .iter()
            .chain(frac_part)
            .skip(kept)
            .all(|&d| d == b'0');
        if !dropped_all_zero {
            return None;
        }
        big_unscaled(negative, all.take(kept), kept)
    };
    Some(Decimal {
        unscaled,
        scale: declared,
    })
}

/// Decimal digits → canonical unscaled integer. Schoolbook base conversion in 19-digit
/// chunks: quadratic, but only reached past 38 digits, and bounded by PostgreSQL's
/// numeric limit (131072 + 16383 digits) in practice and by the input size always.
fn big_unscaled(negative: bool, digits: impl Iterator<Item = u8>, len_hint: usize) -> Unscaled {
    const CHUNK: u32 = 19;
    let mut limbs: Vec<u64> = Vec::with_capacity(len_hint / CHUNK as usize + 2);
    let mut chunk = 0u64;
    let mut chunk_len = 0u32;
    for d in digits {
        chunk = chunk * 10 + u64::from(d - b'0');
        chunk_len += 1;
        if chunk_len == CHUNK {
            mul_add(&mut limbs, 10u64.pow(CHUNK), chunk);
            chunk = 0;
            chunk_len = 0;
        }
    }
    if chunk_len > 0 {
        mul_add(&mut limbs, 10u64.pow(chunk_len), chunk);
    }
    // Big-endian magnitude with one spare leading byte for the sign.
    let mut bytes = Vec::with_capacity(limbs.len() * 8 + 1);
    bytes.push(0);
    for limb in limbs.iter().rev() {
        bytes.extend_from_slice(&limb.to_be_bytes());
    }
    if negative {
        negate_in_place(&mut bytes);
    }
    Unscaled::from_twos_complement(&bytes)
}

fn mul_add(limbs: &mut Vec<u64>, mul: u64, add: u64) {
    let mut carry = u128::from(add);
    for limb in limbs.iter_mut() {
        let t = u128::from(*limb) * u128::from(mul) + carry;
        *limb = t as u64;
        carry = t >> 64;
    }
    if carry != 0 {
        limbs.push(carry as u64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finite(text: &str, typmod: i32) -> Decimal {
        match parse_numeric(text.as_bytes(), Typmod(typmod)) {
            Ok(Numeric::Finite(d)) => d,
            other => panic!("{text}: {other:?}"),
        }
    }

    // Printed by PostgreSQL 15: 0.00::numeric, 1.5e-10::numeric, 1e20::numeric,
    // -0.0::numeric, 12345.678::numeric(12,2), 12345::numeric(5,-3).
    #[test]
    fn server_output() {
        let d = finite("0.00", -1);
        assert_eq!((d.unscaled_i128(), d.scale()), (Some(0), 2));
        assert_eq!(&*d.unscaled_be_bytes(), &[0]);
        let d = finite("0.00000000015", -1);
        assert_eq!((d.unscaled_i128(), d.scale()), (Some(15), 11));
        let d = finite("100000000000000000000", -1);
        assert_eq!((d.unscaled_i128(), d.scale()), (Some(10i128.pow(20)), 0));
        let d = finite("0.0", -1);
        assert_eq!((d.unscaled_i128(), d.scale()), (Some(0), 1));
        let d = finite("12345.68", 786438);
        assert_eq!((d.unscaled_i128(), d.scale()), (Some(1234568), 2));
        assert_eq!(&*d.unscaled_be_bytes(), &[0x12, 0xD6, 0x88]);
        assert_eq!(d.to_string(), "12345.68");
    }

    #[test]
    fn negative_zero_is_zero() {
        let d = finite("-0.0", -1);
        assert_eq!(
            (d.unscaled_i128(), d.scale(), d.is_negative()),
            (Some(0), 1, false)
        );
        assert_eq!(d.to_string(), "0.0");
        assert_eq!(d, finite("0.0", -1));
    }

    #[test]
    fn specials() {
        assert_eq!(parse_numeric(b"NaN", Typmod::NONE), Ok(Numeric::NaN));
        assert_eq!(
            parse_numeric(b"Infinity", Typmod::NONE),
            Ok(Numeric::Infinity)
        );
        assert_eq!(
            parse_numeric(b"-Infinity", Typmod::NONE),
            Ok(Numeric::NegInfinity)
        );
    }

    #[test]
    fn declared_scale_is_applied_exactly() {
        // numeric(2,-3): PostgreSQL prints 12000.
        let d = finite("12000", 133121);
        assert_eq!((d.unscaled_i128(), d.scale()), (Some(12), -3));
        assert_eq!(d.to_string(), "12000");
        // A scale that would lose digits is left as printed.
        let d = finite("12345", 133121);
        assert_eq!((d.unscaled_i128(), d.scale()), (Some(12345), 0));
        // numeric(12,2) given fewer digits (e.g. through a domain) is padded.
        let d = finite("-7.5", 786438);
        assert_eq!((d.unscaled_i128(), d.scale()), (Some(-750), 2));
        // numeric(3,5): 0.000001234::numeric(8,9) style, more scale than precision.
        let d = finite("0.00123", 196617);
        assert_eq!((d.unscaled_i128(), d.scale()), (Some(123), 5));
    }

    #[test]
    fn negative_and_bytes() {
        let d = finite("-1.28", -1);
        assert_eq!(&*d.unscaled_be_bytes(), &[0x80]);
        let d = finite("-1.29", -1);
        assert_eq!(&*d.unscaled_be_bytes(), &[0xFF, 0x7F]);
        let d = finite("1.28", -1);
        assert_eq!(&*d.unscaled_be_bytes(), &[0x00, 0x80]);
        assert!(finite("-0.01", -1).is_negative());
        assert_eq!(finite("-0.01", -1).to_string(), "-0.01");
    }

    #[test]
    fn i128_boundary() {
        let max = i128::MAX.to_string();
        let d = finite(&max, -1);
        assert_eq!(d.unscaled_i128(), Some(i128::MAX));
        let min = i128::MIN.to_string();
        let d = finite(&min, -1);
        assert_eq!(d.unscaled_i128(), Some(i128::MIN));
        // One past the end needs 17 bytes.
        let d = finite("170141183460469231731687303715884105728", -1);
        assert_eq!(d.unscaled_i128(), None);
        assert_eq!(&*d.unscaled_be_bytes(), &{
            let mut b = [0u8; 17];
            b[1] = 0x80;
            b
        });
        assert_eq!(d.to_string(), "170141183460469231731687303715884105728");
        // 39 digits that still fit are stored small: representation is canonical.
        let d = finite("100000000000000000000000000000000000000", -1);
        assert_eq!(d.unscaled_i128(), Some(10i128.pow(38)));
        assert_eq!(
            finite("-170141183460469231731687303715884105728", -1).unscaled_i128(),
            Some(i128::MIN)
        );
    }

    #[test]
    fn thousand_digits() {
        let digits: String = (0..1000)
            .map(|i| char::from(b'1' + (i % 9) as u8))
            .collect();
        let text = format!("-{}.{}", &digits[..400], &digits[400..]);
        let d = finite(&text, -1);
        assert_eq!(d.scale(), 600);
        assert!(d.is_negative());
        assert_eq!(d.to_string(), text);
        // |unscaled| ≈ 1.23e999 needs 3319 bits plus a sign bit: 415 bytes.
        assert_eq!(d.unscaled_be_bytes().len(), 415);
        let back = Decimal::from_unscaled_be_bytes(&d.unscaled_be_bytes(), 600);
        assert_eq!(back, d);
        assert_eq!(d.to_f64(), f64::NEG_INFINITY);
    }

    #[test]
    fn big_declared_scale() {
        let digits = "9".repeat(50);
        // numeric(60,5) written with 3 decimals gets padded through the big path.
        let typmod = ((60 << 16) | 5) + 4;
        let d = finite(&format!("{digits}.123"), typmod);
        assert_eq!(d.scale(), 5);
        assert_eq!(d.to_string(), format!("{digits}.12300"));
        // numeric(60,-2) with zeros at the end.
        let typmod = ((60 << 16) | (-2i32 & 0x7FF)) + 4;
        let d = finite(&format!("{digits}00"), typmod);
        assert_eq!(d.scale(), -2);
        assert_eq!(d.to_string(), format!("{digits}00"));
    }

    #[test]
    fn to_f64() {
        assert_eq!(finite("12345.68", -1).to_f64(), 12345.68);
        assert_eq!(finite("0.1", -1).to_f64(), 0.1);
        assert_eq!(finite("12000", 133121).to_f64(), 12000.0);
        assert_eq!(
            finite("123456789012345678901234567890", -1).to_f64(),
            1.2345678901234568e29
        );
    }

    #[test]
    fn display_round_trips() {
        for text in [
            "0",
            "0.5",
            "-0.5",
            "10",
            "-123.456",
            "0.0001",
            "99999999999999999999.99",
        ] {
            assert_eq!(finite(text, -1).to_string(), text);
        }
        assert_eq!(Decimal::new(0, -3).to_string(), "0");
        assert_eq!(Decimal::new(-5, 3).to_string(), "-0.005");
    }

    #[test]
    fn rejects_malformed() {
        for text in [
            "", "-", ".5", "5.", "1e5", "+1", "1.2.3", "nan", "1 ", " 1", "--1", "1,0",
        ] {
            assert!(
                parse_numeric(text.as_bytes(), Typmod::NONE).is_err(),
                "{text:?}"
            );
        }
    }
}
