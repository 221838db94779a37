//! `pgcdc verify`: reconciles a captured source table with its warehouse copy.
//!
//! Each side is read in one `REPEATABLE READ` transaction (a consistent snapshot of
//! each database). The source's key space is cut into ranges of about equal row
//! counts (`ntile` over the primary key); per range both sides give a row count and
//! a hash of their rows (`md5` of each row's text, in key order), compared. A range
//! that differs is cut again, down to ranges small enough to compare row by row,
//! which names the differing keys: missing from the copy, only in the copy, or
//! different. Rows are compared as the text of `ROW(<the source's columns>)` under the
//! same session settings on both sides, so a copy whose column types differ but hold
//! the same values (`json` for `jsonb`, `text` for `varchar(n)`) compares equal.

use std::collections::BTreeMap;
use std::fmt;

use tokio_postgres::{Client, IsolationLevel, Transaction};

use crate::naming::Ident;

/// The session settings under which rows are rendered on both sides.
pub const SESSION: &str = "SET TimeZone = 'UTC'; SET DateStyle = 'ISO'; \
    SET IntervalStyle = 'postgres'; SET extra_float_digits = 3; SET bytea_output = 'hex'";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VerifyOptions {
    /// Ranges the key space is cut into at each level.
    pub ranges: i64,
    /// A range with at most this many rows is compared row by row.
    pub row_by_row: i64,
    /// Differing keys reported at most.
    pub max_keys: usize,
}

impl Default for VerifyOptions {
    fn default() -> Self {
        VerifyOptions {
            ranges: 16,
            row_by_row: 1000,
            max_keys: 100,
        }
    }
}

/// How one key differs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyDifference {
    MissingInCopy(String),
    OnlyInCopy(String),
    Different(String),
}

impl fmt::Display for KeyDifference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyDifference::MissingInCopy(k) => write!(f, "{k}: missing in the copy"),
            KeyDifference::OnlyInCopy(k) => write!(f, "{k}: only in the copy"),
            KeyDifference::Different(k) => write!(f, "{k}: differs"),
        }
    }
}

/// The outcome of a reconciliation.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct VerifyReport {
    pub source_table: String,
    pub copy_table: String,
    pub key: Vec<String>,
    pub columns: Vec<String>,
    pub source_rows: i64,
    pub copy_rows: i64,
    /// Ranges compared by count and hash, at every level.
    pub ranges_compared: usize,
    pub ranges_different: usize,
    /// Differing keys, at most `max_keys` of them.
    pub differences: Vec<KeyDifference>,
    /// More differing keys than listed.
    pub truncated: bool,
}

impl VerifyReport {
    pub fn is_equal(&self) -> bool {
        self.differences.is_empty()
            && self.source_rows == self.copy_rows
            && self.ranges_different == 0
    }
}

impl fmt::Display for VerifyReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "source  {} ({} rows)",
            self.source_table, self.source_rows
        )?;
        writeln!(f, "copy    {} ({} rows)", self.copy_table, self.copy_rows)?;
        writeln!(f, "key     ({})", self.key.join(", "))?;
        writeln!(f, "columns {}", self.columns.len())?;
        writeln!(
            f,
            "ranges  {} compared, {} different",
            self.ranges_compared, self.ranges_different
        )?;
        if self.is_equal() {
            return writeln!(f, "EQUAL");
        }
        writeln!(
            f,
            "DIFFERENT: {} key(s){}",
            self.differences.len(),
            if self.truncated {
                " (list truncated)"
            } else {
                ""
            }
        )?;
        for difference in &self.differences {
            writeln!(f, "  {difference}")?;
        }
        Ok(())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error("{side}: {source}")]
    Sql {
        side: &'static str,
        #[source]
        source: tokio_postgres::Error,
    },
    #[error("{table} does not exist on the {side} side")]
    NoTable { side: &'static str, table: String },
    #[error("{table} has no primary key: name the key columns (--key)")]
    NoKey { table: String },
    #[error("the copy {table} has no column {column}")]
    MissingColumn { table: String, column: String },
}

