//! Load benchmark: at fixed request rates (open loop, latency measured from each request's
//! scheduled start, so queueing counts), the `echo` upstream alone behind a bare HTTP server
//! of the benchmark's own and the `docket-gateway` binary run as a child (key auth, a
//! guardrail and a redaction policy, its built-in `echo` upstream, decisions appended to the
//! write-ahead log and published to Kafka) take the same load in the same run, one after the
//! other at each rate. Prints, per rate and target, the achieved rate, p50/p99, the CPU time
//! per request of the gateway child and of the benchmark process itself (the load generator,
//! plus the echo server in the echo step) and how late the generator dispatched requests;
//! then the highest rate each sustained (every request answered 200, achieved rate within 2%
//! of the target, p99 under 50 ms), the gateway's share of the echo's, the added p99, and the
//! load average at the start and the end.
//! Needs the local stack (`dev/stack up`); not part of the test suite.
//!
//! The generator is one thread: a fixed pool of kept-alive connections
//! (`DOCKET_BENCH_CONNECTIONS`, default 64), requests queued at their scheduled time and sent
//! on the next free connection, at most one second of requests queued (beyond: counted as
//! errors). `DOCKET_BENCH_RATES` (comma-separated requests/s, default
//! `1000,2000,5000,10000,15000,20000,30000,40000`) and `DOCKET_BENCH_SECONDS` (per step,
//! default 5) change the steps; `DOCKET_BENCH_BASELINE=<path of another docket-gateway
//! build>` runs that build too, at each rate just before this one. Load stays on 127.0.0.1.

#![allow(missing_docs)]

use std::collections::VecDeque;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use docket_gateway::{secret, upstream};
use docket_kafka::KafkaSettings;
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::client::conn::http1::SendRequest;
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HOST, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::json;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;

const KEY: &str = "sk-bench-0123456789abcdef";
const P99_LIMIT: Duration = Duration::from_millis(50);
const PATH: &str = "/v1/chat/completions";

fn main() {
    // The echo server gets a runtime of two workers (as the gateway has, one per core); the
    // load generator runs on this thread alone.
    let servers = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let echo = servers.block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(serve_echo(listener));
        addr
    });
    let client = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    client.block_on(run(echo));
}

async fn run(echo: SocketAddr) {
    let settings = KafkaSettings::from_env().expect("valid DOCKET_* settings");
    let topics = [
        create_topic(&settings, "bench.gateway.decisions").await,
        create_topic(&settings, "bench.gateway.audit").await,
    ];
    let start_load = load_average();
    let mut targets = vec![Target::echo(echo).await];
    if let Ok(baseline) = std::env::var("DOCKET_BENCH_BASELINE") {
        targets.push(Target::gateway("baseline", Path::new(&baseline), &topics).await);
    }
    let exe = Path::new(env!("CARGO_BIN_EXE_docket-gateway"));
    targets.push(Target::gateway("gateway", exe, &topics).await);
    let body = Bytes::from(
        serde_json::to_vec(&json!({"model": "echo-small", "messages": [
            {"role": "user", "content": "summarise the quarterly report for jane.doe@example.com please"}]}))
        .unwrap(),
    );
    for t in &mut targets {
        t.step(&body, 200, 1).await; // warm-up: connections, schema ids
    }
    println!(
        "{:>6} | {:<8} | {:>8} {:>8} {:>8} | {:>18} {:>12} | {:>9}",
        "rate",
        "target",
        "done/s",
        "p50 ms",
        "p99 ms",
        "child µs/req (rdk)",
        "bench µs/req",
        "late p99"
    );
    let mut steps: Vec<Vec<(u64, Step)>> = vec![Vec::new(); targets.len()];
    for rate in rates() {
        for (i, t) in targets.iter_mut().enumerate() {
            let s = t.step(&body, rate, seconds()).await;
            s.print(rate, t.name);
            steps[i].push((rate, s));
        }
    }
    summary(&targets, &steps);
    println!(
        "load average at the start: {start_load}; at the end: {}",
        load_average()
    );
    for t in &targets {
        t.print_metrics().await;
    }
    for t in targets {
        t.stop();
    }
    docket_bench::delete_created_topics(&settings).await;
}

/// Up to 40,000 requests/s: on two idle cores the echo alone sustained that, so a list that
/// stops at 20,000 measured the list's end instead of the echo's limit.
const DEFAULT_RATES: &str = "1000,2000,5000,10000,15000,20000,30000,40000";

fn rates() -> Vec<u64> {
    std::env::var("DOCKET_BENCH_RATES")
        .unwrap_or_else(|_| DEFAULT_RATES.into())
        .split(',')
        .filter_map(|r| r.trim().parse().ok())
        .collect()
}

