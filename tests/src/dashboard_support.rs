//! The dashboard as tests run it: `pgcdc dashboard` as a child process (so it can be
//! SIGKILLed), its JSON API read back, and a clickstream shop — products (a
//! dimension table), page views and orders — whose every aggregate a test can also
//! compute with SQL over the source tables.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use tokio_postgres::Client;

use crate::TestDb;

/// Source tables. Facts have REPLICA IDENTITY FULL: an update or delete must carry the
/// old row for its contribution to be taken back out of its window.
pub const SHOP_SCHEMA: &str = "
CREATE TABLE products (id int PRIMARY KEY, category text NOT NULL, price numeric(10,2) NOT NULL);
CREATE TABLE page_views (id bigint PRIMARY KEY, user_id int NOT NULL, product_id int NOT NULL, viewed_at timestamp(3) NOT NULL);
ALTER TABLE page_views REPLICA IDENTITY FULL;
CREATE TABLE orders (id bigint PRIMARY KEY, user_id int NOT NULL, amount numeric(10,2) NOT NULL, created_at timestamp(3) NOT NULL);
ALTER TABLE orders REPLICA IDENTITY FULL;
INSERT INTO products SELECT g, (ARRAY['books','games','music','garden'])[1 + g % 4], g * 1.25 FROM generate_series(1, 40) g;
";

/// Where event times of the generated workload start: half an hour ago, on a minute
/// boundary (the same for the whole test process). Near the wall clock, as CDC event
/// times are: when every partition is idle, the dashboard's watermark follows the
/// clock (minus the allowed lateness), and a workload dated long ago would be late.
pub fn base_ms() -> i64 {
    static BASE: std::sync::OnceLock<i64> = std::sync::OnceLock::new();
    *BASE.get_or_init(|| {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(0));
        now / 60_000 * 60_000 - 30 * 60_000
    })
}
/// Session gap of the `sessions` metric.
pub const SESSION_GAP_MS: i64 = 30_000;

/// The connector properties for the shop: JsonConverter with schemas (decimals are
/// decoded by their schema), page views keyed by `user_id` so that one user's views
/// share a partition (session windows need that), four partitions per topic.
pub fn shop_connector(partitions: u32) -> Value {
    json!({
        "table.include.list": "public.products,public.page_views,public.orders",
        "message.key.columns": "public.page_views:user_id",
        "topic.creation.default.partitions": partitions.to_string(),
    })
}

/// The aggregations of the shop, over `db`'s topics, into Redis under `prefix`.
pub fn shop_dashboard(db: &TestDb, prefix: &str, extra: Value) -> Value {
    let topics = db.topic_prefix();
    let lateness = 3_600_000;
    let mut config = json!({
        "name": prefix,
        "kafka": {"bootstrap.servers": crate::Stack::get().kafka_bootstrap(), "group.id": prefix},
        "redis.url": crate::Stack::get().redis_url(),
        "redis.key.prefix": prefix,
        "commit.interval.ms": 100,
        "sources": {
            "page_views": {
                "topic": format!("{topics}.public.page_views"),
                "event.time": {"field": "viewed_at", "unit": "millis"},
                "allowed.lateness.ms": lateness,
                "idle.timeout.ms": 1000,
                "joins": [{"table": "products", "on": "product_id", "as": "product"}]
            },
            "orders": {
                "topic": format!("{topics}.public.orders"),
                "event.time": {"field": "created_at", "unit": "millis"},
                "allowed.lateness.ms": lateness,
                "idle.timeout.ms": 1000
            }
        },
        "tables": {"products": {"topic": format!("{topics}.public.products"), "key": "id"}},
        "metrics": [
            {"name": "views_per_minute", "source": "page_views",
             "window": {"type": "tumbling", "size.ms": 60000}, "aggregate": {"fn": "count"}},
            {"name": "views_by_category", "source": "page_views", "group.by": ["product.category"],
             "window": {"type": "tumbling", "size.ms": 60000}, "aggregate": {"fn": "count"}},
            {"name": "revenue_per_minute", "source": "orders",
             "window": {"type": "tumbling", "size.ms": 60000}, "aggregate": {"fn": "sum", "field": "amount"}},
            {"name": "largest_order", "source": "orders",
             "window": {"type": "tumbling", "size.ms": 60000}, "aggregate": {"fn": "max", "field": "amount"}},
            {"name": "active_users", "source": "page_views",
             "window": {"type": "hopping", "size.ms": 300000, "advance.ms": 60000},
             "aggregate": {"fn": "count_distinct", "field": "user_id"}},
            {"name": "sessions", "source": "page_views", "group.by": ["user_id"],
             "window": {"type": "session", "gap.ms": SESSION_GAP_MS}, "aggregate": {"fn": "count"}},
            {"name": "bounce_rate", "source": "metric:sessions",
             "window": {"type": "tumbling", "size.ms": 60000},
             "aggregate": {"fn": "ratio",
                           "numerator": {"fn": "count", "where": [{"field": "value", "op": "eq", "value": 1}]},
                           "denominator": {"fn": "count"}}}
        ]
    });
    if let (Some(base), Value::Object(extra)) = (config.as_object_mut(), extra) {
        base.extend(extra);
    }
    config
}