fn sql(side: &'static str) -> impl Fn(tokio_postgres::Error) -> VerifyError {
    move |source| VerifyError::Sql { side, source }
}

/// A table name as the user typed it (`schema.table` or `table`), quoted for SQL.
fn quoted_table(name: &str) -> String {
    name.split('.')
        .map(|part| Ident::exact(part).to_string())
        .collect::<Vec<_>>()
        .join(".")
}

/// Columns (name, type) of a table in order, and its primary key; `None` when absent.
async fn describe(
    tx: &Transaction<'_>,
    side: &'static str,
    table: &str,
) -> Result<Option<(Vec<(String, String)>, Vec<String>)>, VerifyError> {
    let rows = tx
        .query(
            "SELECT a.attname::text, format_type(a.atttypid, a.atttypmod), \
                    (SELECT array_position(i.indkey::int2[], a.attnum) FROM pg_index i \
                      WHERE i.indrelid = a.attrelid AND i.indisprimary) \
             FROM pg_attribute a \
             WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped \
             ORDER BY a.attnum",
            &[&quoted_table(table)],
        )
        .await
        .map_err(sql(side))?;
    if rows.is_empty() {
        return Ok(None);
    }
    let columns = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    let mut key: Vec<(i32, String)> = rows
        .iter()
        .filter_map(|r| r.get::<_, Option<i32>>(2).map(|p| (p, r.get(0))))
        .collect();
    key.sort();
    Ok(Some((columns, key.into_iter().map(|(_, k)| k).collect())))
}

/// How to select and render rows on one side.
struct Side<'a> {
    name: &'static str,
    tx: Transaction<'a>,
    table: String,
}

struct Shape {
    /// `ROW(…)::text` of the compared columns.
    row: String,
    /// The key as one text (`k1 || ',' || k2`), for reports.
    key_text: String,
    /// `(k1, k2)`, for ordering and range predicates.
    key_tuple: String,
    /// The quoted key columns.
    key_columns: Vec<String>,
    /// `($n::type, …)` builders need the key types.
    key_types: Vec<String>,
}

impl Shape {
    fn bound(&self, first_param: usize) -> String {
        let params: Vec<String> = self
            .key_types
            .iter()
            .enumerate()
            .map(|(i, t)| format!("${}::text::{t}", first_param + i))
            .collect();
        format!("({})", params.join(", "))
    }

    /// `WHERE` for `[low, high)`; `None` bounds are open.
    fn range(&self, low: Option<&[String]>, high: Option<&[String]>) -> (String, Vec<String>) {
        let mut clauses = vec!["true".to_owned()];
        let mut params = Vec::new();
        if let Some(low) = low {
            clauses.push(format!(
                "{} >= {}",
                self.key_tuple,
                self.bound(params.len() + 1)
            ));
            params.extend(low.iter().cloned());
        }
        if let Some(high) = high {
            clauses.push(format!(
                "{} < {}",
                self.key_tuple,
                self.bound(params.len() + 1)
            ));
            params.extend(high.iter().cloned());
        }
        (clauses.join(" AND "), params)
    }
}

/// A key range's end as key values in text; `None` is open.
type Bound = Option<Vec<String>>;

fn params(values: &[String]) -> Vec<&(dyn tokio_postgres::types::ToSql + Sync)> {
    values
        .iter()
        .map(|v| v as &(dyn tokio_postgres::types::ToSql + Sync))
        .collect()
}

