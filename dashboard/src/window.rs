//! Which fixed windows hold an event time. Windows are half-open, `[start, end)`, and
//! aligned to the Unix epoch (`start` is a multiple of the size, or of the advance for
//! hopping windows), so every process and partition cuts time the same way.

use crate::spec::WindowSpec;

/// The `(start, end)` of every tumbling or hopping window holding `t`, oldest first;
/// empty for session windows (they are made of their events, see the engine).
pub fn windows_of(spec: &WindowSpec, t: i64) -> Vec<(i64, i64)> {
    let (size, advance) = match *spec {
        WindowSpec::Tumbling { size_ms } => (size_ms, size_ms),
        WindowSpec::Hopping {
            size_ms,
            advance_ms,
        } => (size_ms, advance_ms),
        WindowSpec::Session { .. } => return Vec::new(),
    };
    let newest = t.div_euclid(advance) * advance;
    let mut windows = Vec::with_capacity(usize::try_from(size / advance + 1).unwrap_or(1));
    let mut start = newest;
    // Every start in (t - size, t] that is a multiple of `advance`.
    while start > t.saturating_sub(size) {
        windows.push((start, start.saturating_add(size)));
        start = start.saturating_sub(advance);
    }
    windows.reverse();
    windows
}

/// The end of a fixed window that starts at `start`.
pub fn end_of(spec: &WindowSpec, start: i64) -> Option<i64> {
    match *spec {
        WindowSpec::Tumbling { size_ms } | WindowSpec::Hopping { size_ms, .. } => {
            Some(start.saturating_add(size_ms))
        }
        WindowSpec::Session { .. } => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: i64 = 60_000;

    #[test]
    fn tumbling_boundaries() {
        let w = WindowSpec::Tumbling { size_ms: MIN };
        assert_eq!(windows_of(&w, 0), vec![(0, MIN)]);
        assert_eq!(
            windows_of(&w, MIN - 1),
            vec![(0, MIN)],
            "the last millisecond is inside"
        );
        assert_eq!(
            windows_of(&w, MIN),
            vec![(MIN, 2 * MIN)],
            "the end is outside"
        );
        assert_eq!(windows_of(&w, -1), vec![(-MIN, 0)], "before the epoch");
        assert_eq!(
            windows_of(&w, 1_700_000_012_345),
            vec![(1_699_999_980_000, 1_700_000_040_000)]
        );
    }

    #[test]
    fn hopping_windows_overlap() {
        let w = WindowSpec::Hopping {
            size_ms: 5 * MIN,
            advance_ms: MIN,
        };
        let got = windows_of(&w, 5 * MIN);
        assert_eq!(
            got,
            (1..=5)
                .map(|k| (k * MIN, (k + 5) * MIN))
                .collect::<Vec<_>>()
        );
        let got = windows_of(&w, 5 * MIN - 1);
        assert_eq!(
            got,
            (0..5).map(|k| (k * MIN, (k + 5) * MIN)).collect::<Vec<_>>()
        );
        for (start, end) in got {
            assert!(start < 5 * MIN && 5 * MIN <= end);
        }
        // An advance that does not divide the size.
        let w = WindowSpec::Hopping {
            size_ms: 10,
            advance_ms: 4,
        };
        assert_eq!(windows_of(&w, 9), vec![(0, 10), (4, 14), (8, 18)]);
        assert_eq!(windows_of(&w, 10), vec![(4, 14), (8, 18)]);
        // Advance equal to size is tumbling.
        let w = WindowSpec::Hopping {
            size_ms: 10,
            advance_ms: 10,
        };
        assert_eq!(windows_of(&w, 19), vec![(10, 20)]);
        assert!(windows_of(&WindowSpec::Session { gap_ms: 5 }, 3).is_empty());
        assert_eq!(end_of(&w, 10), Some(20));
    }

    #[test]
    fn every_time_is_in_size_over_advance_windows() {
        let w = WindowSpec::Hopping {
            size_ms: 300,
            advance_ms: 100,
        };
        for t in -1000..1000 {
            let got = windows_of(&w, t);
            assert_eq!(got.len(), 3, "t = {t}");
            assert!(got
                .iter()
                .all(|&(s, e)| s <= t && t < e && s.rem_euclid(100) == 0));
        }
    }
}
