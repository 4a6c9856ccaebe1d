//! Helpers of the sink end-to-end tests: the S3 sink binary ([`SinkProcess`]) and the HTTP
//! sinks' ([`SinkRun`]) as child processes, unique buckets and multi-partition topics, producing records, reading exported objects back,
//! the group's committed offsets, and a TCP proxy that can cut or blackhole the store.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::Read;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use aws_sdk_s3::Client;
use docket_records::{Audit, EnrichedDecision, Micros, samples};
use docket_sink_s3::config::S3Config;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::FutureRecord;
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::support::{DEADLINE, binary, registry, settings, short_id};
// Under their former paths for the sink tests that still import them from here; a test
// crate that uses none of them would otherwise warn.
#[allow(unused_imports)]
pub use crate::support::{free_port, http_get, wait_for};

/// The local stack's S3 server and keys (`dev/stack env`), unless the environment says otherwise.
const DEFAULT_S3_ENDPOINT: &str = "http://127.0.0.1:19000";
const DEFAULT_ACCESS_KEY: &str = "docket-local";
const DEFAULT_SECRET_KEY: &str = "docket-local-secret";
const REGION: &str = "us-east-1";

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

/// The S3 server's endpoint.
pub fn s3_endpoint() -> String {
    env_or("DOCKET_S3_ENDPOINT", DEFAULT_S3_ENDPOINT)
}

/// The access key and secret of the local S3 server.
pub fn s3_keys() -> (String, String) {
    (
        env_or("AWS_ACCESS_KEY_ID", DEFAULT_ACCESS_KEY),
        env_or("AWS_SECRET_ACCESS_KEY", DEFAULT_SECRET_KEY),
    )
}

// ------------------------------------------------------------------ S3

/// A client of the local S3 server (the sink's own client builder).
pub async fn s3_client() -> Client {
    let (access, secret) = s3_keys();
    // The standard chain reads the keys from the environment, as the sink does.
    require_stack_env(&access, &secret);
    let config = S3Config {
        bucket: String::new(),
        prefix: String::new(),
        region: Some(REGION.to_owned()),
        endpoint: Some(s3_endpoint()),
        force_path_style: true,
        sse_kms_key_id: None,
        object_lock: None,
        conditional_create: true,
        gzip_level: 1,
        timeout: Duration::from_secs(30),
    };
    docket_sink_s3::client(&config).await.expect("S3 client")
}

/// Checks the keys the client will use are the stack's (the test process environment comes
/// from `dev/stack env`).
fn require_stack_env(access: &str, secret: &str) {
    assert!(
        std::env::var("AWS_ACCESS_KEY_ID").as_deref() == Ok(access)
            && std::env::var("AWS_SECRET_ACCESS_KEY").as_deref() == Ok(secret),
        "run the sink tests with the stack's environment: eval \"$(dev/stack env)\" (dev/test does)"
    );
}

/// A fresh bucket no other test or run uses.
pub async fn unique_bucket(client: &Client) -> String {
    let name = format!("dt-{}", short_id());
    client
        .create_bucket()
        .bucket(&name)
        .send()
        .await
        .unwrap_or_else(|e| panic!("creating bucket {name} (is `dev/stack up` running?): {e:?}"));
    name
}

/// Every object of `bucket`: key and its records (gunzipped NDJSON lines).
pub async fn objects(client: &Client, bucket: &str) -> BTreeMap<String, Vec<serde_json::Value>> {
    let mut out = BTreeMap::new();
    let mut pages = client
        .list_objects_v2()
        .bucket(bucket)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        for obj in page.expect("list objects").contents() {
            let key = obj.key().expect("key").to_owned();
            let records = object_records(client, bucket, &key).await;
            out.insert(key, records);
        }
    }
    out
}

/// The records of one object: its gunzipped NDJSON lines.
async fn object_records(client: &Client, bucket: &str, key: &str) -> Vec<serde_json::Value> {
    let body = client
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .expect("get object")
        .body
        .collect()
        .await
        .expect("object body")
        .into_bytes();
    let mut text = String::new();
    flate2::read::GzDecoder::new(&body[..])
        .read_to_string(&mut text)
        .expect("gzip body");
    text.lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect()
}

