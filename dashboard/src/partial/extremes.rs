//! Min and max as a multiset of values, so that retracting the current extreme
//! reveals the next one. Memory grows with the distinct values of a window.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// `f64` ordered totally (values are finite; −0 is stored as 0).
#[derive(Debug, Clone, Copy, PartialEq)]
struct Key(f64);

impl Eq for Key {}

impl PartialOrd for Key {
    fn partial_cmp(&self, other: &Key) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Key {
    fn cmp(&self, other: &Key) -> Ordering {
        self.0.total_cmp(&other.0)
    }
}

/// Value → rows holding it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "Vec<(f64, i64)>", into = "Vec<(f64, i64)>")]
pub struct Extremes(BTreeMap<Key, i64>);

impl Extremes {
    /// One row holding `value` (`count` −1 retracts it).
    pub fn single(value: f64, count: i64) -> Extremes {
        let mut e = Extremes::default();
        e.add(value, count);
        e
    }

    fn add(&mut self, value: f64, count: i64) {
        let key = Key(if value == 0.0 { 0.0 } else { value });
        let entry = self.0.entry(key).or_insert(0);
        *entry += count;
        if *entry == 0 {
            self.0.remove(&key);
        }
    }

    pub fn merge(&mut self, other: &Extremes) {
        for (key, count) in &other.0 {
            self.add(key.0, *count);
        }
    }

    pub fn negate(&mut self) {
        self.0.values_mut().for_each(|c| *c = -*c);
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The smallest value held by a row (retractions without their insert ignored).
    pub fn min(&self) -> Option<f64> {
        self.0.iter().find(|(_, c)| **c > 0).map(|(k, _)| k.0)
    }

    pub fn max(&self) -> Option<f64> {
        self.0.iter().rev().find(|(_, c)| **c > 0).map(|(k, _)| k.0)
    }
}

impl From<Vec<(f64, i64)>> for Extremes {
    fn from(pairs: Vec<(f64, i64)>) -> Extremes {
        let mut e = Extremes::default();
        for (value, count) in pairs {
            if value.is_finite() {
                e.add(value, count);
            }
        }
        e
    }
}

impl From<Extremes> for Vec<(f64, i64)> {
    fn from(e: Extremes) -> Vec<(f64, i64)> {
        e.0.into_iter().map(|(k, c)| (k.0, c)).collect()
    }
}
