//! Type modifiers (`pg_attribute.atttypmod`, pgoutput's column "type modifier"): the
//! `(12,2)` of `numeric(12,2)` or the `(3)` of `timestamp(3)`, packed into one i32
//! whose layout depends on the type. Debezium reads them to build schemas (Decimal
//! scale, `length` of Bits, time precision in `adaptive` mode); the value parser reads
//! the numeric scale. Layouts were checked against `atttypmod` on PostgreSQL 15.

/// A column's type modifier; `-1` means "none declared".
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Typmod(pub i32);

/// `VARHDRSZ`: numeric, varchar and bpchar typmods are offset by the varlena header.
const VARHDRSZ: i32 = 4;

/// Interval typmods put the field mask in the high 16 bits; this value there means
/// "all fields" (`INTERVAL_FULL_RANGE`), and 0xFFFF in the low 16 bits means "no
/// precision" (`INTERVAL_FULL_PRECISION`).
const INTERVAL_FULL_RANGE: i32 = 0x7FFF;
const INTERVAL_FULL_PRECISION: i32 = 0xFFFF;

impl Default for Typmod {
    fn default() -> Self {
        Typmod::NONE
    }
}

impl Typmod {
    pub const NONE: Typmod = Typmod(-1);

    pub fn is_none(self) -> bool {
        self.0 < 0
    }

    /// `numeric(p, s)`: precision and scale. The scale is an 11-bit signed field since
    /// PostgreSQL 15 allows negative scales (`numeric(2,-3)` has typmod 133121): the
    /// older formula `(typmod - 4) & 0xffff` would read that as scale 2045.
    /// `None` for unconstrained `numeric`.
    pub fn numeric_precision_scale(self) -> Option<(u16, i16)> {
        if self.0 < VARHDRSZ {
            return None;
        }
        let packed = self.0 - VARHDRSZ;
        let precision = ((packed >> 16) & 0xFFFF) as u16;
        let scale = (((packed & 0x7FF) ^ 1024) - 1024) as i16;
        Some((precision, scale))
    }

    /// `varchar(n)` and `char(n)`: the declared length in characters.
    pub fn char_length(self) -> Option<u32> {
        (self.0 >= VARHDRSZ).then(|| (self.0 - VARHDRSZ) as u32)
    }

    /// `bit(n)` and `varbit(n)`: the declared length in bits (not offset).
    pub fn bit_length(self) -> Option<u32> {
        (self.0 >= 0).then_some(self.0 as u32)
    }

    /// `time(p)`, `timetz(p)`, `timestamp(p)`, `timestamptz(p)`: fractional-second
    /// digits, 0 to 6.
    pub fn time_precision(self) -> Option<u8> {
        (0..=6).contains(&self.0).then_some(self.0 as u8)
    }

    /// `interval(p)` / `interval day to second(p)`: fractional-second digits.
    pub fn interval_precision(self) -> Option<u8> {
        if self.0 < 0 {
            return None;
        }
        let precision = self.0 & 0xFFFF;
        (precision != INTERVAL_FULL_PRECISION).then_some(precision as u8)
    }

    /// `interval year to month` and friends: the bit mask of allowed fields
    /// (PostgreSQL's `INTERVAL_MASK` bits: MONTH=1<<1, YEAR=1<<2, DAY=1<<3, HOUR=1<<10,
    /// MINUTE=1<<11, SECOND=1<<12). `None` when all fields are allowed.
    pub fn interval_fields(self) -> Option<u16> {
        if self.0 < 0 {
            return None;
        }
        let range = (self.0 >> 16) & 0x7FFF;
        (range != INTERVAL_FULL_RANGE).then_some(range as u16)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Typmods printed by `SELECT attname, atttypmod, format_type(...)` on PostgreSQL 15.
    #[test]
    fn numeric() {
        assert_eq!(Typmod(786438).numeric_precision_scale(), Some((12, 2)));
        assert_eq!(Typmod(133121).numeric_precision_scale(), Some((2, -3)));
        assert_eq!(Typmod(196617).numeric_precision_scale(), Some((3, 5)));
        assert_eq!(Typmod(65536004).numeric_precision_scale(), Some((1000, 0)));
        assert_eq!(Typmod(-1).numeric_precision_scale(), None);
    }

    #[test]
    fn lengths_and_precisions() {
        assert_eq!(Typmod(14).char_length(), Some(10)); // varchar(10)
        assert_eq!(Typmod(7).char_length(), Some(3)); // char(3)
        assert_eq!(Typmod(-1).char_length(), None);
        assert_eq!(Typmod(5).bit_length(), Some(5));
        assert_eq!(Typmod(1).bit_length(), Some(1));
        assert_eq!(Typmod(3).time_precision(), Some(3));
        assert_eq!(Typmod(0).time_precision(), Some(0));
        assert_eq!(Typmod(-1).time_precision(), None);
    }

    #[test]
    fn interval() {
        // interval(3)
        assert_eq!(Typmod(2147418115).interval_precision(), Some(3));
        assert_eq!(Typmod(2147418115).interval_fields(), None);
        // interval year to month
        assert_eq!(Typmod(458751).interval_precision(), None);
        assert_eq!(Typmod(458751).interval_fields(), Some(0b110));
        // interval day to second(2)
        assert_eq!(Typmod(470286338).interval_precision(), Some(2));
        assert_eq!(
            Typmod(470286338).interval_fields(),
            Some((1 << 3) | (7 << 10))
        );
        // interval hour
        assert_eq!(Typmod(67174399).interval_fields(), Some(1 << 10));
        assert_eq!(Typmod(-1).interval_fields(), None);
    }
}
