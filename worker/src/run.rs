//! One run of a connector's task on this worker, whatever its class
//! ([`crate::class`]): started once the previous run has
//! ended (two runs of one connector never overlap), restarted after failures worth
//! retrying with exponential backoff and jitter, marked FAILED after the others, and
//! stopped without holding the REST call that stops it for longer than Kafka
//! Connect would.
//!
//! Stopping cancels the task. A streaming source task then drains what it sent,
//! confirms it and returns (a sink applies its open batch, the dashboard commits its
//! windows), and the stop waits up to [`GRACEFUL_SHUTDOWN`] for that. The source
//! connector watches for cancellation only while it streams, though: a task still
//! connecting, or taking its initial snapshot, would hold a pause, stop, update or
//! delete for as long as that takes (a connection timeout; a snapshot, for hours). So
//! such a task — and a streaming one that has not drained in time — is aborted, as a
//! crash would end it, which the connector is built for: the next start resumes from
//! the slot's confirmed position, skips what Kafka already has, and resumes an
//! interrupted snapshot. An abort takes effect at the task's next `.await`; until
//! then it finishes in the background, and the next run (or the slot's drop) waits
//! for it.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex as StdMutex};
use std::time::Duration;

use pgcdc_connector::task::TaskOptions;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::class::{self, Figures};
use crate::runtime::TaskState;

/// How long a stopped task may take to drain before it is abandoned: Kafka Connect's
/// `task.shutdown.graceful.timeout.ms` default.
pub const GRACEFUL_SHUTDOWN: Duration = Duration::from_secs(5);

/// How long a stop waits for an aborted task to reach its next `.await`, before
/// leaving it to end in the background.
const ABORT_WAIT: Duration = Duration::from_millis(500);

/// A task that was stopped but is still finishing (see the module's documentation).
pub type Ending = JoinHandle<()>;

/// What a run shares with the worker's view of its connector.
#[derive(Debug, Clone)]
pub struct Shared {
    pub state: Arc<StdMutex<TaskState>>,
    pub figures: Figures,
    /// Task restarts after retriable failures, by connector.
    pub restarts: Arc<StdMutex<BTreeMap<String, u64>>>,
    /// The worker's `exactly.once.source.support=enabled`.
    pub exactly_once_source_support: bool,
}

impl Shared {
    fn set(&self, state: TaskState) {
        if let Ok(mut current) = self.state.lock() {
            *current = state;
        }
    }
}

#[derive(Debug)]
pub struct Run {
    cancel: CancellationToken,
    handle: JoinHandle<()>,
}

impl Run {
    /// Starts the connector's task once `previous` has ended.
    pub fn start(
        name: &str,
        config: BTreeMap<String, String>,
        options: TaskOptions,
        shared: Shared,
        previous: Option<Ending>,
    ) -> Run {
        let cancel = CancellationToken::new();
        let token = cancel.clone();
        let name = name.to_owned();
        let handle = tokio::spawn(async move {
            if let Some(previous) = previous {
                let _ = previous.await;
                shared.figures.disconnected();
            }
            supervise(&name, &config, &options, &shared, &token).await;
        });
        Run { cancel, handle }
    }

    /// Stops the task; returns it if it is still finishing in the background.
    pub async fn stop(self, name: &str, figures: &Figures) -> Option<Ending> {
        self.cancel.cancel();
        let mut handle = self.handle;
        let streaming = figures.drains_when_stopped();
        if streaming
            && tokio::time::timeout(GRACEFUL_SHUTDOWN, &mut handle)
                .await
                .is_ok()
        {
            return None;
        }
        handle.abort();
        let ended = tokio::time::timeout(ABORT_WAIT, &mut handle).await.is_ok();
        figures.disconnected();
        tracing::warn!(
            connector = %name,
            streaming,
            ended,
            "task aborted when stopped: it was not streaming, or did not drain within {} s; \
             the next start resumes from its stored position (slot, or sink offsets)",
            GRACEFUL_SHUTDOWN.as_secs()
        );
        (!ended).then_some(handle)
    }
}

/// The task's run loop: retriable failures are retried with backoff, others mark
/// the task FAILED with the error as its trace.
async fn supervise(
    name: &str,
    config: &BTreeMap<String, String>,
    options: &TaskOptions,
    shared: &Shared,
    token: &CancellationToken,
) {
    let parsed = match class::validate(config) {
        Ok(class::Parsed::Source(mut source)) => {
            source.delivery.worker_exactly_once_source_support = shared.exactly_once_source_support;
            class::Parsed::Source(source)
        }
        Ok(parsed) => parsed,
        Err(e) => {
            shared.set(TaskState::Failed {
                trace: e.to_string(),
            });
            return;
        }
    };
    let mut delay = Duration::from_secs(1);
    while !token.is_cancelled() {
        shared.set(TaskState::Running);
        let result = class::run_once(name, &parsed, options, &shared.figures, token.clone()).await;
        match result {
            Ok(()) => {
                tracing::info!(connector = %name, "task stopped");
                return;
            }
            // A failure that ends a cancelled run is the cancellation's doing (a
            // connection closed under it), not the connector's state.
            Err(e) if token.is_cancelled() => {
                tracing::info!(connector = %name, error = %e.message, "task stopped");
                return;
            }
            Err(e) if e.retriable => {
                if let Ok(mut restarts) = shared.restarts.lock() {
                    *restarts.entry(name.to_owned()).or_insert(0) += 1;
                }
                let wait = delay + delay.mul_f64(jitter() * 0.5);
                tracing::warn!(connector = %name, error = %e.message, retry_in_ms = wait.as_millis() as u64, "task failed; retrying");
                tokio::select! {
                    () = token.cancelled() => return,
                    () = tokio::time::sleep(wait) => {}
                }
                delay = (delay * 2).min(Duration::from_secs(60));
            }
            Err(e) => {
                tracing::error!(connector = %name, error = %e.message, "task failed");
                shared.set(TaskState::Failed { trace: e.trace });
                return;
            }
        }
    }
}
/// A number in [0, 1) from the clock: backoff jitter needs no better randomness.
fn jitter() -> f64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    f64::from(nanos % 1000) / 1000.0
}