/// What the generator wrote, to know what to wait for.
#[derive(Debug, Clone, Default)]
pub struct Workload {
    pub views: i64,
    pub orders: i64,
}

/// A seeded clickstream: `views` page views and `orders` orders with event times over
/// 20 minutes from [`base_ms`] (slightly out of order), in transactions of 50, then
/// updates that move views to other products and times and change amounts, and
/// deletes. Ids start at `first_id`.
pub async fn generate(
    sql: &Client,
    seed: u64,
    first_id: i64,
    views: i64,
    orders: i64,
) -> anyhow::Result<Workload> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let span = 20 * 60_000;
    let mut statements = Vec::new();
    for chunk in (0..views).collect::<Vec<_>>().chunks(50) {
        let rows: Vec<String> = chunk
            .iter()
            .map(|i| {
                let t = base_ms() + i * span / views.max(1) + rng.gen_range(-5_000..5_000);
                format!(
                    "({}, {}, {}, to_timestamp({t} / 1000.0) AT TIME ZONE 'UTC')",
                    first_id + i,
                    rng.gen_range(1..=30),
                    rng.gen_range(1..=40)
                )
            })
            .collect();
        statements.push(format!("INSERT INTO page_views VALUES {}", rows.join(",")));
    }
    for chunk in (0..orders).collect::<Vec<_>>().chunks(50) {
        let rows: Vec<String> = chunk
            .iter()
            .map(|i| {
                let t = base_ms() + i * span / orders.max(1) + rng.gen_range(-5_000..5_000);
                let cents: i64 = rng.gen_range(100..50_000);
                format!(
                    "({}, {}, {}.{:02}, to_timestamp({t} / 1000.0) AT TIME ZONE 'UTC')",
                    first_id + i,
                    rng.gen_range(1..=30),
                    cents / 100,
                    cents % 100
                )
            })
            .collect();
        statements.push(format!("INSERT INTO orders VALUES {}", rows.join(",")));
    }
    for _ in 0..views / 10 {
        let id = first_id + rng.gen_range(0..views);
        let shift: i64 = rng.gen_range(-40_000..40_000);
        statements.push(format!(
            "UPDATE page_views SET product_id = {}, viewed_at = viewed_at + interval '{shift} milliseconds' WHERE id = {id}",
            rng.gen_range(1..=40)
        ));
    }
    for _ in 0..views / 20 {
        statements.push(format!(
            "DELETE FROM page_views WHERE id = {}",
            first_id + rng.gen_range(0..views)
        ));
    }
    for _ in 0..orders / 10 {
        let id = first_id + rng.gen_range(0..orders);
        statements.push(format!(
            "UPDATE orders SET amount = amount + 7.25 WHERE id = {id}"
        ));
    }
    for _ in 0..orders / 20 {
        statements.push(format!(
            "DELETE FROM orders WHERE id = {}",
            first_id + rng.gen_range(0..orders)
        ));
    }
    for statement in statements {
        sql.batch_execute(&statement).await?;
    }
    Ok(Workload { views, orders })
}

/// One row far past the workload in each fact table, so that every workload window's
/// watermark passes its end (the windows of these rows themselves stay open).
pub async fn close_windows(sql: &Client, id: i64) -> anyhow::Result<()> {
    let t = base_ms() + 3 * 3_600_000;
    sql.batch_execute(&format!(
        "INSERT INTO page_views VALUES ({id}, 1, 1, to_timestamp({t} / 1000.0) AT TIME ZONE 'UTC');
         INSERT INTO orders VALUES ({id}, 1, 1.00, to_timestamp({t} / 1000.0) AT TIME ZONE 'UTC');"
    ))
    .await?;
    Ok(())
}

/// A window's identity in comparisons: the group's values as text, and its start.
pub type WindowKey = (Vec<String>, i64);

