//! Splitting a table into chunks that can be read in parallel under one snapshot.
//!
//! Chunks are ranges of heap blocks, selected by `ctid` (a TID range scan, PostgreSQL
//! 14 and later): every table has a ctid whatever its keys, a range reads only its
//! blocks, and the ranges cover the table exactly once. The last chunk is open-ended,
//! so rows in blocks added after the size was measured are not missed (they can only
//! be invisible to the snapshot anyway, but the plan does not rely on that).

use std::fmt;

/// Blocks `[start, end)` of a table; `end = None` means "to the end of the table".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockRange {
    pub start: u32,
    pub end: Option<u32>,
}

impl BlockRange {
    /// The WHERE clause selecting this range's rows.
    pub fn predicate(&self) -> String {
        match self.end {
            Some(end) => format!(
                "ctid >= '({},0)'::tid AND ctid < '({end},0)'::tid",
                self.start
            ),
            None => format!("ctid >= '({},0)'::tid", self.start),
        }
    }
}

impl fmt::Display for BlockRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.end {
            Some(end) => write!(f, "blocks {}..{end}", self.start),
            None => write!(f, "blocks {}..", self.start),
        }
    }
}

/// Chunks of at most `blocks_per_chunk` blocks covering a table of `total_blocks`.
pub fn plan(total_blocks: u32, blocks_per_chunk: u32) -> Vec<BlockRange> {
    let per_chunk = blocks_per_chunk.max(1);
    let mut chunks = Vec::new();
    let mut start: u32 = 0;
    while start.saturating_add(per_chunk) < total_blocks {
        chunks.push(BlockRange {
            start,
            end: Some(start + per_chunk),
        });
        start += per_chunk;
    }
    chunks.push(BlockRange { start, end: None });
    chunks
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn small_and_empty_tables_are_one_open_chunk() {
        assert_eq!(
            plan(0, 100),
            [BlockRange {
                start: 0,
                end: None
            }]
        );
        assert_eq!(
            plan(100, 100),
            [BlockRange {
                start: 0,
                end: None
            }]
        );
    }

    #[test]
    fn large_tables_are_split_evenly_with_an_open_tail() {
        assert_eq!(
            plan(250, 100),
            [
                BlockRange {
                    start: 0,
                    end: Some(100)
                },
                BlockRange {
                    start: 100,
                    end: Some(200)
                },
                BlockRange {
                    start: 200,
                    end: None
                },
            ]
        );
        assert_eq!(
            plan(10, 0).len(),
            10,
            "a zero chunk size means one block per chunk"
        );
    }

    #[test]
    fn predicates_select_tid_ranges() {
        assert_eq!(
            BlockRange {
                start: 8,
                end: Some(16)
            }
            .predicate(),
            "ctid >= '(8,0)'::tid AND ctid < '(16,0)'::tid"
        );
        assert_eq!(
            BlockRange {
                start: 16,
                end: None
            }
            .predicate(),
            "ctid >= '(16,0)'::tid"
        );
    }

    proptest! {
        #[test]
        fn chunks_cover_every_block_once(total in 0u32..100_000, per_chunk in 0u32..5_000) {
            let chunks = plan(total, per_chunk);
            prop_assert_eq!(chunks[0].start, 0);
            for pair in chunks.windows(2) {
                prop_assert_eq!(pair[0].end, Some(pair[1].start));
            }
            prop_assert_eq!(chunks.last().unwrap().end, None);
            prop_assert!(chunks.iter().all(|c| c.end.is_none_or(|e| e - c.start <= per_chunk.max(1))));
        }
    }
}
