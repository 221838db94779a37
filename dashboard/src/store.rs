//! Redis: where window results are served from, and where the consumed offsets live.
//!
//! Layout under the configured prefix `P` (a partition is written `topic:partition`;
//! Kafka topic names cannot contain `:`):
//!
//! | key | type | holds |
//! | --- | --- | --- |
//! | `P:win:<metric>:<start>:<end>:<group>` | hash | per partition: `{"closed":bool,"partial":…}` — merged when read |
//! | `P:idx:<metric>` | sorted set | `<start>\|<end>\|<group>` scored by window start, for range reads |
//! | `P:open:<partition>` | hash | the partition's open partials, to restore after a restart or rebalance |
//! | `P:offsets` | hash | per partition: the next offset to read |
//! | `P:watermarks` | hash | per partition: its event-time watermark (ms) |
//! | `P:epoch:<partition>` | string | incremented by each new owner of the partition (fencing) |
//! | `P:alerts` | list | the newest alerts, JSON |
//! | channel `P:updates` | pub/sub | one JSON message per updated window |
//!
//! A flush writes window partials, open state, offsets and watermarks in one
//! MULTI/EXEC, under WATCH of the partitions' epoch keys: a process that lost a
//! partition to another (rebalance, or it was presumed dead) cannot write for it
//! any more, so offsets and results never run ahead of or behind each other.

use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::time::Duration;

use redis::{Commands, Connection};
use serde_json::value::RawValue;
use serde_json::Value;

/// A Kafka partition as the store names it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PartitionName(pub String);

impl PartitionName {
    pub fn new(topic: &str, partition: i32) -> PartitionName {
        PartitionName(format!("{topic}:{partition}"))
    }

    /// The topic and partition number.
    pub fn split(&self) -> Option<(&str, i32)> {
        let (topic, number) = self.0.rsplit_once(':')?;
        Some((topic, number.parse().ok()?))
    }
}

/// Identifies one window of one metric and group.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct WindowId {
    pub metric: String,
    pub group: String,
    pub start_ms: i64,
    pub end_ms: i64,
}

impl WindowId {
    fn member(&self) -> String {
        format!("{}|{}|{}", self.start_ms, self.end_ms, self.group)
    }

    fn parse_member(metric: &str, member: &str) -> Option<WindowId> {
        let mut parts = member.splitn(3, '|');
        let start_ms = parts.next()?.parse().ok()?;
        let end_ms = parts.next()?.parse().ok()?;
        let group = parts.next()?.to_owned();
        Some(WindowId {
            metric: metric.to_owned(),
            group,
            start_ms,
            end_ms,
        })
    }

    fn open_field(&self) -> String {
        format!("{}|{}", self.metric, self.member())
    }

    fn parse_open_field(field: &str) -> Option<WindowId> {
        let (metric, member) = field.split_once('|')?;
        WindowId::parse_member(metric, member)
    }
}

/// One partition's partial of one window, as written.
#[derive(Debug, Clone)]
pub struct PartialWrite {
    pub window: WindowId,
    pub partition: PartitionName,
    /// The serialised partial (serialised once, written twice: to the window and to
    /// the partition's open windows); `None` removes it (a session merged into another).
    pub partial: Option<Box<RawValue>>,
    pub closed: bool,
}

/// Everything one flush commits together.
#[derive(Debug, Default, Clone)]
pub struct Flush {
    pub partials: Vec<PartialWrite>,
    /// Next offset to read, per partition.
    pub offsets: Vec<(PartitionName, i64)>,
    pub watermarks: Vec<(PartitionName, i64)>,
}

impl Flush {
    pub fn is_empty(&self) -> bool {
        self.partials.is_empty() && self.offsets.is_empty() && self.watermarks.is_empty()
    }

    fn partitions(&self) -> Vec<PartitionName> {
        let mut all: Vec<PartitionName> = self
            .partials
            .iter()
            .map(|p| p.partition.clone())
            .chain(self.offsets.iter().map(|(p, _)| p.clone()))
            .chain(self.watermarks.iter().map(|(p, _)| p.clone()))
            .collect();
        all.sort();
        all.dedup();
        all
    }

    /// Drops everything about `lost` partitions.
    pub fn without(&mut self, lost: &[PartitionName]) {
        self.partials.retain(|p| !lost.contains(&p.partition));
        self.offsets.retain(|(p, _)| !lost.contains(p));
        self.watermarks.retain(|(p, _)| !lost.contains(p));
    }
}

