//! The load generator and probe of `bench/run dashboard` (see bench/README.md): a
//! clickstream shop written into PostgreSQL, and the delay from each transaction's
//! commit to the moment Redis announces the window value that holds it.
//!
//! It works on the tables `bench/dashboard` creates (`products`, `page_views`,
//! `orders`; the event times are the columns' `clock_timestamp()` defaults), and is
//! driven by environment variables; `PGCDC_BENCH_MODE` picks what it does:
//!
//! - `prefill`: `PGCDC_BENCH_EVENTS` change events (nine page views for every order)
//!   as fast as one connection commits them, in transactions of 1,000 rows;
//! - `ends`: waits until the topics `PGCDC_BENCH_TOPICS` (comma-separated) on
//!   `PGCDC_BENCH_KAFKA` hold `PGCDC_BENCH_EVENTS` records, and says how long that took;
//! - `watch`: follows a starting `pgcdc dashboard` (`PGCDC_BENCH_DASHBOARD_URL`, process
//!   `PGCDC_BENCH_PID`) over its pre-filled topics: the moment its `/metrics` first
//!   counts a record, and the moment the offsets it committed to Redis (the hash
//!   `PGCDC_BENCH_OFFSETS_KEY`) add up to `PGCDC_BENCH_EVENTS`, with its CPU seconds
//!   at both (from `/proc`, in ticks of `PGCDC_BENCH_CLK_TCK`); polled every 10 ms
//!   over kept-alive connections, so that watching costs the machine little;
//! - `steady`: `PGCDC_BENCH_RATE` events a second (default 5,000) for
//!   `PGCDC_BENCH_WARMUP` + `PGCDC_BENCH_SECONDS` seconds, in transactions of
//!   `PGCDC_BENCH_TX_EVENTS` rows (default 50: 45 page views and 5 orders) started on a
//!   fixed schedule over four connections, so that a slow commit does not hold the
//!   next one back. The last page view of every transaction carries `probe` = the
//!   transaction's number; the dashboard's `bench_probe` metric groups by it, so the
//!   first notification on the Redis channel `PGCDC_BENCH_CHANNEL` naming that group
//!   is published by the MULTI/EXEC that first holds the row. Its delay is measured
//!   from the moment the transaction was sent (before its commit: an upper bound on
//!   the true delay) and from the moment the commit was acknowledged (after it: a
//!   lower bound). Beside it, the dashboard's own histogram
//!   `pgcdc_dashboard_source_to_redis_seconds` (`source.ts_ms` → EXEC, every event)
//!   is read from `PGCDC_BENCH_DASHBOARD_URL` before and after the measured seconds.
//!
//! The visitors: 10,000 visits are open at any time; each page view belongs to a
//! random open visit, and a visit ends after 1 to 12 views (35% bounce after one),
//! its user replaced by a new one. Orders are placed by a random open visit's user.
//!
//! Output: markdown lines for the report, on stdout.

#![allow(clippy::unwrap_used)] // a load generator that cannot unwrap has failed

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures_util::StreamExt;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use serde_json::Value;
use tokio_postgres::{Client, NoTls};

const OPEN_VISITS: usize = 10_000;
const CONNECTIONS: usize = 4;

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set"))
}

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .map(|v| {
            v.parse()
                .unwrap_or_else(|_| panic!("{name}={v} is not a number"))
        })
        .unwrap_or(default)
}

/// Wall clock in microseconds since the Unix epoch.
fn now_micros() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as i64)
}

/// splitmix64: a small, seeded, reproducible generator.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// The open visits: who views the next page, who orders.
struct Visitors {
    rng: Rng,
    /// (user, views left) per open visit.
    open: Vec<(i64, u32)>,
    next_user: i64,
    next_view: i64,
    next_order: i64,
}

impl Visitors {
    fn new(seed: u64, first_id: i64) -> Visitors {
        let mut visitors = Visitors {
            rng: Rng(seed),
            open: Vec::with_capacity(OPEN_VISITS),
            next_user: first_id,
            next_view: first_id,
            next_order: first_id,
        };
        for _ in 0..OPEN_VISITS {
            let visit = visitors.new_visit();
            visitors.open.push(visit);
        }
        visitors
    }

    fn new_visit(&mut self) -> (i64, u32) {
        let user = self.next_user;
        self.next_user += 1;
        let views = if self.rng.below(100) < 35 {
            1
        } else {
            2 + self.rng.below(11) as u32
        };
        (user, views)
    }

