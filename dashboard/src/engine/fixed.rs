//! The open tumbling or hopping windows of one metric in one partition.

use std::collections::BTreeMap;

use crate::partial::Partial;
use crate::row::GroupKey;

/// Open windows, keyed by end first so that closing pops from the front.
#[derive(Debug, Default)]
pub(super) struct FixedWindows {
    windows: BTreeMap<(i64, GroupKey, i64), Partial>,
}

/// What adding to or retracting from a window did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Applied {
    Changed,
    /// A retraction for a window this partition does not hold.
    Unmatched,
    /// An empty contribution to a window that does not exist: nothing to do.
    Nothing,
}

impl FixedWindows {
    /// Merges `contribution` into the window (creating it), removing it when empty.
    pub fn add(
        &mut self,
        group: &GroupKey,
        start: i64,
        end: i64,
        contribution: &Partial,
    ) -> Applied {
        let key = (end, group.clone(), start);
        match self.windows.get_mut(&key) {
            Some(partial) => {
                partial.merge(contribution);
                if partial.is_empty() {
                    self.windows.remove(&key);
                }
                Applied::Changed
            }
            None if contribution.is_empty() => Applied::Nothing,
            None => {
                self.windows.insert(key, contribution.clone());
                Applied::Changed
            }
        }
    }

    /// Takes `contribution` out of an existing window.
    pub fn retract(
        &mut self,
        group: &GroupKey,
        start: i64,
        end: i64,
        contribution: &Partial,
    ) -> Applied {
        let key = (end, group.clone(), start);
        match self.windows.get_mut(&key) {
            Some(partial) => {
                partial.merge(&contribution.negated());
                if partial.is_empty() {
                    self.windows.remove(&key);
                }
                Applied::Changed
            }
            None => Applied::Unmatched,
        }
    }

    pub fn get(&self, group: &GroupKey, start: i64, end: i64) -> Option<&Partial> {
        self.windows.get(&(end, group.clone(), start))
    }

    /// Puts back a stored partial.
    pub fn restore(&mut self, group: GroupKey, start: i64, end: i64, partial: Partial) {
        self.windows.insert((end, group, start), partial);
    }

    /// Removes and returns every window with `end <= watermark`.
    pub fn close(&mut self, watermark: i64) -> Vec<(GroupKey, i64, i64, Partial)> {
        let mut closed = Vec::new();
        while let Some(entry) = self.windows.first_entry() {
            if entry.key().0 > watermark {
                break;
            }
            let ((end, group, start), partial) = entry.remove_entry();
            closed.push((group, start, end, partial));
        }
        closed
    }

    /// Every open window, for tests and diagnostics.
    pub fn iter(&self) -> impl Iterator<Item = (&GroupKey, i64, i64, &Partial)> {
        self.windows
            .iter()
            .map(|((end, group, start), p)| (group, *start, *end, p))
    }
}
