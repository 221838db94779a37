//! The open session windows of one metric in one partition.
//!
//! A session is a set of event times (with the rows and partial at each) in which
//! consecutive times are less than `gap.ms` apart; its window is
//! `[first event, last event + gap)`. This is Flink's definition: each event opens
//! `[t, t + gap)` and overlapping windows merge, so two events exactly `gap.ms`
//! apart belong to different sessions. An event merges every session it overlaps
//! (it can bridge two); retracting an event can shrink a session or split it where
//! the remaining times are `gap.ms` or more apart, which is why the events are kept.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::partial::Partial;
use crate::row::GroupKey;

/// Event time → (rows at that time, their partial).
pub(super) type Events = BTreeMap<i64, (i64, Partial)>;

#[derive(Debug)]
pub(super) struct Sessions {
    gap: i64,
    /// Per group, sessions sorted by start; none empty, none overlapping.
    groups: HashMap<GroupKey, Vec<Events>>,
    /// `(end, group, start)` of every session, to close them in order.
    by_end: BTreeSet<(i64, GroupKey, i64)>,
    /// Start → sessions starting there (a multiset), for the earliest open start.
    starts: BTreeMap<i64, usize>,
}

/// A session's window.
pub(super) fn bounds(events: &Events, gap: i64) -> (i64, i64) {
    let first = events.keys().next().copied().unwrap_or(0);
    let last = events.keys().next_back().copied().unwrap_or(0);
    (first, last.saturating_add(gap))
}

impl Sessions {
    pub fn new(gap: i64) -> Sessions {
        Sessions {
            gap,
            groups: HashMap::new(),
            by_end: BTreeSet::new(),
            starts: BTreeMap::new(),
        }
    }

    fn index(&mut self, group: &GroupKey, (start, end): (i64, i64)) {
        self.by_end.insert((end, group.clone(), start));
        *self.starts.entry(start).or_insert(0) += 1;
    }

    fn unindex(&mut self, group: &GroupKey, (start, end): (i64, i64)) {
        self.by_end.remove(&(end, group.clone(), start));
        if let Some(n) = self.starts.get_mut(&start) {
            *n -= 1;
            if *n == 0 {
                self.starts.remove(&start);
            }
        }
    }

    /// Puts the group's sessions back, indexed.
    fn store(&mut self, group: &GroupKey, mut list: Vec<Events>) {
        list.retain(|s| !s.is_empty());
        list.sort_by_key(|s| bounds(s, self.gap).0);
        for s in &list {
            self.index(group, bounds(s, self.gap));
        }
        if !list.is_empty() {
            self.groups.insert(group.clone(), list);
        }
    }

    fn take(&mut self, group: &GroupKey) -> Vec<Events> {
        let list = self.groups.remove(group).unwrap_or_default();
        for s in &list {
            self.unindex(group, bounds(s, self.gap));
        }
        list
    }

    /// Adds a row at `t` (the caller has checked it is not late). Returns the windows
    /// that changed: those merged away and the one that holds `t` now.
    pub fn add(&mut self, group: &GroupKey, t: i64, contribution: &Partial) -> Vec<(i64, i64)> {
        let gap = self.gap;
        let mut touched = Vec::new();
        let mut merged = Events::new();
        let mut list = self.take(group);
        list.retain_mut(|s| {
            let (start, end) = bounds(s, gap);
            // [t, t + gap) overlaps [start, end)
            let overlaps = t < end && t.saturating_add(gap) > start;
            if overlaps {
                touched.push((start, end));
                merged.append(s);
            }
            !overlaps
        });
        match merged.get_mut(&t) {
            Some((rows, partial)) => {
                *rows += 1;
                partial.merge(contribution);
            }
            None => {
                merged.insert(t, (1, contribution.clone()));
            }
        }
        touched.push(bounds(&merged, gap));
        list.push(merged);
        self.store(group, list);
        touched
    }

