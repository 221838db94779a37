//! The window engine: change events in, window partials out. Pure and synchronous;
//! the shell feeds it records, ticks it with the wall clock and persists what
//! [`Engine::take_changes`] returns.
//!
//! # Semantics
//!
//! * **Retraction.** A change retracts its `before` image from every metric of its
//!   source and adds its `after` image: update = retract + add, delete = retract,
//!   create and read = add. Filters (`ops`, the source's `where`, inner joins) apply
//!   per image, so an update that leaves a filter only retracts. A truncate is
//!   [`Outcome::Skipped`]: its rows are unknown. A retraction that finds no window
//!   (or session event) holding it in this partition is ignored and counted in
//!   [`EngineStats::unmatched_retractions`].
//! * **Event time and watermarks** are per source partition: the watermark is the
//!   newest event time seen (of any image) minus `allowed.lateness.ms`, and never
//!   goes back. A window `[start, end)` closes when the watermark reaches `end`;
//!   closed windows are final. Lateness is judged per window: an image whose windows
//!   are all closed changes nothing; if every image of a change is refused so, the
//!   change is [`Outcome::Late`]. A hopping-window image may land in its open windows
//!   while its oldest are already closed. For sessions, an event is late when its time
//!   is below the watermark (it could otherwise bridge into a closed session).
//! * **Idle partitions.** A partition that received nothing for `idle.timeout.ms` of
//!   wall clock (measured by [`Engine::tick`]) and has nothing left to read (the
//!   shell says so with [`Engine::mark_backlogged`] otherwise) advances its watermark
//!   to the highest watermark of the non-idle partitions of the same topic held by
//!   this engine, or, when all are idle, to the highest watermark among them or
//!   `now - allowed.lateness.ms - idle.timeout.ms`, whichever is ahead (event time is
//!   assumed to follow the wall clock). Events later below that watermark are late:
//!   that is the price of closing windows on a quiet partition.
//! * **Partitions and merging.** State is per source partition, so the partitions of
//!   a topic can be split between processes (a Kafka consumer group); a reader merges
//!   the partials of one window from every partition ([`crate::read`]). Session windows
//!   are exact when all events of one session key land in one partition (the
//!   connector keys the topic by that column, e.g. with `message.key.columns`);
//!   otherwise each partition has its own sessions and a reader merges them per
//!   session start.
//! * **Enrichment.** Facts are joined with the current dimension rows when applied, so
//!   a dimension change affects later events, never closed windows. A retraction is
//!   joined with the current dimension row too: if the dimension changed between a
//!   fact's insert and its update or delete, the retraction lands in the new group
//!   (whose value drops) while the old group keeps the row — as a Kafka Streams
//!   stream–table join does.
//! * **Metrics over session metrics** are fed on every change of an upstream session:
//!   the old session row is retracted and the new one added (see [`crate::spec`]).
//!   Their windows close once no open upstream session starts before their end.
//! * **Restore.** After a restart or rebalance, [`Engine::restore`] puts back a
//!   partition's watermark and open partials as stored with its offset; replaying from
//!   that offset then gives what never stopping would have. Idleness is not restored.

mod apply;
mod fixed;
mod session;
mod state;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::Arc;

pub use crate::change::{Change, Op, Row};
pub use crate::partial::Partial;
pub use crate::row::GroupKey;
use crate::spec::{MetricInput, Spec};
use state::{MetricState, PartitionState};

/// A Kafka topic partition of a fact source.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SourcePartition {
    topic: Arc<str>,
    partition: i32,
}

impl SourcePartition {
    pub fn new(topic: &str, partition: i32) -> SourcePartition {
        SourcePartition {
            topic: Arc::from(topic),
            partition,
        }
    }

    pub fn topic(&self) -> &str {
        &self.topic
    }

    pub fn partition(&self) -> i32 {
        self.partition
    }
}

impl fmt::Display for SourcePartition {
    /// `topic:partition`, as the store names it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.topic, self.partition)
    }
}

/// What [`Engine::apply`] did with a change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Some window changed.
    Applied,
    /// Nothing to do: a truncate, an op or rows outside the filters, a topic no
    /// source reads.
    Skipped,
    /// Every window it would change is closed already.
    Late,
    /// The event cannot be aggregated; nothing changed. Names the field and why.
    Malformed(String),
}

/// One window partial that changed since the last [`Engine::take_changes`].
#[derive(Debug, Clone, PartialEq)]
pub struct WindowChange {
    pub metric: String,
    pub group: GroupKey,
    pub start_ms: i64,
    pub end_ms: i64,
    pub at: SourcePartition,
    /// `None`: this partition no longer has this window (emptied by retractions, or
    /// a session merged into another, shrunk or split).
    pub partial: Option<Partial>,
    /// Final: the watermark passed the end; the engine forgot the window.
    pub closed: bool,
}