fn group_texts(group: &Value) -> Vec<String> {
    match group {
        Value::Array(items) => items
            .iter()
            .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned))
            .collect(),
        Value::Null => Vec::new(),
        other => vec![other
            .as_str()
            .map_or_else(|| other.to_string(), str::to_owned)],
    }
}

/// Every aggregate of the shop computed by SQL over the source tables, per metric,
/// for windows starting before `before_ms` (the sentinel rows are left out).
pub async fn expected(
    sql: &Client,
    before_ms: i64,
) -> anyhow::Result<BTreeMap<String, BTreeMap<WindowKey, f64>>> {
    let ms = |col: &str| format!("(extract(epoch from {col}) * 1000)::bigint");
    let minute = |col: &str| format!("(floor({} / 60000.0) * 60000)::bigint", ms(col));
    let queries = [
        ("views_per_minute", format!("SELECT '' AS g, {m} AS s, count(*)::float8 FROM page_views GROUP BY 2", m = minute("viewed_at"))),
        ("views_by_category", format!("SELECT p.category, {m} AS s, count(*)::float8 FROM page_views v JOIN products p ON p.id = v.product_id GROUP BY 1, 2", m = minute("v.viewed_at"))),
        ("revenue_per_minute", format!("SELECT '' AS g, {m} AS s, sum(amount)::float8 FROM orders GROUP BY 2", m = minute("created_at"))),
        ("largest_order", format!("SELECT '' AS g, {m} AS s, max(amount)::float8 FROM orders GROUP BY 2", m = minute("created_at"))),
        ("active_users", format!(
            "SELECT '' AS g, w.s, count(DISTINCT v.user_id)::float8
               FROM (SELECT generate_series(min({m}) - 240000, max({m}), 60000) AS s FROM page_views) w
               JOIN page_views v ON {t} >= w.s AND {t} < w.s + 300000 GROUP BY 2",
            m = minute("viewed_at"), t = ms("v.viewed_at"))),
        ("sessions", format!(
            "WITH v AS (SELECT user_id, {t} AS t FROM page_views),
                  n AS (SELECT user_id, t, CASE WHEN t - lag(t) OVER (PARTITION BY user_id ORDER BY t) < {gap} THEN 0 ELSE 1 END AS fresh FROM v),
                  g AS (SELECT user_id, t, sum(fresh) OVER (PARTITION BY user_id ORDER BY t ROWS UNBOUNDED PRECEDING) AS sid FROM n)
             SELECT user_id::text, min(t), count(*)::float8 FROM g GROUP BY user_id, sid",
            t = ms("viewed_at"), gap = SESSION_GAP_MS)),
        ("bounce_rate", format!(
            "WITH v AS (SELECT user_id, {t} AS t FROM page_views),
                  n AS (SELECT user_id, t, CASE WHEN t - lag(t) OVER (PARTITION BY user_id ORDER BY t) < {gap} THEN 0 ELSE 1 END AS fresh FROM v),
                  g AS (SELECT user_id, t, sum(fresh) OVER (PARTITION BY user_id ORDER BY t ROWS UNBOUNDED PRECEDING) AS sid FROM n),
                  s AS (SELECT min(t) AS start, count(*) AS views FROM g GROUP BY user_id, sid)
             SELECT '' AS g, (floor(start / 60000.0) * 60000)::bigint, (count(*) FILTER (WHERE views = 1))::float8 / count(*) FROM s GROUP BY 2",
            t = ms("viewed_at"), gap = SESSION_GAP_MS)),
    ];
    let mut all = BTreeMap::new();
    for (metric, query) in queries {
        let mut windows = BTreeMap::new();
        for row in sql.query(query.as_str(), &[]).await? {
            let group: String = row.get(0);
            let start: i64 = row.get(1);
            let value: f64 = row.get(2);
            if start >= before_ms {
                continue;
            }
            let group = if group.is_empty() {
                Vec::new()
            } else {
                vec![group]
            };
            windows.insert((group, start), value);
        }
        all.insert(metric.to_owned(), windows);
    }
    Ok(all)
}

/// One window as the dashboard's API serves it.
#[derive(Debug, Clone, PartialEq)]
pub struct ServedWindow {
    pub value: Option<f64>,
    pub is_final: bool,
}

