//! The joiner against the real broker and registry, run as its own process: joins and join
//! statuses end to end, two instances sharing the decisions, SIGKILL mid-stream with exactly
//! once output under `read_committed`, and poison records dead-lettered while the stream goes on.

mod support;

use std::collections::HashMap;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use docket_kafka::{ConsumerOptions, header};
use docket_records::{Audit, Decision, EnrichedDecision, JoinStatus, Micros, Registry, samples};
use rdkafka::Message;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::{Headers, OwnedMessage};
use rdkafka::producer::{FutureProducer, FutureRecord};
use support::*;

const SECOND: i64 = 1_000_000;
const GRACE: &str = "3s";

/// One pipeline's private topics and group.
struct Pipeline {
    decisions: String,
    audit: String,
    enriched: String,
    pending: String,
    dlq: String,
    group: String,
}

impl Pipeline {
    async fn new(decision_partitions: i32) -> Self {
        Self {
            decisions: unique_topic_with("decisions", decision_partitions).await,
            audit: unique_topic_with("audit", 2).await,
            enriched: unique_topic_with("enriched", 3).await,
            pending: unique_topic_with("pending", 2).await,
            dlq: unique_topic("dlq").await,
            group: format!("test-joiner-{}", uuid::Uuid::now_v7().simple()),
        }
    }

    /// Starts a joiner process named `instance`; its metrics listen on the returned port.
    fn start(&self, instance: &str) -> (Joiner, u16) {
        let port = free_port();
        let child = Command::new(binary("docket-joiner", "docket-joiner"))
            .envs([
                ("DOCKET_JOINER_INSTANCE", instance.to_owned()),
                ("DOCKET_JOINER_GROUP", self.group.clone()),
                ("DOCKET_JOINER_DECISIONS_TOPIC", self.decisions.clone()),
                ("DOCKET_JOINER_AUDIT_TOPIC", self.audit.clone()),
                ("DOCKET_JOINER_ENRICHED_TOPIC", self.enriched.clone()),
                ("DOCKET_JOINER_PENDING_TOPIC", self.pending.clone()),
                ("DOCKET_JOINER_DLQ_TOPIC", self.dlq.clone()),
                ("DOCKET_JOINER_GRACE", GRACE.to_owned()),
                ("DOCKET_JOINER_HORIZON", "1h".to_owned()),
                ("DOCKET_JOINER_METRICS_ADDR", format!("127.0.0.1:{port}")),
                ("RUST_LOG", "warn".to_owned()),
            ])
            .stdout(Stdio::null())
            .spawn()
            .expect("joiner starts");
        (Joiner(child), port)
    }
}

/// A joiner process, killed when dropped.
struct Joiner(Child);