fn seconds() -> u64 {
    env_or("DOCKET_BENCH_SECONDS", 5)
}

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

/// The highest rate each target sustained, the gateway's share of the echo's, added p99.
fn summary(targets: &[Target], steps: &[Vec<(u64, Step)>]) {
    let best: Vec<u64> = steps
        .iter()
        .map(|s| {
            s.iter()
                .filter(|(r, s)| s.sustained(*r))
                .map(|(r, _)| *r)
                .max()
                .unwrap_or(0)
        })
        .collect();
    let highest_tried = rates().into_iter().max().unwrap_or(0);
    if best[0] >= highest_tried {
        println!(
            "echo: sustained the highest rate tried ({highest_tried} req/s); its limit is higher, \
             so the shares below are upper bounds: add higher rates to DOCKET_BENCH_RATES"
        );
    }
    for (t, b) in targets.iter().zip(&best).skip(1) {
        println!(
            "{}: highest sustained {b} req/s = {:.2} of the echo alone's {} req/s (p99 <= {} ms, no errors)",
            t.name,
            *b as f64 / best[0].max(1) as f64,
            best[0],
            P99_LIMIT.as_millis()
        );
    }
    for (i, t) in targets.iter().enumerate().skip(1) {
        for ((rate, e), (_, g)) in steps[0].iter().zip(&steps[i]) {
            println!(
                "{}: added at {rate} req/s: p50 {:+.2} ms, p99 {:+.2} ms",
                t.name,
                ms(g.p50) - ms(e.p50),
                ms(g.p99) - ms(e.p99)
            );
        }
    }
}

/// The first three fields of `/proc/loadavg`: other work on the machine moves every figure.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