impl Side<'_> {
    async fn summary(
        &self,
        shape: &Shape,
        low: Option<&[String]>,
        high: Option<&[String]>,
    ) -> Result<(i64, Option<String>), VerifyError> {
        let (predicate, values) = shape.range(low, high);
        let row = self
            .tx
            .query_one(
                &format!(
                    "SELECT count(*), md5(string_agg(md5({}), '' ORDER BY {})) FROM {} WHERE {predicate}",
                    shape.row, shape.key_tuple, self.table
                ),
                &params(&values),
            )
            .await
            .map_err(sql(self.name))?;
        Ok((row.get(0), row.get(1)))
    }

    async fn rows(
        &self,
        shape: &Shape,
        low: Option<&[String]>,
        high: Option<&[String]>,
    ) -> Result<BTreeMap<String, String>, VerifyError> {
        let (predicate, values) = shape.range(low, high);
        let rows = self
            .tx
            .query(
                &format!(
                    "SELECT {}, md5({}) FROM {} WHERE {predicate}",
                    shape.key_text, shape.row, self.table
                ),
                &params(&values),
            )
            .await
            .map_err(sql(self.name))?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }

    /// Lower bounds (key values as text) cutting `[low, high)` into `n` ranges.
    async fn cut(
        &self,
        shape: &Shape,
        low: Option<&[String]>,
        high: Option<&[String]>,
        n: i64,
    ) -> Result<Vec<Vec<String>>, VerifyError> {
        let (predicate, values) = shape.range(low, high);
        let originals: Vec<String> = (0..shape.key_columns.len())
            .map(|i| format!("o{i}"))
            .collect();
        let texts: Vec<String> = (0..shape.key_columns.len())
            .map(|i| format!("t{i}"))
            .collect();
        let selected: Vec<String> = shape
            .key_columns
            .iter()
            .enumerate()
            .map(|(i, column)| format!("{column} AS o{i}, {column}::text AS t{i}"))
            .collect();
        let buckets = i32::try_from(n).unwrap_or(i32::MAX);
        let mut parameters = params(&values);
        parameters.push(&buckets);
        let rows = self
            .tx
            .query(
                &format!(
                    "SELECT DISTINCT ON (bucket) {texts} FROM ( \
                       SELECT {selected}, ntile(${n_param}::int) OVER (ORDER BY {tuple}) AS bucket \
                       FROM {table} WHERE {predicate}) x \
                     ORDER BY bucket, {originals}",
                    texts = texts.join(", "),
                    selected = selected.join(", "),
                    n_param = values.len() + 1,
                    tuple = shape.key_tuple,
                    table = self.table,
                    originals = originals.join(", "),
                ),
                &parameters,
            )
            .await
            .map_err(sql(self.name))?;
        Ok(rows
            .iter()
            .map(|r| (0..texts.len()).map(|i| r.get::<_, String>(i)).collect())
            .collect())
    }
}

