//! A [`TablePlan`] as SQL: the staged rows as one COPY (text format) into a temporary
//! table, and the set-based statements that merge it into the target — `TRUNCATE`,
//! one `DELETE … USING`, and one write per set of known columns (rows whose images
//! lack a column, an unchanged TOASTed value or a field an older schema did not have,
//! are written without it, so an update keeps the stored value and an insert gets the
//! default). Pure.

use std::collections::HashMap;

use crate::config::InsertMode;
use crate::naming::{Ident, TableName};
use crate::plan::{RowOp, TablePlan};
use crate::values::Cell;

pub const OP_COLUMN: &str = "__pgcdc_op";
pub const SIGNATURE_COLUMN: &str = "__pgcdc_sig";

/// The statements and the COPY data for one table of one batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Merge {
    /// `COPY <stage> (…) FROM STDIN`.
    pub copy_sql: String,
    /// The COPY payload (text format).
    pub copy_data: Vec<u8>,
    /// Run after the COPY, in order.
    pub statements: Vec<String>,
}

/// `CREATE TEMP TABLE` for the staging table of a target's columns.
pub fn create_stage_sql(stage: &Ident, columns: &[(Ident, String)]) -> String {
    let mut sql = format!(
        "CREATE TEMP TABLE {stage} ({} text, {} integer",
        Ident::exact(OP_COLUMN),
        Ident::exact(SIGNATURE_COLUMN)
    );
    for (name, sql_type) in columns {
        sql.push_str(&format!(", {name} {sql_type}"));
    }
    sql.push_str(") ON COMMIT DELETE ROWS");
    sql
}

/// The merge of `plan` into `target` through `stage`, whose data columns are
/// `columns` (the plan's cells, in order); `key` are positions in `columns`.
pub fn merge(
    target: &TableName,
    stage: &Ident,
    columns: &[Ident],
    key: &[usize],
    mode: InsertMode,
    plan: &TablePlan,
) -> Merge {
    let op = Ident::exact(OP_COLUMN);
    let sig = Ident::exact(SIGNATURE_COLUMN);
    let mut signatures: HashMap<Vec<bool>, u32> = HashMap::new();
    let mut ordered: Vec<(RowOp, Vec<bool>)> = Vec::new();
    let mut copy_data = Vec::with_capacity(plan.rows.len() * 64);
    let mut has_deletes = false;
    for row in &plan.rows {
        let id = match row.op {
            RowOp::Delete => {
                has_deletes = true;
                0
            }
            RowOp::Write | RowOp::Replace | RowOp::Append => {
                has_deletes |= row.op == RowOp::Replace;
                let present: Vec<bool> = row.cells.iter().map(|c| *c != Cell::Absent).collect();
                // Writes and replaces share statements; appends have their own.
                let kind = if row.op == RowOp::Append {
                    RowOp::Append
                } else {
                    RowOp::Write
                };
                let next = signatures.len() as u32 + 1;
                let mut signature_key = present.clone();
                signature_key.push(kind == RowOp::Append);
                *signatures.entry(signature_key).or_insert_with(|| {
                    ordered.push((kind, present));
                    next
                })
            }
        };
        copy_data.extend_from_slice(row.op.code().as_bytes());
        copy_data.push(b'\t');
        copy_data.extend_from_slice(id.to_string().as_bytes());
        for cell in &row.cells {
            copy_data.push(b'\t');
            push_copy_cell(&mut copy_data, cell);
        }
        copy_data.push(b'\n');
    }

    let all: Vec<String> = std::iter::once(op.to_string())
        .chain(std::iter::once(sig.to_string()))
        .chain(columns.iter().map(ToString::to_string))
        .collect();
    let copy_sql = format!("COPY {stage} ({}) FROM STDIN", all.join(", "));

    let mut statements = Vec::new();
    if plan.truncate {
        statements.push(format!("TRUNCATE {target}"));
    }
    if has_deletes && !key.is_empty() {
        let matches: Vec<String> = key
            .iter()
            .map(|&k| format!("t.{0} = s.{0}", columns[k]))
            .collect();
        statements.push(format!(
            "DELETE FROM {target} AS t USING {stage} AS s WHERE s.{op} IN ('d', 'r') AND {}",
            matches.join(" AND ")
        ));
    }
    for (index, (kind, present)) in ordered.iter().enumerate() {
        let id = index + 1;
        let chosen: Vec<&Ident> = columns
            .iter()
            .zip(present)
            .filter_map(|(c, p)| p.then_some(c))
            .collect();
        let list = chosen
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ");
        let non_key: Vec<&Ident> = columns
            .iter()
            .enumerate()
            .filter(|(i, _)| present[*i] && !key.contains(i))
            .map(|(_, c)| c)
            .collect();
        if *kind == RowOp::Append {
            statements.push(format!(
                "INSERT INTO {target} ({list}) SELECT {list} FROM {stage} WHERE {op} = 'a' AND {sig} = {id}"
            ));
            continue;
        }
        let selected = format!("{op} IN ('w', 'r') AND {sig} = {id}");
        match mode {
            InsertMode::Insert => statements.push(format!(
                "INSERT INTO {target} ({list}) SELECT {list} FROM {stage} WHERE {selected}"
            )),
            InsertMode::Upsert => {
                let conflict = key
                    .iter()
                    .map(|&k| columns[k].to_string())
                    .collect::<Vec<_>>()
                    .join(", ");
                let action = if non_key.is_empty() {
                    "DO NOTHING".to_owned()
                } else {
                    let sets: Vec<String> = non_key
                        .iter()
                        .map(|c| format!("{c} = EXCLUDED.{c}"))
                        .collect();
                    format!("DO UPDATE SET {}", sets.join(", "))
                };
                statements.push(format!(
                    "INSERT INTO {target} ({list}) SELECT {list} FROM {stage} WHERE {selected} \
                     ON CONFLICT ({conflict}) {action}"
                ));
            }
            InsertMode::Update => {
                if non_key.is_empty() {
                    continue;
                }
                let sets: Vec<String> = non_key.iter().map(|c| format!("{c} = s.{c}")).collect();
                let matches: Vec<String> = key
                    .iter()
                    .map(|&k| format!("t.{0} = s.{0}", columns[k]))
                    .collect();
                statements.push(format!(
                    "UPDATE {target} AS t SET {} FROM {stage} AS s WHERE s.{op} IN ('w', 'r') \
                     AND s.{sig} = {id} AND {}",
                    sets.join(", "),
                    matches.join(" AND ")
                ));
            }
        }
    }
    Merge {
        copy_sql,
        copy_data,
        statements,
    }
}

