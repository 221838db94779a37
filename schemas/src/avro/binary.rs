//! Avro's binary primitives (Avro specification, "Binary Encoding"): `int` and
//! `long` as zig-zag variable-length integers, `float`/`double` as little-endian IEEE
//! 754 bits, `bytes`/`string` as a `long` length followed by the bytes.
//!
//! The reader works on a byte slice with a cursor and returns [`DecodeError`] (with
//! the offset) on anything malformed: a varint longer than its type allows, a length
//! beyond the end of the input, invalid UTF-8.

use super::decode::DecodeError;

#[inline]
pub fn write_long(value: i64, out: &mut Vec<u8>) {
    let mut n = ((value << 1) ^ (value >> 63)) as u64;
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

#[inline]
pub fn write_int(value: i32, out: &mut Vec<u8>) {
    let mut n = ((value << 1) ^ (value >> 31)) as u32;
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

#[inline]
pub fn write_bytes(bytes: &[u8], out: &mut Vec<u8>) {
    write_long(bytes.len() as i64, out);
    out.extend_from_slice(bytes);
}

#[inline]
pub fn write_float(value: f32, out: &mut Vec<u8>) {
    out.extend_from_slice(&value.to_le_bytes());
}

#[inline]
pub fn write_double(value: f64, out: &mut Vec<u8>) {
    out.extend_from_slice(&value.to_le_bytes());
}

/// A cursor over Avro binary data.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    bytes: &'a [u8],
    position: usize,
}

impl<'a> Reader<'a> {
    pub fn new(bytes: &'a [u8]) -> Reader<'a> {
        Reader { bytes, position: 0 }
    }

    pub fn position(&self) -> usize {
        self.position
    }

    pub fn remaining(&self) -> usize {
        self.bytes.len() - self.position
    }

    pub fn error(&self, reason: impl Into<String>) -> DecodeError {
        DecodeError {
            offset: self.position,
            reason: reason.into(),
        }
    }

    fn byte(&mut self) -> Result<u8, DecodeError> {
        let b = *self
            .bytes
            .get(self.position)
            .ok_or_else(|| self.error("unexpected end of data"))?;
        self.position += 1;
        Ok(b)
    }

    pub fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if n > self.remaining() {
            return Err(self.error(format!("{n} bytes announced, {} left", self.remaining())));
        }
        let slice = &self.bytes[self.position..self.position + n];
        self.position += n;
        Ok(slice)
    }

    /// A zig-zag `long`: at most 10 bytes, the last carrying at most one bit.
    pub fn long(&mut self) -> Result<i64, DecodeError> {
        let start = self.position;
        let mut n: u64 = 0;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            if shift == 63 && b > 1 {
                self.position = start;
                return Err(self.error("long varint overflows 64 bits"));
            }
            n |= u64::from(b & 0x7F) << shift;
            if b & 0x80 == 0 {
                return Ok(((n >> 1) as i64) ^ -((n & 1) as i64));
            }
        }
        self.position = start;
        Err(self.error("long varint longer than 10 bytes"))
    }

    /// A zig-zag `int`: at most 5 bytes, within 32 bits.
    pub fn int(&mut self) -> Result<i32, DecodeError> {
        let start = self.position;
        let mut n: u32 = 0;
        for shift in (0..32).step_by(7) {
            let b = self.byte()?;
            if shift == 28 && b > 0x0F {
                self.position = start;
                return Err(self.error("int varint overflows 32 bits"));
            }
            n |= u32::from(b & 0x7F) << shift;
            if b & 0x80 == 0 {
                return Ok(((n >> 1) as i32) ^ -((n & 1) as i32));
            }
        }
        self.position = start;
        Err(self.error("int varint longer than 5 bytes"))
    }

    pub fn boolean(&mut self) -> Result<bool, DecodeError> {
        match self.byte()? {
            0 => Ok(false),
            1 => Ok(true),
            other => {
                self.position -= 1;
                Err(self.error(format!("boolean byte {other}")))
            }
        }
    }

    pub fn float(&mut self) -> Result<f32, DecodeError> {
        let bytes = self.take(4)?;
        Ok(f32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
    }

    pub fn double(&mut self) -> Result<f64, DecodeError> {
        let bytes = self.take(8)?;
        let mut array = [0u8; 8];
        array.copy_from_slice(bytes);
        Ok(f64::from_le_bytes(array))
    }

    /// A length (of bytes, a string, or a block): a `long` that must not be negative.
    pub fn length(&mut self) -> Result<usize, DecodeError> {
        let start = self.position;
        let n = self.long()?;
        usize::try_from(n).map_err(|_| {
            self.position = start;
            self.error(format!("negative length {n}"))
        })
    }

    pub fn bytes(&mut self) -> Result<&'a [u8], DecodeError> {
        let n = self.length()?;
        self.take(n)
    }

    pub fn string(&mut self) -> Result<&'a str, DecodeError> {
        let start = self.position;
        let bytes = self.bytes()?;
        std::str::from_utf8(bytes).map_err(|e| {
            self.position = start;
            self.error(format!("string is not UTF-8: {e}"))
        })
    }

    /// The item count of the next array or map block (0 ends the array or map). A
    /// negative count is followed by the block's size in bytes, which is skipped.
    pub fn block_count(&mut self) -> Result<usize, DecodeError> {
        let start = self.position;
        let count = self.long()?;
        if count < 0 {
            self.length()?;
        }
        usize::try_from(count.unsigned_abs()).map_err(|_| {
            self.position = start;
            self.error("block count out of range")
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn long_bytes(v: i64) -> Vec<u8> {
        let mut out = Vec::new();
        write_long(v, &mut out);
        out
    }

    // Avro specification, "Binary Encoding": 0→00, -1→01, 1→02, -2→03, 2→04, -64→7f,
    // 64→80 01.
    #[test]
    fn zig_zag_as_specified() {
        for (value, bytes) in [
            (0i64, vec![0x00]),
            (-1, vec![0x01]),
            (1, vec![0x02]),
            (-2, vec![0x03]),
            (2, vec![0x04]),
            (-64, vec![0x7f]),
            (64, vec![0x80, 0x01]),
        ] {
            assert_eq!(long_bytes(value), bytes, "{value}");
            let mut int = Vec::new();
            write_int(value as i32, &mut int);
            assert_eq!(int, bytes, "{value}");
        }
    }

    #[test]
    fn extremes_round_trip() {
        for v in [
            i64::MIN,
            i64::MAX,
            i64::from(i32::MIN),
            i64::from(i32::MAX),
            0,
            -1,
        ] {
            let bytes = long_bytes(v);
            assert!(bytes.len() <= 10);
            assert_eq!(Reader::new(&bytes).long(), Ok(v));
        }
        for v in [i32::MIN, i32::MAX, 0, 1, -1] {
            let mut bytes = Vec::new();
            write_int(v, &mut bytes);
            assert!(bytes.len() <= 5);
            assert_eq!(Reader::new(&bytes).int(), Ok(v));
        }
    }

    #[test]
    fn malformed_varints_are_errors() {
        assert!(Reader::new(&[0x80; 11]).long().is_err());
        assert!(
            Reader::new(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02])
                .long()
                .is_err()
        );
        assert!(Reader::new(&[0xff, 0xff, 0xff, 0xff, 0x1f]).int().is_err());
        assert!(Reader::new(&[0x80]).int().is_err());
        let max_int = long_bytes(i64::from(i32::MAX) + 1);
        assert!(Reader::new(&max_int).int().is_err());
        assert!(Reader::new(&[0x01]).length().is_err());
        assert!(Reader::new(&[0x06, b'a']).bytes().is_err());
        assert!(Reader::new(&[0x02, 0xff]).string().is_err());
        assert!(Reader::new(&[0x02]).boolean().is_err());
        assert!(Reader::new(&[0x00, 0x00]).float().is_err());
        assert!(Reader::new(&[0x00; 7]).double().is_err());
    }
}
