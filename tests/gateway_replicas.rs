//! Gateway replicas sharing their administrative state through the state log on the real
//! broker: an edit through one replica is enforced by all, with identical policy versions on
//! their decisions, which the joiner all joins to that one edit; of two concurrent edits with the same `If-Match`, one wins and the other
//! is answered 409 and audited FAILED, and all replicas agree; a replica started late or
//! restarted after SIGKILL serves the same state once ready; after many edits and a
//! compaction of the topic, a fresh replica rebuilds the same state, and no key's secret is
//! in the topic. With its broker (a
//! private one) stopped, a replica serves the last state and answers edits 503, audited.

#[path = "support/gateway.rs"]
mod gateway;
mod support;

use std::time::Duration;

use docket_records::{EnrichedDecision, JoinStatus, Outcome};
use gateway::*;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use reqwest::Method;
use serde_json::{Value, json};
use support::*;

fn policies() -> Value {
    json!([{"id": "no-exfil", "name": "No exfiltration talk", "kind": "guardrail",
            "spec": {"keywords": ["exfiltrate"], "reason": "not here"}}])
}

fn guardrail(words: &[&str]) -> Value {
    json!({"name": "No exfiltration talk", "kind": "guardrail", "spec": {"keywords": words}})
}

/// A fresh single-partition compacted state topic; `compact_fast` makes the broker roll
/// segments and clean them within seconds.
async fn state_topic(compact_fast: bool) -> String {
    let name = format!("t.gw-state.{}", short_id());
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", settings().bootstrap_servers)
        .create()
        .expect("admin client");
    let mut topic =
        NewTopic::new(&name, 1, TopicReplication::Fixed(1)).set("cleanup.policy", "compact");
    if compact_fast {
        topic = topic
            .set("segment.ms", "100")
            .set("min.cleanable.dirty.ratio", "0.01")
            .set("delete.retention.ms", "100");
    }
    let opts = AdminOptions::new().operation_timeout(Some(DEADLINE));
    for r in admin
        .create_topics([&topic], &opts)
        .await
        .expect("Kafka answers")
    {
        r.unwrap_or_else(|(t, e)| panic!("creating topic {t}: {e}"));
    }
    name
}

/// Replicas of one gateway: shared topics and state log, each its own port and directory.
struct Replicas {
    fixtures: Vec<Fixture>,
    decisions: String,
    audit: String,
    state: String,
}

impl Replicas {
    async fn new(n: usize, compact_fast: bool) -> Self {
        let decisions = unique_topic("gw-decisions").await;
        let audit = unique_topic("gw-audit").await;
        let state = state_topic(compact_fast).await;
        let mut r = Self {
            fixtures: Vec::new(),
            decisions,
            audit,
            state,
        };
        for _ in 0..n {
            r.add();
        }
        r
    }

    /// Sets up one more replica (not started).
    fn add(&mut self) -> usize {
        let i = self.fixtures.len();
        let mut f = Fixture::with_topics(policies(), self.decisions.clone(), self.audit.clone());
        f.set_env("DOCKET_GATEWAY_STATE_TOPIC", &self.state);
        f.set_env("DOCKET_GATEWAY_INSTANCE", &format!("gw-{i}"));
        self.fixtures.push(f);
        i
    }

    async fn start_all(&self) -> Vec<Gateway> {
        let mut out = Vec::new();
        for f in &self.fixtures {
            out.push(f.start().await);
        }
        out
    }
}

async fn policy(gw: &Gateway) -> Value {
    let a = gw
        .admin(VIEWER_TOKEN, Method::GET, "policies/no-exfil", None)
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    a.body
}

async fn all_policies(gw: &Gateway) -> Value {
    let a = gw.admin(VIEWER_TOKEN, Method::GET, "policies", None).await;
    assert_eq!(a.status, 200, "{}", a.body);
    a.body
}