/// A plan that is only new rows, as one COPY straight into the target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectCopy {
    /// `COPY <target> (…) FROM STDIN`.
    pub copy_sql: String,
    /// The COPY payload (text format): the rows' cells.
    pub copy_data: Vec<u8>,
    /// A unique violation means some key exists already: the batch must then be
    /// merged instead (upsert). An append-only plan has no such fallback.
    pub fallback_on_conflict: bool,
}

/// The plan as a COPY into `target` itself, when the plan can be applied that way
/// at all: no truncate, no delete, every row complete (no absent column), and every
/// row an insert — a write under `insert.mode` insert or upsert (an upsert of keys
/// the table does not hold yet is exactly an insert; the caller tries it under a
/// savepoint and merges when a key exists), or an append. Streams of new rows (an
/// initial load, an insert-heavy table) then cost the warehouse what a bare COPY
/// does, instead of a COPY into a staging table plus an `INSERT … ON CONFLICT`.
pub fn direct_copy(
    target: &TableName,
    columns: &[Ident],
    mode: InsertMode,
    plan: &TablePlan,
) -> Option<DirectCopy> {
    let first = plan.rows.first()?;
    let op = first.op;
    let insertable = match op {
        RowOp::Write => matches!(mode, InsertMode::Insert | InsertMode::Upsert),
        RowOp::Append => true,
        RowOp::Replace | RowOp::Delete => false,
    };
    if plan.truncate || !insertable {
        return None;
    }
    let complete = |cells: &[Cell]| cells.len() == columns.len() && !cells.contains(&Cell::Absent);
    if !plan
        .rows
        .iter()
        .all(|row| row.op == op && complete(&row.cells))
    {
        return None;
    }
    let mut copy_data = Vec::with_capacity(plan.rows.len() * 64);
    for row in &plan.rows {
        for (index, cell) in row.cells.iter().enumerate() {
            if index > 0 {
                copy_data.push(b'\t');
            }
            push_copy_cell(&mut copy_data, cell);
        }
        copy_data.push(b'\n');
    }
    let list: Vec<String> = columns.iter().map(ToString::to_string).collect();
    Some(DirectCopy {
        copy_sql: format!("COPY {target} ({}) FROM STDIN", list.join(", ")),
        copy_data,
        fallback_on_conflict: op == RowOp::Write && mode == InsertMode::Upsert,
    })
}

fn push_copy_cell(out: &mut Vec<u8>, cell: &Cell) {
    match cell {
        Cell::Null | Cell::Absent => out.extend_from_slice(b"\\N"),
        Cell::Text(text) => push_copy_text(out, text),
    }
}

/// COPY's text format: backslash escapes for the characters that delimit.
pub(crate) fn push_copy_text(out: &mut Vec<u8>, text: &str) {
    // Runs without such characters (nearly all text) are copied whole.
    let bytes = text.as_bytes();
    let mut start = 0;
    for (at, &b) in bytes.iter().enumerate() {
        let escaped: &[u8] = match b {
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..at]);
        out.extend_from_slice(escaped);
        start = at + 1;
    }
    out.extend_from_slice(&bytes[start..]);
}

#[cfg(test)]
mod tests;
