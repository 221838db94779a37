//! The history mode (`history.enabled=true`): beside each target table, a table that
//! every applied change is appended to — its op, source LSN, source commit time and
//! the Kafka record it came from, then the row image — partitioned by day on the
//! source commit time for analytics on change history. Pure: the SQL and the COPY
//! data; [`crate::warehouse`] runs them in the batch's transaction, so the history
//! holds each change exactly once, as the target does.
//!
//! The row image is the `after` image of a create, read or update, and the key of a
//! delete (what the sink's delete sees); columns the change does not carry (an
//! unchanged TOASTed value, a field an older schema lacked) are NULL. A truncate is
//! one row with NULL columns.
//!
//! `(__topic, __partition, __offset, __source_ts)` is the primary key: a change
//! appended twice would fail the batch instead of passing unnoticed.

use std::collections::BTreeSet;

use crate::naming::{Ident, TableName};
use crate::values::{date_text, timestamp_text, Cell};

pub const OP: &str = "__op";
pub const LSN: &str = "__lsn";
pub const SOURCE_TS: &str = "__source_ts";
pub const TOPIC: &str = "__topic";
pub const PARTITION: &str = "__partition";
pub const OFFSET: &str = "__offset";

const MILLIS_PER_DAY: i64 = 86_400_000;

/// `history.*`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryConfig {
    /// `history.table.suffix`: the history of `orders` is `orders<suffix>`.
    pub suffix: String,
    /// `history.partitions.ahead`: days after today whose partitions exist before
    /// their first change does.
    pub partitions_ahead: u32,
}

/// One applied change, for the history table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryRow {
    /// The envelope's `op` (`c`, `r`, `u`, `d`, `t`); `None` for a flat row.
    pub op: Option<char>,
    /// `source.lsn`, when the source has one.
    pub lsn: Option<i64>,
    /// `source.ts_ms`: when the change committed at the source (the partition key).
    pub source_ts_ms: i64,
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    /// Laid out as the batch's table columns.
    pub cells: Vec<Cell>,
}

/// PostgreSQL's longest identifier, in bytes (`NAMEDATALEN - 1`).
const MAX_IDENTIFIER: usize = 63;

/// The history table of `target`.
pub fn table_name(target: &TableName, config: &HistoryConfig) -> TableName {
    TableName {
        schema: target.schema.clone(),
        table: Ident::exact(fit(target.table.as_str(), &config.suffix)),
    }
}

/// `base` + `tail`, within PostgreSQL's identifier length. PostgreSQL would cut a
/// longer name itself, and cut names that differ only in their tails (the days of
/// partitions) to the same one; here the base is cut instead, and a hash of it
/// keeps two long bases apart.
fn fit(base: &str, tail: &str) -> String {
    if base.len() + tail.len() <= MAX_IDENTIFIER {
        return format!("{base}{tail}");
    }
    let hash = format!("_{:08x}", fnv1a(base.as_bytes()) as u32);
    let mut keep = MAX_IDENTIFIER.saturating_sub(tail.len() + hash.len());
    while !base.is_char_boundary(keep) {
        keep -= 1;
    }
    format!("{}{hash}{tail}", &base[..keep])
}