/// Counters for metrics and logs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EngineStats {
    /// Image × window contributions refused because the window was closed.
    pub late_windows: u64,
    /// Retractions of rows this partition's windows do not hold.
    pub unmatched_retractions: u64,
}

/// Identifies a window of a metric in a partition.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct WindowKey {
    at: SourcePartition,
    metric: usize,
    group: GroupKey,
    start: i64,
    end: i64,
}

/// The aggregation engine (see the module documentation).
#[derive(Debug)]
pub struct Engine {
    spec: Arc<Spec>,
    /// Per metric: the metric it reads (`metric:` input), and those reading it.
    upstream: Vec<Option<usize>>,
    dependents: Vec<Vec<usize>>,
    /// Table → canonical key → current row.
    dimensions: HashMap<String, HashMap<String, Row>>,
    partitions: BTreeMap<SourcePartition, PartitionState>,
    /// Windows to report; `Some` holds the final partial of a closed window.
    pending: BTreeMap<WindowKey, Option<Partial>>,
    stats: EngineStats,
}

impl Engine {
    pub fn new(spec: Arc<Spec>) -> Engine {
        let index = |name: &str| spec.metrics.iter().position(|m| m.name == name);
        let upstream: Vec<Option<usize>> = spec
            .metrics
            .iter()
            .map(|m| match &m.input {
                MetricInput::Metric(name) => index(name),
                MetricInput::Source(_) => None,
            })
            .collect();
        let mut dependents = vec![Vec::new(); spec.metrics.len()];
        for (i, up) in upstream.iter().enumerate() {
            if let Some(up) = up {
                dependents[*up].push(i);
            }
        }
        Engine {
            spec,
            upstream,
            dependents,
            dimensions: HashMap::new(),
            partitions: BTreeMap::new(),
            pending: BTreeMap::new(),
            stats: EngineStats::default(),
        }
    }

    pub fn spec(&self) -> &Spec {
        &self.spec
    }

    pub fn stats(&self) -> EngineStats {
        self.stats
    }

    /// Sets (or, with `None`, deletes) the current row of a dimension table.
    pub fn upsert_dimension(&mut self, table: &str, key: &serde_json::Value, row: Option<Row>) {
        let key = crate::row::canonical_text(key);
        let rows = self.dimensions.entry(table.to_owned()).or_default();
        match row {
            Some(row) => {
                rows.insert(key, row);
            }
            None => {
                rows.remove(&key);
            }
        }
    }

    /// Every window partial that changed since the last call, in a stable order.
    pub fn take_changes(&mut self) -> Vec<WindowChange> {
        let pending = std::mem::take(&mut self.pending);
        pending
            .into_iter()
            .map(|(key, closed)| {
                let (partial, closed) = match closed {
                    Some(partial) => (Some(partial), true),
                    None => {
                        let live = self
                            .partitions
                            .get(&key.at)
                            .and_then(|p| p.metrics.get(key.metric))
                            .and_then(|m| m.get(&key.group, key.start, key.end));
                        (live, false)
                    }
                };
                WindowChange {
                    metric: self.spec.metrics[key.metric].name.clone(),
                    group: key.group,
                    start_ms: key.start,
                    end_ms: key.end,
                    at: key.at,
                    partial,
                    closed,
                }
            })
            .collect()
    }

    /// The watermark of every partition held (`i64::MIN` before its first event).
    pub fn watermarks(&self) -> Vec<(SourcePartition, i64)> {
        self.partitions
            .iter()
            .map(|(at, p)| (at.clone(), p.watermark))
            .collect()
    }

    /// Takes over a partition: its stored watermark and open partials
    /// `(metric, group, start_ms, end_ms, partial)`. Replaces what was held for it.
    /// Partials of unknown metrics or of the wrong kind are left out (and logged);
    /// any the watermark has passed are reported closed by the next
    /// [`Engine::take_changes`].
    pub fn restore(
        &mut self,
        at: SourcePartition,
        watermark: i64,
        partials: Vec<(String, GroupKey, i64, i64, Partial)>,
    ) {
        self.revoke(&at);
        let Some(mut state) = self.new_partition(&at) else {
            tracing::warn!(partition = %at, "restoring a partition no source reads");
            return;
        };
        state.watermark = watermark;
        if watermark != i64::MIN {
            state.max_event_ms = Some(watermark.saturating_add(state.lateness_ms));
        }
        for (metric, group, start, end, partial) in partials {
            let Some(i) = self.spec.metrics.iter().position(|m| m.name == metric) else {
                tracing::warn!(partition = %at, metric, "stored partial of an unknown metric left out");
                continue;
            };
            if !state.metrics[i].restore(group, start, end, partial) {
                tracing::warn!(partition = %at, metric, "stored partial of another aggregate left out");
            }
        }
        self.partitions.insert(at.clone(), state);
        self.close_windows(&at);
    }

