//! Merge planning: a batch's changes to one table, in source order, reduced to one
//! staged row per key — the last change wins, with the values an update left out
//! (unchanged TOASTed columns) filled in from the batch's earlier image of the row
//! when it has one. Pure.
//!
//! Applying the plan (truncate, then the deletes, then the writes, each set-based)
//! leaves the table as applying the changes one by one would:
//!
//! - a key's changes are ordered (one key lives in one partition), and keys are
//!   independent of each other, so only each key's end state matters;
//! - a truncate discards everything before it in the batch;
//! - a key deleted and written again in the batch is deleted first (`Replace`), so
//!   columns the new image does not carry do not survive from the old row.

use std::collections::HashMap;

use crate::values::Cell;

/// One change, as the table's columns see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// Write a row image (`key` is `None` in tables without a key).
    Upsert {
        key: Option<Vec<String>>,
        cells: Vec<Cell>,
    },
    /// Delete a key; `cells` hold the key columns only.
    Delete {
        key: Vec<String>,
        cells: Vec<Cell>,
    },
    Truncate,
}

/// What happens to one staged row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RowOp {
    /// Insert, upsert or update by key (per `insert.mode`).
    Write,
    /// Delete the key, then write it.
    Replace,
    /// Delete the key.
    Delete,
    /// Insert without a key (`primary.key.mode=none`).
    Append,
}

impl RowOp {
    /// The staging table's op code.
    pub fn code(self) -> &'static str {
        match self {
            RowOp::Write => "w",
            RowOp::Replace => "r",
            RowOp::Delete => "d",
            RowOp::Append => "a",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedRow {
    pub op: RowOp,
    pub cells: Vec<Cell>,
}

/// A table's part of a batch.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TablePlan {
    /// Truncate before anything else.
    pub truncate: bool,
    pub rows: Vec<PlannedRow>,
    /// Changes the plan stands for.
    pub changes: usize,
}

impl TablePlan {
    pub fn is_empty(&self) -> bool {
        !self.truncate && self.rows.is_empty()
    }
}

/// Reduces a table's changes, given in source order.
pub fn reduce(changes: impl IntoIterator<Item = Change>) -> TablePlan {
    let mut plan = TablePlan::default();
    let mut by_key: HashMap<Vec<String>, usize> = HashMap::new();
    for change in changes {
        plan.changes += 1;
        match change {
            Change::Truncate => {
                plan.truncate = true;
                plan.rows.clear();
                by_key.clear();
            }
            Change::Upsert { key: None, cells } => plan.rows.push(PlannedRow {
                op: RowOp::Append,
                cells,
            }),
            Change::Upsert {
                key: Some(key),
                cells,
            } => match by_key.get(&key) {
                None => {
                    by_key.insert(key, plan.rows.len());
                    plan.rows.push(PlannedRow {
                        op: RowOp::Write,
                        cells,
                    });
                }
                Some(&index) => {
                    let row = &mut plan.rows[index];
                    if row.op == RowOp::Delete {
                        // A write after a delete starts from nothing.
                        row.op = RowOp::Replace;
                        row.cells = cells;
                    } else {
                        // Carry forward what this image does not know.
                        let old = std::mem::take(&mut row.cells);
                        row.cells = cells
                            .into_iter()
                            .zip(old)
                            .map(|(new, old)| match new {
                                Cell::Absent => old,
                                known => known,
                            })
                            .collect();
                    }
                }
            },
            Change::Delete { key, cells } => match by_key.get(&key) {
                None => {
                    by_key.insert(key, plan.rows.len());
                    plan.rows.push(PlannedRow {
                        op: RowOp::Delete,
                        cells,
                    });
                }
                Some(&index) => {
                    plan.rows[index] = PlannedRow {
                        op: RowOp::Delete,
                        cells,
                    };
                }
            },
        }
    }
    plan
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(s: &str) -> Cell {
        Cell::Text(s.to_owned())
    }

    fn upsert(id: &str, cells: &[Cell]) -> Change {
        Change::Upsert {
            key: Some(vec![id.to_owned()]),
            cells: [vec![text(id)], cells.to_vec()].concat(),
        }
    }

    fn delete(id: &str) -> Change {
        Change::Delete {
            key: vec![id.to_owned()],
            cells: vec![text(id), Cell::Absent],
        }
    }

    fn row(op: RowOp, id: &str, value: Cell) -> PlannedRow {
        PlannedRow {
            op,
            cells: vec![text(id), value],
        }
    }

    #[test]
    fn last_change_per_key_wins() {
        let plan = reduce([
            upsert("1", &[text("a")]),
            upsert("2", &[text("x")]),
            upsert("1", &[text("b")]),
            upsert("1", &[Cell::Null]),
        ]);
        assert!(!plan.truncate);
        assert_eq!(plan.changes, 4);
        assert_eq!(
            plan.rows,
            vec![
                row(RowOp::Write, "1", Cell::Null),
                row(RowOp::Write, "2", text("x"))
            ]
        );
    }

    #[test]
    fn deletes_and_rewrites() {
        let plan = reduce([
            upsert("1", &[text("a")]),
            delete("1"),
            delete("2"),
            upsert("2", &[text("new")]),
            upsert("3", &[text("c")]),
            delete("3"),
            delete("3"),
        ]);
        assert_eq!(
            plan.rows,
            vec![
                row(RowOp::Delete, "1", Cell::Absent),
                row(RowOp::Replace, "2", text("new")),
                row(RowOp::Delete, "3", Cell::Absent),
            ]
        );
    }

    #[test]
    fn unavailable_values_come_from_the_earlier_image() {
        let plan = reduce([
            upsert("1", &[text("big")]),
            upsert("1", &[Cell::Absent]),
            upsert("2", &[Cell::Absent]),
        ]);
        assert_eq!(
            plan.rows,
            vec![
                row(RowOp::Write, "1", text("big")),
                row(RowOp::Write, "2", Cell::Absent),
            ]
        );
        // After a delete nothing carries over: the column takes its default.
        let plan = reduce([
            upsert("1", &[text("big")]),
            delete("1"),
            upsert("1", &[Cell::Absent]),
        ]);
        assert_eq!(plan.rows, vec![row(RowOp::Replace, "1", Cell::Absent)]);
    }

    #[test]
    fn truncate_discards_what_came_before() {
        let plan = reduce([
            upsert("1", &[text("a")]),
            Change::Truncate,
            upsert("2", &[text("b")]),
            delete("1"),
        ]);
        assert!(plan.truncate);
        assert_eq!(
            plan.rows,
            vec![
                row(RowOp::Write, "2", text("b")),
                row(RowOp::Delete, "1", Cell::Absent)
            ]
        );
    }

    #[test]
    fn keyless_rows_are_appended_in_order() {
        let plan = reduce([
            Change::Upsert {
                key: None,
                cells: vec![text("a")],
            },
            Change::Upsert {
                key: None,
                cells: vec![text("a")],
            },
        ]);
        assert_eq!(plan.rows.len(), 2);
        assert!(plan.rows.iter().all(|r| r.op == RowOp::Append));
    }
}
