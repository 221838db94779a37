//! schema_registry_converter (the Rust crate, 4.4) against the embedded registry:
//! Avro round trips with auto-registration, decoding by id, evolution, the same id
//! for the same schema, and an incompatible schema refused. The client lives in its
//! own small workspace (tests/interop/schema_registry_converter, see its manifest
//! for why it is not a dependency of pgcdc); this test starts the registry and runs
//! it with cargo, whose first build of it takes a minute or two.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::sync::Arc;

use pgcdc_schemas::registry::{self, Registry};

#[tokio::test(flavor = "multi_thread")]
async fn schema_registry_converter_round_trips() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let server = tokio::spawn(registry::serve(listener, Arc::new(Registry::in_memory())));
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/interop/schema_registry_converter/Cargo.toml");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = tokio::process::Command::new(cargo);
    // What cargo set for this test must not leak into the nested build (it would
    // rebuild the client at every run, or build it as this package).
    for (key, _) in std::env::vars_os() {
        if key.to_str().is_some_and(|k| {
            k.starts_with("CARGO_PKG_")
                || k.starts_with("CARGO_CRATE")
                || matches!(
                    k,
                    "CARGO_MANIFEST_DIR" | "CARGO_MANIFEST_PATH" | "CARGO_PRIMARY_PACKAGE"
                )
        }) {
            command.env_remove(key);
        }
    }
    let output = command
        .args(["run", "--quiet", "--manifest-path"])
        .arg(&manifest)
        .arg("--")
        .arg(&url)
        .output()
        .await
        .unwrap();
    server.abort();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success() && stdout.contains("converter interop ok"),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
}