    /// `(id, user_id, product_id, probe)` of a page view, as SQL values.
    fn view(&mut self, probe: Option<u64>) -> String {
        let slot = self.rng.below(OPEN_VISITS as u64) as usize;
        let (user, left) = self.open[slot];
        if left <= 1 {
            self.open[slot] = self.new_visit();
        } else {
            self.open[slot].1 = left - 1;
        }
        let id = self.next_view;
        self.next_view += 1;
        let product = 1 + self.rng.below(40);
        let probe = probe.map_or("NULL".to_owned(), |p| p.to_string());
        format!("({id},{user},{product},{probe})")
    }

    /// `(id, user_id, amount)` of an order.
    fn order(&mut self) -> String {
        let (user, _) = self.open[self.rng.below(OPEN_VISITS as u64) as usize];
        let id = self.next_order;
        self.next_order += 1;
        let cents = 100 + self.rng.below(49_900);
        format!("({id},{user},{}.{:02})", cents / 100, cents % 100)
    }

    /// One transaction of `views` page views and `orders` orders, as one simple
    /// query (one round trip, one implicit transaction).
    fn transaction(&mut self, views: u64, orders: u64, probe: Option<u64>) -> String {
        let mut sql = String::new();
        if views > 0 {
            let rows: Vec<String> = (0..views)
                .map(|i| self.view(probe.filter(|_| i + 1 == views)))
                .collect();
            sql.push_str("INSERT INTO page_views (id, user_id, product_id, probe) VALUES ");
            sql.push_str(&rows.join(","));
            sql.push(';');
        }
        if orders > 0 {
            let rows: Vec<String> = (0..orders).map(|_| self.order()).collect();
            sql.push_str("INSERT INTO orders (id, user_id, amount) VALUES ");
            sql.push_str(&rows.join(","));
            sql.push(';');
        }
        sql
    }
}

async fn connect() -> Client {
    let (client, connection) = tokio_postgres::connect(&env("PGCDC_BENCH_PG"), NoTls)
        .await
        .unwrap();
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            eprintln!("shop_load: PostgreSQL connection ended: {e}");
        }
    });
    client
}

async fn prefill() {
    let events = env_number("PGCDC_BENCH_EVENTS", 500_000);
    let first_id = env_number("PGCDC_BENCH_FIRST_ID", 1) as i64;
    let client = connect().await;
    let mut visitors = Visitors::new(1, first_id);
    let started = Instant::now();
    let mut written = (0u64, 0u64);
    while written.0 + written.1 < events {
        let n = (events - written.0 - written.1).min(1_000);
        let orders = n / 10;
        let views = n - orders;
        client
            .batch_execute(&visitors.transaction(views, orders, None))
            .await
            .unwrap();
        written.0 += views;
        written.1 += orders;
    }
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "prefill: {} events ({} page views, {} orders) committed in {seconds:.1} s ({:.0} events/s)",
        events, written.0, written.1,
        events as f64 / seconds
    );
}

