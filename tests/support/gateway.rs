//! Running `docket-gateway` as a child process for end-to-end tests: a configuration file
//! with hashed secrets, unique topics and state directory per test, HTTP helpers, and
//! reading its records back from Kafka.

#![allow(dead_code)]

use std::io::Write;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use docket_records::{Audit, Decision};
use rdkafka::message::OwnedMessage;
use serde_json::{Value, json};

use crate::support::*;

/// The test caller's key.
pub const KEY_ID: &str = "key-alice";
/// Its secret.
pub const KEY_SECRET: &str = "sk-test-alice-0123456789";
/// Admin tokens by role.
pub const SUPER_TOKEN: &str = "token-super";
/// A policy admin's token.
pub const POLICY_TOKEN: &str = "token-policy";
/// A viewer's token.
pub const VIEWER_TOKEN: &str = "token-viewer";

/// SHA-256 of `secret`, computed by the gateway binary itself (`docket-gateway hash`).
pub fn digest(secret: &str) -> String {
    let mut child = Command::new(binary("docket-gateway", "docket-gateway"))
        .arg("hash")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("hash runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(secret.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// A gateway set-up: configuration, topics and state directory; start it as often as needed.
pub struct Fixture {
    pub decisions: String,
    pub audit: String,
    pub dir: PathBuf,
    pub port: u16,
    pub env: Vec<(String, String)>,
}

/// Models of every fixture: two echo models.
fn models() -> Value {
    json!([
        {"name": "echo-small", "provider": "echo"},
        {"name": "echo-big", "provider": "echo"},
        {"name": "echo-off", "provider": "echo", "enabled": false}
    ])
}

impl Fixture {
    /// Unique topics on the shared stack, `policies` seeded.
    pub async fn new(policies: Value) -> Self {
        let decisions = unique_topic("gw-decisions").await;
        let audit = unique_topic("gw-audit").await;
        Self::with_topics(policies, decisions, audit)
    }

    /// With given topics (e.g. on another broker).
    pub fn with_topics(policies: Value, decisions: String, audit: String) -> Self {
        let dir = std::env::temp_dir().join(format!("docket-gw-{}", short_id()));
        std::fs::create_dir_all(&dir).unwrap();
        let config = json!({
            "max_body_bytes": 4096,
            "admins": [
                {"id": "root", "token_sha256": digest(SUPER_TOKEN), "role": "super_admin"},
                {"id": "polly", "token_sha256": digest(POLICY_TOKEN), "role": "policy_admin"},
                {"id": "vera", "token_sha256": digest(VIEWER_TOKEN), "role": "viewer"}
            ],
            "keys": [{"id": KEY_ID, "secret_sha256": digest(KEY_SECRET), "user": "alice",
                      "team": "research", "models": ["echo-small", "echo-big", "echo-off"]}],
            "models": models(),
            "policies": policies,
        });
        std::fs::write(
            dir.join("config.json"),
            serde_json::to_vec_pretty(&config).unwrap(),
        )
        .unwrap();
        Self {
            decisions,
            audit,
            dir,
            port: free_port(),
            env: Vec::new(),
        }
    }

    /// Changes the configuration file (takes effect at the next start).
    pub fn edit_config(&self, f: impl FnOnce(&mut Value)) {
        let path = self.dir.join("config.json");
        let mut config: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        f(&mut config);
        std::fs::write(path, serde_json::to_vec_pretty(&config).unwrap()).unwrap();
    }

    /// Adds an OpenAI-compatible provider `name` at `base_url` and a model `model` served
    /// by it, which the test key may use.
    pub fn add_openai_model(&self, name: &str, base_url: &str, model: &str) {
        self.edit_config(|c| {
            c["providers"] = json!([{"name": name, "kind": "openai", "base_url": base_url}]);
            c["models"]
                .as_array_mut()
                .unwrap()
                .push(json!({"name": model, "provider": name}));
            c["keys"][0]["models"]
                .as_array_mut()
                .unwrap()
                .push(json!(model));
        });
    }

    /// Adds or replaces an environment variable of the gateway process.
    pub fn set_env(&mut self, name: &str, value: &str) {
        self.env.retain(|(n, _)| n != name);
        self.env.push((name.to_owned(), value.to_owned()));
    }

    /// Base URL of the gateway.
    pub fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Where the gateway's log lines go (appended across restarts).
    pub fn log_path(&self) -> PathBuf {
        self.dir.join("gateway.log")
    }

    /// Starts the gateway and waits until it answers `/healthz`.
    pub async fn start(&self) -> Gateway {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .unwrap();
        let child = Command::new(binary("docket-gateway", "docket-gateway"))
            .env("DOCKET_GATEWAY_CONFIG", self.dir.join("config.json"))
            .env("DOCKET_GATEWAY_STATE_DIR", self.dir.join("state"))
            .env("DOCKET_GATEWAY_LISTEN", format!("127.0.0.1:{}", self.port))
            .env("DOCKET_GATEWAY_DECISIONS_TOPIC", &self.decisions)
            .env("DOCKET_GATEWAY_AUDIT_TOPIC", &self.audit)
            .env("DOCKET_GATEWAY_INSTANCE", "gw-test")
            .env("RUST_LOG", "info,docket_gateway=debug")
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("gateway starts");
        let gateway = Gateway {
            child,
            base: self.base(),
            client: reqwest::Client::new(),
        };
        let url = format!("{}/healthz", gateway.base);
        eventually("the gateway to serve", || {
            let client = gateway.client.clone();
            let url = url.clone();
            async move {
                client
                    .get(url)
                    .send()
                    .await
                    .ok()
                    .filter(|r| r.status() == 200)
                    .map(|_| ())
            }
        })
        .await;
        gateway
    }

    /// The gateway's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A running gateway, killed (SIGKILL) when dropped.
pub struct Gateway {
    child: Child,
    pub base: String,
    pub client: reqwest::Client,
}

/// An HTTP answer: status, correlation id header, request id header, JSON body.
pub struct Answer {
    pub status: u16,
    pub correlation_id: String,
    pub traceparent: String,
    pub request_id: Option<String>,
    pub body: Value,
}

impl Gateway {
    /// SIGKILL.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, then waits for the exit.
    pub fn stop(&mut self) {
        self.terminate();
        let _ = self.child.wait();
    }

    /// Sends SIGTERM and returns at once.
    pub fn terminate(&self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
    }

    /// Waits for the process to exit (after [`Gateway::terminate`]); whether it exited 0.
    pub async fn exited(&mut self) -> bool {
        eventually("the gateway to exit", || {
            let status = self.child.try_wait().expect("the child can be polled");
            async move { status }
        })
        .await
        .success()
    }

    /// Sends `request` on a new connection and returns what the gateway sends until it
    /// closes the connection (failing after [`DEADLINE`]).
    pub async fn raw(&self, request: &[u8]) -> String {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let addr = self.base.trim_start_matches("http://");
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        stream.write_all(request).await.unwrap();
        let mut out = Vec::new();
        tokio::time::timeout(DEADLINE, stream.read_to_end(&mut out))
            .await
            .expect("the gateway closes the connection")
            .ok();
        String::from_utf8_lossy(&out).into_owned()
    }

    /// `POST /v1/chat/completions` with `key` (none when `None`).
    pub async fn chat(&self, key: Option<&str>, body: &Value) -> Answer {
        self.chat_raw(key, serde_json::to_vec(body).unwrap(), &[])
            .await
    }

    /// A chat request with a raw body and extra headers.
    pub async fn chat_raw(
        &self,
        key: Option<&str>,
        body: Vec<u8>,
        headers: &[(&str, &str)],
    ) -> Answer {
        let mut req = self
            .client
            .post(format!("{}/v1/chat/completions", self.base))
            .body(body);
        if let Some(k) = key {
            req = req.header("authorization", format!("Bearer {k}"));
        }
        for (n, v) in headers {
            req = req.header(*n, *v);
        }
        answer(req.send().await.expect("gateway answers")).await
    }

    /// An admin call.
    pub async fn admin(
        &self,
        token: &str,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Answer {
        let body = body.map(|b| serde_json::to_vec(&b).unwrap());
        self.admin_raw(Some(token), method, path, body).await
    }

    /// An admin call with a raw path (not escaped further) and body, and an optional token.
    pub async fn admin_raw(
        &self,
        token: Option<&str>,
        method: reqwest::Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Answer {
        let mut req = self
            .client
            .request(method, format!("{}/admin/v1/{path}", self.base));
        if let Some(t) = token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        if let Some(b) = body {
            req = req.body(b);
        }
        answer(req.send().await.expect("gateway answers")).await
    }

    /// The value of metric `name` with the label set `labels` (e.g. `reason="idle_timeout"`).
    pub async fn metric_with(&self, name: &str, labels: &str) -> Option<f64> {
        let body = self
            .client
            .get(format!("{}/metrics", self.base))
            .send()
            .await
            .ok()?
            .text()
            .await
            .ok()?;
        let prefix = format!("{name}{{{labels}}} ");
        Some(
            body.lines()
                .filter_map(|l| l.strip_prefix(&prefix)?.parse::<f64>().ok())
                .sum(),
        )
    }

    /// The sum of the samples of metric `name` (all label sets), if the page is reachable.
    pub async fn metric(&self, name: &str) -> Option<f64> {
        let body = self
            .client
            .get(format!("{}/metrics", self.base))
            .send()
            .await
            .ok()?
            .text()
            .await
            .ok()?;
        Some(
            body.lines()
                .filter(|l| l.split(['{', ' ']).next() == Some(name))
                .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
                .sum(),
        )
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        self.kill();
    }
}

async fn answer(r: reqwest::Response) -> Answer {
    let header = |name: &str| {
        r.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let correlation_id = header("x-correlation-id").expect("x-correlation-id on every answer");
    let traceparent = header("traceparent").expect("traceparent on every answer");
    let request_id = header("x-request-id");
    let status = r.status().as_u16();
    let bytes = r.bytes().await.unwrap();
    Answer {
        status,
        correlation_id,
        traceparent,
        request_id,
        body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    }
}

/// A fake OpenAI-compatible upstream, written for these tests from OpenAI's API reference
/// for `POST /v1/chat/completions` (HTTP/1.1, JSON request and answer, one request per
/// connection): it answers each call with one assistant choice whose content is `content`,
/// and keeps every request's head so a test can see what was forwarded. While held, it
/// keeps the requests it receives unanswered until released.
pub struct FakeUpstream {
    pub port: u16,
    heads: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    gate: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl FakeUpstream {
    /// Listens on a free loopback port, answering at once.
    pub async fn start(content: &str) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let heads = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let (gate, open) = tokio::sync::watch::channel(true);
        let (seen, content) = (heads.clone(), content.to_owned());
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let (seen, content, open) = (seen.clone(), content.clone(), open.clone());
                tokio::spawn(fake_answer(stream, seen, open, content));
            }
        });
        Self {
            port,
            heads,
            gate,
            task,
        }
    }

    /// Holds every answer from now on until [`FakeUpstream::release`].
    pub fn hold(&self) {
        self.gate.send_replace(false);
    }

    /// Answers what is held, and everything after at once.
    pub fn release(&self) {
        self.gate.send_replace(true);
    }

    /// Its base URL as a provider's `base_url`.
    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}/v1", self.port)
    }

    /// The heads of the requests received so far.
    pub fn heads(&self) -> Vec<String> {
        self.heads.lock().unwrap().clone()
    }
}

impl Drop for FakeUpstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn fake_answer(
    mut stream: tokio::net::TcpStream,
    seen: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    mut open: tokio::sync::watch::Receiver<bool>,
    content: String,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_lowercase();
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    while buf.len() < head_end + length {
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    seen.lock().unwrap().push(head);
    if open.wait_for(|open| *open).await.is_err() {
        return;
    }
    let body = json!({"id": "chatcmpl-fake", "object": "chat.completion", "created": 0,
        "model": "fake", "choices": [{"index": 0, "finish_reason": "stop",
        "message": {"role": "assistant", "content": content}}]})
    .to_string();
    let answer = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(answer.as_bytes()).await;
}

/// A one-message chat request.
pub fn ask(model: &str, text: &str) -> Value {
    json!({"model": model, "messages": [{"role": "user", "content": text}]})
}

/// The first `n` decisions of `topic`, with the raw messages.
pub async fn decisions(topic: &str, n: usize) -> Vec<(Decision, OwnedMessage)> {
    let decoder = registry().decoder::<Decision>();
    let mut out = Vec::new();
    for m in consume(topic, n).await {
        out.push((decoder.decode(payload(&m)).await.expect("a decision"), m));
    }
    out
}

/// The first `n` audit records of `topic`, with the raw messages.
pub async fn audits(topic: &str, n: usize) -> Vec<(Audit, OwnedMessage)> {
    let decoder = registry().decoder::<Audit>();
    let mut out = Vec::new();
    for m in consume(topic, n).await {
        out.push((
            decoder.decode(payload(&m)).await.expect("an audit record"),
            m,
        ));
    }
    out
}

/// A Kafka broker of the test's own (started with `dev/stack start kafka` in a private state
/// directory and ports), so a test can stop and start it without disturbing other tests.
pub struct PrivateKafka {
    home: PathBuf,
    port: u16,
    controller: u16,
    /// When set, the broker tells its clients to connect through this proxy.
    proxy: Option<faults::Proxy>,
}

impl PrivateKafka {
    /// Starts a fresh broker and waits until it is ready.
    pub fn start_new() -> Self {
        Self::start_with(None)
    }

    /// Starts a fresh broker that every client reaches through a [`faults::Proxy`] (its
    /// bootstrap address and the address it advertises are the proxy's).
    pub fn start_behind_proxy() -> Self {
        let port = free_port();
        let proxy = faults::Proxy::start((std::net::Ipv4Addr::LOCALHOST, port).into());
        Self::start_with(Some((port, proxy)))
    }

    fn start_with(behind: Option<(u16, faults::Proxy)>) -> Self {
        let (port, proxy) = match behind {
            Some((port, proxy)) => (port, Some(proxy)),
            None => (free_port(), None),
        };
        let kafka = Self {
            home: std::env::temp_dir().join(format!("docket-kafka-{}", short_id())),
            port,
            controller: free_port(),
            proxy,
        };
        kafka.start();
        kafka
    }

    /// The proxy in front of the broker, if it was started behind one.
    pub fn proxy(&self) -> &faults::Proxy {
        self.proxy.as_ref().expect("started behind a proxy")
    }

    fn advertised_port(&self) -> u16 {
        self.proxy.as_ref().map_or(self.port, faults::Proxy::port)
    }

    fn stack(&self, command: &str) {
        let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("dev/stack");
        let status = Command::new(script)
            .args([command, "kafka"])
            .env("DOCKET_STACK_HOME", &self.home)
            .env("DOCKET_KAFKA_PORT", self.port.to_string())
            .env("DOCKET_KAFKA_CONTROLLER_PORT", self.controller.to_string())
            .env(
                "DOCKET_KAFKA_ADVERTISED_PORT",
                self.advertised_port().to_string(),
            )
            .env("DOCKET_KAFKA_HEAP", "384m")
            .stdout(Stdio::null())
            .status()
            .expect("dev/stack runs");
        assert!(status.success(), "dev/stack {command} kafka");
    }

    /// Starts the (stopped) broker and waits until it is ready.
    pub fn start(&self) {
        self.stack("start");
    }

    /// Stops the broker; its data stays.
    pub fn stop(&self) {
        self.stack("stop");
    }

    /// Its bootstrap address.
    pub fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.advertised_port())
    }

    fn settings(&self) -> docket_kafka::KafkaSettings {
        let mut s = settings();
        s.bootstrap_servers = self.bootstrap();
        s
    }

    /// A fresh one-partition topic on this broker.
    pub async fn topic(&self, prefix: &str) -> String {
        use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
        let name = format!("t.{prefix}.{}", short_id());
        let admin: AdminClient<rdkafka::client::DefaultClientContext> =
            rdkafka::ClientConfig::new()
                .set("bootstrap.servers", self.bootstrap())
                .create()
                .unwrap();
        let topic = NewTopic::new(&name, 1, TopicReplication::Fixed(1));
        let opts = AdminOptions::new().operation_timeout(Some(DEADLINE));
        for r in admin
            .create_topics([&topic], &opts)
            .await
            .expect("topic created")
        {
            r.expect("topic created");
        }
        name
    }

    /// Every decision of `topic` that arrives until `quiet` passes without one, after at least
    /// `at_least` have arrived (failing after [`DEADLINE`] otherwise).
    pub async fn decisions(
        &self,
        topic: &str,
        at_least: usize,
        quiet: std::time::Duration,
    ) -> Vec<Decision> {
        use rdkafka::consumer::{Consumer, StreamConsumer};
        use rdkafka::{Message, Offset, TopicPartitionList};
        let options = docket_kafka::ConsumerOptions {
            group_id: format!("test-{}", short_id()),
            read_committed: true,
        };
        let consumer: StreamConsumer = docket_kafka::consumer(&self.settings(), &options).unwrap();
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset(topic, 0, Offset::Beginning)
            .unwrap();
        consumer.assign(&tpl).unwrap();
        let decoder = registry().decoder::<Decision>();
        let start = std::time::Instant::now();
        let mut out = Vec::new();
        loop {
            let wait = if out.len() < at_least {
                DEADLINE.saturating_sub(start.elapsed())
            } else {
                quiet
            };
            match tokio::time::timeout(wait, consumer.recv()).await {
                Ok(Ok(m)) => out.push(decoder.decode(m.payload().unwrap()).await.unwrap()),
                Ok(Err(e)) => panic!("reading: {e}"),
                Err(_) if out.len() >= at_least => return out,
                Err(_) => panic!("only {} of {at_least} decisions arrived", out.len()),
            }
        }
    }
}

impl Drop for PrivateKafka {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.home);
    }
}
