//! The gateway's kill windows: SIGKILL right after answers were sent (their records only in
//! the write-ahead log, not yet acknowledged), and SIGKILL while the log drains after a Kafka
//! outage, with audit records in the log too. After the restarts every answered request's
//! decision and every answered admin edit's audit record are in Kafka, none twice by
//! `event_id`.

#[path = "support/gateway.rs"]
mod gateway;
mod support;

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use docket_kafka::{ConsumerOptions, KafkaSettings};
use docket_records::{Audit, Decision};
use gateway::*;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::OwnedMessage;
use rdkafka::{Message, Offset, TopicPartitionList};
use serde_json::json;
use support::*;

/// Concurrent callers.
const CALLERS: usize = 8;
/// Kills right after answers.
const KILLS: usize = 5;
/// Answers per life of the gateway before the kill.
const ANSWERS_PER_LIFE: usize = 120;

/// What was answered: correlation ids of chat answers, request ids of admin edits.
#[derive(Default)]
struct Answered {
    chats: BTreeSet<String>,
    edits: BTreeSet<String>,
}

/// Sends chat requests from [`CALLERS`] tasks (every tenth an admin edit) until `answers`
/// were answered, and returns at once, with requests still in flight.
async fn traffic(gw: &Gateway, answers: usize, life: usize) -> Answered {
    let count = Arc::new(AtomicUsize::new(0));
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let mut tasks = Vec::new();
    for caller in 0..CALLERS {
        let (base, count, tx) = (gw.base.clone(), Arc::clone(&count), tx.clone());
        let client = gw.client.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0.. {
                let answer = if i % 10 == 9 {
                    let id = format!("p-{life}-{caller}-{i}");
                    let policy = json!({"id": id, "name": id, "kind": "guardrail",
                                        "spec": {"keywords": [id]}});
                    let req = client
                        .post(format!("{base}/admin/v1/policies"))
                        .bearer_auth(SUPER_TOKEN)
                        .json(&policy);
                    match answered_with(req, "x-request-id").await {
                        Some(id) => (false, id),
                        None => return,
                    }
                } else {
                    let req = client
                        .post(format!("{base}/v1/chat/completions"))
                        .bearer_auth(KEY_SECRET)
                        .json(&ask("echo-small", &format!("hi {i}")));
                    match answered_with(req, "x-correlation-id").await {
                        Some(id) => (true, id),
                        None => return,
                    }
                };
                if tx.send(answer).is_err() {
                    return;
                }
                count.fetch_add(1, Ordering::SeqCst);
            }
        }));
    }
    drop(tx);
    let mut got = Answered::default();
    while got.chats.len() + got.edits.len() < answers {
        match rx.recv().await {
            Some((true, id)) => got.chats.insert(id),
            Some((false, id)) => got.edits.insert(id),
            None => break,
        };
    }
    for t in &tasks {
        t.abort();
    }
    // Answers that arrived while the last one was counted are answered too.
    while let Ok((chat, id)) = rx.try_recv() {
        if chat {
            got.chats.insert(id);
        } else {
            got.edits.insert(id);
        }
    }
    got
}

/// The header `name` of a successful answer to `req`; `None` when it failed or was refused
/// (the gateway was killed under it).
async fn answered_with(req: reqwest::RequestBuilder, name: &str) -> Option<String> {
    let r = req.send().await.ok()?;
    if !r.status().is_success() {
        return None;
    }
    let id = r.headers().get(name)?.to_str().ok()?.to_owned();
    // Answered means the whole answer arrived.
    r.bytes().await.ok()?;
    Some(id)
}

/// Every message of partition 0 of `topic` up to its current end.
async fn read_to_end(settings: &KafkaSettings, topic: &str) -> Vec<OwnedMessage> {
    let options = ConsumerOptions {
        group_id: format!("test-{}", short_id()),
        read_committed: false,
    };
    let consumer: StreamConsumer = docket_kafka::consumer(settings, &options).expect("consumer");
    let (_, end) = consumer
        .fetch_watermarks(topic, 0, DEADLINE)
        .expect("watermarks");
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, 0, Offset::Beginning)
        .unwrap();
    consumer.assign(&tpl).unwrap();
    let mut out = Vec::new();
    while out
        .last()
        .is_none_or(|m: &OwnedMessage| m.offset() + 1 < end)
        && end > 0
    {
        let m = tokio::time::timeout(DEADLINE, consumer.recv())
            .await
            .expect("the topic is read to its end")
            .expect("consumer error");
        out.push(m.detach());
    }
    out
}

/// Decodes every record of both topics and checks: each answered chat has a decision, each
/// answered edit an audit record, and no `event_id` appears twice.
async fn check_everything_arrived_once(settings: &KafkaSettings, f: &Fixture, answered: &Answered) {
    let registry = docket_records::Registry::new(&docket_records::RegistryConfig::new(
        settings.schema_registry_url.clone(),
    ))
    .unwrap();
    let (dec, aud) = (registry.decoder::<Decision>(), registry.decoder::<Audit>());
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut correlation = BTreeSet::new();
    for m in read_to_end(settings, &f.decisions).await {
        let d = dec.decode(payload(&m)).await.unwrap();
        *seen.entry(d.event_id).or_default() += 1;
        correlation.insert(d.correlation_id);
    }
    let mut requests = BTreeSet::new();
    for m in read_to_end(settings, &f.audit).await {
        let a = aud.decode(payload(&m)).await.unwrap();
        *seen.entry(a.event_id).or_default() += 1;
        requests.insert(a.request_id);
    }
    let twice: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "records arrived twice: {twice:?}");
    let lost: Vec<_> = answered.chats.difference(&correlation).collect();
    assert!(lost.is_empty(), "answered without a decision: {lost:?}");
    let lost: Vec<_> = answered.edits.difference(&requests).collect();
    assert!(
        lost.is_empty(),
        "edits answered without an audit record: {lost:?}"
    );
}

