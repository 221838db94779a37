//! Prometheus metrics of the aggregation process, rendered as text for `/metrics`.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

/// A monotonically increasing count.
#[derive(Debug, Default)]
pub struct Counter(AtomicU64);

impl Counter {
    pub fn inc(&self) {
        self.inc_by(1);
    }
    pub fn inc_by(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// Seconds, counted into fixed buckets (cumulative when rendered).
#[derive(Debug)]
pub struct Histogram {
    bounds: &'static [f64],
    buckets: Vec<AtomicU64>,
    count: AtomicU64,
    /// Sum in microseconds, so it fits an atomic integer.
    sum_micros: AtomicU64,
}

const LATENCY_BOUNDS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.5, 0.75, 1.0, 2.5, 5.0, 10.0, 30.0,
];

impl Histogram {
    fn new(bounds: &'static [f64]) -> Histogram {
        Histogram {
            bounds,
            buckets: bounds.iter().map(|_| AtomicU64::new(0)).collect(),
            count: AtomicU64::new(0),
            sum_micros: AtomicU64::new(0),
        }
    }

    pub fn observe(&self, seconds: f64) {
        if let Some(index) = self.bounds.iter().position(|&b| seconds <= b) {
            self.buckets[index].fetch_add(1, Ordering::Relaxed);
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_micros
            .fetch_add((seconds.max(0.0) * 1e6) as u64, Ordering::Relaxed);
    }

    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    /// The smallest bucket bound holding at least `q` of the observations.
    pub fn quantile_bound(&self, q: f64) -> Option<f64> {
        let total = self.count();
        if total == 0 {
            return None;
        }
        let wanted = (q * total as f64).ceil() as u64;
        let mut seen = 0;
        for (bound, bucket) in self.bounds.iter().zip(&self.buckets) {
            seen += bucket.load(Ordering::Relaxed);
            if seen >= wanted {
                return Some(*bound);
            }
        }
        Some(f64::INFINITY)
    }

    fn render(&self, out: &mut String, name: &str) {
        let mut cumulative = 0;
        for (bound, bucket) in self.bounds.iter().zip(&self.buckets) {
            cumulative += bucket.load(Ordering::Relaxed);
            let _ = writeln!(out, "{name}_bucket{{le=\"{bound}\"}} {cumulative}");
        }
        let count = self.count();
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {count}");
        let sum = self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
        let _ = writeln!(out, "{name}_sum {sum}");
        let _ = writeln!(out, "{name}_count {count}");
    }
}

/// Everything the process counts.
#[derive(Debug)]
pub struct DashboardMetrics {
    pub records: Counter,
    pub applied: Counter,
    pub skipped: Counter,
    pub late: Counter,
    pub malformed: Counter,
    pub dead_lettered: Counter,
    pub fenced: Counter,
    pub flushes: Counter,
    pub alerts: Counter,
    pub flush_seconds: Histogram,
    /// Source commit → window value committed in Redis.
    pub commit_delay_seconds: Histogram,
    /// Why the aggregation loop last failed, until its next successful commit.
    last_error: Mutex<Option<String>>,
}

impl Default for DashboardMetrics {
    fn default() -> Self {
        DashboardMetrics {
            records: Counter::default(),
            applied: Counter::default(),
            skipped: Counter::default(),
            late: Counter::default(),
            malformed: Counter::default(),
            dead_lettered: Counter::default(),
            fenced: Counter::default(),
            flushes: Counter::default(),
            alerts: Counter::default(),
            flush_seconds: Histogram::new(LATENCY_BOUNDS),
            commit_delay_seconds: Histogram::new(LATENCY_BOUNDS),
            last_error: Mutex::new(None),
        }
    }
}

impl DashboardMetrics {
    pub fn set_last_error(&self, error: Option<String>) {
        *self
            .last_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = error;
    }

    pub fn last_error(&self) -> Option<String> {
        self.last_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let counters: [(&str, &str, &Counter); 9] = [
            (
                "pgcdc_dashboard_records_total",
                "Change records read from the fact topics.",
                &self.records,
            ),
            (
                "pgcdc_dashboard_events_applied_total",
                "Change events applied to windows.",
                &self.applied,
            ),
            (
                "pgcdc_dashboard_events_skipped_total",
                "Events filtered out or not aggregatable (truncates).",
                &self.skipped,
            ),
            (
                "pgcdc_dashboard_events_late_total",
                "Events dropped because their window had closed.",
                &self.late,
            ),
            (
                "pgcdc_dashboard_events_malformed_total",
                "Records that are not usable change events.",
                &self.malformed,
            ),
            (
                "pgcdc_dashboard_dead_lettered_total",
                "Malformed records written to the dead-letter topic.",
                &self.dead_lettered,
            ),
            (
                "pgcdc_dashboard_partitions_fenced_total",
                "Partitions lost to another instance at commit time.",
                &self.fenced,
            ),
            (
                "pgcdc_dashboard_commits_total",
                "MULTI/EXEC commits of results and offsets to Redis.",
                &self.flushes,
            ),
            (
                "pgcdc_dashboard_alerts_total",
                "Alerts fired.",
                &self.alerts,
            ),
        ];
        for (name, help, counter) in counters {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}",
                counter.get()
            );
        }
        let histograms = [
            (
                "pgcdc_dashboard_commit_seconds",
                "Time to commit one batch to Redis.",
                &self.flush_seconds,
            ),
            (
                "pgcdc_dashboard_source_to_redis_seconds",
                "From the source commit (source.ts_ms) to the window value committed in Redis.",
                &self.commit_delay_seconds,
            ),
        ];
        for (name, help, histogram) in histograms {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
            histogram.render(&mut out, name);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_renders_cumulative_buckets_and_quantiles() {
        let h = Histogram::new(&[0.1, 0.2, 0.5]);
        for s in [0.05, 0.15, 0.15, 0.4, 9.0] {
            h.observe(s);
        }
        let mut out = String::new();
        h.render(&mut out, "x");
        assert!(out.contains("x_bucket{le=\"0.1\"} 1\n"), "{out}");
        assert!(out.contains("x_bucket{le=\"0.2\"} 3\n"), "{out}");
        assert!(out.contains("x_bucket{le=\"0.5\"} 4\n"), "{out}");
        assert!(out.contains("x_bucket{le=\"+Inf\"} 5\n"), "{out}");
        assert!(out.contains("x_count 5\n"), "{out}");
        assert_eq!(h.quantile_bound(0.5), Some(0.2));
        assert_eq!(h.quantile_bound(0.8), Some(0.5));
        assert_eq!(h.quantile_bound(0.99), Some(f64::INFINITY));
    }

    #[test]
    fn every_counter_is_exposed() {
        let m = DashboardMetrics::default();
        m.late.inc_by(3);
        let text = m.render();
        assert!(text.contains("pgcdc_dashboard_events_late_total 3\n"));
        assert!(text.contains("# TYPE pgcdc_dashboard_source_to_redis_seconds histogram"));
    }
}