/// What a flush did.
#[derive(Debug, PartialEq, Eq)]
pub enum FlushOutcome {
    Committed,
    /// These partitions belong to another owner now; nothing was written.
    Fenced(Vec<PartitionName>),
}

/// What a new owner of a partition starts from.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PartitionState {
    pub epoch: u64,
    /// `None`: never consumed; read from the beginning.
    pub next_offset: Option<i64>,
    pub watermark: Option<i64>,
    pub open: Vec<(WindowId, Value)>,
}

/// One window of a metric as read back: every partition's partial.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredWindow {
    pub window: WindowId,
    pub partials: Vec<(PartitionName, bool, Value)>,
}

/// Key names under one prefix.
#[derive(Debug, Clone)]
pub struct Keys {
    prefix: String,
}

impl Keys {
    pub fn new(prefix: &str) -> Keys {
        Keys {
            prefix: prefix.to_owned(),
        }
    }

    pub fn window(&self, id: &WindowId) -> String {
        format!(
            "{}:win:{}:{}:{}:{}",
            self.prefix, id.metric, id.start_ms, id.end_ms, id.group
        )
    }
    pub fn index(&self, metric: &str) -> String {
        format!("{}:idx:{metric}", self.prefix)
    }
    pub fn open(&self, partition: &PartitionName) -> String {
        format!("{}:open:{}", self.prefix, partition.0)
    }
    pub fn offsets(&self) -> String {
        format!("{}:offsets", self.prefix)
    }
    pub fn watermarks(&self) -> String {
        format!("{}:watermarks", self.prefix)
    }
    pub fn epoch(&self, partition: &PartitionName) -> String {
        format!("{}:epoch:{}", self.prefix, partition.0)
    }
    pub fn alerts(&self) -> String {
        format!("{}:alerts", self.prefix)
    }
    pub fn alert_once(&self, id: &str) -> String {
        format!("{}:alert-sent:{id}", self.prefix)
    }
    pub fn updates_channel(&self) -> String {
        format!("{}:updates", self.prefix)
    }
}

/// The pub/sub message announcing a window write: the same JSON as
/// `{"closed","end_ms","group","metric","start_ms"}` built with serde_json, written
/// directly because a flush sends one per touched window.
fn update_message(write: &PartialWrite) -> String {
    let text = |s: &str| serde_json::to_string(s).unwrap_or_else(|_| String::from("\"\""));
    format!(
        r#"{{"closed":{},"end_ms":{},"group":{},"metric":{},"start_ms":{}}}"#,
        write.closed,
        write.window.end_ms,
        text(&write.window.group),
        text(&write.window.metric),
        write.window.start_ms
    )
}

/// The blocking writer: one dedicated connection (WATCH needs one that nobody
/// else uses), driven from a blocking thread.
pub struct Writer {
    connection: Connection,
    keys: Keys,
    ttl_seconds: u64,
    /// The epoch this process holds for each owned partition.
    epochs: HashMap<PartitionName, u64>,
}

impl std::fmt::Debug for Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Writer")
            .field("keys", &self.keys)
            .field("epochs", &self.epochs)
            .finish()
    }
}

impl Writer {
    pub fn connect(url: &str, prefix: &str, ttl_seconds: u64) -> redis::RedisResult<Writer> {
        let client = redis::Client::open(url)?;
        let connection = client.get_connection_with_timeout(Duration::from_secs(5))?;
        connection.set_read_timeout(Some(Duration::from_secs(10)))?;
        Ok(Writer {
            connection,
            keys: Keys::new(prefix),
            ttl_seconds,
            epochs: HashMap::new(),
        })
    }

    pub fn keys(&self) -> &Keys {
        &self.keys
    }

    /// Takes ownership of a partition: a new epoch (fencing out any previous
    /// owner's later writes), and the state that owner committed last.
    pub fn claim(&mut self, partition: &PartitionName) -> redis::RedisResult<PartitionState> {
        let epoch: u64 = self.connection.incr(self.keys.epoch(partition), 1)?;
        self.epochs.insert(partition.clone(), epoch);
        let next_offset: Option<i64> = self.connection.hget(self.keys.offsets(), &partition.0)?;
        let watermark: Option<i64> = self.connection.hget(self.keys.watermarks(), &partition.0)?;
        let open: HashMap<String, String> = self.connection.hgetall(self.keys.open(partition))?;
        let mut open: Vec<(WindowId, Value)> = open
            .iter()
            .filter_map(|(field, json)| {
                Some((
                    WindowId::parse_open_field(field)?,
                    serde_json::from_str(json).ok()?,
                ))
            })
            .collect();
        open.sort_by(|a, b| {
            (&a.0.metric, a.0.start_ms, &a.0.group).cmp(&(&b.0.metric, b.0.start_ms, &b.0.group))
        });
        Ok(PartitionState {
            epoch,
            next_offset,
            watermark,
            open,
        })
    }