/// `GET /api/metrics/{metric}` → windows by key, starting before `before_ms`.
pub async fn served(
    base_url: &str,
    metric: &str,
    before_ms: i64,
) -> anyhow::Result<BTreeMap<WindowKey, ServedWindow>> {
    let body: Value = reqwest::get(format!(
        "{base_url}api/metrics/{metric}?from_ms=0&limit=100000"
    ))
    .await?
    .error_for_status()?
    .json()
    .await?;
    let mut windows = BTreeMap::new();
    for w in body["windows"].as_array().into_iter().flatten() {
        let start = w["start_ms"].as_i64().unwrap_or_default();
        if start >= before_ms {
            continue;
        }
        windows.insert(
            (group_texts(&w["group"]), start),
            ServedWindow {
                value: w["value"].as_f64(),
                is_final: w["final"].as_bool().unwrap_or(false),
            },
        );
    }
    Ok(windows)
}

/// Differences between what SQL computed and the final windows served, per metric
/// (empty: equal). A served window whose value is empty or zero counts as absent
/// (all its rows were deleted); every expected window must be served and final.
pub async fn compare(
    base_url: &str,
    expected: &BTreeMap<String, BTreeMap<WindowKey, f64>>,
    before_ms: i64,
) -> anyhow::Result<Vec<String>> {
    let mut problems = Vec::new();
    for (metric, windows) in expected {
        let served = served(base_url, metric, before_ms).await?;
        for (key, want) in windows {
            match served.get(key) {
                None => problems.push(format!("{metric} {key:?}: expected {want}, not served")),
                Some(got) if !got.is_final => problems.push(format!(
                    "{metric} {key:?}: expected {want}, served {:?} not final",
                    got.value
                )),
                Some(got) => {
                    let ok = got
                        .value
                        .is_some_and(|v| (v - want).abs() <= 1e-6 * want.abs().max(1.0));
                    if !ok {
                        problems.push(format!(
                            "{metric} {key:?}: expected {want}, served {:?}",
                            got.value
                        ));
                    }
                }
            }
        }
        for (key, got) in &served {
            let empty = got.value.is_none_or(|v| v == 0.0);
            if !windows.contains_key(key) && !empty {
                problems.push(format!(
                    "{metric} {key:?}: served {:?} (final {}), not in SQL",
                    got.value, got.is_final
                ));
            }
        }
    }
    Ok(problems)
}

