//! Byte encodings that appear inside Connect values and JSON: base64 (JsonConverter's
//! BYTES, Debezium's `binary.handling.mode=base64`), its URL-safe alphabet
//! (`base64-url-safe`, padded like Java's `Base64.getUrlEncoder()`), and lower-case
//! hex (`hex`).

/// Where the encoders of this crate append text: a `String`, or the `Vec<u8>` of a
/// record being built. Records are built as bytes because they leave as bytes, and
/// because appending ASCII digits or symbols to a `String` costs a UTF-8 check or a
/// per-character branch that a byte buffer does not need. Everything appended is
/// UTF-8, so a `Vec<u8>` built this way always holds valid UTF-8.
pub trait TextSink {
    fn reserve(&mut self, additional: usize);
    fn push_str(&mut self, s: &str);
    /// Appends ASCII bytes (digits, base64 symbols, escapes). A byte of 0x80 or more
    /// would be a bug in the caller.
    fn push_ascii(&mut self, ascii: &[u8]);
    /// Appends one ASCII byte.
    fn push_ascii_byte(&mut self, ascii: u8);
}

impl TextSink for String {
    fn reserve(&mut self, additional: usize) {
        String::reserve(self, additional);
    }

    fn push_str(&mut self, s: &str) {
        String::push_str(self, s);
    }

    fn push_ascii(&mut self, ascii: &[u8]) {
        debug_assert!(ascii.is_ascii());
        self.extend(ascii.iter().map(|&b| char::from(b)));
    }

    fn push_ascii_byte(&mut self, ascii: u8) {
        debug_assert!(ascii.is_ascii());
        self.push(char::from(ascii));
    }
}

impl TextSink for Vec<u8> {
    #[inline]
    fn reserve(&mut self, additional: usize) {
        Vec::reserve(self, additional);
    }

    #[inline]
    fn push_str(&mut self, s: &str) {
        self.extend_from_slice(s.as_bytes());
    }

    #[inline]
    fn push_ascii(&mut self, ascii: &[u8]) {
        debug_assert!(ascii.is_ascii());
        self.extend_from_slice(ascii);
    }

    #[inline]
    fn push_ascii_byte(&mut self, ascii: u8) {
        debug_assert!(ascii.is_ascii());
        self.push(ascii);
    }
}

const STANDARD: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const URL_SAFE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// Base64 with the standard alphabet and `=` padding (`java.util.Base64.getEncoder()`).
pub fn base64(bytes: &[u8]) -> String {
    encode(bytes, STANDARD)
}

/// Base64 with the URL-safe alphabet, still padded (`Base64.getUrlEncoder()`).
pub fn base64_url_safe(bytes: &[u8]) -> String {
    encode(bytes, URL_SAFE)
}

/// Appends the standard base64 of `bytes` to `out`.
pub fn base64_into(bytes: &[u8], out: &mut impl TextSink) {
    encode_into(bytes, STANDARD, out);
}

/// The bytes of a standard, padded base64 string (what JsonConverter writes for BYTES); `None` when it is not one.
pub fn base64_decode(text: &str) -> Option<Vec<u8>> {
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

fn encode(bytes: &[u8], alphabet: &[u8; 64]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    encode_into(bytes, alphabet, &mut out);
    out
}

fn encode_into(bytes: &[u8], alphabet: &[u8; 64], out: &mut impl TextSink) {
    out.reserve(bytes.len().div_ceil(3) * 4);
    let symbol = |index: u32| alphabet[(index & 0x3F) as usize];
    for chunk in bytes.chunks(3) {
        let b0 = u32::from(chunk[0]);
        let b1 = chunk.get(1).copied().map_or(0, u32::from);
        let b2 = chunk.get(2).copied().map_or(0, u32::from);
        let triple = (b0 << 16) | (b1 << 8) | b2;
        out.push_ascii(&[
            symbol(triple >> 18),
            symbol(triple >> 12),
            if chunk.len() > 1 {
                symbol(triple >> 6)
            } else {
                b'='
            },
            if chunk.len() > 2 {
                symbol(triple)
            } else {
                b'='
            },
        ]);
    }
}

/// Lower-case hex, two digits per byte.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0xF)]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_decode_round_trips_the_encoder() {
        for len in 0..40usize {
            let bytes: Vec<u8> = (0..len).map(|i| (i * 37 + 11) as u8).collect();
            let text = base64(&bytes);
            assert_eq!(base64_decode(&text), Some(bytes), "{text}");
        }
    }

    #[test]
    fn base64_decode_rejects_what_is_not_base64() {
        assert_eq!(base64_decode("abc"), None);
        assert_eq!(base64_decode("ab=c"), None);
        assert_eq!(base64_decode("a==="), None);
        assert_eq!(base64_decode("ab c"), None);
        assert_eq!(base64_decode("Bdw="), Some(vec![0x05, 0xdc]));
    }

    // Expected strings from binary_base64*.json / binary_hex.json (Debezium 3.7.0).
    #[test]
    fn matches_debezium_binary_modes() {
        assert_eq!(base64(&[0xde, 0xad, 0xbe, 0xef]), "3q2+7w==");
        assert_eq!(base64_url_safe(&[0xde, 0xad, 0xbe, 0xef]), "3q2-7w==");
        assert_eq!(base64(&[0x00, 0x01, 0x02, 0xff, 0xfe]), "AAEC//4=");
        assert_eq!(base64_url_safe(&[0x00, 0x01, 0x02, 0xff, 0xfe]), "AAEC__4=");
        assert_eq!(base64(&[0x00, 0xff, 0x80]), "AP+A");
        assert_eq!(base64(&[]), "");
        assert_eq!(hex(&[0x00, 0x01, 0x02, 0xff, 0xfe]), "000102fffe");
        assert_eq!(hex(&[]), "");
    }

    #[test]
    fn rfc4648_vectors() {
        for (input, expected) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(input.as_bytes()), expected);
        }
    }
}
