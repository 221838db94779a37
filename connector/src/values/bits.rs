//! `bit(n)` and `bit varying(n)`: printed as one `0`/`1` character per bit.

use super::error::ValueError;
use super::types::{PgType, ScalarType};

/// A bit string, packed most significant bit first (the first printed bit is the high
/// bit of the first byte, as PostgreSQL stores it); unused low bits of the last byte
/// are zero. Debezium's `io.debezium.data.Bits` wants little-endian bytes: the events
/// layer reorders, since both orders are derivable from this one.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct BitString {
    len: usize,
    bytes: Vec<u8>,
}

impl BitString {
    /// Number of bits.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The packed bits, MSB first.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Bit `i` counting from the first printed one.
    pub fn get(&self, i: usize) -> Option<bool> {
        (i < self.len).then(|| self.bytes[i / 8] & (0x80 >> (i % 8)) != 0)
    }
}

pub fn parse_bits(scalar: ScalarType, text: &[u8]) -> Result<BitString, ValueError> {
    let mut bytes = vec![0u8; text.len().div_ceil(8)];
    for (i, &b) in text.iter().enumerate() {
        match b {
            b'0' => {}
            b'1' => bytes[i / 8] |= 0x80 >> (i % 8),
            _ => {
                return Err(ValueError::malformed(
                    PgType::Scalar(scalar),
                    text,
                    "expected only 0 and 1",
                ))
            }
        }
    }
    Ok(BitString {
        len: text.len(),
        bytes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    // B'10101', B''::varbit, B'1'::bit, '1010101010101'::varbit, X'FF'::bit(8) as
    // printed by PostgreSQL 15.
    #[test]
    fn server_output() {
        let b = parse_bits(ScalarType::Bit, b"10101").expect("bits");
        assert_eq!((b.len(), b.as_bytes()), (5, &[0b1010_1000][..]));
        let b = parse_bits(ScalarType::Varbit, b"").expect("bits");
        assert!(b.is_empty() && b.as_bytes().is_empty());
        let b = parse_bits(ScalarType::Bit, b"1").expect("bits");
        assert_eq!(
            (b.len(), b.as_bytes(), b.get(0)),
            (1, &[0x80][..], Some(true))
        );
        let b = parse_bits(ScalarType::Varbit, b"1010101010101").expect("bits");
        assert_eq!((b.len(), b.as_bytes()), (13, &[0xAA, 0xA8][..]));
        assert_eq!(
            (b.get(12), b.get(11), b.get(13)),
            (Some(true), Some(false), None)
        );
        let b = parse_bits(ScalarType::Bit, b"11111111").expect("bits");
        assert_eq!(b.as_bytes(), &[0xFF]);
        assert!(parse_bits(ScalarType::Bit, b"102").is_err());
        assert!(parse_bits(ScalarType::Bit, b"B'1'").is_err());
    }
}
