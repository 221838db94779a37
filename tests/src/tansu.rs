//! A private tansu broker: a Kafka-protocol broker without a JVM (built by `dev/stack
//! install` into the cache; `PGCDC_TANSU_BIN`). It has idempotent produce, fetch,
//! watermarks and consumer groups but no transactions, so on it pgcdc's
//! exactly-once rests on reading back partition tails alone.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};

use crate::Stack;

/// A tansu process of this test, its data in an SQLite file of its own; killed and
/// its directory removed when dropped.
#[derive(Debug)]
pub struct TansuBroker {
    dir: PathBuf,
    port: u16,
    child: Child,
}

impl TansuBroker {
    /// Starts tansu on a free loopback port; returns once it answers metadata
    /// requests.
    pub async fn start(label: &str) -> anyhow::Result<TansuBroker> {
        let binary = PathBuf::from(Stack::get().var("PGCDC_TANSU_BIN"));
        anyhow::ensure!(
            binary.is_file(),
            "{} is missing; fix: dev/stack install (it builds tansu into the cache)",
            binary.display()
        );
        let dir = std::env::temp_dir().join(format!("pgcdc-tansu-{}", crate::unique_name(label)));
        std::fs::create_dir_all(&dir)?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let url = format!("tcp://127.0.0.1:{port}");
        let log = std::fs::File::create(dir.join("tansu.log"))?;
        let child = Command::new(&binary)
            .arg("broker")
            .args(["--listener-url", &url])
            .args(["--advertised-listener-url", &url])
            // tansu reads the path of a sqlite:// URL relative to its working
            // directory, even when it starts with a slash.
            .args(["--storage-engine", "sqlite://tansu.db"])
            .current_dir(&dir)
            // Not the test's RUST_LOG: at info tansu logs every storage query.
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::from(log.try_clone()?))
            .stderr(Stdio::from(log))
            .spawn()?;
        let mut broker = TansuBroker { dir, port, child };
        broker.wait_ready(Duration::from_secs(60)).await?;
        Ok(broker)
    }

    pub fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn client_config(&self) -> ClientConfig {
        crate::broker::loopback_client_config(self.port)
    }

    async fn wait_ready(&mut self, timeout: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + timeout;
        let consumer: BaseConsumer = self.client_config().create()?;
        loop {
            if let Some(status) = self.child.try_wait()? {
                anyhow::bail!(
                    "tansu exited with {status}; log: {}",
                    self.dir.join("tansu.log").display()
                );
            }
            let answered = tokio::task::block_in_place(|| {
                consumer.fetch_metadata(None, Duration::from_secs(2))
            });
            if answered.is_ok_and(|m| !m.brokers().is_empty()) {
                return Ok(());
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "tansu did not answer within {timeout:?}; log: {}",
                self.dir.join("tansu.log").display()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

impl Drop for TansuBroker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!(
                "tansu's log is kept: {}",
                self.dir.join("tansu.log").display()
            );
        } else {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}
