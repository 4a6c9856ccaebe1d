//! The joiner against the real broker and registry, run as its own process: joins and join
//! statuses end to end (the grace path judged by state, not by the clock), two instances
//! sharing the decisions, SIGKILL inside an open transaction with deferred decisions in flight
//! (exactly once under `read_committed`, through the S3 sink too), and poison records
//! dead-lettered while the stream goes on.

#[path = "support/sink.rs"]
mod sink;
mod support;
#[path = "support/versions.rs"]
mod versions;

use std::collections::{BTreeSet, HashMap};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use docket_kafka::{ConsumerOptions, header};
use docket_records::{Audit, Decision, EnrichedDecision, JoinStatus, Micros, Registry, samples};
use rdkafka::consumer::{BaseConsumer, Consumer, StreamConsumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{Headers, OwnedMessage};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};
use support::*;

const SECOND: i64 = 1_000_000;
/// A grace no test run outlasts: a deferred decision leaves only when its edit arrives.
const LONG_GRACE: &str = "1h";
const DECISION_PARTITIONS_KILL: i32 = 3;
const ENRICHED_PARTITIONS: i32 = 3;
const PENDING_PARTITIONS: i32 = 2;

/// One pipeline's private topics and group.
struct Pipeline {
    decisions: String,
    audit: String,
    enriched: String,
    pending: String,
    dlq: String,
    group: String,
    id: String,
}

impl Pipeline {
    async fn new(decision_partitions: i32) -> Self {
        Self {
            decisions: unique_topic_with("decisions", decision_partitions).await,
            audit: unique_topic_with("audit", 2).await,
            enriched: unique_topic_with("enriched", ENRICHED_PARTITIONS).await,
            pending: unique_topic_with("pending", PENDING_PARTITIONS).await,
            dlq: unique_topic("dlq").await,
            group: format!("test-joiner-{}", uuid::Uuid::now_v7().simple()),
            id: short_id(),
        }
    }

    /// Starts a joiner process named `instance` with the long grace; its metrics listen on the
    /// returned address.
    fn start(&self, instance: &str) -> (Joiner, SocketAddr) {
        self.start_with(instance, &[])
    }

    /// Starts a joiner process with extra settings (`DOCKET_JOINER_GRACE`, ...).
    fn start_with(&self, instance: &str, extra: &[(&str, &str)]) -> (Joiner, SocketAddr) {
        let port = free_port();
        let child = Command::new(binary("docket-joiner", "docket-joiner"))
            .envs([
                // Transactional ids are global to the cluster: unique per pipeline, so
                // concurrent runs never fence each other's joiners.
                ("DOCKET_JOINER_INSTANCE", format!("{instance}-{}", self.id)),
                ("DOCKET_JOINER_GROUP", self.group.clone()),
                ("DOCKET_JOINER_DECISIONS_TOPIC", self.decisions.clone()),
                ("DOCKET_JOINER_AUDIT_TOPIC", self.audit.clone()),
                ("DOCKET_JOINER_ENRICHED_TOPIC", self.enriched.clone()),
                ("DOCKET_JOINER_PENDING_TOPIC", self.pending.clone()),
                ("DOCKET_JOINER_DLQ_TOPIC", self.dlq.clone()),
                ("DOCKET_JOINER_GRACE", LONG_GRACE.to_owned()),
                ("DOCKET_JOINER_HORIZON", "1h".to_owned()),
                ("DOCKET_JOINER_METRICS_ADDR", format!("127.0.0.1:{port}")),
                ("RUST_LOG", "warn".to_owned()),
            ])
            .envs(extra.iter().copied())
            .stdout(Stdio::null())
            .spawn()
            .expect("joiner starts");
        (Joiner(child), SocketAddr::from(([127, 0, 0, 1], port)))
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
}

/// Every record of `topic` up to its end as it is now (the last stable offset when
/// `committed`, the high-water mark otherwise), across `partitions`; fails on any consumer
/// error and after the deadline, so it can never stop early and look complete.
async fn read_to_end(topic: &str, partitions: i32, committed: bool) -> Vec<OwnedMessage> {
    let isolation = if committed {
        "read_committed"
    } else {
        "read_uncommitted"
    };
    let consumer: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", settings().bootstrap_servers)
        .set("group.id", format!("end-{}", uuid::Uuid::now_v7().simple()))
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "true")
        .set("isolation.level", isolation)
        .create()
        .expect("consumer");
    let mut tpl = TopicPartitionList::new();
    for p in 0..partitions {
        tpl.add_partition_offset(topic, p, Offset::Beginning)
            .expect("partition");
    }
    consumer.assign(&tpl).expect("assign");
    let (mut at_end, mut out) = (BTreeSet::new(), Vec::new());
    let start = std::time::Instant::now();
    while at_end.len() < partitions as usize {
        let left = DEADLINE.saturating_sub(start.elapsed());
        match tokio::time::timeout(left, consumer.recv()).await {
            Ok(Ok(m)) => out.push(m.detach()),
            Ok(Err(KafkaError::PartitionEOF(p))) => {
                at_end.insert(p);
            }
            Ok(Err(e)) => panic!("reading {topic} ({isolation}): {e}"),
            Err(_) => panic!("{topic} not read to its end ({isolation}): {at_end:?} done"),
        }
    }
    out
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
    let (_joiner, port) = p.start("it-join");

