//! Load benchmark: at fixed request rates (open loop, latency measured from each request's
//! scheduled start, so queueing counts), the `echo` upstream alone behind a bare HTTP server
//! and the gateway (key auth, policies, `echo` upstream, decisions published to Kafka) take
//! the same load in the same run; prints p50/p99 of each, the added latency, and the highest
//! rate each sustained (every request answered 200, achieved rate within 2% of the target,
//! p99 under 50 ms). Needs the local stack (`dev/stack up`); not part of the test suite.
//!
//! `DOCKET_BENCH_RATES` (comma-separated requests/s, default `250,500,1000,2000,3000`) and
//! `DOCKET_BENCH_SECONDS` (per step, default 5) change the steps. Load stays on 127.0.0.1.

#![allow(missing_docs)]

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use docket_gateway::config::{RawConfig, Seed};
use docket_gateway::store::{ApiKey, Model};
use docket_gateway::{secret, upstream};
use docket_kafka::KafkaSettings;
use docket_telemetry::Shutdown;
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use serde_json::json;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

const KEY: &str = "sk-bench-0123456789abcdef";
const MAX_IN_FLIGHT: usize = 1024;
const P99_LIMIT: Duration = Duration::from_millis(50);

fn main() {
    // The servers get their own runtime (one worker per core), the load generator another.
    let servers = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let (echo_addr, gateway_addr, gateway) = servers.block_on(start_servers());
    let client_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    client_rt.block_on(run_steps(echo_addr, gateway_addr));
    servers.block_on(gateway.stop());
}

/// The gateway under test: its shutdown and its state directory, removed once it stopped.
struct Running {
    trigger: docket_telemetry::Trigger,
    task: tokio::task::JoinHandle<()>,
    state: std::path::PathBuf,
}

impl Running {
    async fn stop(self) {
        self.trigger.fire();
        let _ = self.task.await;
        let _ = std::fs::remove_dir_all(&self.state);
    }
}

async fn start_servers() -> (SocketAddr, SocketAddr, Running) {
    let settings = KafkaSettings::from_env().expect("valid DOCKET_* settings");
    let decisions = create_topic(&settings, "bench.gateway.decisions").await;
    let audit = create_topic(&settings, "bench.gateway.audit").await;
    let echo = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let echo_addr = echo.local_addr().unwrap();
    tokio::spawn(serve_echo(echo));
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let state =
        std::env::temp_dir().join(format!("docket-bench-{}", uuid::Uuid::now_v7().simple()));
    let raw = RawConfig {
        listen: port.to_string(),
        decisions_topic: decisions,
        audit_topic: audit,
        state_dir: state.display().to_string(),
        seed: Seed {
            keys: vec![ApiKey {
                id: "key-bench".into(),
                secret_sha256: secret::digest(KEY),
                user: Some("bench".into()),
                team: Some("perf".into()),
                models: vec!["echo-small".into()],
                revoked: false,
            }],
            models: vec![Model {
                name: "echo-small".into(),
                provider: "echo".into(),
                upstream_model: None,
                enabled: true,
            }],
            policies: serde_json::from_value(json!([
                {"id": "no-exfil", "name": "guardrail", "kind": "guardrail", "spec": {"keywords": ["exfiltrate"]}},
                {"id": "pii", "name": "redaction", "kind": "redaction", "spec": {}}
            ]))
            .unwrap(),
            ..Default::default()
        },
        ..RawConfig::default()
    };
    let config = raw.validate(settings).expect("valid bench configuration");
    let (trigger, shutdown) = Shutdown::manual();
    let task = tokio::spawn(async move {
        docket_gateway::run(config, shutdown)
            .await
            .expect("gateway runs")
    });
    let client = reqwest::Client::new();
    let ready = format!("http://{port}/readyz");
    while !client
        .get(&ready)
        .send()
        .await
        .is_ok_and(|r| r.status() == 200)
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    (
        echo_addr,
        port,
        Running {
            trigger,
            task,
            state,
        },
    )
}

async fn create_topic(settings: &KafkaSettings, prefix: &str) -> String {
    let name = format!(
        "{prefix}.{}",
        &uuid::Uuid::now_v7().simple().to_string()[16..]
    );
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", &settings.bootstrap_servers)
        .create()
        .unwrap();
    let topic = NewTopic::new(&name, 6, TopicReplication::Fixed(1));
    for r in admin
        .create_topics([&topic], &AdminOptions::new())
        .await
        .expect("Kafka reachable (dev/stack up)")
    {
        r.expect("topic created");
    }
    name
}

