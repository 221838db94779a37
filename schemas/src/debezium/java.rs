//! Two Java library behaviours that leak into Debezium's output and must be
//! reproduced: the iteration order of a `java.util.HashMap` (an `hstore` becomes one
//! before it is written, in `json` and in `map` mode), and
//! `java.util.UUID.nameUUIDFromBytes` (the unchanged-TOAST placeholder of a `uuid[]`).

/// The order in which a `java.util.HashMap<String, _>` built by inserting `keys` in
/// order (all distinct) iterates them, as indexes into `keys`.
///
/// A HashMap starts with 16 buckets and doubles when it holds more than 3/4 of its
/// capacity; it iterates bucket by bucket, and within a bucket in insertion order
/// (resizing splits buckets without reordering). A key's bucket is its `hashCode`,
/// spread as `h ^ (h >>> 16)`, modulo the final capacity. Not reproduced: buckets of
/// eight or more colliding keys in a map of 64+ buckets become trees, whose order
/// differs; that needs crafted keys.
pub fn hashmap_iteration_order(keys: &[&str]) -> Vec<usize> {
    let mut capacity: usize = 16;
    while keys.len() * 4 > capacity * 3 {
        capacity *= 2;
    }
    let mask = (capacity - 1) as u32;
    let mut order: Vec<usize> = (0..keys.len()).collect();
    order.sort_by_key(|&i| spread(string_hash_code(keys[i])) & mask);
    order
}

/// `String.hashCode()`: `s[0]*31^(n-1) + ... + s[n-1]` over UTF-16 code units, in
/// wrapping 32-bit arithmetic.
pub fn string_hash_code(s: &str) -> i32 {
    s.encode_utf16().fold(0i32, |h, unit| {
        h.wrapping_mul(31).wrapping_add(i32::from(unit))
    })
}

fn spread(hash: i32) -> u32 {
    let h = hash as u32;
    h ^ (h >> 16)
}

/// `UUID.nameUUIDFromBytes(bytes).toString()`: a version 3 (MD5) UUID.
pub fn name_uuid_from_bytes(bytes: &[u8]) -> String {
    let mut digest = md5(bytes);
    digest[6] = (digest[6] & 0x0f) | 0x30;
    digest[8] = (digest[8] & 0x3f) | 0x80;
    let hex = crate::encoding::hex(&digest);
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// MD5 (RFC 1321), needed only for the UUID above.
fn md5(message: &[u8]) -> [u8; 16] {
    const S: [u32; 64] = [
        7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 5, 9, 14, 20, 5, 9, 14, 20, 5,
        9, 14, 20, 5, 9, 14, 20, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 6, 10,
        15, 21, 6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21,
    ];
    // floor(abs(sin(i + 1)) * 2^32)
    let k: Vec<u32> = (0..64)
        .map(|i| ((f64::from(i + 1)).sin().abs() * 4_294_967_296.0) as u32)
        .collect();
    let mut state: [u32; 4] = [0x6745_2301, 0xefcd_ab89, 0x98ba_dcfe, 0x1032_5476];
    let mut data = message.to_vec();
    let bit_len = (message.len() as u64).wrapping_mul(8);
    data.push(0x80);
    while data.len() % 64 != 56 {
        data.push(0);
    }
    data.extend_from_slice(&bit_len.to_le_bytes());
    for block in data.chunks(64) {
        let words: Vec<u32> = block
            .chunks(4)
            .map(|w| u32::from_le_bytes([w[0], w[1], w[2], w[3]]))
            .collect();
        let [mut a, mut b, mut c, mut d] = state;
        for i in 0..64 {
            let (f, g) = match i / 16 {
                0 => ((b & c) | (!b & d), i),
                1 => ((d & b) | (!d & c), (5 * i + 1) % 16),
                2 => (b ^ c ^ d, (3 * i + 5) % 16),
                _ => (c ^ (b | !d), (7 * i) % 16),
            };
            let rotated = a
                .wrapping_add(f)
                .wrapping_add(k[i])
                .wrapping_add(words[g])
                .rotate_left(S[i]);
            a = d;
            d = c;
            c = b;
            b = b.wrapping_add(rotated);
        }
        state[0] = state[0].wrapping_add(a);
        state[1] = state[1].wrapping_add(b);
        state[2] = state[2].wrapping_add(c);
        state[3] = state[3].wrapping_add(d);
    }
    let mut out = [0u8; 16];
    for (i, word) in state.iter().enumerate() {
        out[i * 4..i * 4 + 4].copy_from_slice(&word.to_le_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn md5_vectors() {
        assert_eq!(
            crate::encoding::hex(&md5(b"")),
            "d41d8cd98f00b204e9800998ecf8427e"
        );
        assert_eq!(
            crate::encoding::hex(&md5(b"The quick brown fox jumps over the lazy dog")),
            "9e107d9d372bb6826bd81d3542a419d6"
        );
    }

    // The uuid[] placeholder in defaults.json (toast_types, big_uuid_array).
    #[test]
    fn placeholder_uuid() {
        assert_eq!(
            name_uuid_from_bytes(b"__debezium_unavailable_value"),
            "b68a35a7-17ad-35b3-af2a-ae46edb4545a"
        );
    }

    #[test]
    fn hash_codes_and_order() {
        assert_eq!(string_hash_code(""), 0);
        assert_eq!(string_hash_code("a"), 97);
        assert_eq!(string_hash_code("hello"), 99_162_322);
        // Buckets 1 ("a"), 2 ("b"), 0 ("") in a 16-bucket map.
        assert_eq!(hashmap_iteration_order(&["a", "b", ""]), vec![2, 0, 1]);
        // Keys in the same bucket keep insertion order: "Aa" and "BB" collide.
        assert_eq!(hashmap_iteration_order(&["BB", "Aa"]), vec![0, 1]);
        let many: Vec<String> = (0..13).map(|i| format!("k{i}")).collect();
        let keys: Vec<&str> = many.iter().map(String::as_str).collect();
        assert_eq!(hashmap_iteration_order(&keys).len(), 13);
    }
}
