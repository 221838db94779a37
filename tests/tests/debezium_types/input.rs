//! What the database says: the tables' catalog description, the seed rows as their
//! output functions print them, and every change as pgoutput sent it (read through a
//! slot of the generator's own and decoded by pgcdc's decoder).

use std::collections::HashMap;

use bytes::Bytes;
use pgcdc_connector::pgoutput::{
    ColumnValue, Decoder, LogicalReplicationMessage as Message, OldTuple, StreamingMode, TupleData,
};

use super::json::J;
use super::scenario::steps;

// --- catalog -----------------------------------------------------------------------

pub(crate) struct Column {
    pub(crate) name: String,
    pub(crate) type_oid: u32,
    pub(crate) typmod: i32,
    pub(crate) type_name: String,
    pub(crate) udt_name: String,
    pub(crate) not_null: bool,
    pub(crate) default: Option<String>,
    pub(crate) pk_position: Option<i32>,
}

pub(crate) struct Table {
    pub(crate) name: String,
    pub(crate) oid: u32,
    pub(crate) replica_identity: String,
    pub(crate) columns: Vec<Column>,
}

pub(crate) struct Catalog {
    pub(crate) tables: Vec<Table>,
    /// Rendered `types` array of the fixtures.
    pub(crate) types: J,
}

impl Catalog {
    pub(crate) async fn read(client: &tokio_postgres::Client) -> Catalog {
        let mut tables = Vec::new();
        for name in [
            "all_types",
            "all_types_full",
            "toast_types",
            "toast_types_full",
            "composite_key",
        ] {
            let row = client
                .query_one(
                    "SELECT c.oid::int8, c.relreplident::text FROM pg_class c \
                     WHERE c.oid = $1::text::regclass",
                    &[&name],
                )
                .await
                .unwrap();
            let oid: i64 = row.get(0);
            let rows = client
                .query(
                    "SELECT a.attname::text, a.atttypid::int8, a.atttypmod, \
                     format_type(a.atttypid, a.atttypmod), t.typname::text, a.attnotnull, \
                     pg_get_expr(d.adbin, d.adrelid), \
                     (SELECT array_position(i.indkey::int2[], a.attnum) FROM pg_index i \
                      WHERE i.indrelid = a.attrelid AND i.indisprimary) \
                     FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid \
                     LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum \
                     WHERE a.attrelid = $1::text::regclass AND a.attnum > 0 \
                     AND NOT a.attisdropped ORDER BY a.attnum",
                    &[&name],
                )
                .await
                .unwrap();
            let columns = rows
                .iter()
                .map(|r| Column {
                    name: r.get(0),
                    type_oid: u32::try_from(r.get::<_, i64>(1)).unwrap(),
                    typmod: r.get(2),
                    type_name: r.get(3),
                    udt_name: r.get(4),
                    not_null: r.get(5),
                    default: r.get(6),
                    pk_position: r.get(7),
                })
                .collect();
            tables.push(Table {
                name: name.to_owned(),
                oid: u32::try_from(oid).unwrap(),
                replica_identity: row.get(1),
                columns,
            });
        }
        let rows = client
            .query(
                "WITH RECURSIVE used(oid) AS ( \
                   SELECT DISTINCT a.atttypid FROM pg_attribute a \
                   WHERE a.attrelid IN ('all_types'::regclass, 'toast_types'::regclass, \
                     'composite_key'::regclass) AND a.attnum > 0 AND NOT a.attisdropped \
                   UNION \
                   SELECT v.x FROM used u JOIN pg_type t ON t.oid = u.oid \
                   CROSS JOIN LATERAL (VALUES (t.typelem), (t.typbasetype)) v(x) \
                   WHERE v.x <> 0) \
                 SELECT t.oid::int8, n.nspname::text, t.typname::text, t.typtype::text, \
                   t.typcategory::text, t.typelem::int8, t.typbasetype::int8, t.typtypmod, \
                   (SELECT array_agg(e.enumlabel::text ORDER BY e.enumsortorder) \
                    FROM pg_enum e WHERE e.enumtypid = t.oid) \
                 FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace \
                 WHERE t.oid IN (SELECT oid FROM used) AND t.oid >= 16384 ORDER BY t.oid",
                &[],
            )
            .await
            .unwrap();
        let types = J::Arr(
            rows.iter()
                .map(|r| {
                    let labels: Option<Vec<String>> = r.get(8);
                    J::obj([
                        ("oid", J::num(r.get::<_, i64>(0))),
                        ("namespace", J::str(r.get::<_, String>(1))),
                        ("name", J::str(r.get::<_, String>(2))),
                        ("typtype", J::str(r.get::<_, String>(3))),
                        ("typcategory", J::str(r.get::<_, String>(4))),
                        ("typelem", J::num(r.get::<_, i64>(5))),
                        ("typbasetype", J::num(r.get::<_, i64>(6))),
                        ("typtypmod", J::num(r.get::<_, i32>(7))),
                        (
                            "enum_labels",
                            labels.map_or(J::Null, |l| J::Arr(l.into_iter().map(J::str).collect())),
                        ),
                    ])
                })
                .collect(),
        );
        Catalog { tables, types }
    }