/// How often each event id occurs across `objects`.
pub fn event_counts(objects: &BTreeMap<String, Vec<serde_json::Value>>) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for record in objects.values().flatten() {
        let id = record["event_id"].as_str().expect("event_id").to_owned();
        *counts.entry(id).or_default() += 1;
    }
    counts
}

// ------------------------------------------------------------------ Kafka

/// Produces `n` enriched decisions (fresh event ids, record time now) round-robin over
/// partitions by key; returns their event ids.
pub async fn produce_decisions(topic: &str, n: usize) -> Vec<String> {
    let encoder = registry().encoder::<EnrichedDecision>(topic);
    let mut payloads = Vec::with_capacity(n);
    let mut ids = Vec::with_capacity(n);
    for i in 0..n {
        let mut r = samples::enriched();
        r.decision.time = Micros::now();
        r.decision.correlation_id = format!("corr-{i}");
        ids.push(r.decision.event_id.clone());
        payloads.push((
            r.decision.correlation_id.clone(),
            encoder.encode(&r).await.expect("encode"),
        ));
    }
    produce(topic, payloads).await;
    ids
}

/// Produces `n` audit events; returns their event ids.
pub async fn produce_audit(topic: &str, n: usize) -> Vec<String> {
    let encoder = registry().encoder::<Audit>(topic);
    let mut payloads = Vec::with_capacity(n);
    let mut ids = Vec::with_capacity(n);
    for i in 0..n {
        let mut r = samples::audit();
        r.time = Micros::now();
        ids.push(r.event_id.clone());
        payloads.push((
            format!("res-{i}"),
            encoder.encode(&r).await.expect("encode"),
        ));
    }
    produce(topic, payloads).await;
    ids
}

/// Produces `(key, payload)` pairs and waits for every acknowledgement.
pub async fn produce(topic: &str, records: Vec<(String, Vec<u8>)>) {
    let producer = docket_kafka::producer(&settings()).expect("producer");
    let sends: Vec<_> = records
        .iter()
        .map(|(k, v)| producer.send(FutureRecord::to(topic).key(k).payload(v), DEADLINE))
        .collect();
    for s in sends {
        s.await.map_err(|(e, _)| e).expect("produced");
    }
}

/// The committed offset of `group` on each partition of `topic` (`None`: nothing committed).
pub fn committed(group: &str, topic: &str, partitions: i32) -> Vec<Option<i64>> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", settings().bootstrap_servers)
        .set("group.id", group)
        .create()
        .expect("consumer");
    let mut tpl = TopicPartitionList::new();
    for p in 0..partitions {
        tpl.add_partition(topic, p);
    }
    let got = consumer
        .committed_offsets(tpl, DEADLINE)
        .expect("committed offsets");
    (0..partitions)
        .map(|p| match got.find_partition(topic, p).map(|e| e.offset()) {
            Some(Offset::Offset(o)) => Some(o),
            _ => None,
        })
        .collect()
}

/// The end offset of each partition of `topic`.
pub fn end_offsets(topic: &str, partitions: i32) -> Vec<i64> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", settings().bootstrap_servers)
        .create()
        .expect("consumer");
    (0..partitions)
        .map(|p| {
            consumer
                .fetch_watermarks(topic, p, DEADLINE)
                .expect("watermarks")
                .1
        })
        .collect()
}

// ------------------------------------------------------------------ the sink process

/// The `docket-sink-s3` binary, built once per test run.
pub fn sink_binary() -> PathBuf {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY
        .get_or_init(|| binary("docket-sink-s3", "docket-sink-s3"))
        .clone()
}

/// One run of the sink binary, its stderr captured to a file.
pub struct SinkProcess {
    child: Child,
    log: PathBuf,
    /// The metrics and health endpoint.
    pub http: SocketAddr,
}

/// The settings of one test's sink: unique group, topics, bucket and dead-letter topic.
#[derive(Debug, Clone)]
pub struct SinkEnv(pub BTreeMap<String, String>);

