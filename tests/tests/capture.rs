//! Capture against the real PostgreSQL: what pgoutput sends for the changes users
//! make, decoded and resolved to typed columns. Runs on PostgreSQL 15 and 18.

#![allow(clippy::unwrap_used)] // a test that cannot unwrap has failed

use std::time::Duration;

use pgcdc_connector::capture::{Cell, Change, OldImage, RowChange, RowOp, RowValues};
use pgcdc_connector::pgoutput::ColumnValue;
use pgcdc_connector::replication::Streaming;
use pgcdc_connector::values::{Date, Numeric, PgValue, Timestamp};
use pgcdc_tests::capture::{self, collect, expect_nothing};
use pgcdc_tests::TestDb;

const WAIT: Duration = Duration::from_secs(30);

fn rows(changes: &[Change]) -> Vec<&RowChange> {
    changes
        .iter()
        .filter_map(|c| match c {
            Change::Row(row) => Some(row),
            _ => None,
        })
        .collect()
}

/// A row image as text: each column's PostgreSQL text, `null`, or `toast` for an
/// unchanged TOASTed value that was not sent.
fn texts(row: Option<RowValues<'_>>) -> Vec<String> {
    let row = row.expect("row image present");
    (0..row.len())
        .map(|i| match row.raw(i) {
            Some(ColumnValue::Text(t)) => String::from_utf8(t.to_vec()).unwrap(),
            Some(ColumnValue::Null) => "null".to_owned(),
            Some(ColumnValue::UnchangedToast) => "toast".to_owned(),
            other => panic!("unexpected column {other:?}"),
        })
        .collect()
}

fn summary(row: &RowChange) -> (RowOp, String) {
    (row.op, row.table.qualified_name())
}

#[tokio::test]
async fn one_transaction_over_several_tables_arrives_whole_and_in_order() {
    let db = TestDb::create("cap_multi").await.unwrap();
    let sql = db.client().await.unwrap();
    sql.batch_execute(
        "CREATE TABLE customers (id int PRIMARY KEY, name text);
         CREATE SCHEMA shop; CREATE TABLE shop.orders (id bigint PRIMARY KEY, customer_id int, total numeric(10,2));",
    )
    .await
    .unwrap();
    capture::prepare(&db, &["customers", "shop.orders"])
        .await
        .unwrap();
    let mut capture = capture::start(&db, &capture::options(&db)).await.unwrap();

    sql.batch_execute(
        "BEGIN;
         INSERT INTO customers VALUES (1, 'Ada'), (2, 'Grace');
         INSERT INTO shop.orders VALUES (10, 1, 99.50);
         UPDATE customers SET name = 'Ada L.' WHERE id = 1;
         DELETE FROM shop.orders WHERE id = 10;
         TRUNCATE customers, shop.orders;
         COMMIT;",
    )
    .await
    .unwrap();
    let changes = collect(&mut capture, 1, WAIT).await.unwrap();

    let Change::Begin(begin) = &changes[0] else {
        panic!("first is {:?}", changes[0])
    };
    let Some(Change::Commit(commit)) = changes.last() else {
        panic!("last is {:?}", changes.last())
    };
    assert_eq!(
        begin.final_lsn, commit.commit_lsn,
        "Begin announces the commit's LSN"
    );
    assert!(commit.end_lsn > commit.commit_lsn);

    let ops: Vec<_> = rows(&changes).into_iter().map(summary).collect();
    assert_eq!(
        ops,
        [
            (RowOp::Insert, "public.customers".to_owned()),
            (RowOp::Insert, "public.customers".to_owned()),
            (RowOp::Insert, "shop.orders".to_owned()),
            (RowOp::Update, "public.customers".to_owned()),
            (RowOp::Delete, "shop.orders".to_owned()),
        ]
    );
    let truncated: Vec<String> = changes
        .iter()
        .find_map(|c| match c {
            Change::Truncate { tables, .. } => {
                Some(tables.iter().map(|t| t.qualified_name()).collect())
            }
            _ => None,
        })
        .expect("a truncate");
    assert_eq!(truncated, ["public.customers", "shop.orders"]);

    let rows = rows(&changes);
    assert_eq!(texts(rows[2].new_row()), ["10", "1", "99.50"]);
    assert_eq!(texts(rows[3].new_row()), ["1", "Ada L."]);
    // Rows of one multi-row INSERT are separate changes with their own positions.
    assert!(rows[0].lsn < rows[1].lsn);
    capture.stop().await.unwrap();
}