    let on_v2 = decision(Some(("pol-a", 2)), now);
    let on_v1 = decision(Some(("pol-a", 1)), now - 15 * SECOND);
    let plain = decision(None, now);
    let unedited = decision(Some(("pol-b", 4)), now);
    let waiting = decision(Some(("pol-a", 3)), now);
    let decisions = [
        on_v2.clone(),
        on_v1.clone(),
        plain.clone(),
        unedited.clone(),
    ];
    send_decisions(&registry, &p.decisions, &decisions).await;
    send_decisions(&registry, &p.decisions, std::slice::from_ref(&waiting)).await;
    // The decision naming version 3 is held (state, not time: the grace outlasts the test)...
    let mut reader = Reader::new(&p.enriched);
    reader.until(4).await;
    eventually(
        "the version-3 decision held in the grace buffer",
        || async move {
            (metric(port, "docket_joiner_grace_buffer_records").await == 1.0).then_some(())
        },
    )
    .await;
    let out = read_to_end(&p.enriched, ENRICHED_PARTITIONS, true).await;
    assert_eq!(out.len(), 4, "only the four joinable decisions left");
    // ...until the edit producing version 3 arrives, after the decision that names it.
    let e3 = edit("pol-a", 3, now - SECOND);
    send_audits(&registry, &p.audit, std::slice::from_ref(&e3)).await;

