//! How records reach Kafka: Kafka Connect's exactly-once source properties (KIP-618),
//! `exactly.once.support`, `transaction.boundary` and
//! `transaction.boundary.interval.ms`, with Connect's names, values and defaults.
//!
//! Connect turns transactions on for a whole cluster (the worker's
//! `exactly.once.source.support=enabled`); `exactly.once.support=required` only makes
//! the connector refuse to run without them. pgcdc has one worker and brokers without
//! transactions (tansu) to serve too, so it also lets one connector ask for them:
//! `required` writes that connector's records in Kafka transactions on any worker,
//! `requested` (the default) does so when the worker was started with
//! `--exactly-once-source-support enabled`.

use std::time::Duration;

use super::properties::Properties;

/// `exactly.once.support`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ExactlyOnceSupport {
    /// Transactions when the worker enables them (Connect's default).
    #[default]
    Requested,
    /// Transactions always: the connector fails rather than write without them.
    Required,
}

/// `transaction.boundary`: when a Kafka transaction is committed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TransactionBoundary {
    /// One transaction per batch, as Connect commits one per `SourceTask.poll()`: the
    /// records that were ready when the last one committed, up to `max.batch.size`.
    #[default]
    Poll,
    /// One transaction per `transaction.boundary.interval.ms` (bounded by
    /// `max.queue.size` records in flight).
    Interval(Duration),
}

/// Connect's default for `transaction.boundary.interval.ms` is the worker's
/// `offset.flush.interval.ms`, itself 60 s by default.
pub const DEFAULT_TRANSACTION_INTERVAL: Duration = Duration::from_secs(60);

/// The delivery settings of a connector.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DeliveryConfig {
    pub exactly_once_support: ExactlyOnceSupport,
    pub transaction_boundary: TransactionBoundary,
    /// The worker's `exactly.once.source.support=enabled` (`pgcdc connect
    /// --exactly-once-source-support enabled`): set by the worker that runs the
    /// connector, not a connector property.
    pub worker_exactly_once_source_support: bool,
}

impl DeliveryConfig {
    /// Whether records go out in Kafka transactions.
    pub fn transactional(&self) -> bool {
        self.worker_exactly_once_source_support
            || self.exactly_once_support == ExactlyOnceSupport::Required
    }

    pub(super) fn read(p: &mut Properties<'_>) -> DeliveryConfig {
        let exactly_once_support = p.choice(
            "exactly.once.support",
            ExactlyOnceSupport::Requested,
            &[
                ("requested", ExactlyOnceSupport::Requested),
                ("required", ExactlyOnceSupport::Required),
            ],
        );
        #[derive(Clone, Copy, PartialEq)]
        enum Boundary {
            Poll,
            Interval,
            Connector,
        }
        let boundary = p.choice(
            "transaction.boundary",
            Boundary::Poll,
            &[
                ("poll", Boundary::Poll),
                ("interval", Boundary::Interval),
                ("connector", Boundary::Connector),
            ],
        );
        if boundary == Boundary::Connector {
            // Debezium's PostgresConnector does not implement
            // canDefineTransactionBoundaries, so Connect refuses this value for it.
            p.error(
                "transaction.boundary",
                "\"connector\" is not supported: the Debezium PostgreSQL connector does not define transaction boundaries (use poll or interval)",
            );
        }
        let interval_ms = p.parsed::<u64>(
            "transaction.boundary.interval.ms",
            DEFAULT_TRANSACTION_INTERVAL.as_millis() as u64,
            "a number of milliseconds",
        );
        if interval_ms == 0 {
            p.error("transaction.boundary.interval.ms", "must be at least 1");
        }
        let transaction_boundary = match boundary {
            Boundary::Interval => TransactionBoundary::Interval(Duration::from_millis(interval_ms)),
            Boundary::Poll | Boundary::Connector => TransactionBoundary::Poll,
        };
        DeliveryConfig {
            exactly_once_support,
            transaction_boundary,
            worker_exactly_once_source_support: false,
        }
    }
}
