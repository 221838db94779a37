//! Every endpoint of the embedded registry fuzzed from its OpenAPI description
//! (`schemas/openapi.yaml`) by schemathesis: examples, boundary and malformed values
//! of every parameter and body (the coverage phase), random valid and invalid
//! requests (fuzzing) and sequences following the description's links (stateful).
//! The run fails on any 5xx, on a status code, content type, header or body that the
//! description does not declare, and on schema-violating input that is accepted
//! instead of answered with a 4xx.
//!
//! Not checked: `positive_data_acceptance` (that every schema-valid request is
//! accepted), since whether `schema` is valid Avro cannot be said in OpenAPI.
//!
//! Needs `schemathesis` in the venv of `PGCDC_PYTHON` (dev/requirements.txt).
//! `PGCDC_FUZZ_EXAMPLES` (default 15) and `PGCDC_FUZZ_SEED` (default 1) tune a run.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use pgcdc_schemas::registry::{self, Registry};

fn python() -> PathBuf {
    if let Ok(python) = std::env::var("PGCDC_PYTHON") {
        return PathBuf::from(python);
    }
    let env = concat!(env!("CARGO_MANIFEST_DIR"), "/../.stack/env");
    std::fs::read_to_string(env)
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("PGCDC_PYTHON="))
        .map(|v| PathBuf::from(v.trim_matches('"')))
        .expect("PGCDC_PYTHON is not set and .stack/env does not name it: run dev/stack up")
}

#[tokio::test(flavor = "multi_thread")]
async fn every_endpoint_survives_schemathesis() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let server = tokio::spawn(registry::serve(listener, Arc::new(Registry::in_memory())));
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let examples = std::env::var("PGCDC_FUZZ_EXAMPLES").unwrap_or_else(|_| "15".into());
    let seed = std::env::var("PGCDC_FUZZ_SEED").unwrap_or_else(|_| "1".into());
    let report = tempfile_path("schemathesis-junit.xml");
    let output = tokio::process::Command::new(python())
        .args(["-m", "schemathesis.cli", "--config-file"])
        .arg(manifest.join("schemathesis.toml"))
        .arg("run")
        .arg(manifest.join("openapi.yaml"))
        .args(["--url", &url])
        .args(["--exclude-checks", "positive_data_acceptance"])
        .args(["--max-examples", &examples, "--seed", &seed])
        .args(["--no-color", "--generation-database", "none"])
        .args(["--request-timeout", "10", "--max-response-time", "5"])
        .args(["--report", "junit", "--report-junit-path"])
        .arg(&report)
        .output()
        .await
        .unwrap();
    server.abort();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let junit = std::fs::read_to_string(&report).unwrap_or_default();
    let _ = std::fs::remove_file(&report);
    assert!(
        output.status.success(),
        "schemathesis found failures:\n{stdout}\n{stderr}"
    );
    // It must have tested every operation, not passed by testing nothing.
    let summary = stdout
        .lines()
        .find(|l| l.trim_start().starts_with("Tested:"))
        .unwrap_or_default();
    assert!(
        summary.contains("30"),
        "expected all 30 operations tested: {summary}\n{stdout}"
    );
    assert!(junit.contains("<testcase"), "no JUnit report:\n{stdout}");
    eprintln!(
        "{}",
        stdout
            .lines()
            .filter(|l| l.contains("generated") || l.contains("Tested:"))
            .collect::<Vec<_>>()
            .join("\n")
    );
}

fn tempfile_path(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("pgcdc-{}-{name}", std::process::id()))
}
