//! The gateway's publishing when Kafka goes away: records spooled on disk while a broker
//! (the test's own) is stopped mid-traffic and all delivered once it returns, each once;
//! records spooled at a SIGKILL delivered after the restart; a full spool answering 503
//! (fail_closed) or dropping and counting (fail_open).

#[path = "support/gateway.rs"]
mod gateway;
mod support;

use std::collections::{BTreeSet, HashSet};
use std::time::Duration;

use gateway::*;
use serde_json::json;
use support::*;

/// How long a record may wait for Kafka before it is spooled.
const DELIVERY_TIMEOUT_MS: &str = "1500";
/// Quiet period after the expected records, to see that no duplicate follows.
const QUIET: Duration = Duration::from_secs(3);

async fn send(gw: &Gateway, n: usize, sent: &mut Vec<String>) {
    for i in 0..n {
        let a = gw
            .chat(
                Some(KEY_SECRET),
                &ask("echo-small", &format!("message {i}")),
            )
            .await;
        assert_eq!(a.status, 200, "{}", a.body);
        sent.push(a.correlation_id);
    }
}

async fn spool_records(gw: &Gateway, at_least: f64) -> f64 {
    eventually("records in the spool", || async {
        gw.metric("docket_gateway_spool_records")
            .await
            .filter(|n| *n >= at_least)
    })
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn kafka_outage_and_sigkill_lose_and_duplicate_nothing() {
    let kafka = PrivateKafka::start_new();
    let decisions = kafka.topic("gw-decisions").await;
    let audit = kafka.topic("gw-audit").await;
    let mut f = Fixture::with_topics(json!([]), decisions.clone(), audit);
    f.set_env("DOCKET_KAFKA_BOOTSTRAP", &kafka.bootstrap());
    f.set_env("DOCKET_GATEWAY_DELIVERY_TIMEOUT_MS", DELIVERY_TIMEOUT_MS);
    let mut gw = f.start().await;
    let mut sent = Vec::new();

    // Kafka stopped mid-traffic, then started again.
    send(&gw, 20, &mut sent).await;
    kafka.stop();
    send(&gw, 30, &mut sent).await;
    spool_records(&gw, 30.0).await;
    kafka.start();
    send(&gw, 10, &mut sent).await;
    eventually("the spool to drain", || async {
        gw.metric("docket_gateway_spool_records")
            .await
            .filter(|n| *n == 0.0)
    })
    .await;

    // Killed while the spool holds records; they arrive after the restart.
    kafka.stop();
    send(&gw, 15, &mut sent).await;
    spool_records(&gw, 15.0).await;
    gw.kill();
    kafka.start();
    let gw = f.start().await;
    send(&gw, 5, &mut sent).await;

    let got = kafka.decisions(&decisions, sent.len(), QUIET).await;
    let ids: HashSet<_> = got.iter().map(|d| d.event_id.clone()).collect();
    assert_eq!(ids.len(), got.len(), "every event_id arrives once");
    let correlation: BTreeSet<_> = got.iter().map(|d| d.correlation_id.clone()).collect();
    assert_eq!(
        correlation,
        sent.iter().cloned().collect::<BTreeSet<_>>(),
        "every decision arrives"
    );
    assert_eq!(got.len(), sent.len());
    eventually("the spool to drain after the restart", || async {
        gw.metric("docket_gateway_spool_records")
            .await
            .filter(|n| *n == 0.0)
    })
    .await;
}

/// A gateway whose Kafka is unreachable and whose spool holds only a few records.
async fn unreachable_kafka(mode: &str) -> (Fixture, Gateway) {
    let mut f = Fixture::with_topics(
        json!([]),
        "t.gw-unused".to_owned(),
        "t.gw-unused-audit".to_owned(),
    );
    f.set_env(
        "DOCKET_KAFKA_BOOTSTRAP",
        &format!("127.0.0.1:{}", free_port()),
    );
    f.set_env("DOCKET_GATEWAY_DELIVERY_TIMEOUT_MS", "300");
    f.set_env("DOCKET_GATEWAY_SPOOL_MAX_BYTES", "4000");
    f.set_env("DOCKET_GATEWAY_ON_SPOOL_FULL", mode);
    let gw = f.start().await;
    (f, gw)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_full_spool_fails_closed_by_default() {
    let (_f, gw) = unreachable_kafka("fail_closed").await;
    let refused = eventually("a 503 once the spool is full", || async {
        let a = gw.chat(Some(KEY_SECRET), &ask("echo-small", "hi")).await;
        (a.status == 503).then_some(a)
    })
    .await;
    assert_eq!(refused.body["error"]["type"], "service_unavailable");
    let ready = gw
        .client
        .get(format!("{}/readyz", gw.base))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 503);
    assert!(gw.metric("docket_gateway_spool_bytes").await.unwrap() > 3000.0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_full_spool_fails_open_when_told_and_counts_drops() {
    let (_f, gw) = unreachable_kafka("fail_open").await;
    eventually("dropped records counted", || async {
        let a = gw.chat(Some(KEY_SECRET), &ask("echo-small", "hi")).await;
        assert_eq!(a.status, 200, "fail_open keeps serving");
        gw.metric("docket_gateway_records_dropped_total")
            .await
            .filter(|n| *n > 0.0)
    })
    .await;
    let ready = gw
        .client
        .get(format!("{}/readyz", gw.base))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 200);
}
