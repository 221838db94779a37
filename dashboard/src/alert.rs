//! Alert rules over window values: threshold, rate of change and z-score, with
//! `for.ms` and `cooldown.ms`. Pure: the shell feeds it merged window values and
//! delivers what fires.
//!
//! Per rule and group the evaluator remembers:
//! * the values of the last closed windows (the baseline of `zscore`; the newest is
//!   the previous window of `rate_of_change`), each window counted once however often
//!   it is observed;
//! * since when the condition holds (`for.ms`, wall clock), and when it last fired
//!   (`cooldown.ms`). A rule fires at most once per window.
//!
//! Which observations are judged: a rule judges closed windows, and open windows
//! too when its `evaluate` is `open` (the default for `above`: an open window only
//! grows toward it for counts and sums, while `below`, rate of change and z-score
//! would misfire on a window that has just begun). An observation of a window older
//! than the newest one judged is stale and only feeds the baseline.
//!
//! Rate of change is `|value − previous| / |previous| × 100`; a previous value of 0
//! gives no rate (never fires). Z-score is `|value − mean| / σ` over the baseline
//! (population σ, at least two windows); a flat baseline (σ = 0) fires on any
//! different value.

use std::collections::{HashMap, VecDeque};

use serde::{Deserialize, Serialize};

use crate::row::GroupKey;
use crate::spec::{AlertRule, AlertSpec, Spec};
use crate::timestamp::format_rfc3339_ms;

/// A fired alert.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertEvent {
    /// The rule's name.
    pub name: String,
    pub metric: String,
    /// The group key, e.g. `["books"]`.
    pub group: String,
    pub window_start_ms: i64,
    pub value: f64,
    /// The rule, e.g. `threshold above 100`.
    pub rule: String,
    pub fired_at_ms: i64,
    pub message: String,
}

#[derive(Debug, Default)]
struct RuleState {
    /// `(window start, value)` of closed windows, oldest first.
    baseline: VecDeque<(i64, f64)>,
    newest_judged: Option<i64>,
    holding_since: Option<i64>,
    last_fired_ms: Option<i64>,
    last_fired_window: Option<i64>,
}

/// Evaluates every alert rule of a spec.
#[derive(Debug)]
pub struct AlertEvaluator {
    rules: Vec<AlertSpec>,
    state: HashMap<(usize, String), RuleState>,
}

impl AlertEvaluator {
    pub fn new(spec: &Spec) -> AlertEvaluator {
        AlertEvaluator {
            rules: spec.alerts.clone(),
            state: HashMap::new(),
        }
    }

    /// Judges one observation of a window's merged value; returns what fires.
    pub fn observe(
        &mut self,
        metric: &str,
        group: &str,
        window_start_ms: i64,
        value: f64,
        closed: bool,
        now_ms: i64,
    ) -> Vec<AlertEvent> {
        let mut fired = Vec::new();
        if !value.is_finite() {
            return fired;
        }
        for (i, rule) in self.rules.iter().enumerate() {
            if rule.metric != metric {
                continue;
            }
            if let Some(wanted) = &rule.group {
                if GroupKey::from(group).parts() != *wanted {
                    continue;
                }
            }
            let state = self.state.entry((i, group.to_owned())).or_default();
            if let Some(event) = judge(
                rule,
                state,
                metric,
                group,
                window_start_ms,
                value,
                closed,
                now_ms,
            ) {
                fired.push(event);
            }
        }
        fired
    }
}

#[allow(clippy::too_many_arguments)]
fn judge(
    rule: &AlertSpec,
    state: &mut RuleState,
    metric: &str,
    group: &str,
    window_start_ms: i64,
    value: f64,
    closed: bool,
    now_ms: i64,
) -> Option<AlertEvent> {
    let judged = (closed || rule.evaluate_open)
        && state
            .newest_judged
            .is_none_or(|newest| window_start_ms >= newest);
    let verdict = if judged {
        state.newest_judged = Some(window_start_ms);
        condition(&rule.rule, state, window_start_ms, value)
    } else {
        None
    };
    if closed {
        remember(&rule.rule, state, window_start_ms, value);
    }
    if !judged {
        return None;
    }
    let Some(why) = verdict else {
        state.holding_since = None;
        return None;
    };
    let since = *state.holding_since.get_or_insert(now_ms);
    if now_ms.saturating_sub(since) < rule.for_ms
        || state.last_fired_window == Some(window_start_ms)
        || state
            .last_fired_ms
            .is_some_and(|last| now_ms.saturating_sub(last) < rule.cooldown_ms)
    {
        return None;
    }
    state.last_fired_ms = Some(now_ms);
    state.last_fired_window = Some(window_start_ms);
    Some(AlertEvent {
        name: rule.name.clone(),
        metric: metric.to_owned(),
        group: group.to_owned(),
        window_start_ms,
        value,
        rule: describe(&rule.rule),
        fired_at_ms: now_ms,
        message: format!(
            "{}: {metric} {group} = {} {why} (window starting {})",
            rule.name,
            number(value),
            format_rfc3339_ms(window_start_ms)
        ),
    })
}

