//! The `pgcdc` binary as an operator runs it: `pgcdc connect` as a child process that
//! a test can kill (SIGKILL, a crash) or stop (SIGTERM, a deployment).

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::{connector, TestDb};

/// The `pgcdc` binary of this workspace, built (or found up to date) once per test
/// process with the cargo that runs the tests. `PGCDC_BIN` names another binary.
pub fn pgcdc_binary() -> anyhow::Result<PathBuf> {
    static BINARY: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    BINARY
        .get_or_init(|| build_binary().map_err(|e| format!("{e:#}")))
        .clone()
        .map_err(|e| anyhow::anyhow!("building the pgcdc binary: {e}"))
}

fn build_binary() -> anyhow::Result<PathBuf> {
    if let Some(path) = std::env::var_os("PGCDC_BIN") {
        return Ok(PathBuf::from(path));
    }
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut command = Command::new(cargo);
    // What cargo set for this test binary (its package's CARGO_PKG_*, …) must not
    // reach the build: some build scripts track those variables, and the binary would
    // be rebuilt at every run instead of found up to date.
    for (key, _) in std::env::vars_os() {
        let Some(key) = key.to_str() else { continue };
        if key.starts_with("CARGO_PKG_")
            || matches!(
                key,
                "CARGO_MANIFEST_DIR"
                    | "CARGO_MANIFEST_PATH"
                    | "CARGO_CRATE_NAME"
                    | "CARGO_PRIMARY_PACKAGE"
                    | "CARGO_TARGET_TMPDIR"
                    | "RUST_RECURSION_COUNT"
            )
        {
            command.env_remove(key);
        }
    }
    let mut build = command
        .args([
            "build",
            "-p",
            "pgcdc",
            "--bin",
            "pgcdc",
            "--message-format=json-render-diagnostics",
        ])
        .current_dir(&workspace)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()?;
    let stdout = build
        .stdout
        .take()
        .ok_or_else(|| anyhow::anyhow!("no stdout from cargo build"))?;
    let mut executable = None;
    for line in BufReader::new(stdout).lines() {
        let Ok(message) = serde_json::from_str::<serde_json::Value>(&line?) else {
            continue;
        };
        if message["reason"] == "compiler-artifact" && message["target"]["name"] == "pgcdc" {
            if let Some(path) = message["executable"].as_str() {
                executable = Some(PathBuf::from(path));
            }
        }
    }
    let status = build.wait()?;
    anyhow::ensure!(status.success(), "cargo build -p pgcdc failed: {status}");
    executable.ok_or_else(|| anyhow::anyhow!("cargo build -p pgcdc named no executable"))
}

/// A running `pgcdc connect`; killed when dropped.
#[derive(Debug)]
pub struct ConnectProcess {
    child: Child,
    status: Option<ExitStatus>,
}

impl ConnectProcess {
    /// Starts `pgcdc connect [--config <config>] --bootstrap-servers <bootstrap>
    /// --offsets-topic <offsets_topic> --state-dir <state_dir>`, its REST API on a free
    /// port, appending its log to `log`. Without `config`, the worker resumes the
    /// connectors its state directory holds.
    pub fn start(
        config: Option<&Path>,
        bootstrap: &str,
        offsets_topic: &str,
        state_dir: &Path,
        log: &Path,
    ) -> anyhow::Result<ConnectProcess> {
        Self::start_with(config, bootstrap, offsets_topic, state_dir, log, &[])
    }

    /// [`ConnectProcess::start`] with more arguments.
    pub fn start_with(
        config: Option<&Path>,
        bootstrap: &str,
        offsets_topic: &str,
        state_dir: &Path,
        log: &Path,
        extra: &[&std::ffi::OsStr],
    ) -> anyhow::Result<ConnectProcess> {
        let log_file = OpenOptions::new().create(true).append(true).open(log)?;
        let mut command = Command::new(pgcdc_binary()?);
        command.arg("connect").args(extra);
        if let Some(config) = config {
            command.arg("--config").arg(config);
        }
        let child = command
            .args(["--bootstrap-servers", bootstrap])
            .args(["--offsets-topic", offsets_topic])
            .args(["--listen", "127.0.0.1:0"])
            .arg("--state-dir")
            .arg(state_dir)
            .env(
                "RUST_LOG",
                std::env::var("RUST_LOG").unwrap_or("info".into()),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::from(log_file.try_clone()?))
            .stderr(Stdio::from(log_file))
            .spawn()?;
        Ok(ConnectProcess {
            child,
            status: None,
        })
    }

    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// The exit status, if the process ended.
    pub fn try_status(&mut self) -> anyhow::Result<Option<ExitStatus>> {
        if self.status.is_none() {
            self.status = self.child.try_wait()?;
        }
        Ok(self.status)
    }

    /// SIGKILL: a crash, with no chance to flush or confirm anything.
    pub fn kill(&mut self) -> anyhow::Result<()> {
        if self.try_status()?.is_none() {
            self.child.kill()?;
            self.status = Some(self.child.wait()?);
        }
        Ok(())
    }

