//! The gateway's HTTP layer against hostile and careless clients, run as its own process: a
//! silent, slow or idle connection is closed by its clock, a slow body gets 408, the
//! connection cap holds further clients back; protocol edges (no `Host`, unknown methods,
//! `HEAD`, the bearer scheme's case, a caller's own request id); requests of the wrong shape
//! refused with 400 and no decision; content parts echoed; a future-version `traceparent`
//! honoured and forwarded upstream; and SIGTERM with requests in flight: each is answered
//! and each answered request's decisions are in Kafka.

#[path = "support/gateway.rs"]
mod gateway;
mod support;

use std::time::Duration;

use docket_records::Stage;
use gateway::*;
use reqwest::Method;
use serde_json::{Value, json};
use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const CODENAME: &str = "PRJ-4242";

fn policies() -> Value {
    json!([
        {"id": "codenames", "name": "Mask codenames in answers", "kind": "redaction",
         "stages": ["response"],
         "spec": {"entities": [], "custom": [{"name": "codename", "pattern": "PRJ-\\d{4}"}]}}
    ])
}

async fn connect(gw: &Gateway) -> TcpStream {
    TcpStream::connect(gw.base.trim_start_matches("http://"))
        .await
        .unwrap()
}

/// Reads until the gateway closes the connection (failing after [`DEADLINE`]).
async fn closed_by_gateway(stream: &mut TcpStream) -> String {
    let mut out = Vec::new();
    tokio::time::timeout(DEADLINE, stream.read_to_end(&mut out))
        .await
        .expect("the gateway closes the connection")
        .ok();
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn slow_silent_and_idle_connections_are_closed() {
    let mut f = Fixture::new(policies()).await;
    f.set_env("DOCKET_GATEWAY_HEADER_READ_TIMEOUT", "300ms");
    f.set_env("DOCKET_GATEWAY_IDLE_TIMEOUT", "500ms");
    f.set_env("DOCKET_GATEWAY_BODY_READ_TIMEOUT", "500ms");
    let gw = f.start().await;

    let mut silent = connect(&gw).await;
    let mut half_head = connect(&gw).await;
    half_head
        .write_all(b"POST /v1/chat/completions HTTP/1.1\r\nHost: gw\r\nContent-Type: appl")
        .await
        .unwrap();
    assert_eq!(closed_by_gateway(&mut silent).await, "");
    assert_eq!(closed_by_gateway(&mut half_head).await, "");

    let mut idle = connect(&gw).await;
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: gw\r\n\r\n")
        .await
        .unwrap();
    let answer = closed_by_gateway(&mut idle).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");

    let mut slow_body = connect(&gw).await;
    let head = format!(
        "POST /v1/chat/completions HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer {KEY_SECRET}\r\n\
         Content-Length: 100\r\n\r\n{{\"model\":"
    );
    slow_body.write_all(head.as_bytes()).await.unwrap();
    let answer = closed_by_gateway(&mut slow_body).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("request_timeout"), "{answer}");

    for reason in ["header_timeout", "idle_timeout"] {
        let label = format!("reason=\"{reason}\"");
        let n = gw
            .metric_with("docket_gateway_connections_closed_total", &label)
            .await;
        assert!(n.unwrap_or(0.0) >= 1.0, "{reason} counted: {n:?}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_connection_cap_holds_further_clients_back() {
    let mut f = Fixture::new(policies()).await;
    f.set_env("DOCKET_GATEWAY_MAX_CONNECTIONS", "2");
    f.set_env("DOCKET_GATEWAY_HEADER_READ_TIMEOUT", "60s");
    let gw = f.start().await;
    // The start-up probe's connection may hold a third slot in the client's pool: either
    // way the third connection below waits until the holders close.
    let holders = [connect(&gw).await, connect(&gw).await];
    let mut third = connect(&gw).await;
    third
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: gw\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut first = [0u8; 1];
    let early = tokio::time::timeout(Duration::from_millis(500), third.read(&mut first)).await;
    assert!(
        early.is_err(),
        "a third connection is served while two are open"
    );
    drop(holders);
    let answer = closed_by_gateway(&mut third).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

#[tokio::test(flavor = "multi_thread")]
async fn protocol_edges_get_clear_answers() {
    let f = Fixture::new(policies()).await;
    let gw = f.start().await;

    let no_host = gw
        .raw(b"GET /healthz HTTP/1.1\r\nConnection: close\r\n\r\n")
        .await;
    assert!(no_host.starts_with("HTTP/1.1 400"), "{no_host}");
    assert!(no_host.contains("invalid_request_error"), "{no_host}");
    assert!(no_host.contains("x-request-id: "), "{no_host}");
    let http10 = gw.raw(b"GET /healthz HTTP/1.0\r\n\r\n").await;
    assert!(http10.starts_with("HTTP/1.0 200"), "{http10}");

    let patch = gw
        .client
        .request(Method::PATCH, format!("{}/v1/chat/completions", gw.base))
        .send()
        .await
        .unwrap();
    assert_eq!(patch.status(), 405);
    assert_eq!(patch.headers()["allow"], "POST");
    assert!(patch.headers().contains_key("x-correlation-id"));
    let body: Value = patch.json().await.unwrap();
    assert_eq!(body["error"]["type"], "method_not_allowed");
    let delete = gw
        .client
        .delete(format!("{}/healthz", gw.base))
        .send()
        .await
        .unwrap();
    assert_eq!(delete.status(), 405);
    assert_eq!(delete.headers()["allow"], "GET,HEAD");

    for probe in ["/healthz", "/readyz", "/metrics"] {
        let head = gw
            .client
            .head(format!("{}{probe}", gw.base))
            .send()
            .await
            .unwrap();
        assert_eq!(head.status(), 200, "HEAD {probe}");
        assert_eq!(
            head.bytes().await.unwrap().len(),
            0,
            "HEAD {probe} has no body"
        );
    }
    let metrics = gw
        .client
        .get(format!("{}/metrics", gw.base))
        .send()
        .await
        .unwrap();
    assert!(
        metrics.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain; version=0.0.4")
    );
    let page = metrics.text().await.unwrap();
    assert!(
        page.contains("process_start_time_seconds"),
        "the shared page's process metrics"
    );

    let lower = gw
        .client
        .post(format!("{}/v1/chat/completions", gw.base))
        .header("authorization", format!("bearer {KEY_SECRET}"))
        .header("x-request-id", "chosen-by-the-caller")
        .json(&ask("echo-small", "hi"))
        .send()
        .await
        .unwrap();
    assert_eq!(lower.status(), 200, "the bearer scheme is case-insensitive");
    let request_id = lower.headers()["x-request-id"].to_str().unwrap();
    assert_ne!(request_id, "chosen-by-the-caller");
    assert_eq!(request_id.len(), 36, "{request_id}");

    for (size, status) in [(60_000, "401"), (1_000_000, "431")] {
        let huge = format!(
            "GET /admin/v1/keys HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer {}\r\n\
             Connection: close\r\n\r\n",
            "k".repeat(size)
        );
        let answer = gw.raw(huge.as_bytes()).await;
        assert!(
            answer.starts_with(&format!("HTTP/1.1 {status}")),
            "{size}: {answer:.80}"
        );
    }
    let non_ascii = "GET /admin/v1/keys HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer ключ\r\n\
                     Connection: close\r\n\r\n";
    let answer = gw.raw(non_ascii.as_bytes()).await;
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer:.80}");
    let nowhere = gw
        .client
        .get(format!("{}/v2/nothing", gw.base))
        .send()
        .await
        .unwrap();
    assert_eq!(nowhere.status(), 404);
    assert!(!f.log().contains('\u{1b}'), "no colour codes in a log file");
}

#[tokio::test(flavor = "multi_thread")]
async fn requests_of_the_wrong_shape_get_400_and_no_decision() {
    let f = Fixture::new(policies()).await;
    let gw = f.start().await;
    let msg = |m: Value| json!({"model": "echo-small", "messages": [m]});
    let with = |field: &str, v: Value| {
        let mut b = ask("echo-small", "hi");
        b[field] = v;
        b
    };
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("content number", msg(json!({"role": "user", "content": 5}))),
        (
            "content object",
            msg(json!({"role": "user", "content": {"text": "hi"}})),
        ),
        (
            "content null",
            msg(json!({"role": "user", "content": null})),
        ),
        (
            "unknown role",
            msg(json!({"role": "root", "content": "hi"})),
        ),
        (
            "role with an override",
            msg(json!({"role": "user\u{202e}", "content": "hi"})),
        ),
        (
            "messages of numbers",
            json!({"model": "echo-small", "messages": [1, 2, 3]}),
        ),
        ("max_tokens text", with("max_tokens", json!("x"))),
        ("max_tokens negative", with("max_tokens", json!(-1))),
        ("stream text", with("stream", json!("yes"))),
        (
            "model number",
            json!({"model": 7, "messages": [{"role": "user", "content": "hi"}]}),
        ),
        ("body array", json!([ask("echo-small", "hi")])),
    ]
    .into_iter()
    .map(|(what, v)| (what, serde_json::to_vec(&v).unwrap()))
    .chain([
        (
            "deep nesting",
            format!("{}{}", "[".repeat(2000), "]".repeat(2000)).into_bytes(),
        ),
        ("not UTF-8", b"{\"model\": \"\xff\xfe\"}".to_vec()),
        ("empty", Vec::new()),
    ])
    .collect();
    for (what, body) in cases {
        let a = gw.chat_raw(Some(KEY_SECRET), body, &[]).await;
        assert_eq!(a.status, 400, "{what}: {}", a.body);
        assert_eq!(a.body["error"]["type"], "invalid_request_error", "{what}");
    }
    let parts = msg(json!({"role": "user", "content": [
        {"type": "text", "text": "look at"},
        {"type": "image_url", "image_url": {"url": "data:,"}},
        {"type": "text", "text": "this"}]}));
    let a = gw.chat(Some(KEY_SECRET), &parts).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(
        a.body["choices"][0]["message"]["content"],
        "echo: look at this"
    );
    let (first, _) = &decisions(&f.decisions, 1).await[0];
    assert_eq!(
        first.correlation_id, a.correlation_id,
        "refused shapes left no decision"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_future_traceparent_is_honoured_and_forwarded_upstream() {
    let upstream = FakeUpstream::start("fine").await;
    let f = Fixture::new(policies()).await;
    f.add_openai_model("fake", &upstream.base_url(), "fake-model");
    let gw = f.start().await;
    let future = "cc-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-later-fields";
    let a = gw
        .chat_raw(
            Some(KEY_SECRET),
            serde_json::to_vec(&ask("fake-model", "hi")).unwrap(),
            &[("traceparent", future)],
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.correlation_id, "0af7651916cd43dd8448eb211c80319c");
    let heads = upstream.heads();
    let forwarded = heads[0]
        .lines()
        .find_map(|l| l.strip_prefix("traceparent: "))
        .expect("traceparent forwarded");
    assert!(
        forwarded.starts_with("00-0af7651916cd43dd8448eb211c80319c-") && forwarded.ends_with("-01"),
        "{forwarded}"
    );
    assert_eq!(forwarded, a.traceparent, "upstream sees the gateway's span");
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_lets_requests_in_flight_finish_and_records_them() {
    const IN_FLIGHT: usize = 8;
    let upstream = FakeUpstream::start(&format!("the answer is {CODENAME}")).await;
    let f = Fixture::new(policies()).await;
    f.add_openai_model("fake", &upstream.base_url(), "fake-model");
    let mut gw = f.start().await;
    upstream.hold();
    let calls: Vec<_> = (0..IN_FLIGHT)
        .map(|i| {
            let (client, base) = (reqwest::Client::new(), gw.base.clone());
            tokio::spawn(async move {
                client
                    .post(format!("{base}/v1/chat/completions"))
                    .bearer_auth(KEY_SECRET)
                    .json(&ask("fake-model", &format!("question {i}")))
                    .send()
                    .await
            })
        })
        .collect();
    eventually("every request to reach the upstream", || async {
        (upstream.heads().len() == IN_FLIGHT).then_some(())
    })
    .await;
    gw.terminate();
    eventually("the gateway to stop accepting", || async {
        TcpStream::connect(gw.base.trim_start_matches("http://"))
            .await
            .is_err()
            .then_some(())
    })
    .await;
    upstream.release();
    let mut answered = Vec::new();
    for call in calls {
        let r = call
            .await
            .unwrap()
            .expect("a request in flight is answered");
        assert_eq!(r.status(), 200);
        answered.push(r.headers()["x-correlation-id"].to_str().unwrap().to_owned());
        let body: Value = r.json().await.unwrap();
        assert!(!body.to_string().contains(CODENAME), "{body}");
    }
    assert!(gw.exited().await, "a clean exit");
    // A restart sends whatever the stop spooled.
    let _gw = f.start().await;
    let records = decisions(&f.decisions, 2 * IN_FLIGHT).await;
    for id in &answered {
        let stages: Vec<Stage> = records
            .iter()
            .filter(|(d, _)| &d.correlation_id == id)
            .map(|(d, _)| d.stage)
            .collect();
        assert_eq!(stages.len(), 2, "{id}: {stages:?}");
        assert!(stages.contains(&Stage::Request) && stages.contains(&Stage::Response));
    }
}
