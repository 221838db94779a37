//! Java `BigDecimal` arithmetic over PostgreSQL's `numeric` text, as far as Debezium
//! uses it: Debezium reads a `numeric` column's text into a `BigDecimal` (so its scale
//! is the number of printed fraction digits), then strips trailing zeros
//! (`VariableScaleDecimal`), sets the column's scale (`Decimal`, `string` mode), and
//! writes the unscaled integer as `BigInteger.toByteArray()` bytes or `toPlainString`.
//! Values of any size are exact here (a `numeric` has up to 147,455 digits).

use crate::values::Decimal;

/// `unscaled × 10^-scale`, with the unscaled integer as decimal digits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BigDecimal {
    negative: bool,
    /// No leading zeros; `"0"` for zero.
    digits: String,
    scale: i32,
}

impl BigDecimal {
    /// `new BigDecimal(text)` for PostgreSQL's plain decimal text (`-12.50`, `1200`).
    pub fn from_plain(text: &str) -> Option<BigDecimal> {
        let (negative, unsigned) = match text.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        let (int, frac) = unsigned.split_once('.').unwrap_or((unsigned, ""));
        if int.is_empty() && frac.is_empty() {
            return None;
        }
        if !int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit()) {
            return None;
        }
        let mut digits: String = int.chars().chain(frac.chars()).collect();
        let trimmed = digits.trim_start_matches('0').len();
        digits.drain(..digits.len() - trimmed);
        if digits.is_empty() {
            digits.push('0');
        }
        Some(BigDecimal {
            negative: negative && digits != "0",
            digits,
            scale: i32::try_from(frac.len()).ok()?,
        })
    }

    /// The value as Debezium reads it from the column's text.
    pub fn from_decimal(decimal: &Decimal) -> BigDecimal {
        // numeric_out's text, which is what Debezium parses; always plain notation.
        BigDecimal::from_plain(&decimal.to_string()).unwrap_or(BigDecimal {
            negative: false,
            digits: "0".to_owned(),
            scale: 0,
        })
    }

    pub fn scale(&self) -> i32 {
        self.scale
    }

    pub fn is_zero(&self) -> bool {
        self.digits == "0"
    }

    /// `stripTrailingZeros()`, then a negative scale back to 0 (Debezium's
    /// `VariableScaleDecimal` never has one): `1.10` → (11, 1), `0.000` → (0, 0).
    pub fn strip_trailing_zeros(mut self) -> BigDecimal {
        if self.is_zero() {
            self.scale = 0;
            return self;
        }
        while self.digits.len() > 1 && self.digits.ends_with('0') && self.scale > 0 {
            self.digits.pop();
            self.scale -= 1;
        }
        self
    }

    /// `setScale(scale)` to a scale at least the current one (exact: appends zeros).
    /// A smaller scale keeps the value as is: Debezium only lowers the scale when the
    /// dropped digits are zeros, and PostgreSQL has already rounded to the column's
    /// scale.
    pub fn with_scale_at_least(mut self, scale: i32) -> BigDecimal {
        if scale > self.scale {
            if !self.is_zero() {
                for _ in self.scale..scale {
                    self.digits.push('0');
                }
            }
            self.scale = scale;
        }
        self
    }

    /// `toPlainString()`: `-0.50`, `1200`, `0.000`.
    pub fn to_plain_string(&self) -> String {
        let mut out = String::with_capacity(self.digits.len() + 3);
        if self.negative {
            out.push('-');
        }
        let scale = self.scale.max(0) as usize;
        if scale == 0 {
            out.push_str(&self.digits);
            for _ in 0..self.scale.unsigned_abs() {
                out.push('0');
            }
        } else if self.digits.len() > scale {
            let (int, frac) = self.digits.split_at(self.digits.len() - scale);
            out.push_str(int);
            out.push('.');
            out.push_str(frac);
        } else {
            out.push_str("0.");
            for _ in 0..scale - self.digits.len() {
                out.push('0');
            }
            out.push_str(&self.digits);
        }
        out
    }

    /// The nearest double (`doubleValue()`).
    pub fn to_f64(&self) -> f64 {
        self.to_plain_string().parse().unwrap_or(f64::NAN)
    }

    /// `unscaledValue().toByteArray()`: minimal big-endian two's complement.
    pub fn unscaled_twos_complement(&self) -> Vec<u8> {
        twos_complement(self.negative, &self.digits)
    }
}

