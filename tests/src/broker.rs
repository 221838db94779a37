//! A private Apache Kafka broker for tests that take the broker away (an outage must
//! not disturb the other tests, which share the stack's broker). It runs the stack's
//! own Kafka jars the way `dev/lib/kafka.sh` does: KRaft combined mode, one process,
//! auto-creation off, on free loopback ports and a log directory of its own that
//! survives a kill, so a restart finds its topics again.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};

use crate::Stack;

/// A broker process of this test; killed and its directory removed when dropped.
#[derive(Debug)]
pub struct PrivateBroker {
    dir: PathBuf,
    libs: PathBuf,
    port: u16,
    child: Option<Child>,
}

/// Two distinct free ports on 127.0.0.1 (the sockets are held until both are chosen).
fn free_ports() -> anyhow::Result<(u16, u16)> {
    let a = std::net::TcpListener::bind("127.0.0.1:0")?;
    let b = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok((a.local_addr()?.port(), b.local_addr()?.port()))
}

/// A KRaft cluster id: 16 random bytes in unpadded base64url, not starting with '-'.
fn cluster_id() -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    loop {
        let bytes: [u8; 16] = rand::random();
        let mut bits = 0u32;
        let mut held = 0;
        let mut id = String::new();
        for byte in bytes {
            bits = (bits << 8) | u32::from(byte);
            held += 8;
            while held >= 6 {
                held -= 6;
                id.push(char::from(ALPHABET[((bits >> held) & 63) as usize]));
            }
        }
        if held > 0 {
            id.push(char::from(ALPHABET[((bits << (6 - held)) & 63) as usize]));
        }
        if !id.starts_with('-') {
            return id;
        }
    }
}

/// The Kafka jars `dev/stack install` resolved into the cache.
fn kafka_libs() -> anyhow::Result<PathBuf> {
    let cache = PathBuf::from(Stack::get().var("PGCDC_CACHE_DIR"));
    let mut candidates: Vec<PathBuf> = std::fs::read_dir(&cache)?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("kafka-"))
        })
        .map(|p| p.join("libs"))
        .filter(|p| p.is_dir())
        .collect();
    candidates.sort();
    candidates
        .pop()
        .ok_or_else(|| anyhow::anyhow!("no kafka-*/libs under {}", cache.display()))
}

