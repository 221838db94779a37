//! The registry's Prometheus metrics, served at `GET /metrics` in the text
//! exposition format. Names start with `pgcdc_registry_`, in base units:
//!
//! - `pgcdc_registry_requests_total{method,endpoint,status}`: requests answered,
//!   by route template (`/subjects/{subject}/versions`, so subject names do not make
//!   new series; paths that match no route count as `unmatched`);
//! - `pgcdc_registry_request_duration_seconds{method,endpoint}`: a latency histogram;
//! - `pgcdc_registry_registrations_total{result}`: `POST /subjects/{s}/versions` by
//!   outcome — `created` (a new version), `existing` (the subject had the schema),
//!   `rejected` (invalid or incompatible);
//! - `pgcdc_registry_schemas`, `pgcdc_registry_subjects`: distinct schema ids held,
//!   subjects with a live version;
//! - `pgcdc_registry_store_records_total{result}`: log records replayed or read from
//!   the topic, `applied` or `skipped` (undecodable, logged);
//! - `pgcdc_registry_store_write_retries_total`: Kafka writes retried after another
//!   instance wrote in between (fenced);
//! - `pgcdc_registry_startup_seconds`: from the start of `pgcdc registry` to serving;
//! - `process_resident_memory_bytes`.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use super::state::RegistryState;

/// Upper bounds of the latency histogram, in seconds.
const BUCKETS: [f64; 12] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 2.5,
];

#[derive(Debug, Default)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

/// A registration's outcome, for `pgcdc_registry_registrations_total`.
#[derive(Debug, Clone, Copy)]
pub enum Registration {
    Created,
    Existing,
    Rejected,
}

/// Counters shared by the HTTP layer and the store.
#[derive(Debug, Default)]
pub struct RegistryMetrics {
    requests: Mutex<BTreeMap<(String, String, u16), u64>>,
    durations: Mutex<BTreeMap<(String, String), Histogram>>,
    registrations: [AtomicU64; 3],
    records_applied: AtomicU64,
    records_skipped: AtomicU64,
    write_retries: AtomicU64,
    startup_micros: AtomicU64,
}

impl RegistryMetrics {
    pub fn observe_request(&self, method: &str, endpoint: &str, status: u16, elapsed: Duration) {
        *self
            .requests
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry((method.to_owned(), endpoint.to_owned(), status))
            .or_default() += 1;
        let seconds = elapsed.as_secs_f64();
        let mut durations = self
            .durations
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let histogram = durations
            .entry((method.to_owned(), endpoint.to_owned()))
            .or_default();
        histogram.count += 1;
        histogram.sum += seconds;
        if let Some(bucket) = BUCKETS.iter().position(|bound| seconds <= *bound) {
            histogram.counts[bucket] += 1;
        }
    }

    pub fn registration(&self, outcome: Registration) {
        self.registrations[outcome as usize].fetch_add(1, Ordering::Relaxed);
    }

    pub fn record_applied(&self) {
        self.records_applied.fetch_add(1, Ordering::Relaxed);
    }

    pub fn record_skipped(&self) {
        self.records_skipped.fetch_add(1, Ordering::Relaxed);
    }

    pub fn write_retried(&self) {
        self.write_retries.fetch_add(1, Ordering::Relaxed);
    }

    pub fn set_startup(&self, elapsed: Duration) {
        let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        self.startup_micros.store(micros, Ordering::Relaxed);
    }