#[tokio::test]
async fn replica_identity_decides_what_the_old_row_holds() {
    let db = TestDb::create("cap_identity").await.unwrap();
    let sql = db.client().await.unwrap();
    sql.batch_execute(
        "CREATE TABLE by_default (id int PRIMARY KEY, code text NOT NULL, note text);
         CREATE TABLE by_full (id int PRIMARY KEY, code text NOT NULL, note text);
         ALTER TABLE by_full REPLICA IDENTITY FULL;
         CREATE TABLE by_index (id int PRIMARY KEY, code text NOT NULL, note text);
         CREATE UNIQUE INDEX by_index_code ON by_index (code);
         ALTER TABLE by_index REPLICA IDENTITY USING INDEX by_index_code;
         CREATE TABLE by_nothing (id int PRIMARY KEY, code text NOT NULL, note text);
         ALTER TABLE by_nothing REPLICA IDENTITY NOTHING;
         INSERT INTO by_default VALUES (1, 'a', 'x'), (2, 'b', 'y');
         INSERT INTO by_full VALUES (1, 'a', 'x');
         INSERT INTO by_index VALUES (1, 'a', 'x');
         INSERT INTO by_nothing VALUES (1, 'a', 'x');",
    )
    .await
    .unwrap();
    capture::prepare(&db, &["by_default", "by_full", "by_index", "by_nothing"])
        .await
        .unwrap();
    let mut capture = capture::start(&db, &capture::options(&db)).await.unwrap();

    sql.batch_execute(
        "UPDATE by_default SET note = 'x2' WHERE id = 1;
         UPDATE by_default SET id = 3 WHERE id = 2;
         DELETE FROM by_default WHERE id = 1;
         UPDATE by_full SET note = 'x2' WHERE id = 1;
         DELETE FROM by_full WHERE id = 1;
         UPDATE by_index SET note = 'x2' WHERE id = 1;
         DELETE FROM by_index WHERE id = 1;
         INSERT INTO by_nothing VALUES (2, 'b', 'y');",
    )
    .await
    .unwrap();
    // Without an identity PostgreSQL refuses to publish updates and deletes at all.
    let refused = sql
        .batch_execute("DELETE FROM by_nothing WHERE id = 1")
        .await
        .unwrap_err();
    let message = refused
        .as_db_error()
        .map(|e| e.message().to_owned())
        .unwrap_or_default();
    assert!(message.contains("replica identity"), "{refused:?}");

    let changes = collect(&mut capture, 1, WAIT).await.unwrap();
    let rows = rows(&changes);
    let old = |row: &RowChange| row.old.as_ref().map(|(image, _)| *image);
    assert_eq!(rows.len(), 8);

    // DEFAULT: an update that keeps the key sends no old row; one that changes the
    // key sends the old key; a delete sends the key, other columns null.
    assert_eq!(old(rows[0]), None);
    assert_eq!(old(rows[1]), Some(OldImage::Key));
    assert_eq!(texts(rows[1].old_row()), ["2", "null", "null"]);
    assert_eq!(texts(rows[2].old_row()), ["1", "null", "null"]);
    // FULL: the whole old row, always.
    assert_eq!(old(rows[3]), Some(OldImage::Full));
    assert_eq!(texts(rows[3].old_row()), ["1", "a", "x"]);
    assert_eq!(texts(rows[4].old_row()), ["1", "a", "x2"]);
    // USING INDEX: the index's columns only.
    assert_eq!(old(rows[5]), None);
    assert_eq!(old(rows[6]), Some(OldImage::Key));
    assert_eq!(texts(rows[6].old_row()), ["null", "a", "null"]);
    // NOTHING: inserts still flow.
    assert_eq!(
        summary(rows[7]),
        (RowOp::Insert, "public.by_nothing".to_owned())
    );
    capture.stop().await.unwrap();
}

