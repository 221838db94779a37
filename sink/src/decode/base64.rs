//! Standard base64 (RFC 4648, with padding), as JsonConverter writes BYTES.

/// The bytes of a standard base64 string; `None` when it is not one.
pub fn decode(text: &str) -> Option<Vec<u8>> {
    let bytes = text.as_bytes();
    if bytes.len() % 4 != 0 {
        return None;
    }
    let mut out = Vec::with_capacity(bytes.len() / 4 * 3);
    for (index, chunk) in bytes.chunks(4).enumerate() {
        let last = index == bytes.len() / 4 - 1;
        let mut values = [0u8; 4];
        let mut padding = 0;
        for (i, &c) in chunk.iter().enumerate() {
            values[i] = match c {
                b'A'..=b'Z' => c - b'A',
                b'a'..=b'z' => c - b'a' + 26,
                b'0'..=b'9' => c - b'0' + 52,
                b'+' => 62,
                b'/' => 63,
                b'=' if last && i >= 2 => {
                    padding += 1;
                    0
                }
                _ => return None,
            };
            if padding > 0 && c != b'=' {
                return None;
            }
        }
        let n = (u32::from(values[0]) << 18)
            | (u32::from(values[1]) << 12)
            | (u32::from(values[2]) << 6)
            | u32::from(values[3]);
        out.push((n >> 16) as u8);
        if padding < 2 {
            out.push((n >> 8) as u8);
        }
        if padding < 1 {
            out.push(n as u8);
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_the_encoder() {
        for len in 0..40usize {
            let bytes: Vec<u8> = (0..len).map(|i| (i * 37 + 11) as u8).collect();
            let text = pgcdc_schemas::encoding::base64(&bytes);
            assert_eq!(decode(&text), Some(bytes), "{text}");
        }
    }

    #[test]
    fn rejects_what_is_not_base64() {
        assert_eq!(decode("abc"), None);
        assert_eq!(decode("ab=c"), None);
        assert_eq!(decode("a==="), None);
        assert_eq!(decode("ab c"), None);
        assert_eq!(decode("Bdw="), Some(vec![0x05, 0xdc]));
    }
}