    let by_event = decode_all(&registry, reader.until(5).await).await;
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
    assert_eq!(get(&waiting).join_status, JoinStatus::Joined);
    assert_eq!(joined_to(&waiting), Some(e3.event_id.clone()));
    assert_eq!(
        get(&on_v2).decision,
        on_v2,
        "the decision travels unchanged"
    );
    let out = read_to_end(&p.enriched, ENRICHED_PARTITIONS, true).await;
    let all = decode_all(&registry, &out).await;
    assert_eq!(out.len(), 5, "nothing else was written");
    assert!(all.values().all(|v| v.len() == 1));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_decision_whose_edit_never_comes_leaves_late_once_its_grace_is_over() {
    let registry = registry();
    let p = Pipeline::new(1).await;
    let now = Micros::now().0;
    send_audits(&registry, &p.audit, &[edit("pol-a", 1, now - SECOND)]).await;
    // A short grace: the record can only leave LATE, however slowly the machine runs.
    let (_joiner, _) = p.start_with("it-late", &[("DOCKET_JOINER_GRACE", "200ms")]);
    let never = decision(Some(("pol-a", 9)), now);
    let joinable = decision(Some(("pol-a", 1)), now);
    send_decisions(&registry, &p.decisions, &[never.clone(), joinable.clone()]).await;

    let by_event = decode_all(&registry, Reader::new(&p.enriched).until(2).await).await;
    let late = &by_event[&never.event_id][0];
    assert_eq!(late.join_status, JoinStatus::Late);
    assert_eq!(late.policy_change, None);
    assert_eq!(
        by_event[&joinable.event_id][0].join_status,
        JoinStatus::Joined
    );
    let out = read_to_end(&p.enriched, ENRICHED_PARTITIONS, true).await;
    assert_eq!(out.len(), 2, "each decision written once");
}

#[tokio::test(flavor = "multi_thread")]
async fn poison_records_are_dead_lettered_and_the_stream_continues() {
    let registry = registry();
    let p = Pipeline::new(1).await;
    let (_joiner, _) = p.start("it-poison");
    let before = decision(None, Micros::now().0);
    let after = decision(None, Micros::now().0);
    let encoder = registry.encoder::<Decision>(&p.decisions);
    // Framed with the decisions' own schema id, its body cut short: read after `before`,
    // once that id is known, so by the key-only reader rather than the full decoding.
    let mut cut = encoder.encode(&after).await.unwrap();
    cut.truncate(cut.len() - 3);
    let records = vec![
        (
            before.correlation_id.clone(),
            encoder.encode(&before).await.unwrap(),
        ),
        ("poison".to_owned(), b"{\"not\":\"avro\"}".to_vec()),
        ("cut".to_owned(), cut.clone()),
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
    let dead = dlq.until(2).await;
    let header_value = |index: usize, name: &str| {
        let headers = dead[index].headers().expect("dead letter has headers");
        let h = headers
            .iter()
            .find(|h| h.key == name)
            .unwrap_or_else(|| panic!("no {name} header"));
        String::from_utf8(h.value.unwrap().to_vec()).unwrap()
    };
    assert_eq!(payload(&dead[0]), b"{\"not\":\"avro\"}");
    assert_eq!(header_value(0, header::SOURCE_TOPIC), p.decisions);
    assert_eq!(header_value(0, header::SOURCE_OFFSET), "1");
    assert!(header_value(0, header::DLQ_REASON).contains("magic byte"));
    assert_eq!(payload(&dead[1]), cut);
    assert_eq!(header_value(1, header::SOURCE_OFFSET), "2");
    let reason = header_value(1, header::DLQ_REASON);
    assert!(reason.contains("does not decode"), "{reason}");
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
        let a = metric(port_a, "docket_joiner_assigned_partitions").await;
        let b = metric(port_b, "docket_joiner_assigned_partitions").await;
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
    let a = metric(port_a, "docket_joiner_records_total").await;
    let b = metric(port_b, "docket_joiner_records_total").await;
    assert_eq!(a + b, 200.0);
    assert!(a > 0.0 && b > 0.0, "both joiners took part: {a} + {b}");
}

/// A member joining while the first one's round is open, its records already handed to the
/// producer (a round that waits 10 s for more): the first aborts that transaction, and the
/// partitions it gives up restart from their committed offsets, so every decision is still
/// enriched exactly once.
#[tokio::test(flavor = "multi_thread")]
async fn a_rebalance_in_the_middle_of_a_round_aborts_it_and_loses_nothing() {
    let registry = registry();
    let p = Pipeline::new(4).await;
    let now = Micros::now().0;
    let e1 = edit("pol-a", 1, now - 5 * SECOND);
    send_audits(&registry, &p.audit, std::slice::from_ref(&e1)).await;
    let slow = [("DOCKET_JOINER_BATCH_WAIT", "10s")];
    let (_a, port_a) = p.start_with("it-mid-a", &slow);
    eventually("the first joiner assigned", || async move {
        let a = metric(port_a, "docket_joiner_assigned_partitions").await;
        (a == 6.0).then_some(())
    })
    .await;
    let decisions: Vec<Decision> = (0..100)
        .map(|_| decision(Some(("pol-a", 1)), now))
        .collect();
    let (before, after) = decisions.split_at(50);
    send_decisions(&registry, &p.decisions, before).await;
    eventually("the first round under way", || async move {
        let joined = metric(port_a, "docket_joiner_records_total").await;
        (joined == 50.0).then_some(())
    })
    .await;
    let (_b, port_b) = p.start_with("it-mid-b", &slow);
    eventually("the round aborted by the rebalance", || async move {
        let aborted = metric(port_a, "docket_joiner_aborted_transactions_total").await;
        (aborted >= 1.0).then_some(())
    })
    .await;
    send_decisions(&registry, &p.decisions, after).await;

    let by_event = decode_all(&registry, Reader::new(&p.enriched).until(100).await).await;
    for d in &decisions {
        let copies = by_event.get(&d.event_id).map_or(0, Vec::len);
        assert_eq!(copies, 1, "exactly once: {}", d.event_id);
    }
    let b = metric(port_b, "docket_joiner_records_total").await;
    assert!(b > 0.0, "the second joiner took part");
}

/// Reads the joiner group's committed offsets on the decisions topic, with one client.
struct GroupWatch {
    consumer: BaseConsumer,
    partitions: TopicPartitionList,
}

impl GroupWatch {
    fn new(p: &Pipeline) -> Self {
        let consumer = ClientConfig::new()
            .set("bootstrap.servers", settings().bootstrap_servers)
            .set("group.id", &p.group)
            .create()
            .expect("consumer");
        let mut partitions = TopicPartitionList::new();
        for partition in 0..DECISION_PARTITIONS_KILL {
            partitions.add_partition(&p.decisions, partition);
        }
        Self {
            consumer,
            partitions,
        }
    }

    /// Sum of the committed offsets (0 where nothing is committed); `None` when the broker
    /// does not answer in time (callers poll with a deadline).
    fn committed(&self) -> Option<i64> {
        let tpl = self.partitions.clone();
        let got = match self.consumer.committed_offsets(tpl, Duration::from_secs(5)) {
            Ok(got) => got,
            Err(e) => {
                eprintln!("committed offsets not read yet: {e}");
                return None;
            }
        };
        let offsets = got.elements().into_iter().map(|e| e.offset());
        Some(offsets.filter_map(|o| o.to_raw().filter(|o| *o >= 0)).sum())
    }

    /// Polls [`Self::committed`] until it answers and `accept` takes the sum.
    async fn await_committed(&self, what: &str, accept: impl Fn(i64) -> bool) -> i64 {
        wait_for(what, DEADLINE * 3, || async {
            self.committed().filter(|c| accept(*c))
        })
        .await
    }
}

/// Records on the enriched and pending topics, with or without `read_committed`.
async fn output_count(p: &Pipeline, committed: bool) -> usize {
    let enriched = read_to_end(&p.enriched, ENRICHED_PARTITIONS, committed).await;
    let pending = read_to_end(&p.pending, PENDING_PARTITIONS, committed).await;
    enriched.len() + pending.len()
}

/// A read_uncommitted tail of the joiner's output: a record arriving there was written inside
/// a transaction that is still open (its commit takes several broker round trips more).
fn output_tail(p: &Pipeline) -> StreamConsumer {
    let consumer: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", settings().bootstrap_servers)
        .set(
            "group.id",
            format!("tail-{}", uuid::Uuid::now_v7().simple()),
        )
        .set("enable.auto.commit", "false")
        .set("isolation.level", "read_uncommitted")
        .set("fetch.wait.max.ms", "5")
        .create()
        .expect("consumer");
    let mut tpl = TopicPartitionList::new();
    for (topic, partitions) in [
        (&p.enriched, ENRICHED_PARTITIONS),
        (&p.pending, PENDING_PARTITIONS),
    ] {
        for partition in 0..partitions {
            tpl.add_partition_offset(topic, partition, Offset::End)
                .expect("partition");
        }
    }
    consumer.assign(&tpl).expect("assign");
    consumer
}

/// Kills `joiner` right after the output tail sees a fresh record, once the group has
/// committed past `progress`; returns the committed sum after the kill.
async fn kill_inside_a_transaction(
    group: &GroupWatch,
    tail: &StreamConsumer,
    joiner: &mut Joiner,
    progress: i64,
) -> i64 {
    // Longer than the usual deadline: it includes the joiner's start on a loaded machine.
    group
        .await_committed("the joiner to commit progress", |c| c > progress)
        .await;
    while let Ok(Ok(_)) = tokio::time::timeout(Duration::ZERO, tail.recv()).await {}
    let fresh = tokio::time::timeout(DEADLINE, tail.recv()).await;
    joiner.kill();
    fresh.expect("output flowing").expect("tail reads");
    group
        .await_committed("the offsets at the kill", |_| true)
        .await
}

#[tokio::test(flavor = "multi_thread")]
async fn sigkill_inside_a_transaction_with_deferred_decisions_still_gives_exactly_once() {
    const TOTAL: usize = 9_000;
    const KILLS: usize = 3;
    let registry = registry();
    let p = Pipeline::new(DECISION_PARTITIONS_KILL).await;
    let now = Micros::now().0;
    let e1 = edit("pol-a", 1, now - 5 * SECOND);
    send_audits(&registry, &p.audit, std::slice::from_ref(&e1)).await;
    // Every third decision names version 2, whose edit comes only after the kills: those
    // cross the kills on the pending topic.
    let decisions: Vec<Decision> = (0..TOTAL)
        .map(|i| decision(Some(("pol-a", 1 + i64::from(i % 3 == 0))), now))
        .collect();
    send_decisions(&registry, &p.decisions, &decisions).await;

    // Small transactions, so the stream is many of them; kill until one died open.
    let small = [("DOCKET_JOINER_BATCH_MAX", "100")];
    let (tail, group) = (output_tail(&p), GroupWatch::new(&p));
    let mut committed = 0;
    for kill in 1..=KILLS {
        let (mut joiner, _) = p.start_with("it-kill", &small);
        committed = kill_inside_a_transaction(&group, &tail, &mut joiner, committed).await;
        assert!(
            committed < TOTAL as i64,
            "kill {kill} came after the joiner committed everything"
        );
        let (written, kept) = (output_count(&p, false).await, output_count(&p, true).await);
        eprintln!(
            "kill {kill}: {committed} of {TOTAL} committed, {written} written, {kept} committed"
        );
        if written > kept {
            break;
        }
    }
    // The same instance name: the restart fences the killed joiner and aborts what it left.
    let (_last, _) = p.start("it-kill");
    let e2 = edit("pol-a", 2, now - SECOND);
    send_audits(&registry, &p.audit, std::slice::from_ref(&e2)).await;
    let mut reader = Reader::new(&p.enriched);
    reader.until(TOTAL).await;

    let uncommitted = output_count(&p, false).await;
    let committed_out = output_count(&p, true).await;
    assert!(
        uncommitted > committed_out,
        "no kill left an aborted transaction ({uncommitted} written, {committed_out} committed)"
    );
    let out = read_to_end(&p.enriched, ENRICHED_PARTITIONS, true).await;
    let by_event = decode_all(&registry, &out).await;
    assert_eq!(by_event.len(), TOTAL, "every decision arrived");
    let duplicated = by_event.values().filter(|v| v.len() > 1).count();
    assert_eq!(duplicated, 0, "no decision arrived twice");
    for d in decisions
        .iter()
        .filter(|d| d.policy.as_ref().unwrap().version == 2)
    {
        let change = by_event[&d.event_id][0].policy_change.as_ref();
        assert_eq!(change.map(|c| &c.audit_event_id), Some(&e2.event_id));
    }
    s3_sink_exports_each_once(&p, &decisions).await;
}

/// The S3 sink reading the joiner's output (aborted transactions included in the log) exports
/// every decision exactly once: its `read_committed` skips the aborted records.
async fn s3_sink_exports_each_once(p: &Pipeline, decisions: &[Decision]) {
    let s3 = sink::s3_client().await;
    let bucket = sink::unique_bucket(&s3).await;
    let (audit, dlq) = (
        unique_topic("kill-audit").await,
        unique_topic("kill-dlq").await,
    );
    let group = format!("test-kill-sink-{}", uuid::Uuid::now_v7().simple());
    let env = sink::SinkEnv::new(&bucket, &group, &p.enriched, &audit, &dlq)
        .with("DOCKET_SINK_BATCH_MAX_RECORDS", "1000");
    let mut sink = env.spawn();
    let expected: BTreeSet<String> = decisions.iter().map(|d| d.event_id.clone()).collect();
    wait_for("every decision in S3", DEADLINE * 3, || async {
        let counts = sink::event_counts(&sink::objects(&s3, &bucket).await);
        expected
            .iter()
            .all(|id| counts.contains_key(id))
            .then_some(())
    })
    .await;
    assert!(sink.terminate().await.success(), "{}", sink.log());
    let counts = sink::event_counts(&sink::objects(&s3, &bucket).await);
    let twice = counts.values().filter(|n| **n > 1).count();
    assert_eq!(twice, 0, "records exported more than once");
    assert_eq!(
        counts.len(),
        expected.len(),
        "records exported that were never decided"
    );
}

/// The joiner copies a decision's bytes into its enriched record only when they were written
/// with the decision schema the enriched schema embeds: a decision written with a newer
/// version is decoded and encoded again, and leaves with the fields both versions share.
#[tokio::test(flavor = "multi_thread")]
async fn a_decision_in_a_newer_schema_is_encoded_again_not_copied() {
    let registry = registry();
    let p = Pipeline::new(1).await;
    let (_joiner, _port) = p.start("it-newer-schema");
    let now = Micros::now().0;
    let (current, newer) = (decision(None, now), decision(None, now));
    let current_bytes = registry
        .encoder::<Decision>(&p.decisions)
        .encode(&current)
        .await
        .unwrap();
    let newer_bytes = registry
        .encoder_with_schema::<Decision>(&p.decisions, &versions::V2)
        .encode_value(&versions::v2_value(&newer, 0.5))
        .await
        .unwrap();
    let records = [
        (current.correlation_id.clone(), current_bytes),
        (newer.correlation_id.clone(), newer_bytes),
    ];
    produce(
        &docket_kafka::producer(&settings()).unwrap(),
        &p.decisions,
        &records,
    )
    .await;
    let mut reader = Reader::new(&p.enriched);
    let by_event = decode_all(&registry, reader.until(2).await).await;
    for d in [&current, &newer] {
        let enriched = &by_event[&d.event_id];
        assert_eq!(enriched.len(), 1);
        assert_eq!(&enriched[0].decision, d, "the decision travels unchanged");
        assert_eq!(enriched[0].join_status, JoinStatus::NoPolicy);
    }
}
