//! Applying one change: validate every image first (a malformed event changes
//! nothing), then retract and add, feed metrics over session metrics, advance the
//! watermark and close what it passed.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::state::{MetricState, PartitionState};
use super::{Change, Engine, EngineStats, Op, Outcome, SourcePartition, WindowKey};
use crate::contribute::{contribution, event_time, group_key, join, RowError};
use crate::partial::Partial;
use crate::row::{matches_all, GroupKey, RowView};
use crate::spec::{MetricInput, MetricSpec, SourceSpec, Spec};
use crate::window::windows_of;

/// One image's contribution to one metric.
#[derive(Debug)]
struct RowOp {
    metric: usize,
    group: GroupKey,
    time: i64,
    partial: Partial,
    retract: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Done {
    Applied,
    Late,
    Nothing,
}

impl Done {
    fn and(self, other: Done) -> Done {
        match (self, other) {
            (Done::Applied, _) | (_, Done::Applied) => Done::Applied,
            (Done::Late, _) | (_, Done::Late) => Done::Late,
            _ => Done::Nothing,
        }
    }
}

const FULL_IDENTITY: &str =
    "set REPLICA IDENTITY FULL on the table so that Debezium sends the whole old row";

impl Engine {
    /// Applies one change of the partition `at` (see the module documentation).
    pub fn apply(&mut self, at: &SourcePartition, change: &Change) -> Outcome {
        if change.op == Op::Truncate {
            return Outcome::Skipped;
        }
        let (times, ops) = match self.prepare(at.topic(), change) {
            Ok(Some(prepared)) => prepared,
            Ok(None) => return Outcome::Skipped,
            Err(why) => return Outcome::Malformed(why),
        };
        if !self.partitions.contains_key(at) {
            let Some(state) = self.new_partition(at) else {
                return Outcome::Skipped;
            };
            self.partitions.insert(at.clone(), state);
        }
        let Some(state) = self.partitions.get_mut(at) else {
            return Outcome::Skipped;
        };
        let mut ctx = Ctx {
            spec: &self.spec,
            dependents: &self.dependents,
            at,
            pending: &mut self.pending,
            stats: &mut self.stats,
        };
        let mut done = Done::Nothing;
        for op in ops {
            done = done.and(ctx.apply_op(state, op));
        }
        for t in times {
            state.observe(t);
        }
        state.active = true;
        self.close_windows(at);
        match done {
            Done::Applied => Outcome::Applied,
            Done::Late => Outcome::Late,
            Done::Nothing => Outcome::Skipped,
        }
    }

    /// Every image's event time and contributions; `None` when no source takes the
    /// change.
    #[allow(clippy::type_complexity)]
    fn prepare(
        &self,
        topic: &str,
        change: &Change,
    ) -> Result<Option<(Vec<i64>, Vec<RowOp>)>, String> {
        let mut times = Vec::new();
        let mut ops = Vec::new();
        let mut taken = false;
        for (name, source) in self.spec.sources.iter().filter(|(_, s)| s.topic == topic) {
            if !source.ops.contains(&change.op) {
                continue;
            }
            taken = true;
            if matches!(change.op, Op::Update | Op::Delete) {
                let Some(before) = &change.before else {
                    return Err(format!(
                        "the before image of an {} is null: {FULL_IDENTITY}",
                        if change.op == Op::Update {
                            "update"
                        } else {
                            "delete"
                        }
                    ));
                };
                self.prepare_image(
                    name,
                    source,
                    before,
                    true,
                    change.source_ts_ms,
                    &mut times,
                    &mut ops,
                )
                .map_err(|e| {
                    if e.identity_problem {
                        format!("{} in the before image: {FULL_IDENTITY}", e.message)
                    } else {
                        format!("{} in the before image", e.message)
                    }
                })?;
            }
            if matches!(change.op, Op::Create | Op::Read | Op::Update) {
                let Some(after) = &change.after else {
                    return Err(format!(
                        "the after image of op {} is null",
                        change.op.code()
                    ));
                };
                self.prepare_image(
                    name,
                    source,
                    after,
                    false,
                    change.source_ts_ms,
                    &mut times,
                    &mut ops,
                )
                .map_err(|e| format!("{} in the after image", e.message))?;
            }
        }
        Ok(taken.then_some((times, ops)))
    }

    #[allow(clippy::too_many_arguments)]
    fn prepare_image(
        &self,
        source_name: &str,
        source: &SourceSpec,
        row: &crate::change::Row,
        retract: bool,
        source_ts_ms: i64,
        times: &mut Vec<i64>,
        ops: &mut Vec<RowOp>,
    ) -> Result<(), RowError> {
        let lookup = |table: &str, key: &str| self.dimensions.get(table)?.get(key);
        let Some(joined) = join(row, &source.joins, lookup)? else {
            // An inner join without its dimension row. Its time still tells that
            // time moved on, when it can be read without the join.
            if let Ok(t) = event_time(&source.event_time, &RowView::plain(row), source_ts_ms) {
                times.push(t);
            }
            return Ok(());
        };
        let view = RowView {
            fact: row,
            joins: &joined,
        };
        let time = event_time(&source.event_time, &view, source_ts_ms)?;
        times.push(time);
        if !matches_all(&view, &source.filter) {
            return Ok(());
        }
        for (metric, spec) in self.spec.metrics.iter().enumerate() {
            if !matches!(&spec.input, MetricInput::Source(s) if s == source_name) {
                continue;
            }
            let group = group_key(&spec.group_by, &view)?;
            let partial = contribution(&spec.aggregate, &view)?;
            ops.push(RowOp {
                metric,
                group,
                time,
                partial,
                retract,
            });
        }
        Ok(())
    }
}

/// What applying needs besides the partition's state.
struct Ctx<'a> {
    spec: &'a Spec,
    dependents: &'a [Vec<usize>],
    at: &'a SourcePartition,
    pending: &'a mut BTreeMap<WindowKey, Option<Partial>>,
    stats: &'a mut EngineStats,
}