/// Reconciles `source_table` on `source` with `copy_table` on `copy`.
pub async fn verify(
    source: &mut Client,
    source_table: &str,
    copy: &mut Client,
    copy_table: &str,
    key: Option<Vec<String>>,
    options: VerifyOptions,
) -> Result<VerifyReport, VerifyError> {
    for (client, side) in [(&*source, "source"), (&*copy, "copy")] {
        client.batch_execute(SESSION).await.map_err(sql(side))?;
    }
    let source_tx = source
        .build_transaction()
        .isolation_level(IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
        .await
        .map_err(sql("source"))?;
    let copy_tx = copy
        .build_transaction()
        .isolation_level(IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
        .await
        .map_err(sql("copy"))?;
    let (columns, source_key) = describe(&source_tx, "source", source_table)
        .await?
        .ok_or_else(|| VerifyError::NoTable {
            side: "source",
            table: source_table.to_owned(),
        })?;
    let (copy_columns, _) = describe(&copy_tx, "copy", copy_table)
        .await?
        .ok_or_else(|| VerifyError::NoTable {
            side: "copy",
            table: copy_table.to_owned(),
        })?;
    if let Some((missing, _)) = columns
        .iter()
        .find(|(c, _)| !copy_columns.iter().any(|(d, _)| d == c))
    {
        return Err(VerifyError::MissingColumn {
            table: copy_table.to_owned(),
            column: missing.clone(),
        });
    }
    let key = key.unwrap_or(source_key);
    if key.is_empty() {
        return Err(VerifyError::NoKey {
            table: source_table.to_owned(),
        });
    }
    let quote = |c: &str| Ident::exact(c).to_string();
    let key_types: Vec<String> = key
        .iter()
        .map(|k| {
            columns
                .iter()
                .find(|(c, _)| c == k)
                .map(|(_, t)| t.clone())
                .unwrap_or_else(|| "text".to_owned())
        })
        .collect();
    let shape = Shape {
        row: format!(
            "ROW({})::text",
            columns
                .iter()
                .map(|(c, _)| quote(c))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        key_text: key
            .iter()
            .map(|k| format!("{}::text", quote(k)))
            .collect::<Vec<_>>()
            .join(" || ',' || "),
        key_tuple: format!(
            "({})",
            key.iter().map(|k| quote(k)).collect::<Vec<_>>().join(", ")
        ),
        key_columns: key.iter().map(|k| quote(k)).collect(),
        key_types,
    };
    let source_side = Side {
        name: "source",
        tx: source_tx,
        table: quoted_table(source_table),
    };
    let copy_side = Side {
        name: "copy",
        tx: copy_tx,
        table: quoted_table(copy_table),
    };
    let mut report = VerifyReport {
        source_table: source_table.to_owned(),
        copy_table: copy_table.to_owned(),
        key: key.clone(),
        columns: columns.into_iter().map(|(c, _)| c).collect(),
        ..VerifyReport::default()
    };
    let (source_rows, _) = source_side.summary(&shape, None, None).await?;
    let (copy_rows, _) = copy_side.summary(&shape, None, None).await?;
    report.source_rows = source_rows;
    report.copy_rows = copy_rows;

    // Ranges still to compare: [low, high) with their source row count.
    let mut pending: Vec<(Bound, Bound)> = vec![(None, None)];
    while let Some((low, high)) = pending.pop() {
        let (low, high) = (low.as_deref(), high.as_deref());
        let (source_count, source_hash) = source_side.summary(&shape, low, high).await?;
        let (copy_count, copy_hash) = copy_side.summary(&shape, low, high).await?;
        report.ranges_compared += 1;
        if source_count == copy_count && source_hash == copy_hash {
            continue;
        }
        report.ranges_different += 1;
        if source_count.max(copy_count) <= options.row_by_row {
            let a = source_side.rows(&shape, low, high).await?;
            let b = copy_side.rows(&shape, low, high).await?;
            for (k, hash) in &a {
                match b.get(k) {
                    None => report
                        .differences
                        .push(KeyDifference::MissingInCopy(k.clone())),
                    Some(other) if other != hash => {
                        report.differences.push(KeyDifference::Different(k.clone()))
                    }
                    Some(_) => {}
                }
            }
            for k in b.keys() {
                if !a.contains_key(k) {
                    report
                        .differences
                        .push(KeyDifference::OnlyInCopy(k.clone()));
                }
            }
            if report.differences.len() > options.max_keys {
                report.differences.truncate(options.max_keys);
                report.truncated = true;
                break;
            }
            continue;
        }
        // Cut by whichever side has more rows here (the copy may hold extra keys).
        let cutter = if source_count >= copy_count {
            &source_side
        } else {
            &copy_side
        };
        let bounds = cutter.cut(&shape, low, high, options.ranges.max(2)).await?;
        let mut edges: Vec<Bound> = vec![low.map(<[String]>::to_vec)];
        edges.extend(bounds.into_iter().skip(1).map(Some));
        edges.push(high.map(<[String]>::to_vec));
        for pair in edges.windows(2) {
            pending.push((pair[0].clone(), pair[1].clone()));
        }
    }
    report.differences.sort_by_key(|d| match d {
        KeyDifference::MissingInCopy(k)
        | KeyDifference::OnlyInCopy(k)
        | KeyDifference::Different(k) => k.clone(),
    });
    Ok(report)
}
