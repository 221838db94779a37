//! The settings `dev/stack up` wrote to its env file.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use crate::pg::PgServer;

/// The running local stack, as described by `$PGCDC_STATE_DIR/env`.
#[derive(Debug)]
pub struct Stack {
    vars: HashMap<String, String>,
}

impl Stack {
    /// The stack of this test run. Panics, with what to do, when no stack is up: a test
    /// that needs a real service must fail loudly rather than pass without it.
    pub fn get() -> &'static Stack {
        static STACK: OnceLock<Stack> = OnceLock::new();
        STACK.get_or_init(|| match Stack::load() {
            Ok(stack) => stack,
            Err(why) => panic!("the local stack is not available: {why}. Run `dev/stack up` first (or `dev/test`, which does)"),
        })
    }

    fn load() -> Result<Stack, String> {
        let path = env_file();
        let text = std::fs::read_to_string(&path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let mut vars: HashMap<String, String> = text
            .lines()
            .filter(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
            .collect();
        // The process environment wins, so one run can point a suite at the other
        // PostgreSQL version: PGCDC_PG_VERSION=18 cargo test ...
        for (key, value) in std::env::vars() {
            if key.starts_with("PGCDC_") {
                vars.insert(key, value);
            }
        }
        Ok(Stack { vars })
    }

    /// A setting the stack must have; panics naming it when missing.
    pub fn var(&self, key: &str) -> &str {
        self.vars.get(key).map(String::as_str).unwrap_or_else(|| {
            panic!(
                "{key} is missing from {}: restart the stack with `dev/stack down && dev/stack up`",
                env_file().display()
            )
        })
    }

    pub fn optional_var(&self, key: &str) -> Option<&str> {
        self.vars
            .get(key)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    /// The PostgreSQL version this run tests against (`PGCDC_PG_VERSION`, 15 or 18).
    pub fn pg_version(&self) -> u32 {
        let v = self.var("PGCDC_PG_VERSION");
        v.parse()
            .unwrap_or_else(|_| panic!("PGCDC_PG_VERSION={v} is not a number"))
    }

    /// The PostgreSQL server of this run's version.
    pub fn pg(&self) -> PgServer {
        self.pg_of_version(self.pg_version())
    }

    pub fn pg_of_version(&self, version: u32) -> PgServer {
        let port = self.var(&format!("PGCDC_PG{version}_PORT"));
        PgServer {
            version,
            host: self.var("PGCDC_PG_HOST").to_owned(),
            port: port
                .parse()
                .unwrap_or_else(|_| panic!("bad port {port} for PostgreSQL {version}")),
            user: self.var("PGCDC_PG_USER").to_owned(),
            password: self.var("PGCDC_PG_PASSWORD").to_owned(),
            bin_dir: PathBuf::from(self.var(&format!("PGCDC_PG{version}_BIN"))),
        }
    }

    pub fn kafka_bootstrap(&self) -> &str {
        self.var("PGCDC_KAFKA_BOOTSTRAP")
    }

    pub fn redis_url(&self) -> &str {
        self.var("PGCDC_REDIS_URL")
    }

    /// The REST URL of the reference Kafka Connect worker running Debezium, when the
    /// stack was started with `--with-debezium`.
    pub fn debezium_url(&self) -> Option<&str> {
        self.optional_var("PGCDC_DEBEZIUM_URL")
    }

    /// The Python interpreter of the stack's venv, with the reference clients.
    pub fn python(&self) -> &Path {
        Path::new(self.var("PGCDC_PYTHON"))
    }
}

fn env_file() -> PathBuf {
    let state = std::env::var_os("PGCDC_STATE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../.stack"));
    state.join("env")
}
