//! The small PostgreSQL identifiers and clocks that pgoutput messages carry.

use std::fmt;

/// A PostgreSQL transaction id (`TransactionId`, 32 bits on the wire).
///
/// Inside a streamed block this may be the xid of a subtransaction rather than the
/// top-level one announced by Stream Start: pgoutput writes the xid of the
/// (sub)transaction that made the change.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Xid(pub u32);

impl fmt::Display for Xid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A PostgreSQL object id: of a relation (`pg_class.oid`) or a type (`pg_type.oid`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Oid(pub u32);

impl fmt::Display for Oid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A `TimestampTz` as pgoutput sends it: microseconds since the PostgreSQL epoch,
/// 2000-01-01 00:00:00 UTC (not the Unix epoch). Debezium's `ts_ms` wants Unix
/// milliseconds, hence the conversions.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PgTimestamp(pub i64);

impl PgTimestamp {
    /// Microseconds from 1970-01-01 to 2000-01-01 (10,957 days).
    pub const UNIX_EPOCH_OFFSET_MICROS: i64 = 946_684_800_000_000;

    /// The same instant as microseconds since the Unix epoch. Saturates instead of
    /// overflowing, so PostgreSQL's `infinity` (`i64::MAX`) stays the largest value.
    pub fn to_unix_micros(self) -> i64 {
        self.0.saturating_add(Self::UNIX_EPOCH_OFFSET_MICROS)
    }

    /// The same instant as milliseconds since the Unix epoch, rounded towards the past
    /// (as Java's `Instant.toEpochMilli` does, so pre-1970 values match Debezium).
    pub fn to_unix_millis(self) -> i64 {
        self.to_unix_micros().div_euclid(1_000)
    }

    /// The PostgreSQL timestamp for microseconds since the Unix epoch (saturating).
    pub fn from_unix_micros(unix_micros: i64) -> Self {
        PgTimestamp(unix_micros.saturating_sub(Self::UNIX_EPOCH_OFFSET_MICROS))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postgres_epoch_is_2000_01_01() {
        assert_eq!(PgTimestamp(0).to_unix_micros(), 946_684_800_000_000);
        assert_eq!(PgTimestamp(0).to_unix_millis(), 946_684_800_000);
        // 2024-05-01T12:34:56.789012Z
        let ts = PgTimestamp(767_882_096_789_012);
        assert_eq!(ts.to_unix_micros(), 1_714_566_896_789_012);
        assert_eq!(ts.to_unix_millis(), 1_714_566_896_789);
        assert_eq!(PgTimestamp::from_unix_micros(1_714_566_896_789_012), ts);
    }

    #[test]
    fn millis_round_towards_the_past() {
        let just_before_unix_epoch = PgTimestamp::from_unix_micros(-1);
        assert_eq!(just_before_unix_epoch.to_unix_millis(), -1);
    }

    #[test]
    fn infinities_saturate() {
        assert_eq!(PgTimestamp(i64::MAX).to_unix_micros(), i64::MAX);
        assert_eq!(
            PgTimestamp(i64::MIN).to_unix_micros(),
            i64::MIN + 946_684_800_000_000
        );
        assert_eq!(
            PgTimestamp::from_unix_micros(i64::MIN),
            PgTimestamp(i64::MIN)
        );
    }

    #[test]
    fn ids_print_as_plain_numbers() {
        assert_eq!(Xid(742).to_string(), "742");
        assert_eq!(Oid(16_384).to_string(), "16384");
    }
}