#[tokio::test]
async fn an_update_that_leaves_a_toasted_column_alone_does_not_send_it() {
    let db = TestDb::create("cap_toast").await.unwrap();
    let sql = db.client().await.unwrap();
    // md5 chains do not compress, so 20 kB of them is stored out of line (TOAST).
    sql.batch_execute(
        "CREATE TABLE documents (id int PRIMARY KEY, title text, body text);
         INSERT INTO documents SELECT 1, 'draft', string_agg(md5(i::text), '') FROM generate_series(1, 640) i;",
    )
    .await
    .unwrap();
    capture::prepare(&db, &["documents"]).await.unwrap();
    let mut capture = capture::start(&db, &capture::options(&db)).await.unwrap();

    sql.batch_execute("UPDATE documents SET title = 'final' WHERE id = 1")
        .await
        .unwrap();
    sql.batch_execute("UPDATE documents SET body = 'short' WHERE id = 1")
        .await
        .unwrap();
    let changes = collect(&mut capture, 2, WAIT).await.unwrap();
    let rows = rows(&changes);
    assert_eq!(texts(rows[0].new_row()), ["1", "final", "toast"]);
    assert_eq!(
        rows[0].new_row().unwrap().cell(2).unwrap().unwrap(),
        Cell::UnchangedToast
    );
    assert_eq!(texts(rows[1].new_row()), ["1", "final", "short"]);
    capture.stop().await.unwrap();
}

#[tokio::test]
async fn a_table_altered_mid_stream_is_described_again() {
    let db = TestDb::create("cap_alter").await.unwrap();
    let sql = db.client().await.unwrap();
    sql.batch_execute("CREATE TABLE items (id int PRIMARY KEY, qty int, label text)")
        .await
        .unwrap();
    capture::prepare(&db, &["items"]).await.unwrap();
    let mut capture = capture::start(&db, &capture::options(&db)).await.unwrap();

    // Each statement commits on its own; the ALTERs publish no rows, so PostgreSQL
    // sends no transaction for them, only a new Relation before the next row.
    for statement in [
        "INSERT INTO items VALUES (1, 5, 'one')",
        "ALTER TABLE items ADD COLUMN price numeric(8,2)",
        "INSERT INTO items VALUES (2, 6, 'two', 1.25)",
        "ALTER TABLE items DROP COLUMN label",
        "INSERT INTO items VALUES (3, 7, 2.50)",
        "ALTER TABLE items ALTER COLUMN qty TYPE bigint",
        "INSERT INTO items VALUES (4, 9000000000, 3.75)",
    ] {
        sql.batch_execute(statement).await.unwrap();
    }
    let changes = collect(&mut capture, 4, WAIT).await.unwrap();

    let schemas: Vec<Vec<(String, u32)>> = changes
        .iter()
        .filter_map(|c| match c {
            Change::Schema { table, .. } => Some(
                table
                    .relation
                    .columns
                    .iter()
                    .map(|c| (c.name.clone(), c.type_oid.0))
                    .collect(),
            ),
            _ => None,
        })
        .collect();
    let col = |name: &str, oid: u32| (name.to_owned(), oid);
    assert_eq!(
        schemas,
        [
            vec![col("id", 23), col("qty", 23), col("label", 25)],
            vec![
                col("id", 23),
                col("qty", 23),
                col("label", 25),
                col("price", 1700)
            ],
            vec![col("id", 23), col("qty", 23), col("price", 1700)],
            vec![col("id", 23), col("qty", 20), col("price", 1700)],
        ]
    );
    let rows = rows(&changes);
    assert_eq!(texts(rows[1].new_row()), ["2", "6", "two", "1.25"]);
    assert_eq!(texts(rows[2].new_row()), ["3", "7", "2.50"]);
    let after = rows[3].new_row().unwrap();
    assert_eq!(
        after.cell(1).unwrap().unwrap(),
        Cell::Value(PgValue::Int8(9_000_000_000))
    );
    assert_eq!(after.column_name(2), Some("price"));
    capture.stop().await.unwrap();
}