/// Polls [`compare`] until it reports nothing, or fails with the last differences.
pub async fn wait_equal(
    base_url: &str,
    expected: &BTreeMap<String, BTreeMap<WindowKey, f64>>,
    before_ms: i64,
    timeout: Duration,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + timeout;
    loop {
        let problems = compare(base_url, expected, before_ms).await?;
        if problems.is_empty() {
            return Ok(());
        }
        if Instant::now() > deadline {
            let shown: Vec<&String> = problems.iter().take(25).collect();
            anyhow::bail!(
                "{} windows differ from SQL after {timeout:?}:\n{shown:#?}",
                problems.len()
            );
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// `pgcdc dashboard` as a child process; killed when dropped.
#[derive(Debug)]
pub struct DashboardProcess {
    child: Child,
    log: PathBuf,
    pub url: String,
}

impl DashboardProcess {
    /// Starts the binary with `config` (written to `<label>.json` beside its log,
    /// `<label>.log`) on a free port, and waits until it serves.
    pub async fn start(label: &str, config: &Value) -> anyhow::Result<DashboardProcess> {
        let path = crate::process::artifact_path(&format!("{label}.json"))?;
        std::fs::write(&path, serde_json::to_vec_pretty(config)?)?;
        let log = crate::process::artifact_path(&format!("{label}.log"))?;
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)?;
        let offset = file.metadata()?.len();
        let child = Command::new(crate::process::pgcdc_binary()?)
            .args(["dashboard", "--config"])
            .arg(&path)
            .args(["--listen", "127.0.0.1:0"])
            .env(
                "RUST_LOG",
                std::env::var("RUST_LOG").unwrap_or("info".into()),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::from(file.try_clone()?))
            .stderr(Stdio::from(file))
            .spawn()?;
        let mut process = DashboardProcess {
            child,
            log,
            url: String::new(),
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let mut text = String::new();
            std::fs::File::open(&process.log)?.read_to_string(&mut text)?;
            let fresh = text
                .get(usize::try_from(offset).unwrap_or(0)..)
                .unwrap_or("");
            if let Some(line) = fresh.lines().find(|l| l.starts_with("dashboard: http://")) {
                process.url = line.trim_start_matches("dashboard: ").trim().to_owned();
                break;
            }
            if let Ok(Some(status)) = process.child.try_wait() {
                anyhow::bail!(
                    "pgcdc dashboard exited ({status}); see {}",
                    process.log.display()
                );
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "pgcdc dashboard did not start; see {}",
                process.log.display()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Ok(process)
    }

    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// SIGKILL.
    pub fn kill(&mut self) -> anyhow::Result<()> {
        if self.is_running() {
            self.child.kill()?;
            self.child.wait()?;
        }
        Ok(())
    }

    /// A Prometheus sample of the process (`0` when absent).
    pub async fn metric(&self, name: &str) -> anyhow::Result<f64> {
        let text = reqwest::get(format!("{}metrics", self.url))
            .await?
            .text()
            .await?;
        Ok(text
            .lines()
            .find_map(|l| {
                l.strip_prefix(name)
                    .and_then(|rest| rest.trim().parse().ok())
            })
            .unwrap_or(0.0))
    }
}

impl Drop for DashboardProcess {
    fn drop(&mut self) {
        let _ = self.kill();
    }
}

/// Deletes every Redis key under `prefix` (tests share one Redis).
pub async fn clear_redis(prefix: &str) -> anyhow::Result<()> {
    let client = redis::Client::open(crate::Stack::get().redis_url())?;
    let mut connection = client.get_multiplexed_async_connection().await?;
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}:*"))
        .query_async(&mut connection)
        .await?;
    if !keys.is_empty() {
        redis::cmd("DEL")
            .arg(&keys)
            .query_async::<()>(&mut connection)
            .await?;
    }
    Ok(())
}

/// `pgcdc connect` as a child process with one connector, its REST API on a free port
/// (read back from its log); killed when dropped.
#[derive(Debug)]
pub struct WorkerProcess {
    process: crate::process::ConnectProcess,
    log: PathBuf,
    /// `http://127.0.0.1:<port>`, without a trailing slash, as Connect's docs write it.
    pub url: String,
}

impl WorkerProcess {
    /// Starts `pgcdc connect --config <label>.json` (the connector's properties, which
    /// must hold its `name`) with an offsets topic and state directory of its own, and
    /// waits until the REST API answers.
    pub async fn start(label: &str, connector: &Value) -> anyhow::Result<WorkerProcess> {
        let config = crate::process::artifact_path(&format!("{label}.json"))?;
        crate::process::write_config(&config, connector)?;
        let state_dir = crate::process::artifact_path(&format!("{label}-state"))?;
        let _ = std::fs::remove_dir_all(&state_dir);
        let log = crate::process::artifact_path(&format!("{label}.log"))?;
        let _ = std::fs::remove_file(&log);
        let mut process = crate::process::ConnectProcess::start(
            Some(&config),
            crate::Stack::get().kafka_bootstrap(),
            &format!("{label}_offsets"),
            &state_dir,
            &log,
        )?;
        let deadline = Instant::now() + Duration::from_secs(60);
        let url = loop {
            if let Some(url) = crate::process::logged_rest_url(&log) {
                break url;
            }
            if let Some(status) = process.try_status()? {
                anyhow::bail!("pgcdc connect exited ({status}); see {}", log.display());
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "pgcdc connect did not start; see {}",
                log.display()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        Ok(WorkerProcess { process, log, url })
    }

    /// A REST call; the status and the JSON body (`null` when there is none).
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
    ) -> anyhow::Result<(reqwest::StatusCode, Value)> {
        let response = reqwest::Client::new()
            .request(method, format!("{}{path}", self.url))
            .timeout(Duration::from_secs(30))
            .send()
            .await?;
        let status = response.status();
        let text = response.text().await?;
        Ok((status, serde_json::from_str(&text).unwrap_or(Value::Null)))
    }

    /// Waits until the connector's task reports `state` (`RUNNING`, `PAUSED`, …).
    pub async fn wait_task_state(&self, connector: &str, state: &str) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let (_, status) = self
                .call(
                    reqwest::Method::GET,
                    &format!("/connectors/{connector}/status"),
                )
                .await?;
            if status["tasks"][0]["state"] == state {
                return Ok(());
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "connector {connector} did not reach {state}: {status}; see {}",
                self.log.display()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// SIGKILL (its replication connection ends with it, so the test's slot can be
    /// dropped).
    pub fn kill(&mut self) -> anyhow::Result<()> {
        self.process.kill()
    }
}

/// One connector's entry of the dashboard's `GET /api/lag` (`None`: not listed).
pub async fn served_lag(base_url: &str, connector: &str) -> anyhow::Result<Option<Value>> {
    let body: Value = reqwest::get(format!("{base_url}api/lag"))
        .await?
        .error_for_status()?
        .json()
        .await?;
    Ok(body["connectors"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["connector"] == connector)
        .cloned())
}