impl SinkEnv {
    /// A sink of `bucket` reading `decisions` and `audit` in `group`, sending tails after 300 ms.
    /// Every process spawned from one env is the same static member of `group` (a restart
    /// takes the partitions back at once); two at the same time would fence each other.
    pub fn new(bucket: &str, group: &str, decisions: &str, audit: &str, dlq: &str) -> Self {
        let (access, secret) = s3_keys();
        let instance = format!("{group}-0");
        let pairs = [
            ("DOCKET_S3_BUCKET", bucket),
            ("DOCKET_S3_ENDPOINT", &s3_endpoint()),
            ("DOCKET_S3_PREFIX", "x"),
            ("DOCKET_S3_TIMEOUT", "20s"),
            ("AWS_ACCESS_KEY_ID", &access),
            ("AWS_SECRET_ACCESS_KEY", &secret),
            ("AWS_REGION", REGION),
            ("AWS_EC2_METADATA_DISABLED", "true"),
            ("DOCKET_SINK_GROUP", group),
            ("DOCKET_SINK_INSTANCE", &instance),
            ("DOCKET_SINK_DECISIONS_TOPIC", decisions),
            ("DOCKET_SINK_AUDIT_TOPIC", audit),
            ("DOCKET_SINK_DLQ_TOPIC", dlq),
            ("DOCKET_SINK_BATCH_MAX_RECORDS", "50"),
            ("DOCKET_SINK_IDLE_FLUSH", "300ms"),
            ("DOCKET_SINK_RETRY_INITIAL", "100ms"),
            ("DOCKET_SINK_RETRY_MAX", "1s"),
            ("DOCKET_SINK_SHUTDOWN_GRACE", "5s"),
        ];
        Self(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    /// Sets `key` to `value`.
    pub fn with(mut self, key: &str, value: &str) -> Self {
        self.0.insert(key.to_owned(), value.to_owned());
        self
    }

    /// Starts the sink binary with these settings.
    pub fn spawn(&self) -> SinkProcess {
        let port = free_port();
        let log =
            std::env::temp_dir().join(format!("docket-sink-{}.log", uuid::Uuid::now_v7().simple()));
        let child = Command::new(sink_binary())
            .envs(&self.0)
            .env("DOCKET_SINK_HTTP_ADDR", format!("127.0.0.1:{port}"))
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log file"))
            .spawn()
            .expect("start docket-sink-s3");
        SinkProcess {
            child,
            log,
            http: SocketAddr::from(([127, 0, 0, 1], port)),
        }
    }
}

impl SinkProcess {
    /// What the sink wrote to stderr so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Sends SIGTERM and waits for the exit.
    pub async fn terminate(&mut self) -> ExitStatus {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill -TERM");
        assert!(status.success());
        self.wait_exit(DEADLINE).await
    }

    /// Kills the process with SIGKILL.
    pub fn kill(&mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("reaped");
    }

    /// Waits for the process to exit by itself.
    pub async fn wait_exit(&mut self, deadline: Duration) -> ExitStatus {
        let child = &mut self.child;
        let log = self.log.clone();
        wait_for(
            &format!("the sink to exit (log: {})", log.display()),
            deadline,
            || {
                let r = child.try_wait().expect("try_wait");
                async move { r }
            },
        )
        .await
    }

    /// The value of metric `name` on the sink's `/metrics` (0 when absent or unreachable).
    pub async fn metric(&self, name: &str) -> f64 {
        crate::support::metric(self.http, name).await
    }
}

impl Drop for SinkProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ------------------------------------------------------------------ a switchable proxy

/// What the proxy does with connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum ProxyMode {
    /// Forward both ways.
    Pass = 0,
    /// Accept and close at once (the store is unreachable).
    Refuse = 1,
    /// Forward requests, swallow responses (uploads land, their answers never come back).
    DropResponses = 2,
}

/// A TCP proxy in front of the S3 server whose behaviour a test switches.
pub struct Proxy {
    /// Where it listens.
    pub addr: SocketAddr,
    mode: Arc<AtomicU8>,
    swallowed: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl Proxy {
    /// A proxy to `upstream` (`host:port`) starting in `mode`.
    pub async fn start(upstream: &str, mode: ProxyMode) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let addr = listener.local_addr().expect("proxy address");
        let mode_cell = Arc::new(AtomicU8::new(mode as u8));
        let swallowed = Arc::new(AtomicU64::new(0));
        let upstream = upstream.to_owned();
        let (m, sw) = (mode_cell.clone(), swallowed.clone());
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let (m, sw, upstream) = (m.clone(), sw.clone(), upstream.clone());
                tokio::spawn(async move { relay(client, &upstream, m, sw).await });
            }
        });
        Self {
            addr,
            mode: mode_cell,
            swallowed,
            task,
        }
    }

    /// The proxy's URL.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Switches the behaviour of new and open connections.
    pub fn set(&self, mode: ProxyMode) {
        self.mode.store(mode as u8, Ordering::SeqCst);
    }

    /// Response bytes swallowed so far.
    pub fn swallowed(&self) -> u64 {
        self.swallowed.load(Ordering::SeqCst)
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn relay(
    mut client: TcpStream,
    upstream: &str,
    mode: Arc<AtomicU8>,
    swallowed: Arc<AtomicU64>,
) {
    if mode.load(Ordering::SeqCst) == ProxyMode::Refuse as u8 {
        return; // dropped: the connection closes at once
    }
    let Ok(mut server) = TcpStream::connect(upstream).await else {
        return;
    };
    let (mut cr, mut cw) = client.split();
    let (mut sr, mut sw) = server.split();
    let up = tokio::io::copy(&mut cr, &mut sw);
    let down = async {
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            let n = match sr.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            match mode.load(Ordering::SeqCst) {
                m if m == ProxyMode::Pass as u8 => {
                    if cw.write_all(&buf[..n]).await.is_err() {
                        return;
                    }
                }
                m if m == ProxyMode::Refuse as u8 => return,
                _ => {
                    swallowed.fetch_add(n as u64, Ordering::SeqCst);
                }
            }
        }
    };
    tokio::select! {
        _ = up => {}
        _ = down => {}
    }
}

