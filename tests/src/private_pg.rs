//! A private PostgreSQL cluster for tests that crash and restart the server (an
//! outage must not disturb the other tests, which share the stack's clusters). It
//! uses the binaries of this run's PostgreSQL version, with logical replication on,
//! on a free loopback port and a data directory of its own that survives a crash.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::{PgServer, Stack};

/// The unprivileged OS user `dev/stack` runs clusters as when the tests run as root
/// (PostgreSQL refuses to run as root).
const PG_OS_USER: &str = "pgcdc";

/// A cluster of this test; stopped and its directory removed when dropped.
#[derive(Debug)]
pub struct PrivatePostgres {
    dir: PathBuf,
    server: PgServer,
}

impl PrivatePostgres {
    /// Initializes a cluster and starts it; returns once it accepts connections.
    pub fn start(label: &str) -> anyhow::Result<PrivatePostgres> {
        let stack = Stack::get().pg();
        let dir = std::env::temp_dir().join(format!("pgcdc-pg-{}", crate::unique_name(label)));
        let data = dir.join("data");
        std::fs::create_dir_all(&dir)?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let server = PgServer { port, ..stack };
        let cluster = PrivatePostgres { dir, server };
        if running_as_root() {
            run(Command::new("chown").arg(PG_OS_USER).arg(&cluster.dir))?;
        }
        cluster.run_as_owner(
            "initdb",
            &[
                "--no-sync",
                "-D",
                path_str(&data)?,
                "-U",
                &cluster.server.user,
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C",
            ],
        )?;
        // Durability traded for speed as in the stack's clusters: an immediate stop
        // (a process crash) keeps what the OS has, which is all this test needs.
        let settings = format!(
            "\nlisten_addresses = '127.0.0.1'\n\
             port = {port}\n\
             unix_socket_directories = '{}'\n\
             wal_level = logical\n\
             max_replication_slots = 16\n\
             max_wal_senders = 16\n\
             wal_sender_timeout = '10s'\n\
             fsync = off\n\
             full_page_writes = off\n",
            cluster.dir.display()
        );
        let conf = data.join("postgresql.conf");
        let mut text = std::fs::read_to_string(&conf)?;
        text.push_str(&settings);
        std::fs::write(&conf, text)?;
        cluster.restart()?;
        Ok(cluster)
    }

    /// The server, for [`crate::TestDb::create_on`] and connection strings.
    pub fn server(&self) -> PgServer {
        self.server.clone()
    }

    /// Stops the server the way a crash does (`pg_ctl stop -m immediate`: no
    /// checkpoint, every backend and walsender gone at once).
    pub fn crash(&self) -> anyhow::Result<()> {
        self.pg_ctl(&["-m", "immediate", "-w", "-t", "60", "stop"])
    }

    /// Starts the server (after [`Self::crash`]); it recovers from its WAL and
    /// returns once it accepts connections.
    pub fn restart(&self) -> anyhow::Result<()> {
        let log = self.dir.join("server.log");
        self.pg_ctl(&["-l", path_str(&log)?, "-w", "-t", "120", "start"])
    }

    fn pg_ctl(&self, args: &[&str]) -> anyhow::Result<()> {
        let data = self.dir.join("data");
        let mut all = vec!["-D", path_str(&data)?];
        all.extend_from_slice(args);
        self.run_as_owner("pg_ctl", &all)
    }

    fn run_as_owner(&self, program: &str, args: &[&str]) -> anyhow::Result<()> {
        let binary = self.server.bin_dir.join(program);
        let mut command = if running_as_root() {
            let mut command = Command::new("runuser");
            command.args(["-u", PG_OS_USER, "--"]).arg(&binary);
            command
        } else {
            Command::new(&binary)
        };
        // pg_ctl's server inherits the working directory: one the owner can enter.
        command.args(args).current_dir(&self.dir);
        run(&mut command)
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        let _ = self.crash();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn running_as_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

fn run(command: &mut Command) -> anyhow::Result<()> {
    let output = command.stdin(Stdio::null()).output()?;
    anyhow::ensure!(
        output.status.success(),
        "{command:?} failed ({}): {}",
        output.status,
        String::from_utf8_lossy(&output.stderr).trim()
    );
    Ok(())
}

fn path_str(path: &Path) -> anyhow::Result<&str> {
    path.to_str()
        .ok_or_else(|| anyhow::anyhow!("{} is not UTF-8", path.display()))
}