    pub(crate) fn table(&self, name: &str) -> &Table {
        self.tables.iter().find(|t| t.name == name).unwrap()
    }

    pub(crate) fn table_by_oid(&self, oid: u32) -> &Table {
        self.tables.iter().find(|t| t.oid == oid).unwrap()
    }

    /// The seed row of each seeded table, as the column types' output functions print
    /// it (what pgcdc's snapshot reads with COPY). The simple query protocol returns
    /// exactly that text; a `::text` cast would not (`inet` and `char(n)` differ).
    pub(crate) async fn seed_rows(
        &self,
        client: &tokio_postgres::Client,
    ) -> HashMap<String, Vec<Cell>> {
        let mut seeds = HashMap::new();
        for table in ["all_types", "all_types_full"] {
            let columns = &self.table(table).columns;
            let messages = client
                .simple_query(&format!("SELECT * FROM {table} WHERE id = 1"))
                .await
                .unwrap();
            let row = messages
                .iter()
                .find_map(|m| match m {
                    tokio_postgres::SimpleQueryMessage::Row(row) => Some(row),
                    _ => None,
                })
                .unwrap();
            assert_eq!(row.len(), columns.len());
            let cells = (0..columns.len())
                .map(|i| match row.get(i) {
                    Some(text) => Cell::Text(text.to_owned()),
                    None => Cell::Null,
                })
                .collect();
            seeds.insert(table.to_owned(), cells);
        }
        seeds
    }
}

// --- pgoutput ----------------------------------------------------------------------

#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Cell {
    Null,
    UnchangedToast,
    Text(String),
}

#[derive(Clone, Debug)]
pub(crate) struct Position {
    /// The change's own LSN (its XLogData start).
    pub(crate) lsn: String,
    pub(crate) xid: u32,
    /// The LSN the transaction's Begin message was sent at (its first WAL record).
    pub(crate) begin_lsn: String,
    pub(crate) commit_lsn: String,
    /// The end of the commit record (what a client confirms).
    pub(crate) commit_end_lsn: String,
    pub(crate) commit_time_us: i64,
}

#[derive(Clone, Debug)]
pub(crate) enum ChangeKind {
    Insert,
    Update,
    Delete,
    Truncate,
}

