//! The load generator of `bench/run registry`: registrations/s and lookups/s against a
//! running `pgcdc registry` (its URL in `PGCDC_BENCH_REGISTRY_URL`), over HTTP with
//! keep-alive connections, as serializers and converters call it.
//!
//! 1. registrations: `PGCDC_BENCH_REGISTRATIONS` new schemas, each a new version of
//!    one of 100 subjects that adds a field with a default (so the default BACKWARD
//!    check runs against the previous version), `PGCDC_BENCH_CONCURRENCY` clients
//!    each owning its own subjects;
//! 2. for `PGCDC_BENCH_SECONDS` each: `GET /schemas/ids/{id}` (a deserializer's
//!    lookup), `POST /subjects/{s}` (is this schema registered?), `GET
//!    /subjects/{s}/versions/latest`, and re-registering an existing schema (a
//!    serializer with `auto.register.schemas`).
//!
//! Prints one markdown table row per part: requests, seconds, requests/s, p50, p99.
#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use reqwest::Client;
use serde_json::{json, Value};

const SUBJECTS: usize = 100;

fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn subject(i: usize) -> String {
    format!("bench.public.t{i}-value")
}

/// Version `version` (1-based) of subject `s`: `version` nullable fields.
fn schema(s: usize, version: usize) -> String {
    let mut fields = vec![json!({"name": "id", "type": "long"})];
    for f in 1..version {
        fields.push(json!({"name": format!("c{f}"), "type": ["null", "string"], "default": null}));
    }
    json!({"type": "record", "name": "Value", "namespace": format!("bench.public.t{s}"), "fields": fields})
        .to_string()
}

struct Part {
    name: &'static str,
    latencies: Vec<Duration>,
    elapsed: Duration,
}

impl Part {
    fn row(&mut self) -> String {
        self.latencies.sort();
        let at = |q: f64| {
            let i = ((self.latencies.len() as f64 - 1.0) * q).round() as usize;
            self.latencies.get(i).map_or(0.0, |d| d.as_secs_f64() * 1e3)
        };
        let n = self.latencies.len();
        format!(
            "| {} | {} | {:.2} | {:.0} | {:.2} | {:.2} |",
            self.name,
            n,
            self.elapsed.as_secs_f64(),
            n as f64 / self.elapsed.as_secs_f64(),
            at(0.5),
            at(0.99)
        )
    }
}

async fn call(
    client: &Client,
    method: reqwest::Method,
    url: String,
    body: Option<&Value>,
) -> Value {
    let mut request = client
        .request(method, url)
        .header("Content-Type", "application/vnd.schemaregistry.v1+json");
    if let Some(body) = body {
        request = request.body(body.to_string());
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let text = response.text().await.unwrap();
    assert!(status.is_success(), "{status}: {text}");
    serde_json::from_str(&text).unwrap_or(Value::Null)
}

async fn registrations(base: &str, total: usize, clients: usize) -> (Part, Vec<u64>) {
    let started = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..clients {
        let base = base.to_owned();
        tasks.push(tokio::spawn(async move {
            let client = Client::new();
            let mut latencies = Vec::new();
            let mut ids = Vec::new();
            let owned: Vec<usize> = (0..SUBJECTS).filter(|s| s % clients == c).collect();
            let mut n = c;
            let mut version = 1;
            'outer: loop {
                for s in &owned {
                    if n >= total {
                        break 'outer;
                    }
                    let body = json!({ "schema": schema(*s, version) });
                    let at = Instant::now();
                    let reply = call(
                        &client,
                        reqwest::Method::POST,
                        format!("{base}/subjects/{}/versions", subject(*s)),
                        Some(&body),
                    )
                    .await;
                    latencies.push(at.elapsed());
                    ids.push(reply["id"].as_u64().unwrap());
                    n += clients;
                }
                version += 1;
            }
            (latencies, ids)
        }));
    }
    let mut latencies = Vec::new();
    let mut ids = Vec::new();
    for task in tasks {
        let (l, i) = task.await.unwrap();
        latencies.extend(l);
        ids.extend(i);
    }
    let part = Part {
        name: "register a new version",
        latencies,
        elapsed: started.elapsed(),
    };
    (part, ids)
}

#[derive(Clone, Copy)]
enum Lookup {
    ById,
    Subject,
    Latest,
    Reregister,
}

async fn lookups(base: &str, kind: Lookup, ids: &[u64], seconds: u64, clients: usize) -> Part {
    let started = Instant::now();
    let deadline = started + Duration::from_secs(seconds);
    let mut tasks = Vec::new();
    for c in 0..clients {
        let base = base.to_owned();
        let ids = ids.to_vec();
        tasks.push(tokio::spawn(async move {
            let client = Client::new();
            let mut latencies = Vec::new();
            // A small LCG: which id or subject to ask for next.
            let mut x: u64 = 0x9E37_79B9_7F4A_7C15 ^ c as u64;
            while Instant::now() < deadline {
                x = x
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1_442_695_040_888_963_407);
                let r = (x >> 33) as usize;
                let s = r % SUBJECTS;
                let at = Instant::now();
                match kind {
                    Lookup::ById => {
                        let id = ids[r % ids.len()];
                        call(
                            &client,
                            reqwest::Method::GET,
                            format!("{base}/schemas/ids/{id}"),
                            None,
                        )
                        .await;
                    }
                    Lookup::Subject => {
                        let body = json!({ "schema": schema(s, 1) });
                        call(
                            &client,
                            reqwest::Method::POST,
                            format!("{base}/subjects/{}", subject(s)),
                            Some(&body),
                        )
                        .await;
                    }
                    Lookup::Latest => {
                        call(
                            &client,
                            reqwest::Method::GET,
                            format!("{base}/subjects/{}/versions/latest", subject(s)),
                            None,
                        )
                        .await;
                    }
                    Lookup::Reregister => {
                        let body = json!({ "schema": schema(s, 1) });
                        call(
                            &client,
                            reqwest::Method::POST,
                            format!("{base}/subjects/{}/versions", subject(s)),
                            Some(&body),
                        )
                        .await;
                    }
                }
                latencies.push(at.elapsed());
            }
            latencies
        }));
    }
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await.unwrap());
    }
    Part {
        name: match kind {
            Lookup::ById => "`GET /schemas/ids/{id}`",
            Lookup::Subject => "`POST /subjects/{s}` (lookup)",
            Lookup::Latest => "`GET /subjects/{s}/versions/latest`",
            Lookup::Reregister => "re-register an existing schema",
        },
        latencies,
        elapsed: started.elapsed(),
    }
}

fn main() {
    let Ok(base) = std::env::var("PGCDC_BENCH_REGISTRY_URL") else {
        eprintln!(
            "registry bench: set PGCDC_BENCH_REGISTRY_URL (bench/run registry does); skipping"
        );
        return;
    };
    let total = env_number("PGCDC_BENCH_REGISTRATIONS", 2000).max(SUBJECTS);
    let seconds = env_number("PGCDC_BENCH_SECONDS", 10) as u64;
    let clients = env_number("PGCDC_BENCH_CONCURRENCY", 8).clamp(1, SUBJECTS);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let (mut registered, ids) = registrations(&base, total, clients).await;
        println!("{}", registered.row());
        for kind in [
            Lookup::ById,
            Lookup::Subject,
            Lookup::Latest,
            Lookup::Reregister,
        ] {
            println!(
                "{}",
                lookups(&base, kind, &ids, seconds, clients).await.row()
            );
        }
    });
}