#[tokio::test]
async fn every_supported_type_parses_including_edge_values() {
    let db = TestDb::create("cap_types").await.unwrap();
    let sql = db.client().await.unwrap();
    sql.batch_execute(
        "CREATE EXTENSION hstore;
         CREATE TYPE mood AS ENUM ('happy', 'sad');
         CREATE DOMAIN amount AS numeric(10,2);
         CREATE TABLE everything (
           id int PRIMARY KEY,
           b bool, i2 int2, i4 int4, i8 int8, f4 float4, f8 float8,
           n numeric, n_fixed numeric(12,3), t text, vc varchar(10), ch char(3), by bytea, u uuid,
           j json, jb jsonb, d date, tm time, ttz timetz, ts timestamp, tstz timestamptz,
           iv interval, a_i4 int4[], a_t text[], a_2d int4[], e mood, dom amount,
           ip inet, net cidr, mac macaddr, m money, bits bit(4), vbits varbit, hs hstore,
           pt point, bx box, o oid, x xid, l pg_lsn, r int4range
         );",
    )
    .await
    .unwrap();
    capture::prepare(&db, &["everything"]).await.unwrap();
    let mut capture = capture::start(&db, &capture::options(&db)).await.unwrap();

    sql.batch_execute(
        "INSERT INTO everything VALUES
         (1, true, 32767, 2147483647, 9223372036854775807, 'NaN', 'Infinity',
          'NaN', 123456789.125, 'żółw 🐢 ''quoted''', 'ten chars.', 'ab', '\\x00ff', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
          '{\"k\": [1, 2]}', '{\"k\": null}', 'infinity', '24:00:00', '12:34:56.789+05:30', '2024-02-29 23:59:59.999999', '-infinity',
          '1 year 2 mons 3 days 04:05:06.5', '{1,NULL,3}', '{\"a,b\",\"c\\\"d\",NULL}', '{{1,2},{3,4}}', 'sad', 12.5,
          '192.168.0.1/24', '10.0.0.0/8', '08:00:2b:01:02:03', 12.34, B'1010', B'101', 'a=>1, b=>NULL',
          '(1.5,-2)', '((0,0),(1,1))', 4294967295, '42', '16/B374D848', '[1,10)'),
         (2, false, -32768, -2147483648, -9223372036854775808, '-Infinity', '-0',
          '-0.000000000000000000000000000000001', -0.001, '', '', '', '', '00000000-0000-0000-0000-000000000000',
          'null', '[]', '4713-11-24 BC', '00:00:00', '00:00:00-12', '4713-11-24 00:00:00 BC', '294276-12-31 23:59:59.999999+00',
          '-1 days +02:00:00', '{}', '{}', '{}', 'happy', -0.01,
          '::1', '::/0', '00:00:00:00:00:00', -5, B'0000', B'', '',
          '(0,0)', '((0,0),(0,0))', 0, '0', '0/0', 'empty'),
         (3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
          NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
          NULL, NULL, NULL, NULL, NULL, NULL, NULL);
         INSERT INTO everything (id, t, by) SELECT 4, repeat('long text ', 200000), decode(repeat('ab', 100000), 'hex');",
    )
    .await
    .unwrap();
    let changes = collect(&mut capture, 1, WAIT).await.unwrap();
    let rows = rows(&changes);
    assert_eq!(rows.len(), 4);

    // Every column of every row parses as its type: no fallback errors, no panics.
    let cells: Vec<Vec<Cell<'_>>> = rows
        .iter()
        .map(|r| r.new_row().unwrap().cells().unwrap())
        .collect();
    let names: Vec<&str> = {
        let row = rows[0].new_row().unwrap();
        (0..row.len())
            .map(|i| row.column_name(i).unwrap())
            .collect()
    };
    let get = |row: usize, name: &str| -> &Cell<'_> {
        let index = names.iter().position(|n| *n == name).unwrap();
        &cells[row][index]
    };
    let value = |row: usize, name: &str| -> &PgValue<'_> {
        match get(row, name) {
            Cell::Value(v) => v,
            other => panic!("{name} of row {row} is {other:?}"),
        }
    };

    assert_eq!(value(0, "i2"), &PgValue::Int2(i16::MAX));
    assert_eq!(value(1, "i2"), &PgValue::Int2(i16::MIN));
    assert_eq!(value(0, "i8"), &PgValue::Int8(i64::MAX));
    assert_eq!(value(1, "i8"), &PgValue::Int8(i64::MIN));
    assert!(matches!(value(0, "f4"), PgValue::Float4(f) if f.is_nan()));
    assert_eq!(value(0, "f8"), &PgValue::Float8(f64::INFINITY));
    assert_eq!(value(1, "f4"), &PgValue::Float4(f32::NEG_INFINITY));
    assert!(matches!(value(1, "f8"), PgValue::Float8(f) if *f == 0.0 && f.is_sign_negative()));
    assert_eq!(value(0, "n"), &PgValue::Numeric(Numeric::NaN));
    let PgValue::Numeric(Numeric::Finite(fixed)) = value(0, "n_fixed") else {
        panic!()
    };
    assert_eq!(fixed.to_string(), "123456789.125");
    let PgValue::Numeric(Numeric::Finite(tiny)) = value(1, "n") else {
        panic!()
    };
    assert_eq!(tiny.to_string(), "-0.000000000000000000000000000000001");
    assert_eq!(value(0, "t"), &PgValue::Text("żółw 🐢 'quoted'".into()));
    assert_eq!(value(1, "t"), &PgValue::Text("".into()));
    assert_eq!(
        value(0, "ch"),
        &PgValue::Text("ab ".into()),
        "char(n) keeps its padding"
    );
    assert_eq!(value(0, "by"), &PgValue::Bytea(vec![0x00, 0xff].into()));
    assert_eq!(value(1, "by"), &PgValue::Bytea(Vec::new().into()));
    assert_eq!(value(1, "u"), &PgValue::Uuid([0; 16]));
    assert_eq!(value(0, "d"), &PgValue::Date(Date::Infinity));
    assert_eq!(value(0, "tm"), &PgValue::Time(86_400_000_000));
    assert_eq!(
        value(0, "tstz"),
        &PgValue::Timestamptz(Timestamp::NegInfinity)
    );
    assert_eq!(
        value(0, "e"),
        &PgValue::Text("sad".into()),
        "enums are their label"
    );
    let PgValue::Numeric(Numeric::Finite(dom)) = value(0, "dom") else {
        panic!("a domain parses as its base type")
    };
    assert_eq!(dom.to_string(), "12.50");
    let PgValue::Array(ints) = value(0, "a_i4") else {
        panic!()
    };
    assert_eq!(
        ints.elements,
        vec![Some(PgValue::Int4(1)), None, Some(PgValue::Int4(3))]
    );
    let PgValue::Array(texts_array) = value(0, "a_t") else {
        panic!()
    };
    assert_eq!(
        texts_array.elements,
        vec![
            Some(PgValue::Text("a,b".into())),
            Some(PgValue::Text("c\"d".into())),
            None
        ]
    );
    let PgValue::Array(square) = value(0, "a_2d") else {
        panic!()
    };
    assert_eq!(square.dims.len(), 2);
    assert!(matches!(value(0, "hs"), PgValue::Hstore(_)));
    assert!(matches!(value(0, "pt"), PgValue::Point(_)));
    assert!(matches!(value(0, "bits"), PgValue::Bits(_)));
    assert!(matches!(value(0, "l"), PgValue::Lsn(_)));
    assert!(matches!(value(0, "x"), PgValue::Xid(42)));
    assert!(
        cells[2][1..].iter().all(|c| *c == Cell::Null),
        "row 3 is all NULL: {:?}",
        cells[2]
    );
    let PgValue::Text(long) = value(3, "t") else {
        panic!()
    };
    assert_eq!(long.len(), 2_000_000);
    let PgValue::Bytea(bytes) = value(3, "by") else {
        panic!()
    };
    assert_eq!(bytes.len(), 100_000);
    capture.stop().await.unwrap();
}

