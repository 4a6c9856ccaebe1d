//! Shared pieces of the end-to-end tests: the running local stack (`dev/stack up`), unique
//! topics per test, consuming with a deadline, polling a condition with a deadline, free ports,
//! workspace binaries and HTTP reads. Sample records come from `docket_records::samples`.
//! Helpers for one family of tests live beside this file (`sink.rs`, `gateway.rs`, ...) and
//! build on these.
//!
//! Every test file is its own crate and uses a different part of this module, so what one of
//! them leaves unused is not dead code.
#![allow(dead_code)]

pub mod faults;

use std::time::Duration;

use docket_kafka::{ConsumerOptions, KafkaSettings};
use docket_records::{Registry, RegistryConfig};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::OwnedMessage;
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};

/// How long a test waits for the stack to deliver what it awaits.
pub const DEADLINE: Duration = Duration::from_secs(30);

/// Settings of the running stack: the local defaults, or the environment's overrides.
pub fn settings() -> KafkaSettings {
    KafkaSettings::from_env().expect("DOCKET_* settings in the environment are valid")
}

/// A registry client for the running stack.
pub fn registry() -> Registry {
    Registry::new(&RegistryConfig::new(settings().schema_registry_url)).expect("registry client")
}

/// A fresh topic (one partition) that no other test or run uses.
pub async fn unique_topic(prefix: &str) -> String {
    unique_topic_with(prefix, 1).await
}

/// 16 random hex digits: unique enough, and short, because topic names end up in S3 object
/// keys and s3s-fs keeps each object's metadata in a file named after the base64 of bucket
/// and key (255 bytes at most).
pub fn short_id() -> String {
    let id = uuid::Uuid::now_v7().simple().to_string();
    id[16..].to_owned() // the random half of a UUIDv7
}

/// A fresh topic with `partitions` partitions that no other test or run uses.
pub async fn unique_topic_with(prefix: &str, partitions: i32) -> String {
    let name = format!("t.{prefix}.{}", short_id());
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", settings().bootstrap_servers)
        .create()
        .expect("admin client");
    let topic = NewTopic::new(&name, partitions, TopicReplication::Fixed(1));
    let opts = AdminOptions::new().operation_timeout(Some(DEADLINE));
    let results = admin
        .create_topics([&topic], &opts)
        .await
        .unwrap_or_else(|e| {
            panic!(
                "cannot reach Kafka at {} (is `dev/stack up` running?): {e}",
                settings().bootstrap_servers
            )
        });
    for r in results {
        r.unwrap_or_else(|(t, e)| panic!("creating topic {t}: {e}"));
    }
    name
}

/// Reads `count` messages of partition 0 of `topic` from the beginning, failing after [`DEADLINE`].
pub async fn consume(topic: &str, count: usize) -> Vec<OwnedMessage> {
    let options = ConsumerOptions {
        group_id: format!("test-{}", uuid::Uuid::now_v7().simple()),
        read_committed: true,
    };
    let consumer: StreamConsumer = docket_kafka::consumer(&settings(), &options).expect("consumer");
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, 0, Offset::Beginning)
        .expect("partition");
    consumer.assign(&tpl).expect("assign");
    let mut out = Vec::with_capacity(count);
    while out.len() < count {
        let next = tokio::time::timeout(DEADLINE, consumer.recv()).await;
        let msg = next
            .unwrap_or_else(|_| panic!("only {} of {count} messages arrived on {topic}", out.len()))
            .expect("consumer error");
        out.push(msg.detach());
    }
    out
}

/// The payload of a message, which must have one.
pub fn payload(msg: &OwnedMessage) -> &[u8] {
    msg.payload().expect("message has a payload")
}

/// Path of a workspace binary, built first if needed (a no-op when it is up to date).
pub fn binary(package: &str, name: &str) -> std::path::PathBuf {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let status = std::process::Command::new(cargo)
        .current_dir(root)
        .args(["build", "--quiet", "-p", package, "--bin", name])
        .status()
        .expect("cargo runs");
    assert!(status.success(), "building {package}");
    let target =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), Into::into);
    target.join("debug").join(name)
}

/// A free loopback port (released before it is returned, so another process can bind it).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Polls `check` until it returns `Some`, failing with `what` after [`DEADLINE`].
pub async fn eventually<T, F, Fut>(what: &str, check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    wait_for(what, DEADLINE, check).await
}

/// Polls `check` every 100 ms until it yields a value, failing with `what` once `deadline`
/// has passed.
pub async fn wait_for<T, F, Fut>(what: &str, deadline: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let start = std::time::Instant::now();
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(start.elapsed() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The value of metric `name` (summed over its label sets) on `http://{addr}/metrics`; 0 when
/// absent or unreachable.
pub async fn metric(addr: std::net::SocketAddr, name: &str) -> f64 {
    let Ok(text) = http_get(addr, "/metrics").await else {
        return 0.0;
    };
    text.lines()
        .filter(|l| l.starts_with(name) && l[name.len()..].starts_with(['{', ' ']))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// The body of `GET http://{addr}{path}` (any status); an error after 10 s without an answer,
/// so that a polled service that stopped answering fails its test at the poll's deadline
/// instead of hanging it.
pub async fn http_get(addr: std::net::SocketAddr, path: &str) -> reqwest::Result<String> {
    reqwest::Client::new()
        .get(format!("http://{addr}{path}"))
        .timeout(Duration::from_secs(10))
        .send()
        .await?
        .text()
        .await
}
