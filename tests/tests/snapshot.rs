//! The initial snapshot against the real PostgreSQL: chunks read in parallel under the
//! slot's exported snapshot form exactly the image the stream continues from.

#![allow(clippy::unwrap_used)] // a test that cannot unwrap has failed

use std::collections::BTreeMap;
use std::time::Duration;

use pgcdc_connector::capture::{load_user_types, Capture, Change, RowOp, RowValues};
use pgcdc_connector::pgoutput::ColumnValue;
use pgcdc_connector::replication::{CreateSlotOptions, ReplicationClient, SnapshotAction};
use pgcdc_connector::snapshot::{chunks, copy_chunk, import_snapshot, table_blocks, table_schema};
use pgcdc_tests::capture::{self, collect};
use pgcdc_tests::TestDb;

fn text(row: &RowValues<'_>, index: usize) -> String {
    match row.raw(index).unwrap() {
        ColumnValue::Text(t) => String::from_utf8(t.to_vec()).unwrap(),
        ColumnValue::Null => "null".to_owned(),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn parallel_chunks_under_the_exported_snapshot_meet_the_stream_exactly() {
    let db = TestDb::create("snap").await.unwrap();
    let sql = db.client().await.unwrap();
    sql.batch_execute(&format!(
        "CREATE TABLE orders (id int PRIMARY KEY, note text, amount numeric(12,2), at timestamptz, span interval);
         INSERT INTO orders SELECT i, 'order ' || i, i * 1.5, '2024-05-01 12:00:00+02'::timestamptz + i * interval '1 minute',
                                   make_interval(days => i % 40, secs => i % 60)
           FROM generate_series(1, 20000) i;
         CREATE PUBLICATION {} FOR TABLE orders;",
        db.publication_name()
    ))
    .await
    .unwrap();

    let mut replication = ReplicationClient::connect(capture::replication_config(&db))
        .await
        .unwrap();
    let types = load_user_types(&mut replication).await.unwrap();
    let created = replication
        .create_slot(
            &db.slot_name(),
            CreateSlotOptions {
                temporary: false,
                snapshot: SnapshotAction::Export,
            },
        )
        .await
        .unwrap();
    let snapshot = created.snapshot_name.clone().unwrap();

    // Changes after the slot's consistent point: invisible to the snapshot, streamed.
    sql.batch_execute(
        "INSERT INTO orders SELECT i, 'late ' || i, 1.00, '2024-05-01 12:00:00+02', '1 day' FROM generate_series(20001, 20100) i;
         UPDATE orders SET note = 'changed' WHERE id <= 10;
         DELETE FROM orders WHERE id BETWEEN 11 AND 20;",
    )
    .await
    .unwrap();

    let readers = [db.client().await.unwrap(), db.client().await.unwrap()];
    for reader in &readers {
        import_snapshot(reader, &snapshot).await.unwrap();
    }
    let table = table_schema(&readers[0], "public", "orders", &types)
        .await
        .unwrap();
    let blocks = table_blocks(&readers[0], &table).await.unwrap();
    assert!(blocks > 40, "the table spans {blocks} blocks");
    let plan = chunks::plan(blocks, blocks / 7);
    assert!(plan.len() >= 7);

    // Each reader takes every other chunk, concurrently.
    let read = |reader: usize| {
        let client = &readers[reader];
        let table = &table;
        let chunks: Vec<_> = plan.iter().copied().skip(reader).step_by(2).collect();
        async move {
            let mut rows = BTreeMap::new();
            for chunk in chunks {
                copy_chunk(client, table, chunk, |tuple| {
                    let row = RowValues::new(table, &tuple);
                    row.cells()
                        .expect("every snapshot column parses as its type");
                    let id: i32 = text(&row, 0).parse().unwrap();
                    let texts: Vec<String> = (0..row.len()).map(|i| text(&row, i)).collect();
                    assert!(rows.insert(id, texts).is_none(), "row {id} read twice");
                })
                .await
                .unwrap();
            }
            rows
        }
    };
    let (first, second) = tokio::join!(read(0), read(1));
    let mut image = first;
    for (id, row) in second {
        assert!(image.insert(id, row).is_none(), "row {id} in two chunks");
    }
    assert_eq!(
        image.keys().copied().collect::<Vec<_>>(),
        (1..=20000).collect::<Vec<_>>()
    );
    assert_eq!(image[&5][1], "order 5", "the snapshot predates the update");
    assert!(image.contains_key(&15), "the snapshot predates the delete");

    // The stream continues exactly where the image stops.
    let mut stream = Capture::start_on(replication, types, &capture::options(&db))
        .await
        .unwrap();
    let changes = collect(&mut stream, 1, Duration::from_secs(30))
        .await
        .unwrap();
    let mut inserted = Vec::new();
    let (mut updated, mut deleted) = (0, 0);
    for change in &changes {
        if let Change::Row(row) = change {
            match row.op {
                RowOp::Insert => {
                    let new = row.new_row().unwrap();
                    inserted.push(text(&new, 0).parse::<i32>().unwrap());
                    // Snapshot text and streamed text of the same kind of value agree.
                    assert_eq!(text(&new, 3), "2024-05-01 10:00:00+00");
                    assert_eq!(text(&new, 2), "1.00");
                }
                RowOp::Update => updated += 1,
                RowOp::Delete => deleted += 1,
            }
        }
    }
    assert_eq!(inserted, (20001..=20100).collect::<Vec<_>>());
    assert_eq!((updated, deleted), (10, 10));
    assert_eq!(
        image[&60][3], "2024-05-01 11:00:00+00",
        "UTC, as the stream prints it"
    );
    assert_eq!(image[&61][4], "21 days 00:00:01");
    stream.stop().await.unwrap();
}
