//! Count-distinct: exact while small, a HyperLogLog sketch beyond.
//!
//! A partial keeps each value's hash with a signed count of rows holding it, so a
//! retraction (update, delete) removes exactly what its insert added. Past
//! [`EXACT_LIMIT`] distinct hashes it turns into a HyperLogLog with 2^12 registers
//! (standard error about 1.6%), and from then on a retraction cannot be honoured —
//! a register keeps the longest run of zeros it ever saw. Those retractions are
//! counted in the sketch (`lost`) and the estimate keeps the value. The switch
//! depends only on the set of hashes, so merging partials in any order gives what
//! aggregating their union would.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Hashes kept exactly before switching to a sketch.
pub const EXACT_LIMIT: usize = 1024;
const P: u32 = 12;
const REGISTERS: usize = 1 << P;
/// Registers are written as one character each from this alphabet (values ≤ 53).
const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// A count-distinct partial.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Distinct {
    /// Value hash → number of rows holding it (negative after an unmatched retraction).
    Exact(BTreeMap<u64, i64>),
    Sketch(Hll),
}

impl Default for Distinct {
    fn default() -> Distinct {
        Distinct::Exact(BTreeMap::new())
    }
}

impl Distinct {
    /// One row holding the value with this hash (`count` −1 retracts it).
    pub fn single(hash: u64, count: i64) -> Distinct {
        Distinct::Exact(BTreeMap::from([(hash, count)]))
    }

    pub fn merge(&mut self, other: &Distinct) {
        match (&mut *self, other) {
            (Distinct::Exact(mine), Distinct::Exact(theirs)) => {
                for (hash, count) in theirs {
                    let entry = mine.entry(*hash).or_insert(0);
                    *entry += count;
                    if *entry == 0 {
                        mine.remove(hash);
                    }
                }
                if mine.len() > EXACT_LIMIT {
                    let mut sketch = Hll::default();
                    sketch.add_exact(mine);
                    *self = Distinct::Sketch(sketch);
                }
            }
            (Distinct::Sketch(mine), Distinct::Exact(theirs)) => mine.add_exact(theirs),
            (Distinct::Exact(mine), Distinct::Sketch(theirs)) => {
                let mut sketch = theirs.clone();
                sketch.add_exact(mine);
                *self = Distinct::Sketch(sketch);
            }
            (Distinct::Sketch(mine), Distinct::Sketch(theirs)) => mine.merge(theirs),
        }
    }