#[derive(Clone, Debug)]
pub(crate) struct Change {
    pub(crate) table: String,
    pub(crate) kind: ChangeKind,
    pub(crate) position: Position,
    pub(crate) old: Option<(&'static str, Vec<Cell>)>,
    pub(crate) new: Option<Vec<Cell>>,
}

pub(crate) fn cells(tuple: &TupleData) -> Vec<Cell> {
    tuple
        .iter()
        .map(|c| match c {
            ColumnValue::Null => Cell::Null,
            ColumnValue::UnchangedToast => Cell::UnchangedToast,
            ColumnValue::Text(t) => Cell::Text(String::from_utf8(t.to_vec()).unwrap()),
            ColumnValue::Binary(_) => panic!("binary column without the binary option"),
        })
        .collect()
}

pub(crate) async fn read_pgoutput(
    client: &tokio_postgres::Client,
    slot: &str,
    catalog: &Catalog,
) -> Vec<Change> {
    let rows = client
        .query(
            "SELECT lsn::text, data FROM pg_logical_slot_peek_binary_changes($1, NULL, NULL, \
             'proto_version', '1', 'publication_names', 'pub_input')",
            &[&slot],
        )
        .await
        .unwrap();
    let mut decoder = Decoder::new(1, StreamingMode::Off).unwrap();
    let mut begin = None;
    let mut begin_lsn = String::new();
    let mut changes: Vec<Change> = Vec::new();
    let mut transaction_start = 0;
    for row in rows {
        let lsn: String = row.get(0);
        let data: Vec<u8> = row.get(1);
        let message = decoder.decode(Bytes::from(data)).unwrap();
        let position = |begin: &Option<pgcdc_connector::pgoutput::Begin>| {
            let begin = begin.as_ref().unwrap();
            Position {
                lsn: lsn.clone(),
                xid: begin.xid.0,
                begin_lsn: begin_lsn.clone(),
                commit_lsn: begin.final_lsn.to_string(),
                commit_end_lsn: String::new(),
                commit_time_us: begin.commit_timestamp.to_unix_micros(),
            }
        };
        let table = |oid: pgcdc_connector::pgoutput::Oid| catalog.table_by_oid(oid.0).name.clone();
        let old = |old: &OldTuple| match old {
            OldTuple::Key(t) => ("key", cells(t)),
            OldTuple::Full(t) => ("full", cells(t)),
        };
        match message {
            Message::Begin(b) => {
                begin = Some(b);
                begin_lsn = lsn.clone();
                transaction_start = changes.len();
            }
            Message::Commit(c) => {
                begin = None;
                for change in &mut changes[transaction_start..] {
                    change.position.commit_end_lsn = c.end_lsn.to_string();
                }
            }
            Message::Insert(i) => changes.push(Change {
                table: table(i.relation_oid),
                kind: ChangeKind::Insert,
                position: position(&begin),
                old: None,
                new: Some(cells(&i.new)),
            }),
            Message::Update(u) => changes.push(Change {
                table: table(u.relation_oid),
                kind: ChangeKind::Update,
                position: position(&begin),
                old: u.old.as_ref().map(old),
                new: Some(cells(&u.new)),
            }),
            Message::Delete(d) => changes.push(Change {
                table: table(d.relation_oid),
                kind: ChangeKind::Delete,
                position: position(&begin),
                old: Some(old(&d.old)),
                new: None,
            }),
            Message::Truncate(t) => {
                for oid in &t.relation_oids {
                    changes.push(Change {
                        table: table(*oid),
                        kind: ChangeKind::Truncate,
                        position: position(&begin),
                        old: None,
                        new: None,
                    });
                }
            }
            Message::Relation(r) => {
                // The fixture's column list comes from the catalog; check it is what
                // pgoutput announces.
                let t = catalog.table_by_oid(r.oid.0);
                assert_eq!(r.columns.len(), t.columns.len());
                for (rc, c) in r.columns.iter().zip(&t.columns) {
                    assert_eq!(
                        (rc.name.as_str(), rc.type_oid.0),
                        (c.name.as_str(), c.type_oid)
                    );
                    assert_eq!(rc.type_modifier, c.typmod);
                }
            }
            _ => {}
        }
    }
    changes
}

/// Which step produced each change (in step order, per table).
pub(crate) fn label_changes(changes: &[Change]) -> Vec<&'static str> {
    let steps = steps();
    let mut labels = Vec::new();
    // Changes arrive transaction by transaction, one transaction per step.
    let mut xids: Vec<u32> = changes.iter().map(|c| c.position.xid).collect();
    xids.dedup();
    assert_eq!(xids.len(), steps.len(), "one transaction per step");
    for change in changes {
        let index = xids.iter().position(|x| *x == change.position.xid).unwrap();
        labels.push(steps[index].label);
    }
    labels
}
