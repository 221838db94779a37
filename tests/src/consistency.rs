//! The checker a data engineer would write: the change records of one table topic,
//! grouped by key, obey the rules of a change stream, and their final state equals
//! the table in PostgreSQL.
//!
//! Tables checked here carry an integer `version` column that every update
//! increments (and that inserts set), so per-key order and exactly-once are visible
//! in the records themselves: the versions of a key must go up by one, record by
//! record, with no gap (a lost update) and no repeat (a duplicate).

use std::collections::BTreeMap;

use serde_json::Value;

use crate::connector::Event;

/// What the records of one key say happened to it.
#[derive(Debug, Clone, PartialEq)]
pub struct History {
    pub partition: i32,
    /// `r` (read by the snapshot) or `c` (inserted while streaming).
    pub first_op: String,
    pub first_version: i64,
    pub last_version: i64,
    /// Updates seen (`u` records).
    pub updates: usize,
    pub deleted: bool,
    /// The last `after` image (the row as the topic says it is now).
    pub last_after: Value,
}

#[derive(Debug, Clone, Copy)]
pub struct Rules<'a> {
    /// The key column (an integer).
    pub id: &'a str,
    /// The column every update increments.
    pub version: &'a str,
    /// `tombstones.on.delete`: a delete is followed by a tombstone for its key.
    pub tombstones: bool,
    /// The table has `REPLICA IDENTITY FULL`, so updates and deletes carry the whole
    /// old row and its version is checked too. (Under the default identity a
    /// delete's `before` has the key only, the other columns at their schema
    /// defaults, as Debezium writes them.)
    pub full_before: bool,
}

impl Default for Rules<'_> {
    fn default() -> Self {
        Rules {
            id: "id",
            version: "version",
            tombstones: true,
            full_before: false,
        }
    }
}

#[derive(Debug, Default)]
struct State {
    history: Option<History>,
    awaiting_tombstone: bool,
}

/// Checks every record of a table topic (in the order read: each partition in
/// order) and returns the history of every key, or every violation found.
pub fn histories(
    events: &[Event],
    rules: Rules<'_>,
) -> Result<BTreeMap<i64, History>, Vec<String>> {
    let mut states: BTreeMap<i64, State> = BTreeMap::new();
    let mut violations = Vec::new();
    for event in events {
        let at = format!("partition {} offset {}", event.partition, event.offset);
        let Some(id) = event.key[rules.id].as_i64() else {
            violations.push(format!(
                "{at}: key {} has no integer {}",
                event.key, rules.id
            ));
            continue;
        };
        let state = states.entry(id).or_default();
        if let Some(history) = &state.history {
            if history.partition != event.partition {
                violations.push(format!(
                    "{at}: key {id} moved from partition {} (per-key order is lost)",
                    history.partition
                ));
            }
        }
        if event.is_tombstone() {
            if !rules.tombstones {
                violations.push(format!("{at}: tombstone for {id} with tombstones off"));
            } else if !state.awaiting_tombstone {
                violations.push(format!(
                    "{at}: tombstone for {id} not right after its delete"
                ));
            }
            state.awaiting_tombstone = false;
            continue;
        }
        if state.awaiting_tombstone {
            violations.push(format!(
                "{at}: {id} has a record between its delete and tombstone"
            ));
            state.awaiting_tombstone = false;
        }
        let op = event.op().unwrap_or("?").to_owned();
        let version_of = |image: &Value| image[rules.version].as_i64();
        let before_version = if rules.full_before {
            version_of(event.before())
        } else {
            None
        };
        let image_id = match op.as_str() {
            "d" => event.before()[rules.id].as_i64(),
            _ => event.after()[rules.id].as_i64(),
        };
        if image_id != Some(id) {
            violations.push(format!(
                "{at}: key {id} on a row image with id {image_id:?}"
            ));
        }
        match (op.as_str(), state.history.as_mut()) {
            ("r" | "c", None) => match version_of(event.after()) {
                Some(version) => {
                    state.history = Some(History {
                        partition: event.partition,
                        first_op: op,
                        first_version: version,
                        last_version: version,
                        updates: 0,
                        deleted: false,
                        last_after: event.after().clone(),
                    });
                }
                None => violations.push(format!("{at}: {op} of {id} without a version")),
            },
            (_, None) => violations.push(format!("{at}: {id} begins with {op}, not r or c")),
            (_, Some(history)) if history.deleted => {
                violations.push(format!("{at}: {op} of {id} after its delete"));
            }
            ("r" | "c", Some(history)) => violations.push(format!(
                "{at}: {id} inserted again ({op} after {}): a duplicate",
                history.first_op
            )),
            ("u", Some(history)) => {
                let version = version_of(event.after());
                if version != Some(history.last_version + 1) {
                    violations.push(format!(
                        "{at}: update of {id} to version {version:?} after version {}: {}",
                        history.last_version,
                        if version.is_some_and(|v| v <= history.last_version) {
                            "a duplicate or out of order"
                        } else {
                            "an update is missing"
                        }
                    ));
                }
                if rules.full_before && before_version != Some(history.last_version) {
                    violations.push(format!(
                        "{at}: update of {id} from version {before_version:?}, but the topic had {}",
                        history.last_version
                    ));
                }
                history.last_version = version.unwrap_or(history.last_version);
                history.updates += 1;
                history.last_after = event.after().clone();
            }
            ("d", Some(history)) => {
                if rules.full_before && before_version != Some(history.last_version) {
                    violations.push(format!(
                        "{at}: delete of {id} at version {before_version:?}, but the topic had {}",
                        history.last_version
                    ));
                }
                history.deleted = true;
                history.last_after = Value::Null;
                state.awaiting_tombstone = rules.tombstones;
            }
            (other, Some(_)) => violations.push(format!("{at}: unexpected op {other:?} for {id}")),
        }
    }
    for (id, state) in &states {
        if state.awaiting_tombstone {
            violations.push(format!("{id}: deleted without a tombstone"));
        }
    }
    if violations.is_empty() {
        Ok(states
            .into_iter()
            .filter_map(|(id, state)| state.history.map(|h| (id, h)))
            .collect())
    } else {
        Err(violations)
    }
}

