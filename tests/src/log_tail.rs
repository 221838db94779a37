//! The last lines the in-process tasks (sink, connector) logged, printed when a test
//! panics: a CI run shows only a failing test's output, and a sink task's retries
//! and rebalances are its only witnesses.

use std::collections::VecDeque;
use std::io::Write;
use std::sync::{Mutex, OnceLock};

const KEPT_LINES: usize = 400;

static LINES: Mutex<VecDeque<String>> = Mutex::new(VecDeque::new());

struct Tail(Vec<u8>);

impl Write for Tail {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for Tail {
    fn drop(&mut self) {
        let text = String::from_utf8_lossy(&self.0);
        let mut lines = LINES
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for line in text.lines() {
            if lines.len() == KEPT_LINES {
                lines.pop_front();
            }
            lines.push_back(line.to_owned());
        }
    }
}

/// Keeps the last lines logged at `RUST_LOG` (default: info for pgcdc's crates) and
/// prints them when any test of this binary panics. Idempotent.
pub fn keep() {
    static INSTALLED: OnceLock<()> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
            tracing_subscriber::EnvFilter::new("pgcdc_sink=info,pgcdc_connector=info")
        });
        let _ = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_ansi(false)
            .with_writer(|| Tail(Vec::new()))
            .try_init();
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let lines = LINES
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if !lines.is_empty() {
                eprintln!(
                    "--- the last {} lines logged in this test process ---",
                    lines.len()
                );
                for line in lines.iter() {
                    eprintln!("{line}");
                }
                eprintln!("--- end of the log ---");
            }
            drop(lines);
            default(info);
        }));
    });
}
