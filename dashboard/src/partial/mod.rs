//! Partial aggregates: what one partition knows about one window of one group.
//!
//! Every partial is retractable and mergeable: a row's contribution is a partial, its
//! retraction is the negated contribution, and merging the partials of several
//! partitions gives the partial of all their rows (property-tested). So an update is
//! `merge(-before)` then `merge(after)`, and a reader sums what every partition wrote.
//!
//! | aggregate | kept | serialised |
//! | --- | --- | --- |
//! | count | rows | `{"count":3}` |
//! | sum, avg | exact decimal sum (nano-units), an `f64` part for values with more than nine fraction digits, rows | `{"sum":{"s":"12.5","n":2}}` |
//! | min, max | value → rows (a multiset, so the extreme survives retraction) | `{"min":[[1.5,2],[7,1]]}` |
//! | count_distinct | value hash → rows, or a HyperLogLog past 1024 values | `{"distinct":{"exact":{"123":1}}}` |
//! | ratio | both sides | `{"ratio":[{…},{…}]}` |
//! | session | event time → rows at that time and their partial | `{"session":{"1700000000000":[1,{"count":1}]}}` |
//!
//! A session partial keeps its events so that a retraction can shrink or split the
//! session; its value is that of all its events merged.

mod distinct;
mod extremes;
mod sum;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub use distinct::{Distinct, Hll, EXACT_LIMIT};
pub use extremes::Extremes;
pub use sum::Sum;

/// A partial aggregate (see the module documentation).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Partial {
    Count(i64),
    Sum(Sum),
    Avg(Sum),
    Min(Extremes),
    Max(Extremes),
    Distinct(Distinct),
    Ratio(Box<Partial>, Box<Partial>),
    /// A session's events: event time → (rows at that time, their partial). The
    /// rows are counted apart from the aggregate, whose own `where` may leave it
    /// empty, because every row extends the session.
    Session(BTreeMap<i64, (i64, Partial)>),
}

impl Partial {
    /// Adds `other` in. Partials of different kinds (a configuration changed under
    /// stored results) are not merged; the mismatch is logged.
    pub fn merge(&mut self, other: &Partial) {
        match (self, other) {
            (Partial::Count(a), Partial::Count(b)) => *a += b,
            (Partial::Sum(a), Partial::Sum(b)) | (Partial::Avg(a), Partial::Avg(b)) => a.merge(b),
            (Partial::Min(a), Partial::Min(b)) | (Partial::Max(a), Partial::Max(b)) => a.merge(b),
            (Partial::Distinct(a), Partial::Distinct(b)) => a.merge(b),
            (Partial::Ratio(an, ad), Partial::Ratio(bn, bd)) => {
                an.merge(bn);
                ad.merge(bd);
            }
            (Partial::Session(a), Partial::Session(b)) => {
                for (time, (rows, partial)) in b {
                    match a.get_mut(time) {
                        Some((my_rows, mine)) => {
                            *my_rows += rows;
                            mine.merge(partial);
                            if *my_rows == 0 {
                                a.remove(time);
                            }
                        }
                        None if *rows == 0 => {}
                        None => {
                            a.insert(*time, (*rows, partial.clone()));
                        }
                    }
                }
            }
            (mine, theirs) => {
                tracing::warn!(
                    mine = mine.kind(),
                    theirs = theirs.kind(),
                    "partials of different aggregates are not merged"
                );
            }
        }
    }

    /// The retraction of this partial: merging it cancels this one.
    pub fn negated(&self) -> Partial {
        let mut p = self.clone();
        p.negate();
        p
    }

    fn negate(&mut self) {
        match self {
            Partial::Count(n) => *n = -*n,
            Partial::Sum(s) | Partial::Avg(s) => s.negate(),
            Partial::Min(e) | Partial::Max(e) => e.negate(),
            Partial::Distinct(d) => d.negate(),
            Partial::Ratio(n, d) => {
                n.negate();
                d.negate();
            }
            Partial::Session(events) => {
                for (rows, partial) in events.values_mut() {
                    *rows = -*rows;
                    partial.negate();
                }
            }
        }
    }

    /// Whether nothing is left (every row retracted). A sketch is never empty.
    pub fn is_empty(&self) -> bool {
        match self {
            Partial::Count(n) => *n == 0,
            Partial::Sum(s) | Partial::Avg(s) => s.is_empty(),
            Partial::Min(e) | Partial::Max(e) => e.is_empty(),
            Partial::Distinct(d) => d.is_empty(),
            Partial::Ratio(n, d) => n.is_empty() && d.is_empty(),
            Partial::Session(events) => events.is_empty(),
        }
    }

    /// The aggregate's value: `None` for an avg, sum, min or max of no rows, and for a
    /// ratio whose denominator is zero or has no value.
    pub fn value(&self) -> Option<f64> {
        match self {
            Partial::Count(n) => Some(*n as f64),
            Partial::Sum(s) => (s.rows != 0).then(|| s.total()),
            Partial::Avg(s) => (s.rows != 0).then(|| s.total() / s.rows as f64),
            Partial::Min(e) => e.min(),
            Partial::Max(e) => e.max(),
            Partial::Distinct(d) => Some(d.count()),
            Partial::Ratio(n, d) => {
                let denominator = d.value()?;
                (denominator != 0.0).then_some(n.value()? / denominator)
            }
            Partial::Session(events) => {
                Partial::merge_all(events.values().map(|(_, p)| p))?.value()
            }
        }
    }

    /// Retractions a count-distinct sketch could not honour.
    pub fn lost_retractions(&self) -> u64 {
        match self {
            Partial::Distinct(d) => d.lost_retractions(),
            Partial::Ratio(n, d) => n.lost_retractions().saturating_add(d.lost_retractions()),
            Partial::Session(events) => events.values().map(|(_, p)| p.lost_retractions()).sum(),
            _ => 0,
        }
    }

    /// Merges partials into one; `None` when there are none.
    pub fn merge_all<'a>(partials: impl IntoIterator<Item = &'a Partial>) -> Option<Partial> {
        let mut merged: Option<Partial> = None;
        for p in partials {
            match merged.as_mut() {
                Some(m) => m.merge(p),
                None => merged = Some(p.clone()),
            }
        }
        merged
    }

    fn kind(&self) -> &'static str {
        match self {
            Partial::Count(_) => "count",
            Partial::Sum(_) => "sum",
            Partial::Avg(_) => "avg",
            Partial::Min(_) => "min",
            Partial::Max(_) => "max",
            Partial::Distinct(_) => "distinct",
            Partial::Ratio(..) => "ratio",
            Partial::Session(_) => "session",
        }
    }
}