/// Minimal big-endian two's complement of ±`digits` (like `BigInteger.toByteArray`,
/// one byte for zero).
pub fn twos_complement(negative: bool, digits: &str) -> Vec<u8> {
    // Little-endian base-2^32 limbs of the magnitude.
    let mut limbs: Vec<u32> = vec![0];
    for d in digits.bytes() {
        let mut carry = u64::from(d - b'0');
        for limb in &mut limbs {
            let v = u64::from(*limb) * 10 + carry;
            *limb = v as u32;
            carry = v >> 32;
        }
        if carry > 0 {
            limbs.push(carry as u32);
        }
    }
    let mut bytes: Vec<u8> = limbs.iter().rev().flat_map(|l| l.to_be_bytes()).collect();
    if negative {
        // Negate: invert and add one.
        let mut carry = true;
        for b in bytes.iter_mut().rev() {
            let (sum, overflow) = (!*b).overflowing_add(u8::from(carry));
            *b = sum;
            carry = overflow;
        }
        // A magnitude whose top bit is set needs a sign byte.
        if bytes.first().is_some_and(|b| b & 0x80 == 0) {
            bytes.insert(0, 0xFF);
        }
    } else if bytes.first().is_some_and(|b| b & 0x80 != 0) {
        bytes.insert(0, 0x00);
    }
    let redundant = bytes
        .windows(2)
        .take_while(|w| (w[0] == 0x00 && w[1] & 0x80 == 0) || (w[0] == 0xFF && w[1] & 0x80 != 0))
        .count();
    bytes.drain(..redundant);
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dec(text: &str) -> BigDecimal {
        BigDecimal::from_plain(text).expect("decimal")
    }

    #[test]
    fn strips_and_scales_like_java() {
        assert_eq!(dec("1.10").strip_trailing_zeros().to_plain_string(), "1.1");
        assert_eq!(dec("0.000").strip_trailing_zeros().scale(), 0);
        assert_eq!(dec("1200").strip_trailing_zeros().to_plain_string(), "1200");
        assert_eq!(dec("1.5").with_scale_at_least(3).to_plain_string(), "1.500");
        assert_eq!(dec("-0.01").to_plain_string(), "-0.01");
        assert_eq!(dec("0").with_scale_at_least(2).to_plain_string(), "0.00");
    }

    #[test]
    fn bytes_like_biginteger() {
        // From the fixtures: 1.50 → AJY= (150), -99999999.99 → /av0HAE=, 0 → AA==.
        assert_eq!(dec("1.50").unscaled_twos_complement(), vec![0x00, 0x96]);
        assert_eq!(
            dec("-99999999.99").unscaled_twos_complement(),
            vec![0xfd, 0xab, 0xf4, 0x1c, 0x01]
        );
        assert_eq!(dec("0").unscaled_twos_complement(), vec![0x00]);
        assert_eq!(dec("-1").unscaled_twos_complement(), vec![0xff]);
        assert_eq!(dec("-128").unscaled_twos_complement(), vec![0x80]);
        assert_eq!(dec("128").unscaled_twos_complement(), vec![0x00, 0x80]);
        assert_eq!(dec("-129").unscaled_twos_complement(), vec![0xff, 0x7f]);
        assert_eq!(dec("-256").unscaled_twos_complement(), vec![0xff, 0x00]);
        assert_eq!(
            dec("9223372036854775807").unscaled_twos_complement(),
            vec![0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]
        );
    }
}