async fn update(gw: &Gateway, words: &[&str], if_match: Option<i64>) -> Answer {
    let mut req = gw
        .client
        .put(format!("{}/admin/v1/policies/no-exfil", gw.base))
        .header("authorization", format!("Bearer {POLICY_TOKEN}"))
        .body(serde_json::to_vec(&guardrail(words)).unwrap());
    if let Some(v) = if_match {
        req = req.header("if-match", format!("\"{v}\""));
    }
    let r = req.send().await.expect("gateway answers");
    let status = r.status().as_u16();
    let request_id = r
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body = r.json().await.unwrap_or(Value::Null);
    Answer {
        status,
        correlation_id: String::new(),
        traceparent: String::new(),
        request_id,
        body,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_edit_through_one_replica_is_enforced_by_all_with_one_version() {
    let r = Replicas::new(3, false).await;
    let gws = r.start_all().await;
    let edit = update(&gws[0], &["exfiltrate", "smuggle"], None).await;
    assert_eq!(edit.status, 200, "{}", edit.body);
    let version = edit.body["policy"]["version"].as_i64().unwrap();
    let set_version = edit.body["policy_set_version"].as_i64().unwrap();
    assert_eq!(version, 2);
    let own = gws[0]
        .chat(Some(KEY_SECRET), &ask("echo-small", "smuggle it"))
        .await;
    assert_eq!(
        own.status, 403,
        "the replica that took the edit enforces it at once"
    );
    for gw in &gws[1..] {
        wait_for("every replica to enforce the edit", DEADLINE, || async {
            let a = gw
                .chat(Some(KEY_SECRET), &ask("echo-small", "smuggle it"))
                .await;
            (a.status == 403).then_some(())
        })
        .await;
    }
    let decisions = decisions(&r.decisions, 3).await;
    for (d, _) in &decisions {
        let p = d.policy.as_ref().expect("a denying policy");
        assert_eq!((p.version, d.policy_set_version), (version, set_version));
    }
    let mut instances: Vec<_> = decisions
        .iter()
        .map(|(d, _)| d.gateway_instance.clone())
        .collect();
    instances.sort();
    assert_eq!(instances, ["gw-0", "gw-1", "gw-2"]);
    let audits = audits(&r.audit, 1).await;
    assert_eq!(audits[0].0.policy_version, Some(version));
    let enriched = joined(&r).await;
    for e in &enriched {
        assert_eq!(e.join_status, JoinStatus::Joined, "{e:?}");
        let change = e.policy_change.as_ref().expect("the joined edit");
        assert_eq!(change.audit_event_id, audits[0].0.event_id);
    }
}

/// Runs the joiner over the replicas' decisions and audit records; its first three outputs.
async fn joined(r: &Replicas) -> Vec<EnrichedDecision> {
    let enriched = unique_topic("gw-enriched").await;
    let (pending, dlq) = (
        unique_topic("gw-pending").await,
        unique_topic("gw-dlq").await,
    );
    let id = short_id();
    let mut joiner = std::process::Command::new(binary("docket-joiner", "docket-joiner"))
        .envs([
            ("DOCKET_JOINER_INSTANCE", format!("replicas-{id}")),
            ("DOCKET_JOINER_GROUP", format!("test-joiner-{id}")),
            ("DOCKET_JOINER_DECISIONS_TOPIC", r.decisions.clone()),
            ("DOCKET_JOINER_AUDIT_TOPIC", r.audit.clone()),
            ("DOCKET_JOINER_ENRICHED_TOPIC", enriched.clone()),
            ("DOCKET_JOINER_PENDING_TOPIC", pending),
            ("DOCKET_JOINER_DLQ_TOPIC", dlq),
            (
                "DOCKET_JOINER_METRICS_ADDR",
                format!("127.0.0.1:{}", free_port()),
            ),
            ("RUST_LOG", "warn".to_owned()),
        ])
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("joiner starts");
    let decoder = registry().decoder::<EnrichedDecision>();
    let mut out = Vec::new();
    for m in consume(&enriched, 3).await {
        out.push(
            decoder
                .decode(payload(&m))
                .await
                .expect("an enriched decision"),
        );
    }
    let _ = joiner.kill();
    let _ = joiner.wait();
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn of_two_edits_expecting_one_version_one_wins_and_all_agree() {
    let r = Replicas::new(3, false).await;
    let gws = r.start_all().await;
    let (a, b) = tokio::join!(
        update(&gws[0], &["alpha"], Some(1)),
        update(&gws[1], &["beta"], Some(1))
    );
    let mut statuses = [a.status, b.status];
    statuses.sort();
    assert_eq!(statuses, [200, 409], "{} / {}", a.body, b.body);
    let (won, lost) = if a.status == 200 { (a, b) } else { (b, a) };
    assert_eq!(lost.body["error"]["type"], "conflict");
    let expected = policy(&gws[0]).await;
    assert_eq!(expected["version"], 2);
    assert_eq!(expected["spec"], won.body["policy"]["spec"]);
    for gw in &gws[1..] {
        assert_eq!(policy(gw).await, expected);
    }
    let audits = audits(&r.audit, 2).await;
    let failed = audits
        .iter()
        .find(|(x, _)| Some(&x.request_id) == lost.request_id.as_ref())
        .expect("the losing edit is audited");
    assert_eq!(failed.0.outcome, Outcome::Failed);
    assert_eq!(failed.0.details["reason"], "version mismatch");
}

#[tokio::test(flavor = "multi_thread")]
async fn late_and_restarted_replicas_serve_the_state_once_ready() {
    let mut r = Replicas::new(2, false).await;
    let mut gws = r.start_all().await;
    for i in 0..5 {
        let a = update(&gws[0], &["exfiltrate", &format!("w{i}")], None).await;
        assert_eq!(a.status, 200, "{}", a.body);
    }
    let expected = all_policies(&gws[0]).await;
    assert_eq!(expected["policies"][0]["version"], 6);
    assert_eq!(all_policies(&gws[1]).await, expected);
    let late = r.add();
    let late = r.fixtures[late].start().await;
    assert_eq!(
        all_policies(&late).await,
        expected,
        "ready before caught up"
    );
    gws[1].kill();
    gws[1] = r.fixtures[1].start().await;
    assert_eq!(all_policies(&gws[1]).await, expected);
}

#[tokio::test(flavor = "multi_thread")]
async fn after_compaction_a_fresh_replica_rebuilds_the_same_state() {
    let mut r = Replicas::new(1, true).await;
    let gw = r.fixtures[0].start().await;
    const EDITS: usize = 40;
    for i in 0..EDITS {
        let a = update(&gw, &["exfiltrate", &format!("w{i}")], None).await;
        assert_eq!(a.status, 200, "{}", a.body);
    }
    let created = gw
        .admin(
            SUPER_TOKEN,
            Method::POST,
            "keys",
            Some(json!({"id": "key-bob"})),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let secret = created.body["secret"].as_str().unwrap().to_owned();
    let revoked = gw
        .admin(SUPER_TOKEN, Method::POST, "keys/key-bob/revoke", None)
        .await;
    assert_eq!(revoked.status, 200, "{}", revoked.body);
    let expected = (all_policies(&gw).await, keys(&gw).await);
    wait_for(
        "the state topic to be compacted",
        Duration::from_secs(120),
        || {
            let topic = r.state.clone();
            async move {
                let n = records(&topic).await.len();
                // Empty is a slow first fetch, not a compaction: the newest records always stay.
                (n > 0 && n < EDITS).then_some(())
            }
        },
    )
    .await;
    let fresh = r.add();
    let fresh = r.fixtures[fresh].start().await;
    assert_eq!((all_policies(&fresh).await, keys(&fresh).await), expected);
    // One read, counted and scanned together: the cleaner may compact again between two reads.
    let topic = records(&r.state).await;
    assert!(!topic.is_empty(), "the state topic is empty");
    let clear = topic
        .iter()
        .filter_map(|m| rdkafka::Message::payload(m))
        .filter(|p| p.windows(secret.len()).any(|w| w == secret.as_bytes()))
        .count();
    assert_eq!(clear, 0, "the state log holds a key's secret in clear");
}

async fn keys(gw: &Gateway) -> Value {
    gw.admin(SUPER_TOKEN, Method::GET, "keys", None).await.body
}

/// The records a reader of `topic` finds from its beginning (until one second of quiet).
async fn records(topic: &str) -> Vec<rdkafka::message::OwnedMessage> {
    use rdkafka::consumer::{Consumer, StreamConsumer};
    use rdkafka::{Offset, TopicPartitionList};
    let options = docket_kafka::ConsumerOptions {
        group_id: format!("test-{}", short_id()),
        read_committed: true,
    };
    let consumer: StreamConsumer = docket_kafka::consumer(&settings(), &options).unwrap();
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, 0, Offset::Beginning)
        .unwrap();
    consumer.assign(&tpl).unwrap();
    let mut out = Vec::new();
    while let Ok(Ok(m)) = tokio::time::timeout(Duration::from_secs(1), consumer.recv()).await {
        out.push(m.detach());
    }
    out
}

/// With its broker stopped, a replica keeps enforcing the state it applied; an edit is
/// answered 503 and audited FAILED, the record reaching Kafka once it is back.
#[tokio::test(flavor = "multi_thread")]
async fn without_kafka_the_last_state_is_served_and_edits_fail_audited() {
    let kafka = PrivateKafka::start_new();
    let decisions = kafka.topic("gw-decisions").await;
    let audit = kafka.topic("gw-audit").await;
    let state = kafka.topic("gw-state").await;
    let mut f = Fixture::with_topics(policies(), decisions, audit.clone());
    f.set_env("DOCKET_KAFKA_BOOTSTRAP", &kafka.bootstrap());
    f.set_env("DOCKET_GATEWAY_STATE_TOPIC", &state);
    let gw = f.start().await;
    let edit = update(&gw, &["exfiltrate", "smuggle"], None).await;
    assert_eq!(edit.status, 200, "{}", edit.body);
    kafka.stop();
    let served = gw
        .chat(Some(KEY_SECRET), &ask("echo-small", "smuggle it"))
        .await;
    assert_eq!(served.status, 403, "the applied edit stays in force");
    let refused = update(&gw, &["other"], None).await;
    assert_eq!(refused.status, 503, "{}", refused.body);
    assert_eq!(refused.body["error"]["type"], "service_unavailable");
    assert_eq!(policy(&gw).await["version"], 2);
    kafka.start();
    let mut failed = None;
    for (record, _) in audits_on(&kafka, &audit, 2).await {
        if record.request_id.as_str() == refused.request_id.as_deref().unwrap() {
            failed = Some(record);
        }
    }
    let failed = failed.expect("the refused edit is audited");
    assert_eq!(failed.outcome, Outcome::Failed);
    assert_eq!(failed.details["reason"], "state log unavailable");
}

/// The first `n` audit records of `topic` on a private broker.
async fn audits_on(
    kafka: &PrivateKafka,
    topic: &str,
    n: usize,
) -> Vec<(docket_records::Audit, rdkafka::message::OwnedMessage)> {
    use rdkafka::Message;
    use rdkafka::consumer::{Consumer, StreamConsumer};
    use rdkafka::{Offset, TopicPartitionList};
    let mut s = settings();
    s.bootstrap_servers = kafka.bootstrap();
    let options = docket_kafka::ConsumerOptions {
        group_id: format!("test-{}", short_id()),
        read_committed: true,
    };
    let consumer: StreamConsumer = docket_kafka::consumer(&s, &options).unwrap();
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, 0, Offset::Beginning)
        .unwrap();
    consumer.assign(&tpl).unwrap();
    let decoder = registry().decoder::<docket_records::Audit>();
    let mut out = Vec::new();
    while out.len() < n {
        let msg = tokio::time::timeout(DEADLINE, consumer.recv())
            .await
            .expect("audit records arrive")
            .expect("consumer error")
            .detach();
        let record = decoder.decode(msg.payload().unwrap()).await.unwrap();
        out.push((record, msg));
    }
    out
}

/// Hostile `If-Match` values are a 400 audited FAILED, never a 5xx; `*` expects nothing.
#[tokio::test(flavor = "multi_thread")]
async fn hostile_if_match_values_are_refused_and_audited() {
    let r = Replicas::new(1, false).await;
    let gw = r.fixtures[0].start().await;
    let hostile: [&[u8]; 8] = [
        b"abc",
        b"-1",
        b"0",
        b"99999999999999999999999",
        b"\"1",
        b"1, 2",
        b"\xff\xfe",
        b"+1",
    ];
    for value in hostile {
        let a = gw
            .client
            .put(format!("{}/admin/v1/policies/no-exfil", gw.base))
            .header("authorization", format!("Bearer {POLICY_TOKEN}"))
            .header(
                "if-match",
                reqwest::header::HeaderValue::from_bytes(value).unwrap(),
            )
            .body(serde_json::to_vec(&guardrail(&["x"])).unwrap())
            .send()
            .await
            .unwrap();
        assert_eq!(a.status(), 400, "{}", String::from_utf8_lossy(value));
    }
    let any = gw
        .client
        .put(format!("{}/admin/v1/policies/no-exfil", gw.base))
        .header("authorization", format!("Bearer {POLICY_TOKEN}"))
        .header("if-match", "*")
        .body(serde_json::to_vec(&guardrail(&["x"])).unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(any.status(), 200);
    let records = audits(&r.audit, hostile.len() + 1).await;
    let failed = records
        .iter()
        .filter(|(a, _)| a.outcome == Outcome::Failed)
        .filter(|(a, _)| a.details["reason"] == "invalid If-Match")
        .count();
    assert_eq!(failed, hostile.len());
    assert_eq!(
        policy(&gw).await["version"],
        2,
        "no refused edit was written"
    );
}