impl PrivateBroker {
    /// Formats a fresh log directory and starts the broker; returns once it serves
    /// metadata and creates topics.
    pub async fn start(label: &str) -> anyhow::Result<PrivateBroker> {
        let libs = kafka_libs()?;
        let dir = std::env::temp_dir().join(format!("pgcdc-broker-{}", crate::unique_name(label)));
        std::fs::create_dir_all(dir.join("data"))?;
        let (port, controller) = free_ports()?;
        std::fs::write(
            dir.join("server.properties"),
            format!(
                "process.roles=broker,controller\n\
                 node.id=1\n\
                 controller.quorum.voters=1@127.0.0.1:{controller}\n\
                 controller.listener.names=CONTROLLER\n\
                 listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller}\n\
                 advertised.listeners=PLAINTEXT://127.0.0.1:{port}\n\
                 listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT\n\
                 inter.broker.listener.name=PLAINTEXT\n\
                 log.dirs={}\n\
                 auto.create.topics.enable=false\n\
                 num.partitions=1\n\
                 offsets.topic.replication.factor=1\n\
                 transaction.state.log.replication.factor=1\n\
                 transaction.state.log.min.isr=1\n\
                 share.coordinator.state.topic.replication.factor=1\n\
                 share.coordinator.state.topic.min.isr=1\n\
                 group.initial.rebalance.delay.ms=0\n",
                dir.join("data").display()
            ),
        )?;
        std::fs::write(dir.join("log4j2.properties"), LOG4J2)?;
        let format = Command::new("java")
            .args([
                "-XX:TieredStopAtLevel=1",
                "-XX:+UseSerialGC",
                "-Xshare:auto",
            ])
            .arg(format!(
                "-Dlog4j2.configurationFile={}",
                dir.join("log4j2.properties").display()
            ))
            .arg("-cp")
            .arg(classpath(&libs))
            .args([
                "kafka.tools.StorageTool",
                "format",
                "-t",
                &cluster_id(),
                "-c",
            ])
            .arg(dir.join("server.properties"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()?;
        anyhow::ensure!(
            format.success(),
            "formatting the private broker's log dir failed"
        );
        let mut broker = PrivateBroker {
            dir,
            libs,
            port,
            child: None,
        };
        broker.restart().await?;
        Ok(broker)
    }

    pub fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn client_config(&self) -> ClientConfig {
        loopback_client_config(self.port)
    }

    /// SIGKILL: the broker is gone at once, as in a crash or a lost host.
    pub fn kill(&mut self) -> anyhow::Result<()> {
        if let Some(mut child) = self.child.take() {
            child.kill()?;
            child.wait()?;
        }
        Ok(())
    }

    /// Starts the broker process on its log directory (after [`Self::kill`]), and
    /// waits until it serves requests again.
    pub async fn restart(&mut self) -> anyhow::Result<()> {
        anyhow::ensure!(self.child.is_none(), "the private broker is running");
        let log = std::fs::File::create(self.dir.join("broker.log"))?;
        let child = Command::new("java")
            .args([
                "-Xms128m",
                "-Xmx384m",
                "-XX:+UseSerialGC",
                "-XX:TieredStopAtLevel=1",
                "-Djava.awt.headless=true",
            ])
            .arg(format!(
                "-Dlog4j2.configurationFile={}",
                self.dir.join("log4j2.properties").display()
            ))
            .arg("-cp")
            .arg(classpath(&self.libs))
            .arg("kafka.Kafka")
            .arg(self.dir.join("server.properties"))
            .stdin(Stdio::null())
            .stdout(Stdio::from(log.try_clone()?))
            .stderr(Stdio::from(log))
            .spawn()?;
        self.child = Some(child);
        self.wait_ready(Duration::from_secs(120)).await
    }

    /// Ready = a topic can be created (the controller is up and the broker registered).
    async fn wait_ready(&mut self, timeout: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + timeout;
        let probe = crate::unique_name("probe");
        loop {
            if let Some(child) = self.child.as_mut() {
                if let Some(status) = child.try_wait()? {
                    anyhow::bail!(
                        "the private broker exited ({status}); log: {}",
                        self.dir.join("broker.log").display()
                    );
                }
            }
            if self.try_create(&probe).await.is_ok() {
                return Ok(());
            }
            if Instant::now() > deadline {
                anyhow::bail!(
                    "the private broker is not ready after {timeout:?}; log: {}",
                    self.dir.join("broker.log").display()
                );
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    async fn try_create(&self, topic: &str) -> anyhow::Result<()> {
        let mut config = self.client_config();
        config.set("socket.timeout.ms", "3000");
        let consumer: BaseConsumer = config.create()?;
        let metadata =
            tokio::task::block_in_place(|| consumer.fetch_metadata(None, Duration::from_secs(3)))?;
        anyhow::ensure!(!metadata.brokers().is_empty(), "no broker registered yet");
        let admin: AdminClient<DefaultClientContext> = config.create()?;
        let new = NewTopic::new(topic, 1, TopicReplication::Fixed(1));
        let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(5)));
        let results = tokio::time::timeout(
            Duration::from_secs(10),
            admin.create_topics([&new], &options),
        )
        .await??;
        for result in results {
            match result {
                Ok(_) | Err((_, rdkafka::types::RDKafkaErrorCode::TopicAlreadyExists)) => {}
                Err((topic, code)) => anyhow::bail!("creating {topic}: {code}"),
            }
        }
        Ok(())
    }
}

fn classpath(libs: &Path) -> String {
    format!("{}/*", libs.display())
}

/// A client of a test's own broker on the loopback `port` (no SASL, unlike the stack's).
pub fn loopback_client_config(port: u16) -> ClientConfig {
    let mut config = ClientConfig::new();
    config.set("bootstrap.servers", format!("127.0.0.1:{port}"));
    config
}

impl Drop for PrivateBroker {
    fn drop(&mut self) {
        let _ = self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

const LOG4J2: &str = "status = warn
appender.out.type = Console
appender.out.name = out
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = warn
rootLogger.appenderRef.out.ref = out
";
