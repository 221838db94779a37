//! Source PostgreSQL → pgcdc's connector → Kafka → pgcdc's sink → warehouse
//! PostgreSQL, under a continuous insert/update/delete load on tables of mixed types,
//! with a key change, a TRUNCATE, `ALTER TABLE … ADD COLUMN` mid-load and updates
//! that leave out-of-line (TOASTed) values unchanged: once the load stops and the sink
//! catches up, every table equals its warehouse copy, column for column (and
//! `pgcdc verify` says so), and the warehouse's offsets are the topics' ends.
//!
//! The load runs twice: with JsonConverter, and with Confluent's AvroConverter on both
//! sides through pgcdc's registry (the connector registers, the sink reads schemas by
//! id), which is how the acceptance tests are meant to run.

#![allow(clippy::unwrap_used)] // a test that cannot unwrap has failed

use std::sync::Arc;
use std::time::{Duration, Instant};

use pgcdc_schemas::registry::{self, Registry};
use pgcdc_sink::verify::{verify, VerifyOptions};
use pgcdc_tests::sink_support::{
    comparing_client, end_offsets, sink_config, sink_properties, stored_offsets, wait_equal,
    wait_topic, Connector, SinkTask, TablePair,
};
use pgcdc_tests::TestDb;
use rand::Rng;
use serde_json::{json, Value};

const SCHEMA: &str = "
CREATE TABLE orders (
    id bigint PRIMARY KEY,
    customer text NOT NULL,
    amount numeric(12,2),
    total numeric,
    qty integer,
    small smallint,
    price double precision,
    ratio real,
    paid boolean,
    day date,
    at_time time,
    ts timestamp,
    ts3 timestamp(3),
    tstz timestamptz,
    doc jsonb,
    js json,
    tags text[],
    scores integer[],
    ref uuid,
    raw bytea,
    flags bit(4),
    sku varchar(12),
    code char(3),
    version integer NOT NULL
);
CREATE TABLE items (
    order_id bigint,
    line integer,
    sku text,
    weight numeric(8,3),
    version integer NOT NULL,
    PRIMARY KEY (order_id, line)
);
-- Out-of-line bodies: an update that leaves them alone sends Debezium's
-- unavailable-value placeholder, and the warehouse must keep the stored body.
CREATE TABLE docs (id integer PRIMARY KEY, title text, body text, version integer NOT NULL);
ALTER TABLE docs ALTER COLUMN body SET STORAGE EXTERNAL;
";

/// Column values from the server's random(), with NULLs now and then.
fn order_values(id: i64) -> String {
    format!(
        "{id}, 'customer ' || {id}, \
         CASE WHEN random() < 0.1 THEN NULL ELSE round((random() * 100000)::numeric, 2) END, \
         CASE WHEN random() < 0.5 THEN floor(random() * 100000)::numeric * 100 ELSE floor(random() * 1000000)::numeric + 0.25 END, \
         (random() * 100)::int, (random() * 1000)::smallint, random() * 1000, random()::real, random() < 0.5, \
         date '2000-01-01' + (random() * 10000)::int, time '00:00' + random() * interval '23 hours', \
         timestamp '2000-01-01' + random() * interval '9000 days', \
         (timestamp '2000-01-01' + random() * interval '9000 days')::timestamp(3), \
         now() - random() * interval '1000 days', \
         jsonb_build_object('k', {id}, 'nested', jsonb_build_array('a', round(random()::numeric, 3))), \
         json_build_object('n', {id}, 'x', 'y  z'), \
         CASE WHEN random() < 0.1 THEN NULL ELSE ARRAY['a', 'b c', 'd\"e', NULL, 'f\\g'] END, \
         ARRAY[(random() * 10)::int, NULL, 3], gen_random_uuid(), \
         decode(md5(random()::text), 'hex'), ((random() * 15)::int)::bit(4), \
         'SKU-' || {id}, 'ab', 1"
    )
}