    /// The whole exposition, with the gauges read from `state`.
    pub fn render(&self, state: &RegistryState) -> String {
        let mut text = String::with_capacity(4096);
        let _ = writeln!(
            text,
            "# HELP pgcdc_registry_requests_total HTTP requests answered, by method, route and status.\n# TYPE pgcdc_registry_requests_total counter"
        );
        {
            let requests = self.requests.lock().unwrap_or_else(PoisonError::into_inner);
            for ((method, endpoint, status), count) in requests.iter() {
                let _ = writeln!(
                    text,
                    "pgcdc_registry_requests_total{{method=\"{method}\",endpoint=\"{}\",status=\"{status}\"}} {count}",
                    escape(endpoint)
                );
            }
        }
        let _ = writeln!(
            text,
            "# HELP pgcdc_registry_request_duration_seconds Time to answer a request.\n# TYPE pgcdc_registry_request_duration_seconds histogram"
        );
        {
            let durations = self
                .durations
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            for ((method, endpoint), histogram) in durations.iter() {
                let labels = format!("method=\"{method}\",endpoint=\"{}\"", escape(endpoint));
                let mut cumulative = 0;
                for (bound, count) in BUCKETS.iter().zip(histogram.counts) {
                    cumulative += count;
                    let _ = writeln!(
                        text,
                        "pgcdc_registry_request_duration_seconds_bucket{{{labels},le=\"{bound}\"}} {cumulative}"
                    );
                }
                let _ = writeln!(
                    text,
                    "pgcdc_registry_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {}\npgcdc_registry_request_duration_seconds_sum{{{labels}}} {}\npgcdc_registry_request_duration_seconds_count{{{labels}}} {}",
                    histogram.count, histogram.sum, histogram.count
                );
            }
        }
        let _ = writeln!(
            text,
            "# HELP pgcdc_registry_registrations_total Schema registrations, by outcome.\n# TYPE pgcdc_registry_registrations_total counter"
        );
        for (result, counter) in ["created", "existing", "rejected"]
            .iter()
            .zip(&self.registrations)
        {
            let _ = writeln!(
                text,
                "pgcdc_registry_registrations_total{{result=\"{result}\"}} {}",
                counter.load(Ordering::Relaxed)
            );
        }
        let live_subjects = state.subjects(false).len();
        let gauges: [(&str, &str, &str, f64); 4] = [
            (
                "pgcdc_registry_schemas",
                "gauge",
                "Distinct schemas (global ids) held.",
                state.schema_count() as f64,
            ),
            (
                "pgcdc_registry_subjects",
                "gauge",
                "Subjects with at least one live version.",
                live_subjects as f64,
            ),
            (
                "pgcdc_registry_store_write_retries_total",
                "counter",
                "Kafka-store writes retried because another instance wrote in between.",
                self.write_retries.load(Ordering::Relaxed) as f64,
            ),
            (
                "pgcdc_registry_startup_seconds",
                "gauge",
                "Time from the start of pgcdc registry until it served requests.",
                self.startup_micros.load(Ordering::Relaxed) as f64 / 1e6,
            ),
        ];
        for (name, kind, help, value) in gauges {
            let _ = writeln!(
                text,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
            );
        }
        let _ = writeln!(
            text,
            "# HELP pgcdc_registry_store_records_total Log records read at start or from the topic.\n# TYPE pgcdc_registry_store_records_total counter\npgcdc_registry_store_records_total{{result=\"applied\"}} {}\npgcdc_registry_store_records_total{{result=\"skipped\"}} {}",
            self.records_applied.load(Ordering::Relaxed),
            self.records_skipped.load(Ordering::Relaxed)
        );
        if let Some(bytes) = resident_memory_bytes() {
            let _ = writeln!(
                text,
                "# HELP process_resident_memory_bytes Resident memory size in bytes.\n# TYPE process_resident_memory_bytes gauge\nprocess_resident_memory_bytes {bytes}"
            );
        }
        text
    }
}

fn escape(label: &str) -> String {
    label
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn resident_memory_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let kib = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse::<u64>()
        .ok()?;
    Some(kib * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposition_counts_requests_and_buckets_latencies() {
        let metrics = RegistryMetrics::default();
        let endpoint = "/subjects/{subject}/versions";
        metrics.observe_request("POST", endpoint, 200, Duration::from_micros(300));
        metrics.observe_request("POST", endpoint, 200, Duration::from_millis(30));
        metrics.observe_request("POST", endpoint, 409, Duration::from_secs(9));
        metrics.registration(Registration::Created);
        let text = metrics.render(&RegistryState::new());
        for line in [
            r#"pgcdc_registry_requests_total{method="POST",endpoint="/subjects/{subject}/versions",status="200"} 2"#,
            r#"pgcdc_registry_requests_total{method="POST",endpoint="/subjects/{subject}/versions",status="409"} 1"#,
            r#"pgcdc_registry_request_duration_seconds_bucket{method="POST",endpoint="/subjects/{subject}/versions",le="0.0005"} 1"#,
            r#"pgcdc_registry_request_duration_seconds_bucket{method="POST",endpoint="/subjects/{subject}/versions",le="0.05"} 2"#,
            r#"pgcdc_registry_request_duration_seconds_bucket{method="POST",endpoint="/subjects/{subject}/versions",le="+Inf"} 3"#,
            r#"pgcdc_registry_request_duration_seconds_count{method="POST",endpoint="/subjects/{subject}/versions"} 3"#,
            r#"pgcdc_registry_registrations_total{result="created"} 1"#,
            "pgcdc_registry_schemas 0",
            "# TYPE pgcdc_registry_request_duration_seconds histogram",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "{line} missing from\n{text}"
            );
        }
    }
}