    /// Forgets a partition (it was revoked or another process fenced us out).
    pub fn revoke(&mut self, at: &SourcePartition) {
        self.partitions.remove(at);
        self.pending.retain(|k, _| k.at != *at);
    }

    /// Says that a partition has records waiting to be read (the consumer is behind
    /// its end): it is not idle, however long since its last event. Without this, a
    /// partition whose records queue behind another's would be advanced and its
    /// backlog dropped as late. Call it before [`Engine::tick`].
    pub fn mark_backlogged(&mut self, at: &SourcePartition) {
        if let Some(state) = self.partitions.get_mut(at) {
            state.active = true;
        }
    }

    /// Marks partitions idle and advances idle watermarks (see the module
    /// documentation); call it regularly with the wall clock.
    pub fn tick(&mut self, now_ms: i64) {
        for state in self.partitions.values_mut() {
            if state.active || state.last_active_ms.is_none() {
                state.active = false;
                state.idle = false;
                state.last_active_ms = Some(now_ms);
            } else if let Some(last) = state.last_active_ms {
                state.idle = now_ms.saturating_sub(last) >= state.idle_timeout_ms;
            }
        }
        let mut busiest: HashMap<&str, i64> = HashMap::new();
        let mut highest: HashMap<&str, i64> = HashMap::new();
        for (at, state) in &self.partitions {
            let top = highest.entry(at.topic()).or_insert(i64::MIN);
            *top = (*top).max(state.watermark);
            if !state.idle {
                let wm = busiest.entry(at.topic()).or_insert(i64::MIN);
                *wm = (*wm).max(state.watermark);
            }
        }
        let mut advanced = Vec::new();
        for (at, state) in &self.partitions {
            if !state.idle {
                continue;
            }
            // Every partition idle: the highest of them (they are all caught up), or
            // the wall clock when it is ahead.
            let target = match busiest.get(at.topic()) {
                Some(wm) => *wm,
                None => now_ms
                    .saturating_sub(state.lateness_ms)
                    .saturating_sub(state.idle_timeout_ms)
                    .max(highest.get(at.topic()).copied().unwrap_or(i64::MIN)),
            };
            if target > state.watermark {
                advanced.push((at.clone(), target));
            }
        }
        for (at, target) in advanced {
            if let Some(state) = self.partitions.get_mut(&at) {
                state.watermark = target;
            }
            self.close_windows(&at);
        }
    }

    fn new_partition(&self, at: &SourcePartition) -> Option<PartitionState> {
        let source = self.spec.sources.values().find(|s| s.topic == at.topic())?;
        let metrics = self
            .spec
            .metrics
            .iter()
            .map(|m| match self.spec.metric_topic(&m.name) {
                Some(topic) if topic == at.topic() => MetricState::new(&m.window),
                _ => MetricState::Unused,
            })
            .collect();
        Some(PartitionState {
            lateness_ms: source.allowed_lateness_ms,
            idle_timeout_ms: source.idle_timeout_ms,
            watermark: i64::MIN,
            max_event_ms: None,
            active: false,
            last_active_ms: None,
            idle: false,
            metrics,
        })
    }

    /// Closes every window of the partition that its watermark has passed.
    fn close_windows(&mut self, at: &SourcePartition) {
        let Some(state) = self.partitions.get_mut(at) else {
            return;
        };
        // Upstream metrics come first in the spec, so their sessions are closed
        // before the watermark of the metrics reading them is computed.
        for i in 0..state.metrics.len() {
            let watermark = match self.upstream[i] {
                Some(up) => state.derived_watermark(up),
                None => state.watermark,
            };
            for (group, start, end, partial) in state.metrics[i].close(watermark) {
                let key = WindowKey {
                    at: at.clone(),
                    metric: i,
                    group,
                    start,
                    end,
                };
                self.pending.insert(key, Some(partial));
            }
        }
    }

    /// The open windows of a partition, `(metric, group, start, end, partial)`:
    /// what a store keeps to [`Engine::restore`] from.
    pub fn open_windows(&self, at: &SourcePartition) -> Vec<(String, GroupKey, i64, i64, Partial)> {
        let Some(state) = self.partitions.get(at) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for (i, metric) in state.metrics.iter().enumerate() {
            let name = &self.spec.metrics[i].name;
            match metric {
                MetricState::Unused => {}
                MetricState::Fixed(w) => out.extend(
                    w.iter()
                        .map(|(g, s, e, p)| (name.clone(), g.clone(), s, e, p.clone())),
                ),
                MetricState::Sessions(s) => out.extend(s.iter().map(|(g, start, end, events)| {
                    (
                        name.clone(),
                        g.clone(),
                        start,
                        end,
                        Partial::Session(events.clone()),
                    )
                })),
            }
        }
        out
    }
}