const ORDER_COLUMNS: &str = "id, customer, amount, total, qty, small, price, ratio, paid, day, \
    at_time, ts, ts3, tstz, doc, js, tags, scores, ref, raw, flags, sku, code, version";

struct Load {
    next_doc: i32,
    next_order: i64,
    orders: Vec<i64>,
    items: Vec<(i64, i32)>,
    altered: bool,
}

impl Load {
    /// One random transaction's statements.
    fn transaction(&mut self, rng: &mut impl Rng) -> String {
        let mut sql = String::from("BEGIN;");
        // Documents: new ones (sometimes retitled in the same transaction, so that the
        // batch holds the full image before the placeholder), retitles, new bodies.
        let doc_roll: f64 = rng.gen();
        if doc_roll < 0.1 || self.next_doc == 1 {
            let id = self.next_doc;
            self.next_doc += 1;
            sql.push_str(&format!(
                "INSERT INTO docs VALUES ({id}, 'doc {id}', repeat(md5(random()::text), 200), 1);"
            ));
            if doc_roll < 0.05 {
                sql.push_str(&format!(
                    "UPDATE docs SET title = 'again ' || random(), version = version + 1 WHERE id = {id};"
                ));
            }
        } else if doc_roll < 0.4 {
            let id = rng.gen_range(1..self.next_doc);
            sql.push_str(&format!(
                "UPDATE docs SET title = 'title ' || random(), version = version + 1 WHERE id = {id};"
            ));
        } else if doc_roll < 0.45 {
            let id = rng.gen_range(1..self.next_doc);
            sql.push_str(&format!(
                "UPDATE docs SET body = repeat(md5(random()::text), 150), version = version + 1 WHERE id = {id};"
            ));
        }
        for _ in 0..rng.gen_range(1..=4) {
            let roll: f64 = rng.gen();
            if roll < 0.35 || self.orders.len() < 5 {
                let id = self.next_order;
                self.next_order += 1;
                self.orders.push(id);
                sql.push_str(&format!(
                    "INSERT INTO orders ({ORDER_COLUMNS}) VALUES ({});",
                    order_values(id)
                ));
                if self.altered {
                    sql.push_str(&format!(
                        "UPDATE orders SET note = CASE WHEN random() < 0.3 THEN NULL ELSE 'n' || random() END WHERE id = {id};"
                    ));
                }
                for line in 0..rng.gen_range(0..3) {
                    self.items.push((id, line));
                    let discount = if self.altered { ", discount" } else { "" };
                    let value = if self.altered {
                        ", round((random() * 10)::numeric, 2)"
                    } else {
                        ""
                    };
                    sql.push_str(&format!(
                        "INSERT INTO items (order_id, line, sku, weight, version{discount}) VALUES \
                         ({id}, {line}, 'sku' || {line}, round((random() * 1000)::numeric, 3), 1{value});"
                    ));
                }
            } else if roll < 0.7 {
                let id = self.orders[rng.gen_range(0..self.orders.len())];
                let note = if self.altered {
                    ", note = 'updated ' || random()"
                } else {
                    ""
                };
                sql.push_str(&format!(
                    "UPDATE orders SET amount = round((random() * 100000)::numeric, 2), \
                     tags = ARRAY['u', random()::text], doc = doc || jsonb_build_object('u', random()), \
                     tstz = now(), version = version + 1{note} WHERE id = {id};"
                ));
            } else if roll < 0.8 && !self.items.is_empty() {
                let (order, line) = self.items[rng.gen_range(0..self.items.len())];
                let discount = if self.altered {
                    ", discount = round((random() * 10)::numeric, 2)"
                } else {
                    ""
                };
                sql.push_str(&format!(
                    "UPDATE items SET weight = round((random() * 1000)::numeric, 3), version = version + 1{discount} \
                     WHERE order_id = {order} AND line = {line};"
                ));
            } else if roll < 0.9 {
                let index = rng.gen_range(0..self.orders.len());
                let id = self.orders.swap_remove(index);
                sql.push_str(&format!("DELETE FROM orders WHERE id = {id};"));
            } else if roll < 0.93 {
                // A key change: Debezium's delete + tombstone + create.
                let index = rng.gen_range(0..self.orders.len());
                let new_id = self.next_order;
                self.next_order += 1;
                let old = std::mem::replace(&mut self.orders[index], new_id);
                sql.push_str(&format!(
                    "UPDATE orders SET id = {new_id} WHERE id = {old};"
                ));
            } else if !self.items.is_empty() {
                let (order, line) = self.items.swap_remove(rng.gen_range(0..self.items.len()));
                sql.push_str(&format!(
                    "DELETE FROM items WHERE order_id = {order} AND line = {line};"
                ));
            }
        }
        sql.push_str("COMMIT;");
        sql
    }
}

