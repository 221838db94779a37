//! Reading results back: a window's partials from every partition merged into one
//! value, and whether it is final.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::engine::Partial;
use crate::read::window_value;
use crate::spec::Spec;
use crate::store::{PartitionName, StoredWindow};

/// One window of a metric as users see it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WindowView {
    pub group: serde_json::Value,
    pub start_ms: i64,
    pub end_ms: i64,
    /// `None` when the aggregate has no value (avg of nothing, ratio over zero).
    pub value: Option<f64>,
    /// Closed on every partition that contributed, and every partition of the
    /// source has moved its watermark past the window's end: it will not change.
    #[serde(rename = "final")]
    pub is_final: bool,
}

/// Merges stored partials. Partials that fail to parse (written by an incompatible
/// version) are left out and logged.
pub fn window_view(
    spec: &Spec,
    metric: &str,
    stored: &StoredWindow,
    watermarks: &HashMap<PartitionName, i64>,
) -> WindowView {
    let partials: Vec<Partial> = stored
        .partials
        .iter()
        .filter_map(|(partition, _, json)| match Partial::deserialize(json) {
            Ok(partial) => Some(partial),
            Err(e) => {
                tracing::warn!(metric, partition = %partition.0, error = %e, "unreadable partial skipped");
                None
            }
        })
        .collect();
    let all_closed = stored.partials.iter().all(|(_, closed, _)| *closed);
    let topic = spec.metric_topic(metric);
    let source_watermark = watermarks
        .iter()
        .filter(|(p, _)| p.split().is_some_and(|(t, _)| Some(t) == topic))
        .map(|(_, wm)| *wm)
        .min();
    let is_final = all_closed && source_watermark.is_some_and(|wm| wm >= stored.window.end_ms);
    WindowView {
        group: serde_json::from_str(&stored.window.group)
            .unwrap_or_else(|_| serde_json::Value::String(stored.window.group.clone())),
        start_ms: stored.window.start_ms,
        end_ms: stored.window.end_ms,
        value: window_value(&partials),
        is_final,
    }
}