    /// Forgets a partition this process no longer owns.
    pub fn release(&mut self, partition: &PartitionName) {
        self.epochs.remove(partition);
    }

    /// Commits a flush atomically, unless a partition it touches was claimed by
    /// another owner since this process claimed it.
    pub fn commit(&mut self, flush: &Flush, notify: bool) -> redis::RedisResult<FlushOutcome> {
        let partitions = flush.partitions();
        let mut lost: Vec<PartitionName> = partitions
            .iter()
            .filter(|p| !self.epochs.contains_key(*p))
            .cloned()
            .collect();
        if !lost.is_empty() {
            return Ok(FlushOutcome::Fenced(lost));
        }
        let epoch_keys: Vec<String> = partitions.iter().map(|p| self.keys.epoch(p)).collect();
        loop {
            if !epoch_keys.is_empty() {
                redis::cmd("WATCH")
                    .arg(&epoch_keys)
                    .exec(&mut self.connection)?;
                let current: Vec<Option<u64>> = redis::cmd("MGET")
                    .arg(&epoch_keys)
                    .query(&mut self.connection)?;
                lost = partitions
                    .iter()
                    .zip(&current)
                    .filter(|(p, now)| **now != self.epochs.get(*p).copied())
                    .map(|(p, _)| p.clone())
                    .collect();
                if !lost.is_empty() {
                    redis::cmd("UNWATCH").exec(&mut self.connection)?;
                    for partition in &lost {
                        self.epochs.remove(partition);
                    }
                    return Ok(FlushOutcome::Fenced(lost));
                }
            }
            let pipe = self.pipeline(flush, notify);
            let result: Option<Vec<redis::Value>> = pipe.query(&mut self.connection)?;
            if result.is_some() {
                return Ok(FlushOutcome::Committed);
            }
            // EXEC returned nil: an epoch key changed between WATCH and EXEC; look again.
        }
    }

    fn pipeline(&self, flush: &Flush, notify: bool) -> redis::Pipeline {
        let keys = &self.keys;
        let mut pipe = redis::pipe();
        pipe.atomic();
        let ttl = i64::try_from(self.ttl_seconds).unwrap_or(i64::MAX);
        let mut indexes: Vec<String> = Vec::new();
        let channel = keys.updates_channel();
        for write in &flush.partials {
            let window_key = keys.window(&write.window);
            let open_key = keys.open(&write.partition);
            match &write.partial {
                Some(partial) => {
                    // {"closed":…,"partial":…}, as `read` parses it.
                    let stored = format!(
                        r#"{{"closed":{},"partial":{}}}"#,
                        write.closed,
                        partial.get()
                    );
                    pipe.hset(&window_key, &write.partition.0, stored).ignore();
                    if write.closed {
                        pipe.hdel(&open_key, write.window.open_field()).ignore();
                    } else {
                        pipe.hset(&open_key, write.window.open_field(), partial.get())
                            .ignore();
                    }
                }
                None => {
                    pipe.hdel(&window_key, &write.partition.0).ignore();
                    pipe.hdel(&open_key, write.window.open_field()).ignore();
                }
            }
            // A removed window (a session that grew or merged) needs no index entry
            // or expiry of its own: it was indexed when written, and trimming drops
            // the entry once its hash is gone.
            if write.partial.is_some() {
                pipe.expire(&window_key, ttl).ignore();
                let index = keys.index(&write.window.metric);
                pipe.zadd(&index, write.window.member(), write.window.start_ms)
                    .ignore();
                if !indexes.contains(&index) {
                    indexes.push(index);
                }
            }
            if notify {
                pipe.publish(&channel, update_message(write)).ignore();
            }
        }
        for index in &indexes {
            pipe.expire(index, ttl).ignore();
        }
        for (partition, offset) in &flush.offsets {
            pipe.hset(keys.offsets(), &partition.0, offset).ignore();
        }
        for (partition, watermark) in &flush.watermarks {
            pipe.hset(keys.watermarks(), &partition.0, watermark)
                .ignore();
        }
        pipe
    }

