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

/// A session's events and the merge of their partials, kept as events come and go
/// so that its value (which metrics over sessions read on every event) does not
/// cost a pass over the whole session.
#[derive(Debug)]
struct Session {
    events: Events,
    total: Option<Partial>,
}

impl Session {
    fn new(events: Events) -> Session {
        let total = Partial::merge_all(events.values().map(|(_, p)| p));
        Session { events, total }
    }

    fn bounds(&self, gap: i64) -> (i64, i64) {
        bounds(&self.events, gap)
    }

    fn value(&self) -> Option<f64> {
        self.total.as_ref().and_then(Partial::value)
    }

    /// Moves `other`'s events into this one.
    fn absorb(&mut self, mut other: Session) {
        match (&mut self.total, other.total.take()) {
            (Some(total), Some(more)) => total.merge(&more),
            (total @ None, more) => *total = more,
            (Some(_), None) => {}
        }
        self.events.append(&mut other.events);
    }
}

#[derive(Debug)]
pub(super) struct Sessions {
    gap: i64,
    /// Per group, sessions sorted by start; none empty, none overlapping.
    groups: HashMap<GroupKey, Vec<Session>>,
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
    fn store(&mut self, group: &GroupKey, mut list: Vec<Session>) {
        list.retain(|s| !s.events.is_empty());
        list.sort_by_key(|s| s.bounds(self.gap).0);
        for s in &list {
            self.index(group, s.bounds(self.gap));
        }
        if !list.is_empty() {
            self.groups.insert(group.clone(), list);
        }
    }

    fn take(&mut self, group: &GroupKey) -> Vec<Session> {
        let list = self.groups.remove(group).unwrap_or_default();
        for s in &list {
            self.unindex(group, s.bounds(self.gap));
        }
        list
    }

    /// Adds a row at `t` (the caller has checked it is not late). Returns the windows
    /// that changed: those merged away and the one that holds `t` now.
    pub fn add(&mut self, group: &GroupKey, t: i64, contribution: &Partial) -> Vec<(i64, i64)> {
        let gap = self.gap;
        let mut touched = Vec::new();
        let mut merged = Session {
            events: Events::new(),
            total: None,
        };
        let list = self.take(group);
        let mut kept = Vec::with_capacity(list.len());
        for s in list {
            let (start, end) = s.bounds(gap);
            // [t, t + gap) overlaps [start, end)
            if t < end && t.saturating_add(gap) > start {
                touched.push((start, end));
                merged.absorb(s);
            } else {
                kept.push(s);
            }
        }
        match merged.events.get_mut(&t) {
            Some((rows, partial)) => {
                *rows += 1;
                partial.merge(contribution);
            }
            None => {
                merged.events.insert(t, (1, contribution.clone()));
            }
        }
        match &mut merged.total {
            Some(total) => total.merge(contribution),
            None => merged.total = Some(contribution.clone()),
        }
        touched.push(merged.bounds(gap));
        kept.push(merged);
        self.store(group, kept);
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
            .position(|s| s.events.contains_key(&t))?;
        let mut list = self.take(group);
        let mut session = list.swap_remove(position).events;
        let mut touched = vec![bounds(&session, gap)];
        if let Some((rows, partial)) = session.get_mut(&t) {
            *rows -= 1;
            partial.merge(&contribution.negated());
            if *rows <= 0 {
                session.remove(&t);
            }
        }
        // Retractions are rare (updates and deletes): the pieces' totals are made
        // afresh.
        let pieces = split(session, gap);
        touched.extend(pieces.iter().map(|p| bounds(p, gap)));
        list.extend(pieces.into_iter().map(Session::new));
        self.store(group, list);
        Some(touched)
    }

    pub fn get(&self, group: &GroupKey, start: i64, end: i64) -> Option<&Events> {
        self.groups
            .get(group)?
            .iter()
            .find(|s| s.bounds(self.gap) == (start, end))
            .map(|s| &s.events)
    }

