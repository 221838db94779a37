//! The reference: a Kafka Connect worker running the real Debezium PostgreSQL
//! connector, started by `dev/stack up --with-debezium`. Compatibility tests register a
//! connector here and diff its records against pgcdc's.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::{Stack, TestDb};

/// A Debezium connector registered on the reference worker; deleted on drop.
#[derive(Debug)]
pub struct DebeziumConnector {
    pub name: String,
    url: String,
}

/// The REST URL of the reference worker; panics with what to do when it is not running.
pub fn worker_url() -> String {
    Stack::get()
        .debezium_url()
        .unwrap_or_else(|| {
            panic!("the reference Debezium worker is not running: `dev/stack up --with-debezium`")
        })
        .to_owned()
}

/// Debezium PostgreSQL connector properties for a test database, capturing the given
/// tables with pgoutput into topics under the database's topic prefix. `extra`
/// overrides or adds properties.
pub fn connector_config(db: &TestDb, tables: &[&str], extra: Value) -> Value {
    let mut config = json!({
        "connector.class": "io.debezium.connector.postgresql.PostgresConnector",
        "database.hostname": db.server.host,
        "database.port": db.server.port.to_string(),
        "database.user": db.server.user,
        "database.password": db.server.password,
        "database.dbname": db.name,
        "topic.prefix": db.topic_prefix(),
        "plugin.name": "pgoutput",
        "slot.name": db.slot_name(),
        "publication.name": db.publication_name(),
        "publication.autocreate.mode": "filtered",
        "table.include.list": tables.join(","),
        // The stack's broker does not auto-create topics; Connect creates them.
        "topic.creation.default.replication.factor": "1",
        "topic.creation.default.partitions": "1",
        "tasks.max": "1",
    });
    if let (Some(config), Value::Object(extra)) = (config.as_object_mut(), extra) {
        config.extend(extra);
    }
    config
}

impl DebeziumConnector {
    /// Registers the connector and waits until its task is RUNNING.
    pub async fn start(name: &str, config: Value) -> anyhow::Result<DebeziumConnector> {
        let url = worker_url();
        let http = reqwest::Client::new();
        let response = http
            .post(format!("{url}/connectors"))
            .json(&json!({"name": name, "config": config}))
            .send()
            .await?;
        let status = response.status();
        if !status.is_success() {
            anyhow::bail!("registering {name}: {status} {}", response.text().await?);
        }
        let connector = DebeziumConnector {
            name: name.to_owned(),
            url,
        };
        connector.wait_running(Duration::from_secs(60)).await?;
        Ok(connector)
    }

    pub async fn status(&self) -> anyhow::Result<Value> {
        Ok(
            reqwest::get(format!("{}/connectors/{}/status", self.url, self.name))
                .await?
                .json()
                .await?,
        )
    }

    async fn wait_running(&self, timeout: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            let status = self.status().await?;
            let task_state = status["tasks"][0]["state"].as_str().unwrap_or("");
            if task_state == "RUNNING" {
                return Ok(());
            }
            if task_state == "FAILED" || Instant::now() > deadline {
                anyhow::bail!("Debezium connector {} did not start: {status}", self.name);
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
}

impl Drop for DebeziumConnector {
    fn drop(&mut self) {
        let url = format!("{}/connectors/{}", self.url, self.name);
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            runtime.block_on(async {
                reqwest::Client::new()
                    .delete(url)
                    .send()
                    .await?
                    .error_for_status()
            })?;
            anyhow::Ok(())
        })
        .join();
    }
}