async fn drained(gw: &Gateway) {
    eventually("the log to be acknowledged", || async {
        gw.metric("docket_gateway_spool_records")
            .await
            .filter(|n| *n == 0.0)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn sigkill_right_after_answers_loses_and_duplicates_nothing() {
    let f = Fixture::new(json!([])).await;
    let mut answered = Answered::default();
    for life in 0..KILLS {
        let mut gw = f.start().await;
        let got = traffic(&gw, ANSWERS_PER_LIFE, life).await;
        gw.kill();
        answered.chats.extend(got.chats);
        answered.edits.extend(got.edits);
    }
    assert!(
        answered.edits.len() >= KILLS,
        "admin edits were answered too"
    );
    let gw = f.start().await;
    drained(&gw).await;
    check_everything_arrived_once(&settings(), &f, &answered).await;
}

/// Records held in the log files of a stopped gateway beyond the saved cursor.
fn logged_beyond_cursor(f: &Fixture) -> usize {
    let dir = f.dir.join("state").join("spool");
    let cursor: serde_json::Value = std::fs::read(dir.join("cursor.json"))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or(json!({"segment": 0, "offset": 0}));
    let (seg, off) = (
        cursor["segment"].as_u64().unwrap(),
        cursor["offset"].as_u64().unwrap(),
    );
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let Some(id) = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix(".seg"))
            .and_then(|n| n.parse::<u64>().ok())
        else {
            continue;
        };
        let bytes = std::fs::read(&path).unwrap();
        let from = if id == seg { off as usize } else { 0 };
        if id >= seg {
            n += bytes[from.min(bytes.len())..]
                .iter()
                .filter(|b| **b == b'\n')
                .count();
        }
    }
    n
}

/// A gateway fixture publishing to fresh topics on `kafka`, with a 1.5 s delivery timeout.
async fn on_private_kafka(kafka: &PrivateKafka) -> Fixture {
    let decisions = kafka.topic("gw-decisions").await;
    let audit = kafka.topic("gw-audit").await;
    let mut f = Fixture::with_topics(json!([]), decisions, audit);
    f.set_env("DOCKET_KAFKA_BOOTSTRAP", &kafka.bootstrap());
    f.set_env("DOCKET_GATEWAY_DELIVERY_TIMEOUT_MS", "1500");
    f
}

#[tokio::test(flavor = "multi_thread")]
async fn sigkill_during_a_drain_loses_and_duplicates_nothing() {
    let kafka = PrivateKafka::start_new();
    let f = on_private_kafka(&kafka).await;
    let mut gw = f.start().await;
    let mut answered = traffic(&gw, 50, 0).await;

    // Kafka away: records, audit ones included, wait in the log.
    kafka.stop();
    let got = traffic(&gw, 2_500, 1).await;
    answered.chats.extend(got.chats);
    answered.edits.extend(got.edits);
    kafka.start();

    // Killed as soon as the drain has delivered something, while the log still holds more.
    let published = gw
        .metric("docket_gateway_records_published_total")
        .await
        .unwrap_or(0.0);
    let deadline = std::time::Instant::now() + DEADLINE;
    // Polled without pause: the drain takes a few round trips to Kafka.
    while gw
        .metric("docket_gateway_records_published_total")
        .await
        .is_none_or(|n| n <= published)
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the drain never started"
        );
    }
    gw.kill();
    let left = logged_beyond_cursor(&f);
    assert!(left > 0, "the kill came before the drain finished");

    let gw = f.start().await;
    let more = traffic(&gw, 30, 2).await;
    answered.chats.extend(more.chats);
    answered.edits.extend(more.edits);
    drained(&gw).await;
    let mut settings = settings();
    settings.bootstrap_servers = kafka.bootstrap();
    check_everything_arrived_once(&settings, &f, &answered).await;
}

/// Kafka writes what the gateway sends but its answers are lost on the way back, longer than
/// the delivery timeout, so the deliveries fail. The gateway must find those records in Kafka
/// rather than send them again.
#[tokio::test(flavor = "multi_thread")]
async fn records_kafka_wrote_without_a_word_back_are_not_sent_again() {
    let kafka = PrivateKafka::start_behind_proxy();
    let f = on_private_kafka(&kafka).await;
    let gw = f.start().await;
    let mut answered = traffic(&gw, 50, 0).await;
    drained(&gw).await;

    kafka.proxy().hold_answers(true);
    let got = traffic(&gw, 200, 1).await;
    answered.chats.extend(got.chats);
    answered.edits.extend(got.edits);
    // Released once every delivery sent has failed: the read-back starts only when none is
    // pending, so nothing of the burst is left to librdkafka's own retries or in flight.
    eventually(
        "the deliveries to fail and the read-back to start",
        || async {
            f.log()
                .contains("looking for their records in Kafka")
                .then_some(())
        },
    )
    .await;
    let failed = gw.metric("docket_gateway_delivery_failures_total").await;
    assert!(
        failed.is_some_and(|n| n > 0.0),
        "deliveries failed: {failed:?}"
    );
    kafka.proxy().hold_answers(false);

    drained(&gw).await;
    let mut settings = settings();
    settings.bootstrap_servers = kafka.bootstrap();
    check_everything_arrived_once(&settings, &f, &answered).await;
}