    /// The group's sessions as `(start, end, value)`, to feed metrics over this one.
    pub fn snapshot(&self, group: &GroupKey) -> Vec<(i64, i64, Option<f64>)> {
        self.groups
            .get(group)
            .map(|list| {
                list.iter()
                    .map(|s| {
                        let (start, end) = s.bounds(self.gap);
                        (start, end, s.value())
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
        list.push(Session::new(events));
        list.sort_by_key(|s| s.bounds(self.gap).0);
        let mut joined: Vec<Session> = Vec::new();
        for s in list {
            match joined.last_mut() {
                Some(prev) if prev.bounds(self.gap).1 > s.bounds(self.gap).0 => prev.absorb(s),
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
            if let Some(i) = list.iter().position(|s| s.bounds(self.gap) == (start, end)) {
                closed.push((group.clone(), start, end, list.swap_remove(i).events));
            }
            self.store(&group, list);
        }
        closed
    }

    /// Every open session, for tests and diagnostics.
    pub fn iter(&self) -> impl Iterator<Item = (&GroupKey, i64, i64, &Events)> {
        self.groups.iter().flat_map(move |(g, list)| {
            list.iter().map(move |s| {
                let (start, end) = s.bounds(self.gap);
                (g, start, end, &s.events)
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

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    const GAP: i64 = 100;

    /// The value of each session computed from its events, as stored.
    fn recomputed(sessions: &Sessions, group: &GroupKey) -> Vec<(i64, i64, Option<f64>)> {
        let mut all: Vec<_> = sessions
            .iter()
            .filter(|(g, ..)| *g == group)
            .map(|(_, start, end, events)| {
                let value =
                    Partial::merge_all(events.values().map(|(_, p)| p)).and_then(|p| p.value());
                (start, end, value)
            })
            .collect();
        all.sort_by_key(|s| s.0);
        all
    }

    proptest! {
        /// The running totals give every session the value its events give it,
        /// through merges, retractions that shrink or split sessions, restores and
        /// closes.
        #[test]
        fn running_totals_equal_the_sessions_events(
            ops in prop::collection::vec((0u8..2, 0i64..1_000, 1i64..4, 0u8..10), 1..120),
        ) {
            let groups = [GroupKey::from_parts(&[Some("a".into())]), GroupKey::from_parts(&[Some("b".into())])];
            let mut sessions = Sessions::new(GAP);
            let mut added: Vec<(usize, i64, i64)> = Vec::new();
            for (g, t, n, kind) in ops {
                let g = usize::from(g);
                match kind {
                    // Retract one earlier addition.
                    0 | 1 if !added.is_empty() => {
                        let (g, t, n) = added.remove((t as usize) % added.len());
                        prop_assert!(sessions.retract(&groups[g], t, &Partial::Count(n)).is_some());
                    }
                    // Close what ends before a watermark below the times still to come.
                    2 => {
                        for (group, _, _, events) in sessions.close(t / 4) {
                            let gone: Vec<i64> = events.keys().copied().collect();
                            let index = groups.iter().position(|x| *x == group).unwrap_or(0);
                            added.retain(|(ag, at, _)| !(*ag == index && gone.contains(at)));
                        }
                    }
                    // Take a session out and put it back, as a restart does.
                    3 => {
                        let found = sessions.iter().find(|(x, ..)| **x == groups[g]).map(|(_, s, e, ev)| (s, e, ev.clone()));
                        if let Some((start, end, events)) = found {
                            let mut list = sessions.take(&groups[g]);
                            list.retain(|s| s.bounds(GAP) != (start, end));
                            sessions.store(&groups[g], list);
                            sessions.restore(&groups[g], events);
                        }
                    }
                    _ => {
                        sessions.add(&groups[g], t, &Partial::Count(n));
                        added.push((g, t, n));
                    }
                }
                for group in &groups {
                    prop_assert_eq!(sessions.snapshot(group), recomputed(&sessions, group));
                }
            }
        }
    }
}