/// pgcdc's embedded Confluent-compatible registry, in-process; its URL.
async fn start_registry() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(registry::serve(listener, Arc::new(Registry::in_memory())));
    url
}

/// `key.converter`/`value.converter` properties: Confluent's AvroConverter through
/// `registry`, or (None) the JsonConverter default.
fn converters(registry: Option<&str>) -> Value {
    match registry {
        None => json!({}),
        Some(url) => json!({
            "key.converter": "io.confluent.connect.avro.AvroConverter",
            "key.converter.schema.registry.url": url,
            "value.converter": "io.confluent.connect.avro.AvroConverter",
            "value.converter.schema.registry.url": url,
        }),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_under_load_with_truncate_and_added_columns_equals_the_source() {
    stream_under_load("sink_e2e", None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_under_load_in_avro_through_the_registry_equals_the_source() {
    let registry = start_registry().await;
    stream_under_load("sink_e2e_avro", Some(&registry)).await;
}

async fn stream_under_load(label: &str, registry: Option<&str>) {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
    let started = Instant::now();
    let source = TestDb::create(&format!("{label}_src")).await.unwrap();
    let warehouse = TestDb::create(&format!("{label}_dw")).await.unwrap();
    let sql = source.client().await.unwrap();
    sql.batch_execute(SCHEMA).await.unwrap();
    let mut load = Load {
        next_doc: 1,
        next_order: 1,
        orders: Vec::new(),
        items: Vec::new(),
        altered: false,
    };
    let mut rng = rand::thread_rng();
    // Rows for the snapshot (op=r).
    for _ in 0..20 {
        sql.batch_execute(&load.transaction(&mut rng))
            .await
            .unwrap();
    }

    let connector = Connector::start(&source, converters(registry)).unwrap();
    let prefix = source.topic_prefix();
    let topics = vec![
        format!("{prefix}.public.orders"),
        format!("{prefix}.public.items"),
        format!("{prefix}.public.docs"),
    ];
    for topic in &topics {
        wait_topic(topic, Duration::from_secs(60)).await.unwrap();
    }
    let sink_name = format!("{}_sink", warehouse.name);
    let properties = sink_properties(
        &sink_name,
        &warehouse,
        &topics,
        merge(
            json!({"batch.size": "200", "batch.max.latency.ms": "100", "history.enabled": "true"}),
            converters(registry),
        ),
    );
    let sink = SinkTask::start(sink_config(&properties).unwrap());

    // The load: about 15 s of transactions; a TRUNCATE at 40%, ALTER TABLEs at 55%.
    let load_for = Duration::from_secs(15);
    let load_start = Instant::now();
    let (mut truncated, mut transactions) = (false, 0u32);
    while load_start.elapsed() < load_for {
        let progress = load_start.elapsed().as_secs_f64() / load_for.as_secs_f64();
        if progress > 0.4 && !truncated {
            truncated = true;
            sql.batch_execute("TRUNCATE items").await.unwrap();
            load.items.clear();
        }
        if progress > 0.55 && !load.altered {
            load.altered = true;
            sql.batch_execute(
                "ALTER TABLE orders ADD COLUMN note text; \
                 ALTER TABLE items ADD COLUMN discount numeric(5,2) DEFAULT 1.50",
            )
            .await
            .unwrap();
        }
        sql.batch_execute(&load.transaction(&mut rng))
            .await
            .unwrap();
        transactions += 1;
        assert!(!sink.is_finished(), "the sink stopped during the load");
    }
    let load_done = Instant::now();

    let source_cmp = comparing_client(&source).await.unwrap();
    let warehouse_cmp = comparing_client(&warehouse).await.unwrap();
    let pairs = [
        TablePair {
            source: "orders".to_owned(),
            copy: format!("{prefix}_public_orders"),
            key: vec!["id"],
        },
        TablePair {
            source: "items".to_owned(),
            copy: format!("{prefix}_public_items"),
            key: vec!["order_id", "line"],
        },
        TablePair {
            source: "docs".to_owned(),
            copy: format!("{prefix}_public_docs"),
            key: vec!["id"],
        },
    ];
    wait_equal(&source_cmp, &warehouse_cmp, &pairs, Duration::from_secs(90))
        .await
        .unwrap();
    let caught_up = load_done.elapsed();

    // What a data engineer would run: `pgcdc verify`'s reconciliation, per table.
    for pair in &pairs {
        let mut source_sql = source.client().await.unwrap();
        let mut warehouse_sql = warehouse.client().await.unwrap();
        let report = verify(
            &mut source_sql,
            &pair.source,
            &mut warehouse_sql,
            &pair.copy,
            None,
            VerifyOptions::default(),
        )
        .await
        .unwrap();
        assert!(report.is_equal(), "{report}");
    }

    // The warehouse's offsets are the topics' ends (nothing left to apply).
    let stored = stored_offsets(&warehouse_cmp, &sink_name).await.unwrap();
    for topic in &topics {
        for (partition, end) in end_offsets(topic).unwrap() {
            let next = stored.get(&(topic.clone(), partition)).copied().flatten();
            assert_eq!(
                next,
                Some(end),
                "{topic}/{partition}: stored {next:?}, end {end}"
            );
        }
    }
    // The history tables hold one row per change record (tombstones aside), the
    // truncate among them, and the column added mid-load.
    for pair in &pairs {
        let topic = format!("{prefix}.public.{}", pair.source);
        let records = pgcdc_tests::kafka::read_topic(
            &topic,
            pgcdc_tests::kafka::Isolation::ReadCommitted,
            None,
            Duration::from_secs(30),
        )
        .unwrap();
        let changes = records.iter().filter(|r| r.value.is_some()).count() as i64;
        let history = format!("{}_history", pair.copy);
        let (rows, distinct, truncates): (i64, i64, i64) = warehouse_cmp
            .query_one(
                &format!(
                    "SELECT count(*), count(DISTINCT (__topic, __partition, __offset)), \
                            count(*) FILTER (WHERE __op = 't') FROM {history}"
                ),
                &[],
            )
            .await
            .map(|r| (r.get(0), r.get(1), r.get(2)))
            .unwrap();
        assert_eq!(
            (rows, distinct),
            (changes, changes),
            "{history}: rows and distinct records against {topic}'s change records"
        );
        let expected_truncates = i64::from(pair.source == "items");
        assert_eq!(truncates, expected_truncates, "{history}: truncates");
        if pair.source == "orders" {
            let note: i64 = warehouse_cmp
                .query_one(
                    "SELECT count(*) FROM information_schema.columns \
                     WHERE table_name = $1 AND column_name = 'note'",
                    &[&history],
                )
                .await
                .unwrap()
                .get(0);
            assert_eq!(note, 1, "{history} gained the column added mid-load");
        }
    }

    // The unchanged-TOAST path was taken: the docs topic carries placeholders.
    let docs = pgcdc_tests::kafka::read_topic(
        &topics[2],
        pgcdc_tests::kafka::Isolation::ReadCommitted,
        None,
        Duration::from_secs(30),
    )
    .unwrap();
    let placeholders = docs
        .iter()
        .filter_map(|r| r.value.as_deref())
        .filter(|v| {
            v.windows(b"__debezium_unavailable_value".len())
                .any(|w| w == b"__debezium_unavailable_value")
        })
        .count();
    assert!(
        placeholders > 10,
        "only {placeholders} records with unchanged TOAST values"
    );

    let rows: i64 = warehouse_cmp
        .query_one(&format!("SELECT count(*) FROM {prefix}_public_orders"), &[])
        .await
        .unwrap()
        .get(0);
    assert!(rows > 20, "the load left {rows} orders");
    let stats = sink.stop().await.unwrap();
    connector.stop().await.unwrap();
    eprintln!(
        "{label}: {transactions} transactions, {rows} orders, {placeholders} unchanged-TOAST records; sink {stats:?}; caught up {caught_up:?} after the load; test {:?}",
        started.elapsed()
    );
}

fn merge(mut base: Value, extra: Value) -> Value {
    if let (Some(base), Value::Object(extra)) = (base.as_object_mut(), extra) {
        base.extend(extra);
    }
    base
}

/// `schema.evolution=none` refuses a missing table by name; the task stops with the
/// error instead of guessing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_table_without_schema_evolution_stops_the_sink() {
    let source = TestDb::create("sink_e2e_none_src").await.unwrap();
    let warehouse = TestDb::create("sink_e2e_none_dw").await.unwrap();
    let sql = source.client().await.unwrap();
    sql.batch_execute("CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t VALUES (1, 'a')")
        .await
        .unwrap();
    let connector = Connector::start(&source, json!({})).unwrap();
    let topic = format!("{}.public.t", source.topic_prefix());
    wait_topic(&topic, Duration::from_secs(60)).await.unwrap();
    let properties = sink_properties(
        &format!("{}_sink", warehouse.name),
        &warehouse,
        std::slice::from_ref(&topic),
        json!({"schema.evolution": "none"}),
    );
    let sink = SinkTask::start(sink_config(&properties).unwrap());
    let deadline = Instant::now() + Duration::from_secs(60);
    while !sink.is_finished() {
        assert!(Instant::now() < deadline, "the sink did not stop");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let error = sink.stop().await.unwrap_err().to_string();
    assert!(
        error.contains("does not exist") && error.contains("schema.evolution=basic"),
        "{error}"
    );
    connector.stop().await.unwrap();
}

/// Tasks of one sink start at once on a warehouse that has no offsets table yet:
/// each creates it, and every one of them must start (PostgreSQL reports the losers
/// of a concurrent `CREATE TABLE IF NOT EXISTS` as duplicates of the table, of its
/// row type or of a catalog key, not as "already exists").
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sink_tasks_starting_together_on_an_empty_warehouse_all_start() {
    let warehouse = TestDb::create("sink_e2e_race_dw").await.unwrap();
    for round in 0..12 {
        let properties = sink_properties(
            "race_sink",
            &warehouse,
            &["race.public.t".to_owned()],
            json!({"offsets.table.name": format!("offsets_round_{round}")}),
        );
        let config = sink_config(&properties).unwrap();
        let starts = (0..6).map(|_| {
            let config = Arc::clone(&config);
            tokio::spawn(pgcdc_sink::warehouse::Warehouse::connect(config))
        });
        for (task, started) in futures_util::future::join_all(starts)
            .await
            .into_iter()
            .enumerate()
        {
            if let Err(e) = started.unwrap() {
                panic!("round {round}: task {task} did not start: {e}");
            }
        }
    }
    let client = warehouse.client().await.unwrap();
    let tables: i64 = client
        .query_one(
            "SELECT count(*) FROM pg_tables WHERE tablename LIKE 'offsets_round_%'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(tables, 12);
}