/// One run of an HTTP sink binary (Splunk HEC, Datadog, OTLP), its stderr captured to a file.
pub struct SinkRun {
    child: Child,
    log: PathBuf,
    /// The metrics and health endpoint.
    pub http: SocketAddr,
}

impl SinkRun {
    /// Starts binary `name` of package `name` with `vars` (and a free metrics port).
    pub fn spawn(name: &str, vars: &BTreeMap<String, String>) -> Self {
        let port = crate::support::free_port();
        let log =
            std::env::temp_dir().join(format!("{name}-{}.log", uuid::Uuid::now_v7().simple()));
        let child = Command::new(crate::support::binary(name, name))
            .envs(vars)
            .env("DOCKET_SINK_HTTP_ADDR", format!("127.0.0.1:{port}"))
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log file"))
            .spawn()
            .unwrap_or_else(|e| panic!("start {name}: {e}"));
        Self {
            child,
            log,
            http: SocketAddr::from(([127, 0, 0, 1], port)),
        }
    }

    /// What the sink wrote to stderr so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits for the process to exit by itself.
    pub async fn wait_exit(&mut self, deadline: Duration) -> ExitStatus {
        let start = std::time::Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status;
            }
            assert!(
                start.elapsed() < deadline,
                "the sink did not exit; log:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// SIGTERM, then the exit status.
    pub async fn terminate(&mut self) -> ExitStatus {
        let pid = self.child.id().to_string();
        let status = Command::new("kill").args(["-TERM", &pid]).status();
        assert!(status.expect("kill -TERM").success());
        self.wait_exit(crate::support::DEADLINE).await
    }

    /// SIGKILL: the sink stops without leaving its group or committing.
    pub fn kill(&mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("reaped");
    }

    /// The sum of metric `name`'s series on `/metrics` (0 when unreachable).
    pub async fn metric(&self, name: &str) -> f64 {
        crate::support::metric(self.http, name).await
    }
}

impl Drop for SinkRun {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
