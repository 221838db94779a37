//! A fixed, seedless 64-bit hash: FNV-1a over the bytes, then MurmurHash3's `fmix64`
//! finaliser so every output bit depends on every input bit (HyperLogLog reads the
//! top bits for the register and the rest for the run of zeros). Being fixed, the
//! hash of a value is the same in every process and release, which is what lets
//! count-distinct partials written by different instances be merged.

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// Hashes `bytes`.
pub fn hash64(bytes: &[u8]) -> u64 {
    let mut h = FNV_OFFSET;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(FNV_PRIME);
    }
    fmix64(h ^ bytes.len() as u64)
}

fn fmix64(mut k: u64) -> u64 {
    k ^= k >> 33;
    k = k.wrapping_mul(0xff51_afd7_ed55_8ccd);
    k ^= k >> 33;
    k = k.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    k ^= k >> 33;
    k
}

#[cfg(test)]
mod tests {
    use super::hash64;

    #[test]
    fn stable_across_builds() {
        // Pinned: changing these breaks merging with partials already in Redis.
        assert_ne!(hash64(b"a"), hash64(b"b"));
        assert_eq!(hash64(b"user-1"), 14_957_890_767_381_599_994);
        assert_eq!(hash64(b""), hash64(&[]));
    }

    #[test]
    fn top_bits_spread() {
        let mut buckets = [0u32; 16];
        for i in 0..16_000 {
            buckets[(hash64(format!("{i}").as_bytes()) >> 60) as usize] += 1;
        }
        assert!(
            buckets.iter().all(|&n| (800..1200).contains(&n)),
            "{buckets:?}"
        );
    }
}
