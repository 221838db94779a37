//! What the engine holds for one source partition: its watermark, its idleness, and
//! the open windows of every metric reading its topic.

use super::fixed::FixedWindows;
use super::session::{Events, Sessions};
use crate::partial::Partial;
use crate::row::GroupKey;
use crate::spec::WindowSpec;

#[derive(Debug)]
pub(super) enum MetricState {
    /// The metric reads another topic.
    Unused,
    Fixed(FixedWindows),
    Sessions(Sessions),
}

impl MetricState {
    pub fn new(window: &WindowSpec) -> MetricState {
        match *window {
            WindowSpec::Session { gap_ms } => MetricState::Sessions(Sessions::new(gap_ms)),
            _ => MetricState::Fixed(FixedWindows::default()),
        }
    }

    /// The current partial of a window, if it is open here.
    pub fn get(&self, group: &GroupKey, start: i64, end: i64) -> Option<Partial> {
        match self {
            MetricState::Unused => None,
            MetricState::Fixed(w) => w.get(group, start, end).cloned(),
            MetricState::Sessions(s) => s
                .get(group, start, end)
                .map(|e| Partial::Session(e.clone())),
        }
    }

    /// Removes and returns the windows that end at or before `watermark`.
    pub fn close(&mut self, watermark: i64) -> Vec<(GroupKey, i64, i64, Partial)> {
        match self {
            MetricState::Unused => Vec::new(),
            MetricState::Fixed(w) => w.close(watermark),
            MetricState::Sessions(s) => s
                .close(watermark)
                .into_iter()
                .map(|(g, start, end, events)| (g, start, end, Partial::Session(events)))
                .collect(),
        }
    }

    /// Puts back a stored partial; `false` if it does not fit this metric.
    pub fn restore(&mut self, group: GroupKey, start: i64, end: i64, partial: Partial) -> bool {
        match (self, partial) {
            (MetricState::Sessions(s), Partial::Session(events)) => {
                let events: Events = events;
                s.restore(&group, events);
                true
            }
            (MetricState::Fixed(w), p) if !matches!(p, Partial::Session(_)) => {
                w.restore(group, start, end, p);
                true
            }
            _ => false,
        }
    }
}

#[derive(Debug)]
pub(super) struct PartitionState {
    pub lateness_ms: i64,
    pub idle_timeout_ms: i64,
    /// Windows ending at or before it are closed. `i64::MIN` until the first event.
    pub watermark: i64,
    pub max_event_ms: Option<i64>,
    /// Events arrived since the last tick.
    pub active: bool,
    /// The wall-clock time of the last tick that saw the partition active.
    pub last_active_ms: Option<i64>,
    pub idle: bool,
    /// Indexed like `Spec::metrics`.
    pub metrics: Vec<MetricState>,
}

impl PartitionState {
    /// Advances the watermark for an event time; it never goes back.
    pub fn observe(&mut self, event_ms: i64) {
        let max = self.max_event_ms.map_or(event_ms, |m| m.max(event_ms));
        self.max_event_ms = Some(max);
        self.watermark = self.watermark.max(max.saturating_sub(self.lateness_ms));
    }

    /// The watermark of a metric over a session metric: such a row's time is its
    /// session's start, and the session can change until it closes, so its windows
    /// close only once no open session starts before their end.
    pub fn derived_watermark(&self, upstream: usize) -> i64 {
        match self.metrics.get(upstream) {
            Some(MetricState::Sessions(s)) => match s.earliest_start() {
                Some(start) => self.watermark.min(start),
                None => self.watermark,
            },
            _ => self.watermark,
        }
    }
}