/// FNV-1a: stable across builds and platforms, unlike std's hasher.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &b| {
        (hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// `CREATE TABLE` of a history table with `columns` (name, SQL type) of its target.
pub fn create_sql(history: &TableName, columns: &[(Ident, String)]) -> String {
    let mut sql = format!("CREATE TABLE IF NOT EXISTS {history} (");
    for (name, sql_type) in columns {
        sql.push_str(&format!("{name} {sql_type}, "));
    }
    let [op, lsn, ts, topic, partition, offset] = meta_columns();
    sql.push_str(&format!(
        "{op} char(1), {lsn} bigint, {ts} timestamptz NOT NULL, {topic} text NOT NULL, \
         {partition} integer NOT NULL, {offset} bigint NOT NULL, \
         PRIMARY KEY ({topic}, {partition}, {offset}, {ts})) PARTITION BY RANGE ({ts})"
    ));
    sql
}

/// `ALTER TABLE … ADD COLUMN` for the target's columns the history table lacks.
pub fn add_columns_sql(
    history: &TableName,
    columns: &[(Ident, String)],
    existing: &[Ident],
) -> Option<String> {
    let missing: Vec<String> = columns
        .iter()
        .filter(|(name, _)| !existing.contains(name))
        .map(|(name, sql_type)| format!("ADD COLUMN IF NOT EXISTS {name} {sql_type}"))
        .collect();
    (!missing.is_empty()).then(|| format!("ALTER TABLE {history} {}", missing.join(", ")))
}

/// Epoch day of a millisecond timestamp.
pub fn day_of(ts_ms: i64) -> i64 {
    ts_ms.div_euclid(MILLIS_PER_DAY)
}

/// The days whose partitions `rows` need, and `today` to `today + ahead`.
pub fn days_needed(rows: &[HistoryRow], today: i64, ahead: u32) -> BTreeSet<i64> {
    let mut days: BTreeSet<i64> = rows.iter().map(|r| day_of(r.source_ts_ms)).collect();
    days.extend(today..=today + i64::from(ahead));
    days
}

/// The partition of `history` for epoch day `day`: `<table>_pYYYYMMDD`.
pub fn partition_sql(history: &TableName, day: i64) -> String {
    let from = date_text(day);
    let to = date_text(day + 1);
    let partition = TableName {
        schema: history.schema.clone(),
        table: Ident::exact(fit(
            history.table.as_str(),
            &format!("_p{}", from.replace('-', "").replace(' ', "_")),
        )),
    };
    format!(
        "CREATE TABLE IF NOT EXISTS {partition} PARTITION OF {history} \
         FOR VALUES FROM ('{from} 00:00:00+00') TO ('{to} 00:00:00+00')"
    )
}

/// The COPY statement and its text-format data for `rows` of a table whose columns
/// are `columns`.
pub fn copy(history: &TableName, columns: &[Ident], rows: &[HistoryRow]) -> (String, Vec<u8>) {
    let names: Vec<String> = columns
        .iter()
        .map(ToString::to_string)
        .chain(meta_columns().iter().map(ToString::to_string))
        .collect();
    let sql = format!("COPY {history} ({}) FROM STDIN", names.join(", "));
    let mut data = Vec::with_capacity(rows.len() * 96);
    for row in rows {
        for index in 0..columns.len() {
            match row.cells.get(index) {
                Some(Cell::Text(text)) => crate::merge::push_copy_text(&mut data, text),
                _ => data.extend_from_slice(b"\\N"),
            }
            data.push(b'\t');
        }
        match row.op {
            Some(op) => data.extend_from_slice(op.to_string().as_bytes()),
            None => data.extend_from_slice(b"\\N"),
        }
        data.push(b'\t');
        match row.lsn {
            Some(lsn) => data.extend_from_slice(lsn.to_string().as_bytes()),
            None => data.extend_from_slice(b"\\N"),
        }
        data.push(b'\t');
        let ts = timestamp_text(i128::from(row.source_ts_ms) * 1_000_000);
        data.extend_from_slice(ts.as_bytes());
        data.extend_from_slice(b"+00\t");
        crate::merge::push_copy_text(&mut data, &row.topic);
        data.push(b'\t');
        data.extend_from_slice(row.partition.to_string().as_bytes());
        data.push(b'\t');
        data.extend_from_slice(row.offset.to_string().as_bytes());
        data.push(b'\n');
    }
    (sql, data)
}

fn meta_columns() -> [Ident; 6] {
    [OP, LSN, SOURCE_TS, TOPIC, PARTITION, OFFSET].map(Ident::exact)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target() -> TableName {
        TableName::parse("public.orders", false).unwrap()
    }

    fn config() -> HistoryConfig {
        HistoryConfig {
            suffix: "_history".to_owned(),
            partitions_ahead: 2,
        }
    }

    fn row(op: Option<char>, ts_ms: i64, offset: i64, cells: Vec<Cell>) -> HistoryRow {
        HistoryRow {
            op,
            lsn: Some(1234),
            source_ts_ms: ts_ms,
            topic: "p.public.orders".to_owned(),
            partition: 0,
            offset,
            cells,
        }
    }

    #[test]
    fn the_history_table_sits_beside_its_target() {
        assert_eq!(
            table_name(&target(), &config()).to_string(),
            "\"public\".\"orders_history\""
        );
        let unqualified = TableName::parse("orders", false).unwrap();
        assert_eq!(
            table_name(&unqualified, &config()).to_string(),
            "\"orders_history\""
        );
    }

    #[test]
    fn long_names_are_cut_before_postgresql_cuts_them() {
        let long = "a".repeat(60);
        let history = table_name(&TableName::parse(&long, false).unwrap(), &config());
        let name = history.table.as_str();
        assert_eq!(name.len(), MAX_IDENTIFIER);
        assert!(name.ends_with("_history"), "{name}");
        // Another long base keeps a name of its own.
        let other = table_name(
            &TableName::parse(&format!("{long}b"), false).unwrap(),
            &config(),
        );
        assert_ne!(other.table, history.table);
        // Partitions of one long table differ by their day.
        let day = day_of(1_796_600_000_000);
        let (first, second) = (
            partition_sql(&history, day),
            partition_sql(&history, day + 1),
        );
        assert_ne!(first, second);
        let partition = first.split('"').nth(1).unwrap();
        assert!(partition.len() <= MAX_IDENTIFIER, "{partition}");
        assert!(partition.ends_with("_p20261206"), "{partition}");
        // Multi-byte characters are not split.
        let wide = "é".repeat(40);
        let fitted = fit(&wide, "_history");
        assert!(fitted.len() <= MAX_IDENTIFIER);
        assert!(fitted.ends_with("_history"));
        assert_eq!(fit("orders", "_history"), "orders_history");
    }

    #[test]
    fn the_table_is_partitioned_by_source_time_with_the_record_as_key() {
        let history = table_name(&target(), &config());
        let sql = create_sql(
            &history,
            &[
                (Ident::exact("id"), "integer".to_owned()),
                (Ident::exact("note"), "text".to_owned()),
            ],
        );
        assert_eq!(
            sql,
            "CREATE TABLE IF NOT EXISTS \"public\".\"orders_history\" (\"id\" integer, \
             \"note\" text, \"__op\" char(1), \"__lsn\" bigint, \"__source_ts\" timestamptz NOT NULL, \
             \"__topic\" text NOT NULL, \"__partition\" integer NOT NULL, \"__offset\" bigint NOT NULL, \
             PRIMARY KEY (\"__topic\", \"__partition\", \"__offset\", \"__source_ts\")) \
             PARTITION BY RANGE (\"__source_ts\")"
        );
    }

    #[test]
    fn only_missing_columns_are_added() {
        let history = table_name(&target(), &config());
        let columns = [
            (Ident::exact("id"), "integer".to_owned()),
            (Ident::exact("added"), "numeric(10,2)".to_owned()),
        ];
        assert_eq!(
            add_columns_sql(&history, &columns, &[Ident::exact("id")]).as_deref(),
            Some(
                "ALTER TABLE \"public\".\"orders_history\" ADD COLUMN IF NOT EXISTS \"added\" numeric(10,2)"
            )
        );
        assert_eq!(
            add_columns_sql(
                &history,
                &columns,
                &[Ident::exact("added"), Ident::exact("id")]
            ),
            None
        );
    }

    #[test]
    fn days_count_from_the_epoch_in_utc_including_before_it() {
        assert_eq!(day_of(0), 0);
        assert_eq!(day_of(MILLIS_PER_DAY - 1), 0);
        assert_eq!(day_of(MILLIS_PER_DAY), 1);
        assert_eq!(day_of(-1), -1);
        // 2026-12-07T23:59:59.999Z and the next millisecond.
        assert_eq!(date_text(day_of(1_796_687_999_999)), "2026-12-07");
        assert_eq!(date_text(day_of(1_796_688_000_000)), "2026-12-08");
    }

    #[test]
    fn partitions_cover_the_batch_and_the_days_ahead() {
        let today = day_of(1_796_600_000_000);
        let rows = [
            row(Some('c'), 1_796_600_000_000, 1, vec![]),
            // A change replayed from ten days ago.
            row(
                Some('u'),
                1_796_600_000_000 - 10 * MILLIS_PER_DAY,
                2,
                vec![],
            ),
        ];
        let days: Vec<i64> = days_needed(&rows, today, 2).into_iter().collect();
        assert_eq!(days, vec![today - 10, today, today + 1, today + 2]);
        assert_eq!(days_needed(&[], today, 0).len(), 1);
    }

    #[test]
    fn a_partition_spans_one_utc_day() {
        let history = table_name(&target(), &config());
        assert_eq!(
            partition_sql(&history, day_of(1_796_600_000_000)),
            "CREATE TABLE IF NOT EXISTS \"public\".\"orders_history_p20261206\" PARTITION OF \
             \"public\".\"orders_history\" FOR VALUES FROM ('2026-12-06 00:00:00+00') \
             TO ('2026-12-07 00:00:00+00')"
        );
    }

    #[test]
    fn copy_rows_carry_the_change_and_its_record() {
        let history = table_name(&target(), &config());
        let columns = [Ident::exact("id"), Ident::exact("note")];
        let rows = [
            row(
                Some('u'),
                1_796_600_000_123,
                7,
                vec![Cell::Text("1".into()), Cell::Text("a\tb\\c\n".into())],
            ),
            row(
                Some('d'),
                1_796_600_000_124,
                8,
                vec![Cell::Text("1".into()), Cell::Absent],
            ),
            HistoryRow {
                lsn: None,
                ..row(Some('t'), 1_796_600_000_125, 9, vec![])
            },
            row(None, 0, 10, vec![Cell::Null, Cell::Text("x".into())]),
        ];
        let (sql, data) = copy(&history, &columns, &rows);
        assert_eq!(
            sql,
            "COPY \"public\".\"orders_history\" (\"id\", \"note\", \"__op\", \"__lsn\", \
             \"__source_ts\", \"__topic\", \"__partition\", \"__offset\") FROM STDIN"
        );
        assert_eq!(
            String::from_utf8(data).unwrap(),
            "1\ta\\tb\\\\c\\n\tu\t1234\t2026-12-06 23:33:20.123+00\tp.public.orders\t0\t7\n\
             1\t\\N\td\t1234\t2026-12-06 23:33:20.124+00\tp.public.orders\t0\t8\n\
             \\N\t\\N\tt\t\\N\t2026-12-06 23:33:20.125+00\tp.public.orders\t0\t9\n\
             \\N\tx\t\\N\t1234\t1970-01-01 00:00:00+00\tp.public.orders\t0\t10\n"
        );
    }
}
