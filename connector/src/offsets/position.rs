//! The position of one event in the source's commit order.

use std::fmt;

use crate::lsn::Lsn;

/// The Kafka record header that carries an event's [`SourcePosition`], so the tail
/// of a partition can be read back whatever converter encoded the record.
pub const POSITION_HEADER: &str = "pgcdc.position";

/// Where an event stands in commit order: its transaction's commit LSN, then its
/// ordinal within the transaction (0-based, in the order PostgreSQL sent the rows).
/// Ordered lexicographically, strictly increasing across the events pgcdc emits, and
/// identical when PostgreSQL sends a transaction again after a restart.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SourcePosition {
    pub commit_lsn: Lsn,
    pub ordinal: u32,
}

/// A header value that is not a position pgcdc wrote.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid {POSITION_HEADER} header {0:?}: expected <commit LSN>:<ordinal>, as in 0/16B3748:3"
)]
pub struct ParsePositionError(pub String);

impl SourcePosition {
    pub fn new(commit_lsn: Lsn, ordinal: u32) -> Self {
        SourcePosition {
            commit_lsn,
            ordinal,
        }
    }

    /// The header value. Text rather than binary so operators can read it in any
    /// Kafka tool (`0/16B3748:3`).
    pub fn to_header(&self) -> String {
        self.to_string()
    }

    pub fn from_header(value: &[u8]) -> Result<Self, ParsePositionError> {
        let text = std::str::from_utf8(value)
            .map_err(|_| ParsePositionError(String::from_utf8_lossy(value).into_owned()))?;
        let err = || ParsePositionError(text.to_owned());
        let (lsn, ordinal) = text.rsplit_once(':').ok_or_else(err)?;
        if ordinal.is_empty() || !ordinal.bytes().all(|b| b.is_ascii_digit()) {
            return Err(err());
        }
        Ok(SourcePosition {
            commit_lsn: lsn.parse().map_err(|_| err())?,
            ordinal: ordinal.parse().map_err(|_| err())?,
        })
    }
}

impl fmt::Display for SourcePosition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.commit_lsn, self.ordinal)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn orders_by_commit_then_ordinal() {
        let a = SourcePosition::new(Lsn(100), 7);
        let b = SourcePosition::new(Lsn(100), 8);
        let c = SourcePosition::new(Lsn(101), 0);
        assert!(a < b && b < c);
    }

    #[test]
    fn header_round_trips_and_reads_like_postgres() {
        let position = SourcePosition::new(Lsn(0x16_B374_D848), 42);
        assert_eq!(position.to_header(), "16/B374D848:42");
        assert_eq!(SourcePosition::from_header(b"16/B374D848:42"), Ok(position));
    }

    #[test]
    fn rejects_foreign_headers() {
        for bad in [
            &b""[..],
            b"0/0",
            b"0/0:",
            b"0/0:x",
            b"0/0:-1",
            b"x/0:1",
            b"0/0:99999999999",
            b"\xff",
        ] {
            assert!(
                SourcePosition::from_header(bad).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    proptest! {
        #[test]
        fn any_position_round_trips(lsn in any::<u64>(), ordinal in any::<u32>()) {
            let position = SourcePosition::new(Lsn(lsn), ordinal);
            prop_assert_eq!(SourcePosition::from_header(position.to_header().as_bytes()), Ok(position));
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..40)) {
            let _ = SourcePosition::from_header(&bytes);
        }
    }
}