    /// Drops index entries whose window hash expired. Windows expire by TTL from
    /// their last write (wall clock), not by event time: replayed history is as
    /// servable as live data. The oldest entries are checked first, `batch` per metric.
    pub fn trim_indexes(&mut self, metrics: &[String], batch: usize) -> redis::RedisResult<usize> {
        let mut removed = 0;
        for metric in metrics {
            let index = self.keys.index(metric);
            let members: Vec<String> = redis::cmd("ZRANGE")
                .arg(&index)
                .arg(0)
                .arg(batch.saturating_sub(1))
                .query(&mut self.connection)?;
            let ids: Vec<WindowId> = members
                .iter()
                .filter_map(|m| WindowId::parse_member(metric, m))
                .collect();
            if ids.is_empty() {
                continue;
            }
            let mut pipe = redis::pipe();
            for id in &ids {
                pipe.exists(self.keys.window(id));
            }
            let exists: Vec<bool> = pipe.query(&mut self.connection)?;
            let gone: Vec<String> = ids
                .iter()
                .zip(&exists)
                .filter(|(_, e)| !**e)
                .map(|(id, _)| id.member())
                .collect();
            if !gone.is_empty() {
                removed += gone.len();
                let _: i64 = self.connection.zrem(&index, &gone)?;
            }
        }
        Ok(removed)
    }

    /// Records an alert once per id (several instances may see the same firing).
    pub fn record_alert(&mut self, id: &str, alert: &Value) -> redis::RedisResult<bool> {
        let fresh: bool = redis::cmd("SET")
            .arg(self.keys.alert_once(id))
            .arg(1)
            .arg("NX")
            .arg("EX")
            .arg(self.ttl_seconds.max(60))
            .query::<Option<String>>(&mut self.connection)?
            .is_some();
        if fresh {
            redis::pipe()
                .atomic()
                .lpush(self.keys.alerts(), alert.to_string())
                .ignore()
                .ltrim(self.keys.alerts(), 0, 199)
                .ignore()
                .publish(
                    self.keys.updates_channel(),
                    serde_json::json!({"alert": alert}).to_string(),
                )
                .ignore()
                .exec(&mut self.connection)?;
        }
        Ok(fresh)
    }
}

/// Reads windows back for the page and the REST endpoint.
#[derive(Clone)]
pub struct Reader {
    connection: redis::aio::MultiplexedConnection,
    keys: Keys,
}

impl std::fmt::Debug for Reader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reader").field("keys", &self.keys).finish()
    }
}

impl Reader {
    pub async fn connect(url: &str, prefix: &str) -> redis::RedisResult<Reader> {
        let client = redis::Client::open(url)?;
        let connection = client.get_multiplexed_async_connection().await?;
        Ok(Reader {
            connection,
            keys: Keys::new(prefix),
        })
    }

    pub fn keys(&self) -> &Keys {
        &self.keys
    }

    /// Windows of `metric` starting in `[from_ms, to_ms]`, oldest first.
    pub async fn windows(
        &self,
        metric: &str,
        from_ms: i64,
        to_ms: i64,
    ) -> redis::RedisResult<Vec<StoredWindow>> {
        let mut connection = self.connection.clone();
        let members: Vec<String> = redis::cmd("ZRANGEBYSCORE")
            .arg(self.keys.index(metric))
            .arg(from_ms)
            .arg(to_ms)
            .query_async(&mut connection)
            .await?;
        let ids: Vec<WindowId> = members
            .iter()
            .filter_map(|m| WindowId::parse_member(metric, m))
            .collect();
        let mut pipe = redis::pipe();
        for id in &ids {
            pipe.hgetall(self.keys.window(id));
        }
        let hashes: Vec<HashMap<String, String>> = if ids.is_empty() {
            Vec::new()
        } else {
            pipe.query_async(&mut connection).await?
        };
        let mut windows = Vec::with_capacity(ids.len());
        let mut by_start: HashMap<(String, i64), usize> = HashMap::new();
        for (window, hash) in ids.into_iter().zip(hashes) {
            let mut partials: Vec<(PartitionName, bool, Value)> = hash
                .into_iter()
                .filter_map(|(partition, stored)| {
                    let mut stored: Value = serde_json::from_str(&stored).ok()?;
                    let closed = stored
                        .get("closed")
                        .and_then(Value::as_bool)
                        .unwrap_or(false);
                    Some((
                        PartitionName(partition),
                        closed,
                        stored.get_mut("partial")?.take(),
                    ))
                })
                .collect();
            if partials.is_empty() {
                continue;
            }
            // A session's end moves as it grows; partials of one start are one window.
            match by_start.entry((window.group.clone(), window.start_ms)) {
                Entry::Occupied(index) => {
                    let existing: &mut StoredWindow = &mut windows[*index.get()];
                    existing.window.end_ms = existing.window.end_ms.max(window.end_ms);
                    existing.partials.extend(partials);
                    existing.partials.sort_by(|a, b| a.0.cmp(&b.0));
                }
                Entry::Vacant(slot) => {
                    slot.insert(windows.len());
                    partials.sort_by(|a, b| a.0.cmp(&b.0));
                    windows.push(StoredWindow { window, partials });
                }
            }
        }
        Ok(windows)
    }