/// A transaction bigger than `logical_decoding_work_mem` (the stack sets 64 kB) is
/// sent in chunks while it runs when streaming is on, and committed at the end.
async fn large_transaction_streams(streaming: Streaming, proto_version: u32) {
    let db = TestDb::create("cap_stream").await.unwrap();
    let sql = db.client().await.unwrap();
    sql.batch_execute("CREATE TABLE events (id int PRIMARY KEY, payload text)")
        .await
        .unwrap();
    capture::prepare(&db, &["events"]).await.unwrap();
    let mut options = capture::options(&db);
    options.proto_version = proto_version;
    options.streaming = streaming;
    let mut capture = capture::start(&db, &options).await.unwrap();

    sql.batch_execute(
        "INSERT INTO events SELECT i, repeat('x', 100) FROM generate_series(1, 20000) i",
    )
    .await
    .unwrap();
    let changes = collect(&mut capture, 1, Duration::from_secs(60))
        .await
        .unwrap();

    let starts = changes
        .iter()
        .filter(|c| matches!(c, Change::StreamStart { .. }))
        .count();
    let stops = changes
        .iter()
        .filter(|c| matches!(c, Change::StreamStop))
        .count();
    assert!(starts > 1, "a 2 MB transaction went in {starts} chunk(s)");
    assert_eq!(starts, stops);
    let Some(Change::StreamCommit(_, xid)) = changes.last() else {
        panic!("ends with {:?}", changes.last())
    };
    let rows = rows(&changes);
    assert_eq!(rows.len(), 20_000);
    assert!(
        rows.iter().all(|r| r.xid == Some(*xid)),
        "streamed rows carry their transaction id"
    );
    let ids: Vec<i32> = rows
        .iter()
        .map(|r| match r.new_row().unwrap().cell(0).unwrap().unwrap() {
            Cell::Value(PgValue::Int4(id)) => id,
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(ids, (1..=20_000).collect::<Vec<_>>());
    capture.stop().await.unwrap();
}

#[tokio::test]
async fn a_large_transaction_is_streamed_in_chunks_with_protocol_2() {
    large_transaction_streams(Streaming::On, 2).await;
}

#[tokio::test]
async fn a_large_transaction_is_streamed_in_parallel_mode_with_protocol_4() {
    let server_version = pgcdc_tests::Stack::get().pg_version();
    if server_version < 16 {
        // Protocol 4 exists from PostgreSQL 16: on 15 the server must refuse it
        // clearly instead of streaming something else.
        let db = TestDb::create("cap_proto4").await.unwrap();
        db.client()
            .await
            .unwrap()
            .batch_execute("CREATE TABLE events (id int PRIMARY KEY)")
            .await
            .unwrap();
        capture::prepare(&db, &["events"]).await.unwrap();
        let mut options = capture::options(&db);
        options.proto_version = 4;
        options.streaming = Streaming::Parallel;
        let refused = match capture::start(&db, &options).await {
            Err(e) => e.to_string(),
            Ok(mut capture) => match capture.next().await {
                Err(e) => e.to_string(),
                Ok(change) => panic!("PostgreSQL {server_version} accepted protocol 4: {change:?}"),
            },
        };
        assert!(refused.contains("streaming"), "{refused}");
        return;
    }
    large_transaction_streams(Streaming::Parallel, 4).await;
}

#[tokio::test]
async fn restarting_from_the_confirmed_position_misses_nothing_and_repeats_nothing() {
    let db = TestDb::create("cap_restart").await.unwrap();
    let sql = db.client().await.unwrap();
    sql.batch_execute("CREATE TABLE ticks (id int PRIMARY KEY)")
        .await
        .unwrap();
    capture::prepare(&db, &["ticks"]).await.unwrap();
    for id in 1..=10 {
        sql.execute("INSERT INTO ticks VALUES ($1)", &[&id])
            .await
            .unwrap();
    }
    let ids = |changes: &[Change]| -> Vec<String> {
        rows(changes)
            .iter()
            .map(|r| texts(r.new_row())[0].clone())
            .collect()
    };

    let mut capture = capture::start(&db, &capture::options(&db)).await.unwrap();
    let first = collect(&mut capture, 10, WAIT).await.unwrap();
    assert_eq!(
        ids(&first),
        (1..=10).map(|i| i.to_string()).collect::<Vec<_>>()
    );
    // Confirm the first five transactions only, as a consumer would that made just
    // those durable, then go away.
    let fifth_commit = first
        .iter()
        .filter_map(|c| match c {
            Change::Commit(commit) => Some(commit.end_lsn),
            _ => None,
        })
        .nth(4)
        .unwrap();
    capture.confirm(fifth_commit);
    capture.stop().await.unwrap();

    let admin = db.server.connect("postgres").await.unwrap();
    let confirmed: String = admin
        .query_one(
            "SELECT confirmed_flush_lsn::text FROM pg_replication_slots WHERE slot_name = $1",
            &[&db.slot_name()],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(confirmed, fifth_commit.to_string());

    sql.execute("INSERT INTO ticks VALUES (11)", &[])
        .await
        .unwrap();
    let mut capture = capture::start(&db, &capture::options(&db)).await.unwrap();
    let second = collect(&mut capture, 6, WAIT).await.unwrap();
    assert_eq!(
        ids(&second),
        (6..=11).map(|i| i.to_string()).collect::<Vec<_>>()
    );
    expect_nothing(&mut capture, Duration::from_secs(2))
        .await
        .unwrap();
    capture.stop().await.unwrap();
}
