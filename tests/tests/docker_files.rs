//! The container files cannot run here (no Docker engine), so this keeps them true by
//! reading them: the compose file parses and has every service the README promises,
//! ports and paths agree between the Dockerfile, the compose file, Prometheus'
//! scrape config and the Grafana provisioning, and every metric the dashboard plots is
//! one the worker exposes.

#![allow(clippy::unwrap_used)] // a test that cannot unwrap has failed

use std::path::{Path, PathBuf};

use serde_yaml_ng::Value;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn read(path: &str) -> String {
    std::fs::read_to_string(repo().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn yaml(path: &str) -> Value {
    serde_yaml_ng::from_str(&read(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_sequence()
        .map(|s| {
            s.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn compose_runs_every_service_with_consistent_ports_and_paths() {
    let compose = yaml("docker/compose.yaml");
    let services = &compose["services"];
    for service in [
        "postgres",
        "kafka",
        "schema-registry",
        "redis",
        "pgcdc",
        "prometheus",
        "grafana",
    ] {
        assert!(services.get(service).is_some(), "service {service} missing");
    }
    let postgres = strings(&services["postgres"]["command"]).join(" ");
    assert!(postgres.contains("wal_level=logical"), "{postgres}");
    assert_eq!(
        services["kafka"]["environment"]["KAFKA_PROCESS_ROLES"].as_str(),
        Some("broker,controller"),
        "Kafka in KRaft combined mode"
    );

    // pgcdc: built from the Dockerfile, listening where Prometheus scrapes.
    let pgcdc = &services["pgcdc"];
    let dockerfile = pgcdc["build"]["dockerfile"].as_str().unwrap();
    let context = pgcdc["build"]["context"].as_str().unwrap();
    let dockerfile_path = repo().join("docker").join(context).join(dockerfile);
    assert!(dockerfile_path.exists(), "{}", dockerfile_path.display());
    let command = strings(&pgcdc["command"]).join(" ");
    assert!(command.contains("--listen 0.0.0.0:8083"), "{command}");
    assert!(strings(&pgcdc["ports"]).contains(&"8083:8083".to_owned()));
    let prometheus = yaml("configs/prometheus.yml");
    let target = &prometheus["scrape_configs"][0]["static_configs"][0]["targets"][0];
    assert_eq!(target.as_str(), Some("pgcdc:8083"));
    assert_eq!(
        prometheus["scrape_configs"][0]["metrics_path"].as_str(),
        Some("/metrics")
    );

    // Every mounted file exists in the repository.
    for service in ["prometheus", "grafana"] {
        for volume in strings(&services[service]["volumes"]) {
            let host = volume.split(':').next().unwrap();
            let path = repo().join("docker").join(host);
            assert!(
                path.exists(),
                "{service} mounts {host}, which does not exist"
            );
        }
    }
}

#[test]
fn the_dockerfile_runs_pgcdc_connect_as_a_non_root_user() {
    let dockerfile = read("docker/Dockerfile");
    let user = dockerfile
        .lines()
        .filter_map(|l| l.strip_prefix("USER "))
        .next_back()
        .unwrap();
    assert_ne!(user.trim(), "root");
    assert_ne!(user.trim(), "0");
    assert!(dockerfile.contains("EXPOSE 8083"));
    assert!(dockerfile.contains("ENTRYPOINT [\"pgcdc\"]"));
    // The flags the image passes are ones `pgcdc connect` has.
    let cli = read("cli/src/connect.rs");
    for (flag, field) in [("--listen", "listen"), ("--state-dir", "state_dir")] {
        assert!(dockerfile.contains(flag), "{flag}");
        assert!(
            cli.contains(&format!("pub {field}:")),
            "pgcdc connect has no {flag}"
        );
    }
    assert!(read("cli/src/kafka.rs").contains("pub bootstrap_servers:"));
}

#[test]
fn the_grafana_dashboard_plots_metrics_the_worker_exposes() {
    let datasource = yaml("configs/grafana/provisioning/datasources/prometheus.yml");
    assert_eq!(
        datasource["datasources"][0]["url"].as_str(),
        Some("http://prometheus:9090")
    );
    let dashboard: serde_json::Value =
        serde_json::from_str(&read("configs/grafana/dashboards/pgcdc.json")).unwrap();
    let exposed = read("worker/src/metrics.rs");
    let panels = dashboard["panels"].as_array().unwrap();
    assert!(!panels.is_empty());
    for panel in panels {
        let expr = panel["targets"][0]["expr"].as_str().unwrap();
        let metric = expr
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .find(|word| word.starts_with("pgcdc_"))
            .unwrap_or_else(|| panic!("no pgcdc metric in {expr}"));
        assert!(
            exposed.contains(&format!("\"{metric}\"")),
            "the dashboard plots {metric}, which the worker does not expose"
        );
    }
}