    /// Every partition's watermark.
    pub async fn watermarks(&self) -> redis::RedisResult<HashMap<PartitionName, i64>> {
        let mut connection = self.connection.clone();
        let map: HashMap<String, i64> = redis::cmd("HGETALL")
            .arg(self.keys.watermarks())
            .query_async(&mut connection)
            .await?;
        Ok(map
            .into_iter()
            .map(|(k, v)| (PartitionName(k), v))
            .collect())
    }

    /// Every partition's next offset.
    pub async fn offsets(&self) -> redis::RedisResult<HashMap<PartitionName, i64>> {
        let mut connection = self.connection.clone();
        let map: HashMap<String, i64> = redis::cmd("HGETALL")
            .arg(self.keys.offsets())
            .query_async(&mut connection)
            .await?;
        Ok(map
            .into_iter()
            .map(|(k, v)| (PartitionName(k), v))
            .collect())
    }

    /// The newest alerts, newest first.
    pub async fn alerts(&self, limit: isize) -> redis::RedisResult<Vec<Value>> {
        let mut connection = self.connection.clone();
        let texts: Vec<String> = redis::cmd("LRANGE")
            .arg(self.keys.alerts())
            .arg(0)
            .arg(limit - 1)
            .query_async(&mut connection)
            .await?;
        Ok(texts
            .iter()
            .filter_map(|t| serde_json::from_str(t).ok())
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_members_round_trip_groups_with_separators() {
        let id = WindowId {
            metric: "views".into(),
            group: r#"["a|b","c:d"]"#.into(),
            start_ms: -60_000,
            end_ms: 0,
        };
        assert_eq!(
            WindowId::parse_member("views", &id.member()),
            Some(id.clone())
        );
        assert_eq!(WindowId::parse_open_field(&id.open_field()), Some(id));
    }

    #[test]
    fn update_messages_are_the_json_readers_parse() {
        for (group, closed) in [
            (r#"["a|b","c:d"]"#, false),
            ("quote \" backslash \\ tab \t é ✓ \u{1}", true),
            ("", false),
        ] {
            let write = PartialWrite {
                window: WindowId {
                    metric: "views \"per\" minute".into(),
                    group: group.into(),
                    start_ms: -60_000,
                    end_ms: i64::MAX,
                },
                partition: PartitionName::new("t", 0),
                partial: None,
                closed,
            };
            let built = serde_json::json!({
                "metric": write.window.metric,
                "group": write.window.group,
                "start_ms": write.window.start_ms,
                "end_ms": write.window.end_ms,
                "closed": write.closed,
            })
            .to_string();
            assert_eq!(update_message(&write), built);
        }
    }

    #[test]
    fn partition_names_split_at_the_last_colon() {
        let name = PartitionName::new("shop.public.orders", 3);
        assert_eq!(name.0, "shop.public.orders:3");
        assert_eq!(name.split(), Some(("shop.public.orders", 3)));
        assert_eq!(PartitionName("nocolon".into()).split(), None);
    }

    #[test]
    fn a_flush_without_lost_partitions_keeps_the_rest() {
        let p0 = PartitionName::new("t", 0);
        let p1 = PartitionName::new("t", 1);
        let mut flush = Flush {
            partials: vec![],
            offsets: vec![(p0.clone(), 5), (p1.clone(), 7)],
            watermarks: vec![(p1.clone(), 9)],
        };
        assert_eq!(flush.partitions(), vec![p0.clone(), p1.clone()]);
        flush.without(std::slice::from_ref(&p1));
        assert_eq!(flush.offsets, vec![(p0, 5)]);
        assert!(flush.watermarks.is_empty());
    }
}
