//! Alert delivery: after each commit, the windows it touched are read back merged
//! across partitions (so every instance judges the global value) and given to the
//! rule evaluator; an alert that fires is recorded once in Redis (several instances
//! may judge the same window), published to the page, logged, written to the alerts
//! topic and posted to the rule's webhook.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use rdkafka::producer::{FutureProducer, FutureRecord};

use crate::alert::{AlertEvaluator, AlertEvent};
use crate::metrics::DashboardMetrics;
use crate::spec::Spec;
use crate::store::{Reader, WindowId, Writer};
use crate::view::window_view;

/// Where fired alerts go.
pub struct AlertSink {
    pub writer: Arc<Mutex<Writer>>,
    pub producer: Option<FutureProducer>,
    pub topic: Option<String>,
    pub metrics: Arc<DashboardMetrics>,
}

impl std::fmt::Debug for AlertSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AlertSink")
            .field("topic", &self.topic)
            .finish()
    }
}

/// Rule evaluation over merged window values.
#[derive(Debug)]
pub struct Alerting {
    spec: Arc<Spec>,
    evaluator: AlertEvaluator,
    reader: Reader,
    sink: AlertSink,
    http: reqwest::Client,
}

impl Alerting {
    pub fn new(spec: Arc<Spec>, reader: Reader, sink: AlertSink) -> Alerting {
        Alerting {
            evaluator: AlertEvaluator::new(&spec),
            spec,
            reader,
            sink,
            http: reqwest::Client::new(),
        }
    }

    /// Judges the windows one commit touched. Failures are logged, never fatal: an
    /// alert is a side effect of results that are already safe in Redis.
    pub async fn observe(&mut self, touched: &[WindowId], now_ms: i64) {
        if self.spec.alerts.is_empty() {
            return;
        }
        let watched: Vec<&WindowId> = touched
            .iter()
            .filter(|w| self.spec.alerts.iter().any(|a| a.metric == w.metric))
            .collect();
        if watched.is_empty() {
            return;
        }
        let watermarks = match self.reader.watermarks().await {
            Ok(w) => w,
            Err(e) => return tracing::warn!(error = %e, "alerts: reading watermarks"),
        };
        let mut fired = Vec::new();
        for window in watched {
            let stored = match self
                .reader
                .windows(&window.metric, window.start_ms, window.start_ms)
                .await
            {
                Ok(stored) => stored,
                Err(e) => {
                    tracing::warn!(error = %e, "alerts: reading windows");
                    continue;
                }
            };
            for stored in stored.iter().filter(|s| s.window == *window) {
                let view = window_view(&self.spec, &window.metric, stored, &watermarks);
                let Some(value) = view.value else { continue };
                fired.extend(self.evaluator.observe(
                    &window.metric,
                    &window.group,
                    window.start_ms,
                    value,
                    view.is_final,
                    now_ms,
                ));
            }
        }
        for alert in fired {
            self.deliver(alert).await;
        }
    }

    async fn deliver(&self, alert: AlertEvent) {
        let json = match serde_json::to_value(&alert) {
            Ok(json) => json,
            Err(e) => return tracing::warn!(error = %e, "alerts: serialising"),
        };
        let id = format!("{}:{}:{}", alert.name, alert.group, alert.window_start_ms);
        let writer = Arc::clone(&self.sink.writer);
        let record = json.clone();
        let fresh = tokio::task::spawn_blocking(move || {
            writer
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .record_alert(&id, &record)
        })
        .await;
        match fresh {
            Ok(Ok(true)) => {}
            Ok(Ok(false)) => return, // another instance delivered it
            Ok(Err(e)) => tracing::warn!(error = %e, "alerts: recording in Redis"),
            Err(e) => tracing::warn!(error = %e, "alerts: recording in Redis"),
        }
        self.sink.metrics.alerts.inc();
        tracing::warn!(alert = %alert.name, metric = %alert.metric, group = %alert.group, value = alert.value, message = %alert.message, "alert fired");
        let text = json.to_string();
        if let (Some(producer), Some(topic)) = (&self.sink.producer, &self.sink.topic) {
            let record: FutureRecord<'_, str, str> = FutureRecord::to(topic)
                .key(alert.name.as_str())
                .payload(text.as_str());
            if let Err((e, _)) = producer.send(record, Duration::from_secs(10)).await {
                tracing::warn!(error = %e, topic, "alerts: writing to the alerts topic");
            }
        }
        let webhook = self
            .spec
            .alerts
            .iter()
            .find(|a| a.name == alert.name)
            .and_then(|a| a.webhook_url.as_deref());
        if let Some(url) = webhook {
            let posted = self
                .http
                .post(url)
                .timeout(Duration::from_secs(5))
                .header("content-type", "application/json")
                .body(text)
                .send()
                .await;
            match posted {
                Ok(response) if response.status().is_success() => {}
                Ok(response) => {
                    tracing::warn!(url, status = %response.status(), "alerts: webhook refused")
                }
                Err(e) => tracing::warn!(url, error = %e, "alerts: webhook"),
            }
        }
    }
}