    /// Retracts a row at `t`. `None` when no open session holds an event at `t`;
    /// else the windows that changed: the old one and what is left of it (zero,
    /// one or, after a split, several).
    pub fn retract(
        &mut self,
        group: &GroupKey,
        t: i64,
        contribution: &Partial,
    ) -> Option<Vec<(i64, i64)>> {
        let gap = self.gap;
        let position = self
            .groups
            .get(group)?
            .iter()
            .position(|s| s.contains_key(&t))?;
        let mut list = self.take(group);
        let mut session = list.swap_remove(position);
        let mut touched = vec![bounds(&session, gap)];
        if let Some((rows, partial)) = session.get_mut(&t) {
            *rows -= 1;
            partial.merge(&contribution.negated());
            if *rows <= 0 {
                session.remove(&t);
            }
        }
        let pieces = split(session, gap);
        touched.extend(pieces.iter().map(|p| bounds(p, gap)));
        list.extend(pieces);
        self.store(group, list);
        Some(touched)
    }

    pub fn get(&self, group: &GroupKey, start: i64, end: i64) -> Option<&Events> {
        self.groups
            .get(group)?
            .iter()
            .find(|s| bounds(s, self.gap) == (start, end))
    }

    /// The group's sessions as `(start, end, value)`, to feed metrics over this one.
    pub fn snapshot(&self, group: &GroupKey) -> Vec<(i64, i64, Option<f64>)> {
        self.groups
            .get(group)
            .map(|list| {
                list.iter()
                    .map(|s| {
                        let (start, end) = bounds(s, self.gap);
                        let value =
                            Partial::merge_all(s.values().map(|(_, p)| p)).and_then(|p| p.value());
                        (start, end, value)
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The earliest start of an open session.
    pub fn earliest_start(&self) -> Option<i64> {
        self.starts.keys().next().copied()
    }

    /// Puts back a stored session, merging it with any it overlaps.
    pub fn restore(&mut self, group: &GroupKey, events: Events) {
        let mut list = self.take(group);
        list.push(events);
        list.sort_by_key(|s| bounds(s, self.gap).0);
        let mut joined: Vec<Events> = Vec::new();
        for mut s in list {
            match joined.last_mut() {
                Some(prev) if bounds(prev, self.gap).1 > bounds(&s, self.gap).0 => {
                    prev.append(&mut s)
                }
                _ => joined.push(s),
            }
        }
        self.store(group, joined);
    }

    /// Removes and returns every session with `end <= watermark`.
    pub fn close(&mut self, watermark: i64) -> Vec<(GroupKey, i64, i64, Events)> {
        let mut closed = Vec::new();
        while let Some((end, group, start)) = self.by_end.first().cloned() {
            if end > watermark {
                break;
            }
            let mut list = self.take(&group);
            if let Some(i) = list
                .iter()
                .position(|s| bounds(s, self.gap) == (start, end))
            {
                closed.push((group.clone(), start, end, list.swap_remove(i)));
            }
            self.store(&group, list);
        }
        closed
    }

    /// Every open session, for tests and diagnostics.
    pub fn iter(&self) -> impl Iterator<Item = (&GroupKey, i64, i64, &Events)> {
        self.groups.iter().flat_map(move |(g, list)| {
            list.iter().map(move |s| {
                let (start, end) = bounds(s, self.gap);
                (g, start, end, s)
            })
        })
    }
}

/// Cuts a session where consecutive events are `gap` or more apart.
fn split(session: Events, gap: i64) -> Vec<Events> {
    let mut pieces: Vec<Events> = Vec::new();
    let mut last: Option<i64> = None;
    for (t, event) in session {
        match (last, pieces.last_mut()) {
            (Some(prev), Some(piece)) if t.saturating_sub(prev) < gap => {
                piece.insert(t, event);
            }
            _ => pieces.push(Events::from([(t, event)])),
        }
        last = Some(t);
    }
    pieces
}