    /// SIGTERM, then waits up to `timeout` for the process to exit.
    pub fn terminate(&mut self, timeout: Duration) -> anyhow::Result<ExitStatus> {
        if let Some(status) = self.try_status()? {
            return Ok(status);
        }
        let sent = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()?;
        anyhow::ensure!(sent.success(), "kill -TERM {} failed", self.child.id());
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.try_status()? {
                return Ok(status);
            }
            if Instant::now() > deadline {
                self.kill()?;
                anyhow::bail!("pgcdc connect did not exit within {timeout:?} of SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for ConnectProcess {
    fn drop(&mut self) {
        let _ = self.kill();
    }
}

/// A file for a test's artifacts (config, logs) under `$TMPDIR/pgcdc-tests`, kept so
/// that a failing run leaves its logs to read.
pub fn artifact_path(name: &str) -> anyhow::Result<PathBuf> {
    let dir = std::env::temp_dir().join("pgcdc-tests");
    std::fs::create_dir_all(&dir)?;
    Ok(dir.join(name))
}

/// Writes a connector's JSON configuration file.
pub fn write_config(path: &Path, config: &serde_json::Value) -> anyhow::Result<()> {
    let file = File::create(path)?;
    serde_json::to_writer_pretty(file, &serde_json::json!({ "config": config }))?;
    Ok(())
}
/// `text` without terminal colour sequences (`ESC [ … letter`), which a binary built
/// before pgcdc stopped colouring non-terminal logs still writes.
pub fn strip_ansi(text: &str) -> String {
    let mut plain = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            plain.push(c);
        }
    }
    plain
}

/// The REST API's base URL (`http://127.0.0.1:<port>`, or `https://` with TLS) of the
/// last `pgcdc connect` that logged to `log`, once it has said where it listens.
pub fn logged_rest_url(log: &Path) -> Option<String> {
    let log = strip_ansi(&std::fs::read_to_string(log).unwrap_or_default());
    let field = |line: &str, name: &str| -> Option<String> {
        let value = line
            .split_once(&format!("{name}="))?
            .1
            .split_whitespace()
            .next()?;
        Some(value.trim_matches('"').to_owned())
    };
    log.lines()
        .rev()
        .filter(|line| line.contains("REST API listening"))
        .find_map(|line| {
            let address = field(line, "address")?;
            let scheme = field(line, "scheme").unwrap_or_else(|| "http".to_owned());
            Some(format!("{scheme}://{address}"))
        })
}

/// How a test deploys `pgcdc connect` for one test database, the way an operator
/// does: a configuration file, a log, a state directory, and restarts that resume
/// from the state directory.
#[derive(Debug)]
pub struct Deployment {
    pub config: PathBuf,
    pub log: PathBuf,
    pub state_dir: PathBuf,
    pub offsets_topic: String,
    pub bootstrap: String,
}

impl Deployment {
    /// The connector of [`crate::connector::properties`] with three partitions per
    /// table topic, writing to the broker at `bootstrap`.
    pub fn new(db: &TestDb, bootstrap: &str) -> Deployment {
        let config = artifact_path(&format!("{}.json", db.name)).expect("deploying pgcdc connect");
        write_config(
            &config,
            &connector::properties(db, json!({"topic.creation.default.partitions": "3"})),
        )
        .expect("deploying pgcdc connect");
        let state_dir =
            artifact_path(&format!("{}-state", db.name)).expect("deploying pgcdc connect");
        std::fs::create_dir_all(&state_dir).expect("deploying pgcdc connect");
        Deployment {
            config,
            log: artifact_path(&format!("{}.log", db.name)).expect("deploying pgcdc connect"),
            state_dir,
            offsets_topic: connector::offsets_topic(db),
            bootstrap: bootstrap.to_owned(),
        }
    }

    /// The first start, with the connector's configuration file.
    pub fn start(&self) -> ConnectProcess {
        self.launch(Some(&self.config))
    }

    /// The REST API's base URL of the process started last (its log names the
    /// address it listens on; the log is appended to across restarts).
    pub async fn rest_url(&self, timeout: Duration) -> anyhow::Result<String> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(url) = logged_rest_url(&self.log) {
                return Ok(url);
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "pgcdc connect did not log its REST address within {timeout:?}; log: {}",
                self.log.display()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// After a passing run: its files are not needed (a failing run keeps them).
    pub fn remove_files(&self) {
        let _ = std::fs::remove_file(&self.config);
        let _ = std::fs::remove_file(&self.log);
        let _ = std::fs::remove_dir_all(&self.state_dir);
    }

    /// A restart, as a supervisor restarts the container: the worker resumes the
    /// connector from its state directory. (With `--config` again, the worker would
    /// apply the unchanged configuration and restart the task it had just started,
    /// which only makes every restart slower.)
    pub fn restart(&self) -> ConnectProcess {
        self.launch(None)
    }

    fn launch(&self, config: Option<&std::path::Path>) -> ConnectProcess {
        ConnectProcess::start(
            config,
            &self.bootstrap,
            &self.offsets_topic,
            &self.state_dir,
            &self.log,
        )
        .expect("deploying pgcdc connect")
    }
}