fn ends() {
    let events = env_number("PGCDC_BENCH_EVENTS", 500_000) as i64;
    let timeout = Duration::from_secs(env_number("PGCDC_BENCH_TIMEOUT", 900));
    let topics = env("PGCDC_BENCH_TOPICS");
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", env("PGCDC_BENCH_KAFKA"))
        .create()
        .unwrap();
    let started = Instant::now();
    loop {
        let mut total = 0;
        for topic in topics.split(',') {
            let Ok(metadata) = consumer.fetch_metadata(Some(topic), Duration::from_secs(10)) else {
                continue;
            };
            for t in metadata.topics() {
                for p in t.partitions() {
                    if let Ok((low, high)) =
                        consumer.fetch_watermarks(topic, p.id(), Duration::from_secs(10))
                    {
                        total += high - low;
                    }
                }
            }
        }
        if total >= events {
            println!(
                "ends: {total} records in {topics} after {:.1} s",
                started.elapsed().as_secs_f64()
            );
            return;
        }
        assert!(
            started.elapsed() < timeout,
            "only {total} of {events} records in {topics} after {timeout:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// User + system CPU seconds of a process, from `/proc/<pid>/stat`.
fn cpu_seconds(pid: &str, ticks: f64) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // The fields after the command name; utime and stime are the 12th and 13th.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let field = |i: usize| fields[i].parse::<f64>().unwrap();
    (field(11) + field(12)) / ticks
}

fn unix_seconds() -> f64 {
    now_micros() as f64 / 1e6
}

async fn watch() {
    let events = env_number("PGCDC_BENCH_EVENTS", 500_000) as i64;
    let pid = env("PGCDC_BENCH_PID");
    let ticks = env_number("PGCDC_BENCH_CLK_TCK", 100) as f64;
    let dashboard = env("PGCDC_BENCH_DASHBOARD_URL");
    let offsets_key = env("PGCDC_BENCH_OFFSETS_KEY");
    let timeout = Duration::from_secs(env_number("PGCDC_BENCH_TIMEOUT", 1800));
    let http = reqwest::Client::new();
    let redis = redis::Client::open(env("PGCDC_BENCH_REDIS_URL")).unwrap();
    let mut connection = redis.get_multiplexed_async_connection().await.unwrap();
    let started = Instant::now();
    let mut polls = 0u64;
    let (first_at, first_cpu) = loop {
        let text = http
            .get(format!("{dashboard}metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let records = text
            .lines()
            .find_map(|l| l.strip_prefix("pgcdc_dashboard_records_total "))
            .and_then(|v| v.trim().parse::<f64>().ok())
            .unwrap_or(0.0);
        polls += 1;
        if records > 0.0 {
            if polls == 1 {
                println!("warning: the first poll already found {records} records read");
            }
            break (unix_seconds(), cpu_seconds(&pid, ticks));
        }
        assert!(
            started.elapsed() < timeout,
            "no record read after {timeout:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    let (done_at, done_cpu) = loop {
        let offsets: HashMap<String, i64> = redis::cmd("HGETALL")
            .arg(&offsets_key)
            .query_async(&mut connection)
            .await
            .unwrap();
        if offsets.values().sum::<i64>() >= events {
            break (unix_seconds(), cpu_seconds(&pid, ticks));
        }
        assert!(
            started.elapsed() < timeout,
            "the offsets in {offsets_key} add up to {} of {events} after {timeout:?}",
            offsets.values().sum::<i64>()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    println!("first_record_at={first_at:.3} first_cpu={first_cpu:.2} done_at={done_at:.3} done_cpu={done_cpu:.2}");
}

/// Cumulative buckets `(upper bound, count)` of a Prometheus histogram, and its count.
fn histogram(text: &str, name: &str) -> (Vec<(f64, f64)>, f64) {
    let bucket = format!("{name}_bucket{{le=\"");
    let mut buckets = Vec::new();
    let mut count = 0.0;
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix(&bucket) {
            let Some((bound, value)) = rest.split_once("\"} ") else {
                continue;
            };
            let bound = if bound == "+Inf" {
                f64::INFINITY
            } else {
                bound.parse().unwrap()
            };
            buckets.push((bound, value.trim().parse().unwrap()));
        } else if let Some(value) = line.strip_prefix(&format!("{name}_count ")) {
            count = value.trim().parse().unwrap();
        }
    }
    (buckets, count)
}

/// Quantile `q` of the observations between two scrapes, interpolated linearly
/// inside its bucket (as Prometheus' `histogram_quantile` does); with the bucket.
fn histogram_quantile(before: &[(f64, f64)], after: &[(f64, f64)], q: f64) -> Option<String> {
    let delta: Vec<(f64, f64)> = after
        .iter()
        .map(|(bound, n)| {
            let old = before
                .iter()
                .find(|(b, _)| b == bound)
                .map_or(0.0, |(_, n)| *n);
            (*bound, n - old)
        })
        .collect();
    let total = delta.last()?.1;
    if total <= 0.0 {
        return None;
    }
    let rank = q * total;
    let mut lower = (0.0, 0.0);
    for (bound, cumulative) in delta {
        if cumulative >= rank {
            if bound.is_infinite() {
                return Some(format!("> {:.0} ms", lower.0 * 1e3));
            }
            let share = if cumulative > lower.1 {
                (rank - lower.1) / (cumulative - lower.1)
            } else {
                1.0
            };
            let value = lower.0 + (bound - lower.0) * share;
            return Some(format!(
                "{:.0} ms (bucket {:.0}–{:.0} ms)",
                value * 1e3,
                lower.0 * 1e3,
                bound * 1e3
            ));
        }
        lower = (bound, cumulative);
    }
    None
}

async fn scrape(url: &str) -> String {
    reqwest::get(format!("{url}metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// Percentiles of a sample, in milliseconds.
fn percentiles(mut micros: Vec<i64>) -> String {
    if micros.is_empty() {
        return "no samples".into();
    }
    micros.sort_unstable();
    let at = |q: f64| {
        let i = ((micros.len() as f64 - 1.0) * q).round() as usize;
        micros[i] as f64 / 1e3
    };
    format!(
        "{:.1} | {:.1} | {:.1} | {:.1} | {:.1}",
        at(0.5),
        at(0.9),
        at(0.99),
        at(0.999),
        at(1.0)
    )
}

/// Follows the page-view topic from its end as a second consumer (optional, with
/// `PGCDC_BENCH_TRACE_TOPIC`): for every probe row, the record's Kafka timestamp
/// (the connector's producer sets it when it hands the record over) and when this
/// consumer received it, to split the delay into the connector's hop, Kafka's and
/// the dashboard's. Only the bytes after `"probe":` are looked at.
fn trace_topic(
    topic: String,
    seen: Arc<Mutex<HashMap<u64, (i64, i64)>>>,
    stop: Arc<std::sync::atomic::AtomicBool>,
    ready: std::sync::mpsc::Sender<()>,
) {
    use rdkafka::message::{Message, Timestamp};
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", env("PGCDC_BENCH_KAFKA"))
        .set("group.id", format!("{topic}.bench-trace"))
        .set("enable.auto.commit", "false")
        .set("fetch.wait.max.ms", "10")
        .create()
        .unwrap();
    let metadata = consumer
        .fetch_metadata(Some(&topic), Duration::from_secs(10))
        .unwrap();
    let mut assignment = rdkafka::TopicPartitionList::new();
    for t in metadata.topics() {
        for p in t.partitions() {
            assignment
                .add_partition_offset(&topic, p.id(), rdkafka::Offset::End)
                .unwrap();
        }
    }
    consumer.assign(&assignment).unwrap();
    // Offset::End is resolved on the first fetch: poll until that is done.
    let _ = consumer.poll(Duration::from_millis(500));
    let _ = ready.send(());
    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
        let Some(Ok(message)) = consumer.poll(Duration::from_millis(100)) else {
            continue;
        };
        let at = now_micros();
        let Some(payload) = message.payload() else {
            continue;
        };
        let Some(found) = payload.windows(8).position(|w| w == b"\"probe\":") else {
            continue;
        };
        let digits: Vec<u8> = payload[found + 8..]
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .copied()
            .collect();
        let Some(probe) = std::str::from_utf8(&digits)
            .ok()
            .and_then(|d| d.parse::<u64>().ok())
        else {
            continue;
        };
        let created = match message.timestamp() {
            Timestamp::CreateTime(ms) | Timestamp::LogAppendTime(ms) => ms,
            Timestamp::NotAvailable => 0,
        };
        seen.lock().unwrap().entry(probe).or_insert((created, at));
    }
}

/// One probe transaction: when it was sent, when its commit was acknowledged.
#[derive(Debug, Clone, Copy)]
struct Sent {
    sent_us: i64,
    acked_us: i64,
    measured: bool,
}

async fn steady() {
    let rate = env_number("PGCDC_BENCH_RATE", 5_000);
    let seconds = env_number("PGCDC_BENCH_SECONDS", 60);
    let warmup = env_number("PGCDC_BENCH_WARMUP", 10);
    let tx_events = env_number("PGCDC_BENCH_TX_EVENTS", 50).max(2);
    let first_id = env_number("PGCDC_BENCH_FIRST_ID", 1_000_000_000) as i64;
    let channel = env("PGCDC_BENCH_CHANNEL");
    let dashboard = env("PGCDC_BENCH_DASHBOARD_URL");
    let histogram_name = "pgcdc_dashboard_source_to_redis_seconds";
    let ticks = env_number("PGCDC_BENCH_CLK_TCK", 100) as f64;
    let cpu_at_start = cpu_seconds("self", ticks);

    // The connector's own view of its delay (Debezium's MilliSecondsBehindSource:
    // processing time minus commit time of the last event it encoded), sampled
    // every 500 ms from the worker's /metrics: the first hop alone.
    let behind: Arc<Mutex<Vec<i64>>> = Arc::default();
    let sampler = std::env::var("PGCDC_BENCH_WORKER_METRICS_URL")
        .ok()
        .map(|url| {
            let behind = Arc::clone(&behind);
            tokio::spawn(async move {
                let http = reqwest::Client::new();
                loop {
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    let Ok(response) = http.get(&url).send().await else {
                        continue;
                    };
                    let Ok(text) = response.text().await else {
                        continue;
                    };
                    if let Some(ms) = text
                        .lines()
                        .filter(|l| l.starts_with("pgcdc_milliseconds_behind_source{"))
                        .find_map(|l| l.rsplit_once(' ')?.1.parse::<f64>().ok())
                    {
                        behind.lock().unwrap().push(ms as i64 * 1000);
                    }
                }
            })
        });

    // Subscribed before the first transaction.
    let notified: Arc<Mutex<HashMap<u64, i64>>> = Arc::default();
    let redis = redis::Client::open(env("PGCDC_BENCH_REDIS_URL")).unwrap();
    let mut pubsub = redis.get_async_pubsub().await.unwrap();
    pubsub.subscribe(&channel).await.unwrap();
    let seen = Arc::clone(&notified);
    let listener = tokio::spawn(async move {
        let mut messages = pubsub.on_message();
        while let Some(message) = messages.next().await {
            let at = now_micros();
            let Ok(text) = message.get_payload::<String>() else {
                continue;
            };
            let Ok(update) = serde_json::from_str::<Value>(&text) else {
                continue;
            };
            if update["metric"] != "bench_probe" {
                continue;
            }
            // The group is the JSON text of the group values: `["17"]`.
            let probe = update["group"]
                .as_str()
                .and_then(|g| serde_json::from_str::<Value>(g).ok())
                .and_then(|g| g[0].as_str().and_then(|p| p.parse::<u64>().ok()));
            if let Some(probe) = probe {
                seen.lock().unwrap().entry(probe).or_insert(at);
            }
        }
    });

    let traced: Arc<Mutex<HashMap<u64, (i64, i64)>>> = Arc::default();
    let trace_stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let tracer = std::env::var("PGCDC_BENCH_TRACE_TOPIC")
        .ok()
        .filter(|t| !t.is_empty())
        .map(|topic| {
            let (seen, stop) = (Arc::clone(&traced), Arc::clone(&trace_stop));
            let (ready, started) = std::sync::mpsc::channel();
            let thread = std::thread::spawn(move || trace_topic(topic, seen, stop, ready));
            started.recv().unwrap();
            thread
        });

    let mut clients = Vec::new();
    for _ in 0..CONNECTIONS {
        clients.push(Arc::new(connect().await));
    }
    let orders = (tx_events / 10).max(1);
    let views = tx_events - orders;
    let period = Duration::from_secs_f64(tx_events as f64 / rate as f64);
    let total = Duration::from_secs(warmup + seconds);
    let transactions = (total.as_secs_f64() / period.as_secs_f64()).round() as u64;
    let warmup_transactions = (warmup as f64 / period.as_secs_f64()).round() as u64;
    let sent: Arc<Mutex<HashMap<u64, Sent>>> = Arc::default();
    let mut visitors = Visitors::new(2, first_id);
    let mut tasks = Vec::new();
    let mut slips = Vec::new();
    let mut before = None;
    let started = Instant::now();
    for n in 0..transactions {
        if n == warmup_transactions {
            let url = dashboard.clone();
            before = Some(tokio::spawn(async move { scrape(&url).await }));
        }
        let due = started + period.mul_f64(n as f64);
        let now = Instant::now();
        if due > now {
            tokio::time::sleep(due - now).await;
        }
        slips.push(Instant::now().saturating_duration_since(due).as_micros() as i64);
        let sql = visitors.transaction(views, orders, Some(n));
        let client = Arc::clone(&clients[n as usize % CONNECTIONS]);
        let sent = Arc::clone(&sent);
        let measured = n >= warmup_transactions;
        tasks.push(tokio::spawn(async move {
            let sent_us = now_micros();
            client.batch_execute(&sql).await.unwrap();
            let acked_us = now_micros();
            sent.lock().unwrap().insert(
                n,
                Sent {
                    sent_us,
                    acked_us,
                    measured,
                },
            );
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let elapsed = started.elapsed().as_secs_f64();
    // Trailing probes: wait until every one is seen, or 10 s.
    let drain = Instant::now();
    while notified.lock().unwrap().len() < transactions as usize
        && drain.elapsed() < Duration::from_secs(10)
    {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let after = scrape(&dashboard).await;
    if let Some(sampler) = sampler {
        sampler.abort();
    }
    let before = match before {
        Some(scraped) => scraped.await.unwrap(),
        None => String::new(),
    };
    listener.abort();
    trace_stop.store(true, std::sync::atomic::Ordering::Relaxed);
    if let Some(tracer) = tracer {
        tracer.join().unwrap();
    }

    let sent = sent.lock().unwrap().clone();
    let traced = traced.lock().unwrap().clone();
    let mut to_kafka = Vec::new();
    let mut to_consumer = Vec::new();
    let mut consumer_to_redis = Vec::new();
    let notified = notified.lock().unwrap().clone();
    let mut from_send = Vec::new();
    let mut from_ack = Vec::new();
    let mut commit_round_trip = Vec::new();
    let mut missing = 0;
    for s in sent.values().filter(|s| s.measured) {
        commit_round_trip.push(s.acked_us - s.sent_us);
    }
    for (n, s) in &sent {
        if !s.measured {
            continue;
        }
        if let Some((created_ms, received_us)) = traced.get(n) {
            to_kafka.push(created_ms * 1000 - s.sent_us);
            to_consumer.push(received_us - s.sent_us);
            if let Some(at) = notified.get(n) {
                consumer_to_redis.push(at - received_us);
            }
        }
        match notified.get(n) {
            Some(at) => {
                from_send.push(at - s.sent_us);
                from_ack.push(at - s.acked_us);
            }
            None => missing += 1,
        }
    }
    let measured = from_send.len() + missing;
    let events = transactions * tx_events;
    slips.sort_unstable();
    let slip_ms = |q: f64| slips[((slips.len() - 1) as f64 * q).round() as usize] as f64 / 1e3;
    println!(
        "steady: {events} events in {transactions} transactions of {tx_events} ({views} page views, {orders} orders) \
         in {elapsed:.1} s ({:.0} events/s; target {rate}); the first {warmup} s are warm-up, left out; \
         transactions started behind schedule: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        events as f64 / elapsed,
        slip_ms(0.5),
        slip_ms(0.99),
        slip_ms(1.0),
    );
    println!(
        "probes: {measured} measured, {missing} never announced within 10 s of the end; \
         the load generator and probe used {:.1} CPU s",
        cpu_seconds("self", ticks) - cpu_at_start
    );
    println!();
    println!("| delay, ms | p50 | p90 | p99 | p99.9 | max |");
    println!("| --- | ---: | ---: | ---: | ---: | ---: |");
    println!(
        "| commit sent → Redis notification received (upper bound) | {} |",
        percentiles(from_send)
    );
    println!(
        "| commit acknowledged → Redis notification received (lower bound) | {} |",
        percentiles(from_ack)
    );
    println!(
        "| the commit's own round trip (send → acknowledged) | {} |",
        percentiles(commit_round_trip)
    );
    if !to_consumer.is_empty() {
        println!(
            "| split, commit sent → the record's Kafka timestamp (set by the connector's producer; ms) | {} |",
            percentiles(to_kafka)
        );
        println!(
            "| split, commit sent → the record received by a second consumer of the topic | {} |",
            percentiles(to_consumer)
        );
        println!(
            "| split, the record received by that consumer → Redis notification | {} |",
            percentiles(consumer_to_redis)
        );
    }
    let behind = behind.lock().unwrap().clone();
    if !behind.is_empty() {
        println!(
            "| the connector alone: `pgcdc_milliseconds_behind_source`, sampled every 500 ms ({} samples, whole run) | {} |",
            behind.len(),
            percentiles(behind)
        );
    }
    println!();
    for (name, what) in [
        (histogram_name, "events"),
        ("pgcdc_dashboard_commit_seconds", "commits"),
    ] {
        let (old, old_count) = histogram(&before, name);
        let (new, count) = histogram(&after, name);
        println!(
            "dashboard histogram `{name}` over the measured seconds ({:.0} {what}): p50 {}, p99 {}",
            count - old_count,
            histogram_quantile(&old, &new, 0.5).unwrap_or_else(|| "-".into()),
            histogram_quantile(&old, &new, 0.99).unwrap_or_else(|| "-".into()),
        );
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    // `cargo bench` passes `--bench`; this is not a criterion bench.
    match env("PGCDC_BENCH_MODE").as_str() {
        "prefill" => prefill().await,
        "ends" => tokio::task::spawn_blocking(ends).await.unwrap(),
        "watch" => watch().await,
        "steady" => steady().await,
        other => panic!("PGCDC_BENCH_MODE={other}: expected prefill, ends, watch or steady"),
    }
}