impl Joiner {
    fn kill(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for Joiner {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Produces framed records with their keys, waiting for every acknowledgement.
async fn produce(producer: &FutureProducer, topic: &str, records: &[(String, Vec<u8>)]) {
    let sends = records.iter().map(|(key, payload)| {
        producer.send(
            FutureRecord::to(topic).key(key).payload(payload),
            Duration::from_secs(10),
        )
    });
    for result in futures_join(sends).await {
        result
            .map_err(|(e, _)| e)
            .expect("broker accepted the record");
    }
}

async fn futures_join<F: std::future::Future>(
    futures: impl IntoIterator<Item = F>,
) -> Vec<F::Output> {
    let mut out = Vec::new();
    for f in futures {
        out.push(f.await);
    }
    out
}

async fn send_decisions(registry: &Registry, topic: &str, decisions: &[Decision]) {
    let encoder = registry.encoder::<Decision>(topic);
    let mut records = Vec::new();
    for d in decisions {
        records.push((d.correlation_id.clone(), encoder.encode(d).await.unwrap()));
    }
    produce(
        &docket_kafka::producer(&settings()).unwrap(),
        topic,
        &records,
    )
    .await;
}

async fn send_audits(registry: &Registry, topic: &str, audits: &[Audit]) {
    let encoder = registry.encoder::<Audit>(topic);
    let mut records = Vec::new();
    for a in audits {
        records.push((a.resource.id.clone(), encoder.encode(a).await.unwrap()));
    }
    produce(
        &docket_kafka::producer(&settings()).unwrap(),
        topic,
        &records,
    )
    .await;
}

/// A successful edit of `policy` producing `version` at `time`.
fn edit(policy: &str, version: i64, time: i64) -> Audit {
    let mut a = samples::audit();
    a.resource.id = policy.to_owned();
    a.policy_version = Some(version);
    a.time = Micros(time);
    a
}

/// A decision at `time` driven by `policy` at `version` (or a plain allow when `None`).
fn decision(policy: Option<(&str, i64)>, time: i64) -> Decision {
    let mut d = samples::decision();
    d.correlation_id = uuid::Uuid::now_v7().simple().to_string();
    d.time = Micros(time);
    match policy {
        Some((id, version)) => {
            let p = d.policy.as_mut().unwrap();
            p.id = id.to_owned();
            p.version = version;
        }
        None => d.policy = None,
    }
    d
}

/// Reads a topic from the beginning, committed data only, across all partitions.
struct Reader {
    consumer: StreamConsumer,
    seen: Vec<OwnedMessage>,
}

impl Reader {
    fn new(topic: &str) -> Self {
        let options = ConsumerOptions {
            group_id: format!("reader-{}", uuid::Uuid::now_v7().simple()),
            read_committed: true,
        };
        let consumer = docket_kafka::consumer(&settings(), &options).unwrap();
        consumer.subscribe(&[topic]).unwrap();
        Self {
            consumer,
            seen: Vec::new(),
        }
    }

    /// Reads until at least `count` records have arrived, failing after the deadline.
    async fn until(&mut self, count: usize) -> &[OwnedMessage] {
        let start = std::time::Instant::now();
        while self.seen.len() < count {
            let left = DEADLINE.saturating_sub(start.elapsed());
            match tokio::time::timeout(left, self.consumer.recv()).await {
                Ok(Ok(m)) => self.seen.push(m.detach()),
                Ok(Err(e)) => panic!("reading: {e}"),
                Err(_) => panic!("only {} of {count} records arrived", self.seen.len()),
            }
        }
        &self.seen
    }

    /// Reads whatever arrives within `quiet`, to prove that nothing more comes.
    async fn drain(&mut self, quiet: Duration) -> &[OwnedMessage] {
        while let Ok(Ok(m)) = tokio::time::timeout(quiet, self.consumer.recv()).await {
            self.seen.push(m.detach());
        }
        &self.seen
    }
}

async fn decode_all(
    registry: &Registry,
    msgs: &[OwnedMessage],
) -> HashMap<String, Vec<EnrichedDecision>> {
    let decoder = registry.decoder::<EnrichedDecision>();
    let mut by_event: HashMap<String, Vec<EnrichedDecision>> = HashMap::new();
    for m in msgs {
        let e = decoder
            .decode(payload(m))
            .await
            .expect("enriched record decodes");
        by_event
            .entry(e.decision.event_id.clone())
            .or_default()
            .push(e);
    }
    by_event
}

#[tokio::test(flavor = "multi_thread")]
async fn decisions_get_the_edit_that_preceded_them() {
    let registry = registry();
    let p = Pipeline::new(2).await;
    let now = Micros::now().0;
    // History present before the joiner starts: two edits of pol-a.
    let e1 = edit("pol-a", 1, now - 20 * SECOND);
    let e2 = edit("pol-a", 2, now - 10 * SECOND);
    send_audits(&registry, &p.audit, &[e1.clone(), e2.clone()]).await;
    let (_joiner, _) = p.start("it-join");

    let on_v2 = decision(Some(("pol-a", 2)), now);
    let on_v1 = decision(Some(("pol-a", 1)), now - 15 * SECOND);
    let plain = decision(None, now);
    let unedited = decision(Some(("pol-b", 4)), now);
    let late_in_grace = decision(Some(("pol-a", 3)), now);
    let late_beyond = decision(Some(("pol-a", 9)), now);
    send_decisions(
        &registry,
        &p.decisions,
        &[
            on_v2.clone(),
            on_v1.clone(),
            plain.clone(),
            unedited.clone(),
            late_in_grace.clone(),
            late_beyond.clone(),
        ],
    )
    .await;
    // The edit producing version 3 arrives after the decision that names it.
    let mut reader = Reader::new(&p.enriched);
    reader.until(4).await;
    let e3 = edit("pol-a", 3, now - SECOND);
    send_audits(&registry, &p.audit, std::slice::from_ref(&e3)).await;

    let by_event = decode_all(&registry, reader.until(6).await).await;
    let get = |d: &Decision| &by_event[&d.event_id][0];
    let joined_to = |d: &Decision| {
        get(d)
            .policy_change
            .as_ref()
            .map(|c| c.audit_event_id.clone())
    };
    assert_eq!(get(&on_v2).join_status, JoinStatus::Joined);
    assert_eq!(joined_to(&on_v2), Some(e2.event_id.clone()));
    assert_eq!(get(&on_v2).policy_change.as_ref().unwrap().lag_ms, 10_000);
    assert_eq!(joined_to(&on_v1), Some(e1.event_id.clone()));
    assert_eq!(get(&plain).join_status, JoinStatus::NoPolicy);
    assert_eq!(get(&unedited).join_status, JoinStatus::NoRecentEdit);
    assert_eq!(get(&late_in_grace).join_status, JoinStatus::Joined);
    assert_eq!(joined_to(&late_in_grace), Some(e3.event_id.clone()));
    assert_eq!(get(&late_beyond).join_status, JoinStatus::Late);
    assert_eq!(get(&late_beyond).policy_change, None);
    assert_eq!(
        get(&on_v2).decision,
        on_v2,
        "the decision travels unchanged"
    );
    assert!(by_event.values().all(|v| v.len() == 1));
}

#[tokio::test(flavor = "multi_thread")]
async fn poison_records_are_dead_lettered_and_the_stream_continues() {
    let registry = registry();
    let p = Pipeline::new(1).await;
    let (_joiner, _) = p.start("it-poison");
    let before = decision(None, Micros::now().0);
    let after = decision(None, Micros::now().0);
    let encoder = registry.encoder::<Decision>(&p.decisions);
    let records = vec![
        (
            before.correlation_id.clone(),
            encoder.encode(&before).await.unwrap(),
        ),
        ("poison".to_owned(), b"{\"not\":\"avro\"}".to_vec()),
        (
            after.correlation_id.clone(),
            encoder.encode(&after).await.unwrap(),
        ),
    ];
    produce(
        &docket_kafka::producer(&settings()).unwrap(),
        &p.decisions,
        &records,
    )
    .await;

    let by_event = decode_all(&registry, Reader::new(&p.enriched).until(2).await).await;
    assert!(by_event.contains_key(&before.event_id) && by_event.contains_key(&after.event_id));
    let mut dlq = Reader::new(&p.dlq);
    let dead = &dlq.until(1).await[0];
    assert_eq!(payload(dead), b"{\"not\":\"avro\"}");
    let header_value = |name: &str| {
        let headers = dead.headers().expect("dead letter has headers");
        let h = headers
            .iter()
            .find(|h| h.key == name)
            .unwrap_or_else(|| panic!("no {name} header"));
        String::from_utf8(h.value.unwrap().to_vec()).unwrap()
    };
    assert_eq!(header_value(header::SOURCE_TOPIC), p.decisions);
    assert_eq!(header_value(header::SOURCE_OFFSET), "1");
    assert!(header_value(header::DLQ_REASON).contains("magic byte"));
}

async fn metric(port: u16, name: &str) -> Option<f64> {
    let body = reqwest::get(format!("http://127.0.0.1:{port}/metrics"))
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    let total = body
        .lines()
        .filter(|l| l.starts_with(name))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    Some(total)
}

#[tokio::test(flavor = "multi_thread")]
async fn two_joiners_share_the_decisions() {
    let registry = registry();
    let p = Pipeline::new(4).await;
    let now = Micros::now().0;
    let e1 = edit("pol-a", 1, now - 5 * SECOND);
    send_audits(&registry, &p.audit, std::slice::from_ref(&e1)).await;
    let (_a, port_a) = p.start("it-share-a");
    let (_b, port_b) = p.start("it-share-b");
    // Both hold partitions (4 of decisions, 2 of pending) before any decision is sent.
    eventually("both joiners assigned", || async move {
        let a = metric(port_a, "docket_joiner_assigned_partitions").await?;
        let b = metric(port_b, "docket_joiner_assigned_partitions").await?;
        (a > 0.0 && b > 0.0 && a + b == 6.0).then_some(())
    })
    .await;
    let decisions: Vec<Decision> = (0..200)
        .map(|_| decision(Some(("pol-a", 1)), now))
        .collect();
    send_decisions(&registry, &p.decisions, &decisions).await;

    let by_event = decode_all(&registry, Reader::new(&p.enriched).until(200).await).await;
    for d in &decisions {
        let got = &by_event[&d.event_id];
        assert_eq!(got.len(), 1, "exactly once");
        assert_eq!(
            got[0].policy_change.as_ref().unwrap().audit_event_id,
            e1.event_id
        );
    }
    let a = metric(port_a, "docket_joiner_records_total").await.unwrap();
    let b = metric(port_b, "docket_joiner_records_total").await.unwrap();
    assert_eq!(a + b, 200.0);
    assert!(a > 0.0 && b > 0.0, "both joiners took part: {a} + {b}");
}

#[tokio::test(flavor = "multi_thread")]
async fn sigkill_mid_stream_still_gives_every_decision_exactly_once() {
    const TOTAL: usize = 6_000;
    let registry = registry();
    let p = Pipeline::new(3).await;
    let now = Micros::now().0;
    let decisions: Vec<Decision> = (0..TOTAL).map(|_| decision(None, now)).collect();
    send_decisions(&registry, &p.decisions, &decisions).await;

    let mut reader = Reader::new(&p.enriched);
    let (mut first, _) = p.start("it-kill");
    reader.until(TOTAL / 5).await;
    first.kill();
    let seen_at_kill = reader.seen.len();
    let (_second, _) = p.start("it-kill");
    reader.until(TOTAL).await;
    let msgs = reader.drain(Duration::from_secs(3)).await;

    let by_event = decode_all(&registry, msgs).await;
    assert!(
        seen_at_kill < TOTAL,
        "the kill landed mid-stream ({seen_at_kill} of {TOTAL})"
    );
    assert_eq!(by_event.len(), TOTAL, "every decision arrived");
    let duplicated = by_event.values().filter(|v| v.len() > 1).count();
    assert_eq!(duplicated, 0, "no decision arrived twice");
}