async fn create_topic(settings: &KafkaSettings, prefix: &str) -> String {
    let name = format!("{prefix}.{}", docket_bench::run_id());
    docket_bench::create_topics(settings, &[(&name, 6)]).await;
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

/// A gateway child: the process and its state directory.
struct Gateway {
    child: Child,
    state: PathBuf,
}

/// One server under load: its name, address, kept-alive connections and, for a gateway, the
/// child process.
struct Target {
    name: &'static str,
    addr: SocketAddr,
    conns: Vec<SendRequest<Full<Bytes>>>,
    gateway: Option<Gateway>,
}

impl Target {
    async fn echo(addr: SocketAddr) -> Self {
        Self {
            name: "echo",
            addr,
            conns: connect_all(addr).await,
            gateway: None,
        }
    }

    /// Starts `exe` on a free port with its own state directory and waits until it is ready.
    async fn gateway(name: &'static str, exe: &Path, topics: &[String; 2]) -> Self {
        let state = std::env::temp_dir().join(format!(
            "docket-bench-{name}-{}",
            uuid::Uuid::now_v7().simple()
        ));
        std::fs::create_dir_all(&state).unwrap();
        let config = state.join("gateway.json");
        std::fs::write(&config, config_file().to_string()).unwrap();
        let addr = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let mut command = Command::new(exe);
        command
            .env("DOCKET_GATEWAY_CONFIG", &config)
            .env("DOCKET_GATEWAY_LISTEN", addr.to_string())
            .env("DOCKET_GATEWAY_STATE_DIR", &state)
            .env("DOCKET_GATEWAY_DECISIONS_TOPIC", &topics[0])
            .env("DOCKET_GATEWAY_AUDIT_TOPIC", &topics[1])
            .env(
                "RUST_LOG",
                std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::null());
        let child = command
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", exe.display()));
        wait_ready(addr).await;
        Self {
            name,
            addr,
            conns: connect_all(addr).await,
            gateway: Some(Gateway { child, state }),
        }
    }

    /// Runs one open-loop step and measures the CPU the child and this process used for it.
    async fn step(&mut self, body: &Bytes, rate: u64, seconds: u64) -> Step {
        let pid = self.gateway.as_ref().map(|g| g.child.id());
        let (child_before, bench_before) = (pid.map(cpu_split), cpu_time_self());
        let mut s = load(self.addr, &mut self.conns, body, rate, seconds).await;
        let done = s.latencies.max(1) as f64;
        s.child_us = pid.zip(child_before).map(|(p, (all, kafka))| {
            let (all_after, kafka_after) = cpu_split(p);
            let us = |d: Duration| d.as_secs_f64() * 1e6 / done;
            (us(all_after - all), us(kafka_after - kafka))
        });
        s.bench_us = (cpu_time_self() - bench_before).as_secs_f64() * 1e6 / done;
        s
    }

    async fn print_metrics(&self) {
        if self.gateway.is_none() {
            return;
        }
        let page = get(self.addr, "/metrics").await;
        for line in page.lines().filter(|l| {
            l.starts_with("docket_gateway_records_")
                || l.starts_with("docket_gateway_spool_records")
        }) {
            println!("{}: {line}", self.name);
        }
    }

    fn stop(self) {
        if let Some(mut g) = self.gateway {
            let _ = Command::new("kill")
                .args(["-TERM", &g.child.id().to_string()])
                .status();
            let _ = g.child.wait();
            let _ = std::fs::remove_dir_all(&g.state);
        }
    }
}

/// The gateway's configuration file: one key, the `echo-small` model, a guardrail and a
/// redaction policy.
fn config_file() -> serde_json::Value {
    json!({
        "keys": [{"id": "key-bench", "secret_sha256": secret::digest(KEY), "user": "bench",
                  "team": "perf", "models": ["echo-small"]}],
        "models": [{"name": "echo-small", "provider": "echo"}],
        "policies": [
            {"id": "no-exfil", "name": "guardrail", "kind": "guardrail", "spec": {"keywords": ["exfiltrate"]}},
            {"id": "pii", "name": "redaction", "kind": "redaction", "spec": {}}
        ]
    })
}

async fn wait_ready(addr: SocketAddr) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !get(addr, "/readyz").await.contains("200 OK") {
        assert!(
            Instant::now() < deadline,
            "the gateway on {addr} never got ready"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A plain HTTP/1.0 GET: status line, headers and body as text (empty when unreachable).
async fn get(addr: SocketAddr, path: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let Ok(mut s) = TcpStream::connect(addr).await else {
        return String::new();
    };
    let req = format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n");
    let mut out = Vec::new();
    if s.write_all(req.as_bytes()).await.is_ok() {
        let _ = s.read_to_end(&mut out).await;
    }
    String::from_utf8_lossy(&out).into_owned()
}

async fn connect_all(addr: SocketAddr) -> Vec<SendRequest<Full<Bytes>>> {
    let mut conns = Vec::new();
    for _ in 0..env_or("DOCKET_BENCH_CONNECTIONS", 64) {
        conns.push(connect(addr).await.expect("server reachable"));
    }
    conns
}

async fn connect(addr: SocketAddr) -> hyper::Result<SendRequest<Full<Bytes>>> {
    let stream = TcpStream::connect(addr).await.expect("server reachable");
    let _ = stream.set_nodelay(true);
    let (send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(conn);
    Ok(send)
}

#[derive(Debug, Clone, Default)]
struct Step {
    achieved: f64,
    latencies: usize,
    errors: usize,
    p50: Duration,
    p99: Duration,
    /// 99th percentile of how late the generator queued a request after its scheduled time.
    late_p99: Duration,
    /// The child's CPU µs per request: all its threads, and librdkafka's (`rdk:*`) alone.
    child_us: Option<(f64, f64)>,
    bench_us: f64,
}

impl Step {
    fn sustained(&self, rate: u64) -> bool {
        self.errors == 0 && self.achieved >= rate as f64 * 0.98 && self.p99 <= P99_LIMIT
    }

    fn print(&self, rate: u64, name: &str) {
        let child = self
            .child_us
            .map_or("-".into(), |(all, kafka)| format!("{all:.1} ({kafka:.1})"));
        println!(
            "{rate:>6} | {name:<8} | {:>8.0} {:>8.2} {:>8.2} | {child:>18} {:>12.1} | {:>7.2}ms{}",
            self.achieved,
            ms(self.p50),
            ms(self.p99),
            self.bench_us,
            ms(self.late_p99),
            if self.errors > 0 {
                format!("  ({} errors)", self.errors)
            } else {
                String::new()
            }
        );
    }
}

/// The connection to reuse (a fresh one if it broke), how the request ended, its latency.
type Sent = (
    Option<SendRequest<Full<Bytes>>>,
    Result<(), String>,
    Duration,
);

/// Sends `rate` requests per second for `seconds`, open loop, over `conns`: each request is
/// queued at its scheduled time and sent on the next free connection.
async fn load(
    addr: SocketAddr,
    conns: &mut Vec<SendRequest<Full<Bytes>>>,
    body: &Bytes,
    rate: u64,
    seconds: u64,
) -> Step {
    let total = rate * seconds;
    let interval = Duration::from_secs_f64(1.0 / rate as f64);
    let host = HeaderValue::from_str(&addr.to_string()).unwrap();
    let auth = HeaderValue::from_str(&format!("Bearer {KEY}")).unwrap();
    let start = Instant::now();
    let at = |i: u64| start + interval.mul_f64(i as f64);
    let (mut next, mut queued) = (0u64, VecDeque::<Instant>::new());
    let mut in_flight: JoinSet<Sent> = JoinSet::new();
    let (mut latencies, mut late, mut errors) = (Vec::new(), Vec::new(), 0usize);
    let mut first_error = None;
    loop {
        let now = Instant::now();
        while next < total && at(next) <= now {
            late.push(now - at(next));
            if queued.len() as u64 >= rate {
                errors += 1;
            } else {
                queued.push_back(at(next));
            }
            next += 1;
        }
        while !queued.is_empty() && !conns.is_empty() {
            let (conn, scheduled) = (conns.pop().unwrap(), queued.pop_front().unwrap());
            let req = Request::post(PATH)
                .header(HOST, host.clone())
                .header(AUTHORIZATION, auth.clone())
                .header(CONTENT_TYPE, "application/json")
                .body(Full::new(body.clone()))
                .unwrap();
            in_flight.spawn(send(addr, conn, req, scheduled));
        }
        if next == total && queued.is_empty() && in_flight.is_empty() {
            break;
        }
        let wake = at(next.min(total - 1));
        tokio::select! {
            Some(done) = in_flight.join_next() => {
                let (conn, ok, latency) = done.expect("request task");
                match ok {
                    Ok(()) => latencies.push(latency),
                    Err(e) => {
                        errors += 1;
                        first_error.get_or_insert(e);
                    }
                }
                conns.extend(conn);
            }
            _ = tokio::time::sleep_until(wake.into()), if next < total => {}
            else => {
                errors += queued.len(); // every connection broke
                break;
            }
        }
    }
    if let Some(e) = first_error {
        eprintln!("{addr} at {rate} req/s: {errors} errors, the first: {e}");
    }
    measure(start, latencies, late, errors)
}

/// One request on `conn`; a broken connection is replaced.
async fn send(
    addr: SocketAddr,
    mut conn: SendRequest<Full<Bytes>>,
    req: Request<Full<Bytes>>,
    scheduled: Instant,
) -> Sent {
    if conn.ready().await.is_err() {
        match connect(addr).await {
            Ok(c) => conn = c,
            Err(e) => return (None, Err(e.to_string()), scheduled.elapsed()),
        }
    }
    let ok = match conn.send_request(req).await {
        Ok(r) if r.status() == 200 => r
            .into_body()
            .collect()
            .await
            .map(drop)
            .map_err(|e| e.to_string()),
        Ok(r) => Err(format!("answered {}", r.status())),
        Err(e) => Err(e.to_string()),
    };
    let latency = scheduled.elapsed();
    if conn.is_closed() || ok.is_err() {
        return (connect(addr).await.ok(), ok, latency);
    }
    (Some(conn), ok, latency)
}

fn measure(
    start: Instant,
    mut latencies: Vec<Duration>,
    mut late: Vec<Duration>,
    errors: usize,
) -> Step {
    let elapsed = start.elapsed().as_secs_f64();
    latencies.sort_unstable();
    late.sort_unstable();
    let pct = |v: &[Duration], p: f64| {
        v.get(((v.len() as f64 * p) as usize).min(v.len().saturating_sub(1)))
            .copied()
            .unwrap_or_default()
    };
    Step {
        achieved: latencies.len() as f64 / elapsed,
        latencies: latencies.len(),
        errors,
        p50: pct(&latencies, 0.50),
        p99: pct(&latencies, 0.99),
        late_p99: pct(&late, 0.99),
        child_us: None,
        bench_us: 0.0,
    }
}

/// CPU time (user and system) process `pid` used so far, from `/proc`: all its threads, and
/// its librdkafka threads (`rdk:*`) alone.
fn cpu_split(pid: u32) -> (Duration, Duration) {
    let all = stat_cpu(&format!("/proc/{pid}/stat"));
    let kafka = std::fs::read_dir(format!("/proc/{pid}/task"))
        .into_iter()
        .flatten()
        .flatten()
        .filter(|t| {
            std::fs::read_to_string(t.path().join("comm")).is_ok_and(|c| c.starts_with("rdk:"))
        })
        .map(|t| stat_cpu(&t.path().join("stat").display().to_string()))
        .sum();
    (all, kafka)
}

fn cpu_time_self() -> Duration {
    stat_cpu("/proc/self/stat")
}

fn stat_cpu(path: &str) -> Duration {
    let Ok(stat) = std::fs::read_to_string(path) else {
        return Duration::ZERO;
    };
    // utime and stime are the 12th and 13th fields after the command name's parenthesis.
    let ticks: u64 = stat
        .rsplit_once(')')
        .map(|(_, rest)| {
            rest.split_whitespace()
                .skip(11)
                .take(2)
                .filter_map(|f| f.parse::<u64>().ok())
                .sum()
        })
        .unwrap_or(0);
    Duration::from_secs_f64(ticks as f64 / 100.0)
}