/// Differences between the topic's final state and the table's rows (id → row as
/// JSON): every row present with its last `after` equal to it, every other key
/// deleted.
pub fn compare_with_table(
    histories: &BTreeMap<i64, History>,
    rows: &BTreeMap<i64, Value>,
) -> Vec<String> {
    let mut differences = Vec::new();
    for (id, row) in rows {
        match histories.get(id) {
            None => differences.push(format!("row {id} is in the table but not in the topic")),
            Some(history) if history.deleted => {
                differences.push(format!("row {id} is in the table but deleted in the topic"));
            }
            Some(history) if &history.last_after != row => differences.push(format!(
                "row {id}: the topic ends with {} but the table has {row}",
                history.last_after
            )),
            Some(_) => {}
        }
    }
    for (id, history) in histories {
        if !history.deleted && !rows.contains_key(id) {
            differences.push(format!(
                "row {id} was deleted from the table but not in the topic"
            ));
        }
    }
    differences
}

/// A table's rows as `row_to_json`, by the integer key column `id`.
pub async fn table_rows(
    client: &tokio_postgres::Client,
    table: &str,
) -> anyhow::Result<BTreeMap<i64, Value>> {
    let rows = client
        .query(
            &format!("SELECT id::bigint, row_to_json(t)::text FROM {table} t"),
            &[],
        )
        .await?;
    rows.iter()
        .map(|row| {
            let text: String = row.get(1);
            Ok((row.get::<_, i64>(0), serde_json::from_str(&text)?))
        })
        .collect()
}

/// At most `limit` lines of a list of problems, for an assertion message.
pub fn summary(problems: &[String], limit: usize) -> String {
    let mut text = problems
        .iter()
        .take(limit)
        .cloned()
        .collect::<Vec<_>>()
        .join("\n  ");
    if problems.len() > limit {
        text.push_str(&format!("\n  … and {} more", problems.len() - limit));
    }
    format!("{} problem(s):\n  {text}", problems.len())
}