impl Ctx<'_> {
    fn touched(&mut self, metric: usize, group: &GroupKey, (start, end): (i64, i64)) {
        let key = WindowKey {
            at: self.at.clone(),
            metric,
            group: group.clone(),
            start,
            end,
        };
        self.pending.insert(key, None);
    }

    fn apply_op(&mut self, state: &mut PartitionState, op: RowOp) -> Done {
        let watermark = state.watermark;
        let metric = &self.spec.metrics[op.metric];
        match &state.metrics[op.metric] {
            MetricState::Fixed(_) => self.apply_fixed(state, watermark, metric, &op),
            MetricState::Sessions(_) => {
                let feeds = !self.dependents[op.metric].is_empty();
                let derived_watermark = state.derived_watermark(op.metric);
                let before = match (&state.metrics[op.metric], feeds) {
                    (MetricState::Sessions(s), true) => s.snapshot(&op.group),
                    _ => Vec::new(),
                };
                let done = self.apply_session(state, watermark, &op);
                if feeds && done == Done::Applied {
                    self.feed_dependents(state, metric, &op, before, derived_watermark);
                }
                done
            }
            MetricState::Unused => Done::Nothing,
        }
    }

    fn apply_fixed(
        &mut self,
        state: &mut PartitionState,
        watermark: i64,
        metric: &MetricSpec,
        op: &RowOp,
    ) -> Done {
        let MetricState::Fixed(windows) = &mut state.metrics[op.metric] else {
            return Done::Nothing;
        };
        let mut done = Done::Nothing;
        let mut changed = Vec::new();
        for (start, end) in windows_of(&metric.window, op.time) {
            if end <= watermark {
                self.stats.late_windows += 1;
                done = done.and(Done::Late);
                continue;
            }
            let result = if op.retract {
                windows.retract(&op.group, start, end, &op.partial)
            } else {
                windows.add(&op.group, start, end, &op.partial)
            };
            match result {
                super::fixed::Applied::Changed => {
                    changed.push((start, end));
                    done = Done::Applied;
                }
                super::fixed::Applied::Unmatched => self.stats.unmatched_retractions += 1,
                super::fixed::Applied::Nothing => {}
            }
        }
        for window in changed {
            self.touched(op.metric, &op.group, window);
        }
        done
    }

    fn apply_session(&mut self, state: &mut PartitionState, watermark: i64, op: &RowOp) -> Done {
        let MetricState::Sessions(sessions) = &mut state.metrics[op.metric] else {
            return Done::Nothing;
        };
        let touched = if op.retract {
            match sessions.retract(&op.group, op.time, &op.partial) {
                Some(touched) => touched,
                None if op.time < watermark => {
                    self.stats.late_windows += 1;
                    return Done::Late;
                }
                None => {
                    self.stats.unmatched_retractions += 1;
                    return Done::Nothing;
                }
            }
        } else if op.time < watermark {
            self.stats.late_windows += 1;
            return Done::Late;
        } else {
            sessions.add(&op.group, op.time, &op.partial)
        };
        for window in touched {
            self.touched(op.metric, &op.group, window);
        }
        Done::Applied
    }

    /// Retracts the rows of the sessions that changed and adds their new rows to
    /// every metric reading this session metric.
    fn feed_dependents(
        &mut self,
        state: &mut PartitionState,
        upstream: &MetricSpec,
        op: &RowOp,
        before: Vec<(i64, i64, Option<f64>)>,
        derived_watermark: i64,
    ) {
        let MetricState::Sessions(sessions) = &state.metrics[op.metric] else {
            return;
        };
        let after = sessions.snapshot(&op.group);
        let removed: Vec<_> = before
            .iter()
            .filter(|s| !after.contains(s))
            .copied()
            .collect();
        let added: Vec<_> = after
            .iter()
            .filter(|s| !before.contains(s))
            .copied()
            .collect();
        let parts = op.group.parts();
        for &dependent in &self.dependents[op.metric] {
            let metric = &self.spec.metrics[dependent];
            let rows = removed
                .iter()
                .map(|s| (s, true))
                .chain(added.iter().map(|s| (s, false)));
            for (&(start, end, value), retract) in rows {
                let row = session_row(&upstream.group_by, &parts, start, end, value);
                let view = RowView::plain(&row);
                let prepared = group_key(&metric.group_by, &view)
                    .and_then(|group| Ok((group, contribution(&metric.aggregate, &view)?)));
                let (group, partial) = match prepared {
                    Ok(p) => p,
                    Err(e) => {
                        tracing::warn!(metric = %metric.name, error = %e.message, "session row not aggregated");
                        continue;
                    }
                };
                let derived = RowOp {
                    metric: dependent,
                    group,
                    time: start,
                    partial,
                    retract,
                };
                self.apply_fixed(state, derived_watermark, metric, &derived);
            }
        }
    }
}

/// A session as a row for the metrics reading it.
fn session_row(
    group_by: &[String],
    parts: &[Option<String>],
    start: i64,
    end: i64,
    value: Option<f64>,
) -> crate::change::Row {
    let mut row = crate::change::Row::new();
    for (path, part) in group_by.iter().zip(parts) {
        row.insert(
            path.clone(),
            part.as_ref()
                .map_or(Value::Null, |s| Value::String(s.clone())),
        );
    }
    row.insert("value".into(), value.map_or(Value::Null, |v| json!(v)));
    row.insert("start_ms".into(), json!(start));
    row.insert("end_ms".into(), json!(end));
    row
}
