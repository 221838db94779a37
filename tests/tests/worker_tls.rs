//! The worker's REST API over TLS (`--rest-tls-cert`, `--rest-tls-key`): a client
//! that trusts the certificate's CA gets Kafka Connect's answers; plain HTTP and a
//! client that does not trust it get nothing; a key that is not one stops the worker
//! at start with a message naming the flag.

#![allow(clippy::unwrap_used)] // a test that cannot unwrap has failed

use std::ffi::OsStr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use pgcdc_tests::process::{artifact_path, logged_rest_url, strip_ansi, ConnectProcess};
use pgcdc_tests::Stack;
use serde_json::Value;

/// The stack's CA and the certificate it signed for 127.0.0.1 (PostgreSQL's).
fn tls_files() -> (PathBuf, PathBuf, PathBuf) {
    let ca = PathBuf::from(Stack::get().var("PGCDC_PG_SSL_ROOT_CERT"));
    let dir = ca.parent().unwrap().to_owned();
    (ca, dir.join("server.crt"), dir.join("server.key"))
}

fn start(label: &str, cert: &std::path::Path, key: &std::path::Path) -> (ConnectProcess, PathBuf) {
    let name = pgcdc_tests::unique_name(label);
    let log = artifact_path(&format!("{name}.log")).unwrap();
    let state_dir = artifact_path(&format!("{name}-state")).unwrap();
    std::fs::create_dir_all(&state_dir).unwrap();
    let process = ConnectProcess::start_with(
        None,
        Stack::get().kafka_bootstrap(),
        &format!("{name}_offsets"),
        &state_dir,
        &log,
        &[
            OsStr::new("--rest-tls-cert"),
            cert.as_os_str(),
            OsStr::new("--rest-tls-key"),
            key.as_os_str(),
        ],
    )
    .unwrap();
    (process, log)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rest_api_speaks_https_to_clients_that_trust_its_certificate() {
    let (ca, cert, key) = tls_files();
    let (mut process, log) = start("worker_tls", &cert, &key);
    let deadline = Instant::now() + Duration::from_secs(60);
    let url = loop {
        if let Some(url) = logged_rest_url(&log) {
            break url;
        }
        assert!(
            process.try_status().unwrap().is_none(),
            "pgcdc connect exited; log: {}",
            log.display()
        );
        assert!(
            Instant::now() < deadline,
            "no REST API; log: {}",
            log.display()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(url.starts_with("https://127.0.0.1:"), "{url}");

    let trusting = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&std::fs::read(&ca).unwrap()).unwrap())
        .build()
        .unwrap();
    let root: Value = trusting
        .get(format!("{url}/"))
        .send()
        .await
        .unwrap()
        .error_for_status()
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(root["version"].is_string(), "{root}");
    let connectors: Value = trusting
        .get(format!("{url}/connectors"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(connectors, serde_json::json!([]));

    // The same port without TLS: no HTTP answer.
    let plain = url.replacen("https://", "http://", 1);
    let answer = reqwest::get(format!("{plain}/connectors")).await;
    assert!(
        answer.as_ref().map_or(true, |r| !r.status().is_success()),
        "plain HTTP was answered: {answer:?}"
    );
    // A client that does not trust the CA refuses the server.
    let refused = reqwest::Client::new().get(format!("{url}/")).send().await;
    assert!(refused.is_err(), "an untrusted certificate was accepted");
    // The server still serves after both.
    let again = trusting
        .get(format!("{url}/connectors"))
        .send()
        .await
        .unwrap();
    assert!(again.status().is_success());

    let status = process.terminate(Duration::from_secs(30)).unwrap();
    assert!(
        status.success(),
        "pgcdc connect exited with {status} on SIGTERM"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_file_without_a_key_stops_the_worker_naming_the_flag() {
    let (_, cert, _) = tls_files();
    // The certificate given as the key: a PEM file, but no private key in it.
    let (mut process, log) = start("worker_tls_bad", &cert, &cert);
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = process.try_status().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "pgcdc connect kept running");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(!status.success());
    let text = strip_ansi(&std::fs::read_to_string(&log).unwrap());
    assert!(
        text.contains("--rest-tls-key") && text.contains("holds no private key"),
        "{text}"
    );
    assert!(!text.contains("REST API listening"), "{text}");
}