/// Whether the rule's condition holds, and how to say so.
fn condition(
    rule: &AlertRule,
    state: &RuleState,
    window_start_ms: i64,
    value: f64,
) -> Option<String> {
    let earlier = || {
        state
            .baseline
            .iter()
            .filter(|(start, _)| *start < window_start_ms)
    };
    match *rule {
        AlertRule::Above(x) => (value > x).then(|| format!("is above {}", number(x))),
        AlertRule::Below(x) => (value < x).then(|| format!("is below {}", number(x))),
        AlertRule::RateOfChange { max_change_pct } => {
            let (_, previous) = earlier().next_back()?;
            if *previous == 0.0 {
                return None;
            }
            let pct = (value - previous).abs() / previous.abs() * 100.0;
            (pct > max_change_pct).then(|| {
                format!(
                    "changed {pct:.1}% from {} (more than {}%)",
                    number(*previous),
                    number(max_change_pct)
                )
            })
        }
        AlertRule::ZScore {
            baseline_windows,
            threshold,
        } => {
            let values: Vec<f64> = earlier().map(|(_, v)| *v).collect();
            let values = &values[values.len().saturating_sub(baseline_windows)..];
            if values.len() < 2 {
                return None;
            }
            let n = values.len() as f64;
            let mean = values.iter().sum::<f64>() / n;
            let sd = (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n).sqrt();
            let z = if sd > 0.0 {
                (value - mean).abs() / sd
            } else if value != mean {
                f64::INFINITY
            } else {
                0.0
            };
            (z > threshold).then(|| {
                format!(
                    "is {} standard deviations from the mean {} of the last {} windows (threshold {})",
                    if z.is_finite() { format!("{z:.1}") } else { "infinitely many".into() },
                    number(mean),
                    values.len(),
                    number(threshold)
                )
            })
        }
    }
}

/// Records a closed window's value in the baseline (once per window).
fn remember(rule: &AlertRule, state: &mut RuleState, window_start_ms: i64, value: f64) {
    let keep = match *rule {
        AlertRule::ZScore {
            baseline_windows, ..
        } => baseline_windows.max(1),
        _ => 1,
    };
    match state
        .baseline
        .iter()
        .position(|(start, _)| *start >= window_start_ms)
    {
        Some(i) if state.baseline[i].0 == window_start_ms => state.baseline[i].1 = value,
        Some(i) => state.baseline.insert(i, (window_start_ms, value)),
        None => state.baseline.push_back((window_start_ms, value)),
    }
    // One more than the baseline, so the window being judged can be left out.
    while state.baseline.len() > keep + 1 {
        state.baseline.pop_front();
    }
}

fn describe(rule: &AlertRule) -> String {
    match *rule {
        AlertRule::Above(x) => format!("threshold above {}", number(x)),
        AlertRule::Below(x) => format!("threshold below {}", number(x)),
        AlertRule::RateOfChange { max_change_pct } => {
            format!("rate of change over {}%", number(max_change_pct))
        }
        AlertRule::ZScore {
            baseline_windows,
            threshold,
        } => {
            format!(
                "z-score over {} against {baseline_windows} windows",
                number(threshold)
            )
        }
    }
}

/// A value as people read it: at most three decimals, no trailing zeros.
fn number(v: f64) -> String {
    let rounded = (v * 1000.0).round() / 1000.0;
    if rounded == rounded.trunc() && rounded.abs() < 1e15 {
        format!("{}", rounded as i64)
    } else {
        format!("{rounded}")
    }
}

#[cfg(test)]
mod tests;
