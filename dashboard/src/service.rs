//! `pgcdc dashboard` as one service: the web side and the aggregation loop. The page
//! keeps serving what Redis holds while the loop restarts (with backoff) after a
//! broker or Redis failure; the loop's last error is on `/health`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rdkafka::config::ClientConfig;
use tokio::net::TcpListener;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use crate::metrics::DashboardMetrics;
use crate::spec::Spec;
use crate::store::Reader;
use crate::web::{relay_notifications, router, AppState};

/// The longest pause between two attempts of the aggregation loop.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// A bound listener and what it serves; `run` serves until `shutdown`.
#[derive(Debug)]
pub struct Dashboard {
    spec: Arc<Spec>,
    kafka: ClientConfig,
    listener: TcpListener,
    metrics: Arc<DashboardMetrics>,
}

impl Dashboard {
    /// Binds the HTTP listener (port 0 picks a free one; see [`Dashboard::address`]).
    pub async fn bind(
        spec: Arc<Spec>,
        kafka: ClientConfig,
        listen: SocketAddr,
    ) -> anyhow::Result<Dashboard> {
        let listener = TcpListener::bind(listen).await?;
        Ok(Dashboard {
            spec,
            kafka,
            listener,
            metrics: Arc::new(DashboardMetrics::default()),
        })
    }

    pub fn address(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    pub fn metrics(&self) -> Arc<DashboardMetrics> {
        Arc::clone(&self.metrics)
    }

    /// Serves the page and runs the aggregations until `shutdown`, then commits what
    /// was applied and returns.
    pub async fn run(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let reader = Reader::connect(&self.spec.redis_url, &self.spec.redis_key_prefix).await?;
        let (events, _) = broadcast::channel(1024);
        let relay = tokio::spawn(relay_notifications(
            self.spec.redis_url.clone(),
            reader.keys().updates_channel(),
            events.clone(),
        ));
        let state = Arc::new(AppState {
            spec: Arc::clone(&self.spec),
            reader,
            metrics: Arc::clone(&self.metrics),
            events,
            http: reqwest::Client::new(),
        });
        let web_shutdown = shutdown.clone();
        let state_for_web = Arc::clone(&state);
        let web = tokio::spawn(async move {
            axum::serve(self.listener, router(state_for_web))
                .with_graceful_shutdown(async move { web_shutdown.cancelled().await })
                .await
        });
        let mut backoff = Duration::from_millis(500);
        loop {
            let attempt = crate::runtime::run(
                Arc::clone(&self.spec),
                self.kafka.clone(),
                Arc::clone(&self.metrics),
                shutdown.clone(),
            )
            .await;
            match attempt {
                Ok(stats) => {
                    tracing::info!(
                        records = stats.records,
                        commits = stats.flushes,
                        "aggregations stopped"
                    );
                    break;
                }
                Err(e) => {
                    tracing::warn!(error = %format!("{e:#}"), retry_in_ms = backoff.as_millis() as u64, "aggregations failed; restarting from the offsets in Redis");
                    self.metrics.set_last_error(Some(format!("{e:#}")));
                    tokio::select! {
                        () = shutdown.cancelled() => break,
                        () = tokio::time::sleep(backoff) => {}
                    }
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
        }
        relay.abort();
        web.await??;
        Ok(())
    }
}
