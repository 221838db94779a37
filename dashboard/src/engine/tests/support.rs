//! A store that keeps what `take_changes` reports the way Redis does (open partials
//! per partition, closed ones final), and checks that it always equals what the engine
//! holds.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{json, Value};

use crate::engine::{Engine, GroupKey, Partial, Row, SourcePartition};
use crate::spec::Spec;

pub fn shop_doc(metrics: Value, lateness_ms: i64) -> Value {
    json!({
        "name": "t",
        "sources": {"views": {"topic": "t", "event.time": {"field": "at", "unit": "millis"},
                              "allowed.lateness.ms": lateness_ms}},
        "metrics": metrics
    })
}

pub fn shop(metrics: Value, lateness_ms: i64) -> Arc<Spec> {
    Arc::new(Spec::from_value(shop_doc(metrics, lateness_ms)).unwrap())
}

pub fn p(n: i32) -> SourcePartition {
    SourcePartition::new("t", n)
}

pub fn row(v: Value) -> Row {
    match v {
        Value::Object(m) => m,
        other => panic!("not an object: {other}"),
    }
}

/// `(metric, group, start, end, partition)`
type Key = (String, String, i64, i64, SourcePartition);

#[derive(Debug, Default, Clone, PartialEq)]
pub struct Store {
    open: BTreeMap<Key, Partial>,
    closed: BTreeMap<Key, Partial>,
    pub watermarks: BTreeMap<SourcePartition, i64>,
}

impl Store {
    /// Takes the engine's changes, checking that closed windows never change, and
    /// that the open windows kept equal the engine's.
    pub fn absorb(&mut self, e: &mut Engine) {
        for c in e.take_changes() {
            let key = (c.metric, c.group.to_string(), c.start_ms, c.end_ms, c.at);
            assert!(
                !self.closed.contains_key(&key),
                "a closed window changed: {key:?}"
            );
            match (c.closed, c.partial) {
                (true, Some(p)) => {
                    self.open.remove(&key);
                    self.closed.insert(key, p);
                }
                (true, None) => panic!("a closed window without its partial: {key:?}"),
                (false, Some(p)) => {
                    self.open.insert(key, p);
                }
                (false, None) => {
                    self.open.remove(&key);
                }
            }
        }
        self.watermarks = e.watermarks().into_iter().collect();
        for at in self.watermarks.keys() {
            let mut held = e.open_windows(at);
            held.sort_by(|a, b| (&a.0, &a.1, a.2, a.3).cmp(&(&b.0, &b.1, b.2, b.3)));
            assert_eq!(
                self.open_partials(at),
                held,
                "stored open windows of {at} differ from the engine's"
            );
        }
    }

    fn entries(&self) -> impl Iterator<Item = (&Key, &Partial, bool)> {
        self.open
            .iter()
            .map(|(k, p)| (k, p, false))
            .chain(self.closed.iter().map(|(k, p)| (k, p, true)))
    }

    /// A window's value merged over partitions (and, for sessions, over ends).
    pub fn value(&self, metric: &str, group: &str, start: i64) -> Option<f64> {
        let partials: Vec<&Partial> = self
            .entries()
            .filter(|(k, _, _)| k.0 == metric && k.1 == group && k.2 == start)
            .map(|(_, p, _)| p)
            .collect();
        crate::read::window_value(partials)
    }

    pub fn is_closed(&self, metric: &str, group: &str, start: i64) -> bool {
        let mut matching = self
            .entries()
            .filter(|(k, _, _)| k.0 == metric && k.1 == group && k.2 == start)
            .peekable();
        matching.peek().is_some() && matching.all(|(_, _, closed)| closed)
    }

    pub fn is_closed_at(
        &self,
        metric: &str,
        group: &str,
        start: i64,
        at: &SourcePartition,
    ) -> bool {
        self.closed
            .keys()
            .any(|k| k.0 == metric && k.1 == group && k.2 == start && k.4 == *at)
    }

    pub fn window_ends(&self, metric: &str, group: &str, start: i64) -> Vec<i64> {
        self.entries()
            .filter(|(k, _, _)| k.0 == metric && k.1 == group && k.2 == start)
            .map(|(k, _, _)| k.3)
            .collect()
    }

    pub fn starts(&self, metric: &str) -> Vec<i64> {
        let mut starts: Vec<i64> = self
            .entries()
            .filter(|(k, _, _)| k.0 == metric)
            .map(|(k, _, _)| k.2)
            .collect();
        starts.sort();
        starts.dedup();
        starts
    }

    /// A group's sessions as `(start, end, value, closed)`, by start.
    pub fn sessions(&self, metric: &str, group: &str) -> Vec<(i64, i64, Option<f64>, bool)> {
        let mut sessions: Vec<_> = self
            .entries()
            .filter(|(k, _, _)| k.0 == metric && k.1 == group)
            .map(|(k, p, closed)| (k.2, k.3, p.value(), closed))
            .collect();
        sessions.sort_by_key(|s| (s.0, s.1));
        sessions
    }

    pub fn is_empty(&self) -> bool {
        self.open.is_empty() && self.closed.is_empty()
    }

    /// Every window's merged value, and whether it is closed everywhere.
    pub fn merged_values(&self) -> BTreeMap<(String, String, i64), (Option<f64>, bool)> {
        let mut windows: BTreeMap<(String, String, i64), (Vec<&Partial>, bool)> = BTreeMap::new();
        for (k, p, closed) in self.entries() {
            let entry = windows
                .entry((k.0.clone(), k.1.clone(), k.2))
                .or_insert((Vec::new(), true));
            entry.0.push(p);
            entry.1 &= closed;
        }
        windows
            .into_iter()
            .map(|(k, (partials, closed))| (k, (crate::read::window_value(partials), closed)))
            .collect()
    }

    /// What a new owner of `at` restores.
    pub fn open_partials(
        &self,
        at: &SourcePartition,
    ) -> Vec<(String, GroupKey, i64, i64, Partial)> {
        self.open
            .iter()
            .filter(|(k, _)| k.4 == *at)
            .map(|(k, p)| {
                (
                    k.0.clone(),
                    GroupKey::from(k.1.clone()),
                    k.2,
                    k.3,
                    p.clone(),
                )
            })
            .collect()
    }
}