    pub fn negate(&mut self) {
        match self {
            Distinct::Exact(map) => map.values_mut().for_each(|c| *c = -*c),
            // Retracting a sketch cannot be done; it is counted where merged.
            Distinct::Sketch(hll) => {
                let lost = hll.lost.saturating_add(1);
                *hll = Hll {
                    lost,
                    ..Hll::default()
                };
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        matches!(self, Distinct::Exact(map) if map.is_empty())
    }

    /// The number of distinct values (estimated once a sketch).
    pub fn count(&self) -> f64 {
        match self {
            Distinct::Exact(map) => map.values().filter(|c| **c > 0).count() as f64,
            Distinct::Sketch(hll) => hll.estimate(),
        }
    }

    /// Retractions a sketch could not honour.
    pub fn lost_retractions(&self) -> u64 {
        match self {
            Distinct::Exact(_) => 0,
            Distinct::Sketch(hll) => hll.lost,
        }
    }
}

/// HyperLogLog with p = 12 and a fixed hash ([`crate::hash::hash64`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "HllRepr", into = "HllRepr")]
pub struct Hll {
    registers: Vec<u8>,
    /// Retractions that arrived after the switch to a sketch.
    pub lost: u64,
}

impl Default for Hll {
    fn default() -> Hll {
        Hll {
            registers: vec![0; REGISTERS],
            lost: 0,
        }
    }
}

impl Hll {
    pub fn insert(&mut self, hash: u64) {
        let index = (hash >> (64 - P)) as usize;
        let rest = (hash << P) | (1 << (P - 1)); // a sentinel bit bounds the run
        let rank = u8::try_from(rest.leading_zeros() + 1).unwrap_or(u8::MAX);
        if let Some(register) = self.registers.get_mut(index) {
            *register = (*register).max(rank);
        }
    }

    fn add_exact(&mut self, exact: &BTreeMap<u64, i64>) {
        for (&hash, &count) in exact {
            if count > 0 {
                self.insert(hash);
            } else {
                self.lost = self.lost.saturating_add(count.unsigned_abs());
            }
        }
    }

    pub fn merge(&mut self, other: &Hll) {
        for (mine, theirs) in self.registers.iter_mut().zip(&other.registers) {
            *mine = (*mine).max(*theirs);
        }
        self.lost = self.lost.saturating_add(other.lost);
    }

    /// The cardinality estimate, with linear counting for small ranges.
    pub fn estimate(&self) -> f64 {
        let m = REGISTERS as f64;
        let alpha = 0.7213 / (1.0 + 1.079 / m);
        let sum: f64 = self
            .registers
            .iter()
            .map(|&r| 2f64.powi(-i32::from(r)))
            .sum();
        let raw = alpha * m * m / sum;
        let zeros = self.registers.iter().filter(|&&r| r == 0).count();
        if raw <= 2.5 * m && zeros > 0 {
            m * (m / zeros as f64).ln()
        } else {
            raw
        }
    }
}

#[derive(Serialize, Deserialize)]
struct HllRepr {
    r: String,
    #[serde(default, skip_serializing_if = "is_zero")]
    lost: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl From<Hll> for HllRepr {
    fn from(hll: Hll) -> HllRepr {
        let r = hll
            .registers
            .iter()
            .map(|&v| ALPHABET[usize::from(v.min(63))] as char)
            .collect();
        HllRepr { r, lost: hll.lost }
    }
}

impl TryFrom<HllRepr> for Hll {
    type Error = String;

    fn try_from(repr: HllRepr) -> Result<Hll, String> {
        if repr.r.len() != REGISTERS {
            return Err(format!(
                "a sketch has {REGISTERS} registers, not {}",
                repr.r.len()
            ));
        }
        let registers = repr
            .r
            .bytes()
            .map(|c| {
                ALPHABET
                    .iter()
                    .position(|&a| a == c)
                    .and_then(|p| u8::try_from(p).ok())
                    .ok_or_else(|| format!("bad register {:?}", c as char))
            })
            .collect::<Result<Vec<u8>, String>>()?;
        Ok(Hll {
            registers,
            lost: repr.lost,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::hash64;

    fn h(i: u64) -> u64 {
        hash64(&i.to_le_bytes())
    }

    #[test]
    fn exact_counts_and_retracts() {
        let mut d = Distinct::default();
        d.merge(&Distinct::single(h(1), 1));
        d.merge(&Distinct::single(h(1), 1));
        d.merge(&Distinct::single(h(2), 1));
        assert_eq!(d.count(), 2.0);
        d.merge(&Distinct::single(h(1), -1));
        assert_eq!(d.count(), 2.0, "user 1 still has a row");
        d.merge(&Distinct::single(h(1), -1));
        assert_eq!(d.count(), 1.0);
        d.merge(&Distinct::single(h(2), -1));
        assert!(d.is_empty());
    }

    #[test]
    fn switches_to_a_sketch_past_the_limit_and_estimates() {
        let mut d = Distinct::default();
        for i in 0..EXACT_LIMIT as u64 {
            d.merge(&Distinct::single(h(i), 1));
        }
        assert!(matches!(d, Distinct::Exact(_)));
        assert_eq!(d.count(), EXACT_LIMIT as f64);
        for i in EXACT_LIMIT as u64..50_000 {
            d.merge(&Distinct::single(h(i), 1));
        }
        assert!(matches!(d, Distinct::Sketch(_)));
        let estimate = d.count();
        assert!((estimate - 50_000.0).abs() / 50_000.0 < 0.05, "{estimate}");
        d.merge(&Distinct::single(h(3), -1));
        assert_eq!(d.lost_retractions(), 1);
        assert_eq!(d.count(), estimate, "a sketch cannot forget");
    }

    #[test]
    fn small_range_is_accurate_in_a_sketch() {
        let mut hll = Hll::default();
        for i in 0..2000 {
            hll.insert(h(i));
            hll.insert(h(i));
        }
        assert!((hll.estimate() - 2000.0).abs() < 60.0, "{}", hll.estimate());
    }

    #[test]
    fn sketch_round_trips_through_json() {
        let mut d = Distinct::default();
        for i in 0..3000 {
            d.merge(&Distinct::single(h(i), 1));
        }
        let json = serde_json::to_value(&d).unwrap();
        let back: Distinct = serde_json::from_value(json.clone()).unwrap();
        assert_eq!(back, d);
        assert!(
            json.to_string().len() < 4200,
            "compact: one byte per register"
        );
        let exact = Distinct::single(h(7), 2);
        let back: Distinct = serde_json::from_value(serde_json::to_value(&exact).unwrap()).unwrap();
        assert_eq!(back, exact);
        assert!(serde_json::from_str::<Distinct>(r#"{"sketch":{"r":"AB"}}"#).is_err());
    }
}
