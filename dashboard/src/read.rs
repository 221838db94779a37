//! Reading results: the partials that different partitions (and processes) wrote for
//! one window, merged into one value.
//!
//! Fixed windows: every partition's partial of `(metric, group, start)` is merged.
//! Sessions: each partition has its own sessions, with their own ends; the partials
//! of one group are merged **per session start**, the window's end being the latest
//! end. When every event of a session key is in one partition (the usual keying),
//! there is exactly one partial per session and this is exact.

use std::collections::BTreeMap;

use crate::partial::Partial;

/// Merges the partials of one window; `None` when there are none.
pub fn merge_window<'a>(partials: impl IntoIterator<Item = &'a Partial>) -> Option<Partial> {
    Partial::merge_all(partials)
}

/// The value of one window from its partials (`None`: no partial, or no value).
pub fn window_value<'a>(partials: impl IntoIterator<Item = &'a Partial>) -> Option<f64> {
    merge_window(partials)?.value()
}

/// Merges the session partials `(start, end, partial)` of one group, from any
/// partitions, per session start: `(start, latest end, merged partial)`, by start.
pub fn merge_sessions(
    sessions: impl IntoIterator<Item = (i64, i64, Partial)>,
) -> Vec<(i64, i64, Partial)> {
    let mut by_start: BTreeMap<i64, (i64, Partial)> = BTreeMap::new();
    for (start, end, partial) in sessions {
        match by_start.get_mut(&start) {
            Some((latest_end, merged)) => {
                *latest_end = (*latest_end).max(end);
                merged.merge(&partial);
            }
            None => {
                by_start.insert(start, (end, partial));
            }
        }
    }
    by_start
        .into_iter()
        .map(|(start, (end, p))| (start, end, p))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_merge_across_partitions() {
        let parts = [Partial::Count(2), Partial::Count(3)];
        assert_eq!(window_value(&parts), Some(5.0));
        assert_eq!(window_value(&[]), None);
    }

    #[test]
    fn sessions_merge_per_start() {
        let s = |t: i64| Partial::Session([(t, (1, Partial::Count(1)))].into());
        let merged = merge_sessions(vec![(10, 40, s(10)), (10, 50, s(20)), (100, 130, s(100))]);
        assert_eq!(merged.len(), 2);
        assert_eq!((merged[0].0, merged[0].1), (10, 50));
        assert_eq!(merged[0].2.value(), Some(2.0));
        assert_eq!(merged[1].2.value(), Some(1.0));
    }
}