/// The echo upstream alone: parse the request, answer as the gateway's echo provider does.
async fn serve_echo(listener: TcpListener) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        tokio::spawn(async move {
            let service = service_fn(|req: Request<Incoming>| async move {
                let bytes = req
                    .into_body()
                    .collect()
                    .await
                    .map(|c| c.to_bytes())
                    .unwrap_or_default();
                let body: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
                let answer = serde_json::to_vec(&upstream::echo::answer(&body)).unwrap();
                Ok::<_, Infallible>(Response::new(Full::new(Bytes::from(answer))))
            });
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

struct Step {
    achieved: f64,
    errors: usize,
    p50: Duration,
    p99: Duration,
}

impl Step {
    fn sustained(&self, rate: u64) -> bool {
        self.errors == 0 && self.achieved >= rate as f64 * 0.98 && self.p99 <= P99_LIMIT
    }
}

async fn run_steps(echo: SocketAddr, gateway: SocketAddr) {
    let rates: Vec<u64> = std::env::var("DOCKET_BENCH_RATES")
        .unwrap_or_else(|_| "250,500,1000,2000,3000".into())
        .split(',')
        .filter_map(|r| r.trim().parse().ok())
        .collect();
    let seconds: u64 = std::env::var("DOCKET_BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(MAX_IN_FLIGHT)
        .build()
        .unwrap();
    let body = serde_json::to_vec(&json!({"model": "echo-small", "messages": [
        {"role": "user", "content": "summarise the quarterly report for jane.doe@example.com please"}]}))
    .unwrap();
    let targets = [
        ("echo alone", format!("http://{echo}/v1/chat/completions")),
        ("gateway", format!("http://{gateway}/v1/chat/completions")),
    ];
    // Warm up connections and the schema ids.
    for (_, url) in &targets {
        load(&client, url, &body, 200, 1).await;
    }
    println!(
        "{:>6} | {:>28} | {:>28} | {:>17}",
        "rate", "echo alone: done/s p50 p99", "gateway: done/s p50 p99", "added p50 / p99"
    );
    let mut best = [0u64; 2];
    for &rate in &rates {
        let mut steps = Vec::new();
        for (i, (_, url)) in targets.iter().enumerate() {
            let s = load(&client, url, &body, rate, seconds).await;
            if s.sustained(rate) {
                best[i] = rate;
            }
            steps.push(s);
        }
        let (e, g) = (&steps[0], &steps[1]);
        println!(
            "{rate:>6} | {:>8.0} {:>8.2}ms {:>8.2}ms | {:>8.0} {:>8.2}ms {:>8.2}ms | {:>6.2}ms / {:>6.2}ms{}",
            e.achieved,
            ms(e.p50),
            ms(e.p99),
            g.achieved,
            ms(g.p50),
            ms(g.p99),
            ms(g.p50) - ms(e.p50),
            ms(g.p99) - ms(e.p99),
            if g.errors + e.errors > 0 {
                format!("  (errors: echo {}, gateway {})", e.errors, g.errors)
            } else {
                String::new()
            }
        );
    }
    let metrics = client
        .get(format!("http://{gateway}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for line in metrics.lines().filter(|l| {
        l.starts_with("docket_gateway_records_") || l.starts_with("docket_gateway_spool_records")
    }) {
        println!("{line}");
    }
    println!(
        "highest sustained rate (p99 <= {}ms, no errors): echo alone {} req/s, gateway {} req/s",
        P99_LIMIT.as_millis(),
        best[0],
        best[1]
    );
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Sends `rate` requests per second for `seconds`, open loop.
async fn load(client: &reqwest::Client, url: &str, body: &[u8], rate: u64, seconds: u64) -> Step {
    let total = rate * seconds;
    let interval = Duration::from_secs_f64(1.0 / rate as f64);
    let permits = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
    let start = Instant::now();
    let mut tasks = Vec::with_capacity(total as usize);
    for i in 0..total {
        let scheduled = start + interval.mul_f64(i as f64);
        tokio::time::sleep_until(scheduled.into()).await;
        let Ok(permit) = Arc::clone(&permits).try_acquire_owned() else {
            tasks.push(None);
            continue;
        };
        let req = client
            .post(url)
            .header("authorization", format!("Bearer {KEY}"))
            .header("content-type", "application/json")
            .body(body.to_vec());
        tasks.push(Some(tokio::spawn(async move {
            let ok = req.send().await.is_ok_and(|r| r.status() == 200);
            drop(permit);
            (ok, scheduled.elapsed())
        })));
    }
    let mut latencies = Vec::with_capacity(tasks.len());
    let mut errors = 0;
    for t in tasks {
        match t {
            Some(t) => match t.await {
                Ok((true, l)) => latencies.push(l),
                _ => errors += 1,
            },
            None => errors += 1,
        }
    }
    let elapsed = start.elapsed().as_secs_f64();
    latencies.sort_unstable();
    let pct = |p: f64| {
        latencies
            .get(((latencies.len() as f64 * p) as usize).min(latencies.len().saturating_sub(1)))
            .copied()
            .unwrap_or_default()
    };
    Step {
        achieved: latencies.len() as f64 / elapsed,
        errors,
        p50: pct(0.50),
        p99: pct(0.99),
    }
}
