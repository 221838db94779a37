//! The test harness: it finds the local stack started by `dev/stack up` and hands each
//! test its own PostgreSQL database, slot and publication names and Kafka topic prefix,
//! so tests run in parallel on one shared stack without seeing each other's data.
//! Everything a test creates is removed when its handle drops, even after a panic —
//! above all replication slots, because a leaked slot pins WAL on the shared server.

pub mod broker;
pub mod capture;
pub mod connector;
pub mod consistency;
pub mod dashboard_support;
pub mod debezium;
pub mod diff;
pub mod kafka;
pub mod ledger;
pub mod log_tail;
pub mod pg;
pub mod private_pg;
pub mod process;
pub mod sink_support;
pub mod stack;
pub mod tansu;

pub use pg::{PgServer, TestDb};
pub use stack::Stack;

use std::sync::atomic::{AtomicU32, Ordering};

/// A short name that is unique across the tests of this run and across runs, made
/// only of characters that are valid unquoted in PostgreSQL identifiers, slot names
/// and Kafka topic names.
pub fn unique_name(label: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let label: String = label
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .take(24)
        .collect();
    format!(
        "{label}_{:x}{n:x}{:x}",
        std::process::id() % 0xffff,
        nanos % 0xfffff
    )
}
