//! The admin API's audit trail against the real broker: every state-changing route ×
//! SUCCESS / DENIED / FAILED leaves exactly one audit record with that outcome (matched by
//! request id); hostile ids are refused before anything is audited; FAILED reasons never
//! repeat request values; provider URLs with credentials and key variables outside the
//! prefix are refused, fields can be cleared; unauthenticated calls are audited only within
//! each source address's budget, and refused reads are counted. While a full spool cannot
//! take an audit record, every edit call is answered 503 and writes nothing, in fail-closed
//! and in fail-open mode alike.

#[path = "support/gateway.rs"]
mod gateway;
mod support;

use std::collections::BTreeMap;

use docket_records::Outcome;
use gateway::*;
use reqwest::Method;
use serde_json::{Value, json};
use support::*;

const SECRET_LIKE: &str = "sk-live-4f3c2b1a0099887766";

fn policies() -> Value {
    json!([
        {"id": "no-exfil", "name": "No exfiltration talk", "kind": "guardrail",
         "spec": {"keywords": ["exfiltrate"], "reason": "not here"}},
        {"id": "spare", "name": "Spare", "kind": "guardrail", "spec": {"keywords": ["spare"]}}
    ])
}

fn guardrail(id: Option<&str>) -> Value {
    let mut p = json!({"name": "New", "kind": "guardrail", "spec": {"keywords": ["zzz"]}});
    if let Some(id) = id {
        p["id"] = json!(id);
    }
    p
}

/// One admin call of the matrix: who, what, with which body, and the outcome expected.
type Call = (&'static str, Method, &'static str, Option<Value>, Outcome);

fn matrix() -> Vec<Call> {
    use Outcome::{Denied, Failed, Success};
    let provider = json!({"base_url": "http://127.0.0.1:9/v1"});
    vec![
        (
            POLICY_TOKEN,
            Method::POST,
            "policies",
            Some(guardrail(Some("fresh"))),
            Success,
        ),
        (
            VIEWER_TOKEN,
            Method::POST,
            "policies",
            Some(guardrail(Some("other"))),
            Denied,
        ),
        (
            POLICY_TOKEN,
            Method::POST,
            "policies",
            Some(json!({"kind": 1})),
            Failed,
        ),
        (
            POLICY_TOKEN,
            Method::PUT,
            "policies/fresh",
            Some(guardrail(None)),
            Success,
        ),
        (
            "not-a-token",
            Method::PUT,
            "policies/fresh",
            Some(guardrail(None)),
            Denied,
        ),
        (
            POLICY_TOKEN,
            Method::PUT,
            "policies/absent",
            Some(guardrail(None)),
            Failed,
        ),
        (
            POLICY_TOKEN,
            Method::POST,
            "policies/fresh/disable",
            None,
            Success,
        ),
        (
            VIEWER_TOKEN,
            Method::POST,
            "policies/fresh/disable",
            None,
            Denied,
        ),
        (
            POLICY_TOKEN,
            Method::POST,
            "policies/absent/disable",
            None,
            Failed,
        ),
        (
            POLICY_TOKEN,
            Method::POST,
            "policies/fresh/enable",
            None,
            Success,
        ),
        (
            VIEWER_TOKEN,
            Method::POST,
            "policies/fresh/enable",
            None,
            Denied,
        ),
        (
            POLICY_TOKEN,
            Method::POST,
            "policies/absent/enable",
            None,
            Failed,
        ),
        (
            POLICY_TOKEN,
            Method::DELETE,
            "policies/spare",
            None,
            Success,
        ),
        (VIEWER_TOKEN, Method::DELETE, "policies/fresh", None, Denied),
        (POLICY_TOKEN, Method::DELETE, "policies/spare", None, Failed),
        (
            SUPER_TOKEN,
            Method::POST,
            "models/echo-big/disable",
            None,
            Success,
        ),
        (
            POLICY_TOKEN,
            Method::POST,
            "models/echo-big/disable",
            None,
            Denied,
        ),
        (
            SUPER_TOKEN,
            Method::POST,
            "models/absent/disable",
            None,
            Failed,
        ),
        (
            SUPER_TOKEN,
            Method::POST,
            "models/echo-big/enable",
            None,
            Success,
        ),
        (
            POLICY_TOKEN,
            Method::POST,
            "models/echo-big/enable",
            None,
            Denied,
        ),
        (
            SUPER_TOKEN,
            Method::POST,
            "models/absent/enable",
            None,
            Failed,
        ),
        (
            SUPER_TOKEN,
            Method::PUT,
            "providers/echo",
            Some(provider.clone()),
            Success,
        ),
        (
            POLICY_TOKEN,
            Method::PUT,
            "providers/echo",
            Some(provider),
            Denied,
        ),
        (
            SUPER_TOKEN,
            Method::PUT,
            "providers/absent",
            Some(json!({})),
            Failed,
        ),
        (
            SUPER_TOKEN,
            Method::POST,
            "keys",
            Some(json!({"id": "key-new", "models": ["*"]})),
            Success,
        ),
        (
            POLICY_TOKEN,
            Method::POST,
            "keys",
            Some(json!({"id": "key-no"})),
            Denied,
        ),
        (
            SUPER_TOKEN,
            Method::POST,
            "keys",
            Some(json!({"id": "key-new"})),
            Failed,
        ),
        (
            SUPER_TOKEN,
            Method::POST,
            "keys",
            Some(json!({"id": "key-huge", "user": "x".repeat(5000)})),
            Failed,
        ),
        (
            SUPER_TOKEN,
            Method::POST,
            "keys/key-new/revoke",
            None,
            Success,
        ),
        (
            VIEWER_TOKEN,
            Method::POST,
            "keys/key-new/revoke",
            None,
            Denied,
        ),
        (
            SUPER_TOKEN,
            Method::POST,
            "keys/absent/revoke",
            None,
            Failed,
        ),
    ]
}

#[tokio::test(flavor = "multi_thread")]
async fn every_edit_route_audits_each_outcome_exactly_once() {
    let f = Fixture::new(policies()).await;
    let gw = f.start().await;
    let mut expected = BTreeMap::new();
    for (token, method, path, body, outcome) in matrix() {
        let a = gw.admin(token, method.clone(), path, body).await;
        let ok = match outcome {
            Outcome::Success => (200..300).contains(&a.status),
            Outcome::Denied => a.status == 401 || a.status == 403,
            Outcome::Failed => (400..500).contains(&a.status) && a.status != 403,
        };
        assert!(ok, "{method} {path}: {} {}", a.status, a.body);
        let id = a.request_id.expect("x-request-id on every admin answer");
        expected.insert(id, (format!("{method} {path}"), outcome));
    }
    let records = audits(&f.audit, expected.len()).await;
    let mut seen = BTreeMap::new();
    for (audit, _) in &records {
        let (call, outcome) = expected
            .get(&audit.request_id)
            .unwrap_or_else(|| panic!("an audit record of no call: {audit:?}"));
        assert_eq!(audit.outcome, *outcome, "{call}");
        *seen.entry(audit.request_id.clone()).or_insert(0) += 1;
    }
    assert_eq!(seen.len(), expected.len(), "every call audited");
    assert!(
        seen.values().all(|n| *n == 1),
        "each exactly once: {seen:?}"
    );
    let actions: std::collections::BTreeSet<_> =
        records.iter().map(|(a, _)| a.action.clone()).collect();
    assert_eq!(actions.len(), 10, "every state-changing route: {actions:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn hostile_ids_and_values_never_reach_an_audit_record() {
    let f = Fixture::new(policies()).await;
    let gw = f.start().await;
    let long = "x".repeat(60_000);
    for id in [
        "has%20space",
        "q%3Fx",
        "frag%23x",
        "new%0Aline",
        "nul%00",
        "rtl%E2%80%AEexe",
        "slash%2Fx",
        "double%252Dx",
        long.as_str(),
    ] {
        for (method, path) in [
            (Method::PUT, format!("policies/{id}")),
            (Method::POST, format!("keys/{id}/revoke")),
            (Method::POST, format!("models/{id}/disable")),
        ] {
            let a = gw
                .admin_raw(None, method, &path, Some(b"{}".to_vec()))
                .await;
            assert_eq!(a.status, 400, "{path:.60}: {}", a.body);
            assert!(
                !a.body.to_string().contains("xxxxxxxxxx"),
                "the id is not echoed"
            );
        }
    }
    let once = gw
        .admin(VIEWER_TOKEN, Method::GET, "policies/no%2Dexfil", None)
        .await;
    assert_eq!(
        once.status, 200,
        "paths are percent-decoded once: {}",
        once.body
    );

    let bad_body_id = gw
        .admin(
            POLICY_TOKEN,
            Method::POST,
            "policies",
            Some(guardrail(Some("has space"))),
        )
        .await;
    assert_eq!(bad_body_id.status, 400);
    let pasted = gw
        .admin(
            SUPER_TOKEN,
            Method::POST,
            "keys",
            Some(json!({"id": "k1", "models": SECRET_LIKE})),
        )
        .await;
    assert_eq!(pasted.status, 400);
    let creds = gw
        .admin(
            SUPER_TOKEN,
            Method::PUT,
            "providers/echo",
            Some(json!({"base_url": format!("https://user:{SECRET_LIKE}@api.example.com/v1")})),
        )
        .await;
    assert_eq!(creds.status, 400);
    let env = gw
        .admin(
            SUPER_TOKEN,
            Method::PUT,
            "providers/echo",
            Some(json!({"api_key_env": "HOME"})),
        )
        .await;
    assert_eq!(env.status, 400);
    for a in [&pasted, &creds] {
        assert!(!a.body.to_string().contains(SECRET_LIKE), "{}", a.body);
    }
    let set = gw
        .admin(
            SUPER_TOKEN,
            Method::PUT,
            "providers/echo",
            Some(json!({"api_key_env": "DOCKET_PROVIDER_KEY_ECHO"})),
        )
        .await;
    assert_eq!(
        set.body["api_key_env"], "DOCKET_PROVIDER_KEY_ECHO",
        "{}",
        set.body
    );
    let cleared = gw
        .admin(
            SUPER_TOKEN,
            Method::PUT,
            "providers/echo",
            Some(json!({"api_key_env": null})),
        )
        .await;
    assert_eq!(cleared.status, 200);
    assert_eq!(
        cleared.body["api_key_env"],
        Value::Null,
        "a field can be cleared"
    );

    let records = audits(&f.audit, 6).await;
    let outcomes: Vec<_> = records
        .iter()
        .map(|(a, _)| (a.action.as_str(), a.outcome, a.resource.id.as_str()))
        .collect();
    assert_eq!(
        outcomes,
        [
            ("policy.create", Outcome::Failed, "unknown"),
            ("key.create", Outcome::Failed, "unknown"),
            ("provider.update", Outcome::Failed, "echo"),
            ("provider.update", Outcome::Failed, "echo"),
            ("provider.update", Outcome::Success, "echo"),
            ("provider.update", Outcome::Success, "echo"),
        ],
        "no record for the refused path ids"
    );
    for (_, m) in &records {
        let raw = String::from_utf8_lossy(payload(m)).into_owned();
        assert!(
            !raw.contains(SECRET_LIKE) && !raw.contains("has space"),
            "{raw}"
        );
    }
    let invalid = gw
        .metric_with(
            "docket_gateway_admin_refused_total",
            "reason=\"invalid_id\"",
        )
        .await;
    assert_eq!(invalid, Some(27.0));
    assert!(
        !f.log().contains(SECRET_LIKE),
        "no request value in the log"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn refused_calls_are_audited_within_a_budget_and_reads_counted() {
    let mut f = Fixture::new(policies()).await;
    f.set_env("DOCKET_GATEWAY_ADMIN_REFUSALS_PER_MINUTE", "5");
    let gw = f.start().await;
    let read = gw.admin("not-a-token", Method::GET, "policies", None).await;
    assert_eq!(read.status, 401);
    let counted = gw
        .metric_with(
            "docket_gateway_admin_refused_total",
            "reason=\"unauthenticated_read\"",
        )
        .await;
    assert_eq!(counted, Some(1.0));
    assert!(
        f.log().contains("unauthenticated_read"),
        "the refused read is logged"
    );
    let mut statuses = Vec::new();
    for _ in 0..20 {
        let a = gw
            .admin_raw(None, Method::POST, "models/echo-big/disable", None)
            .await;
        statuses.push(a.status);
    }
    assert_eq!(statuses[..4], [401; 4], "the read used one of the five");
    assert!(statuses[4..].iter().all(|s| *s == 429), "{statuses:?}");
    let limited = gw
        .metric_with(
            "docket_gateway_admin_refused_total",
            "reason=\"rate_limited\"",
        )
        .await;
    assert_eq!(limited, Some(16.0));
    let ok = gw
        .admin(SUPER_TOKEN, Method::POST, "models/echo-big/disable", None)
        .await;
    assert_eq!(ok.status, 200, "a valid token is never limited");
    let records = audits(&f.audit, 5).await;
    let outcomes: Vec<_> = records
        .iter()
        .map(|(a, _)| (a.actor.id.as_str(), a.outcome))
        .collect();
    assert_eq!(outcomes[..4], [("anonymous", Outcome::Denied); 4]);
    assert_eq!(
        outcomes[4],
        ("root", Outcome::Success),
        "the flood wrote four records"
    );
}

/// A gateway whose Kafka is unreachable and whose spool of a few records is full, in `mode`.
async fn full_spool(mode: &str) -> (Fixture, Gateway) {
    let mut f = Fixture::new(policies()).await;
    f.set_env(
        "DOCKET_KAFKA_BOOTSTRAP",
        &format!("127.0.0.1:{}", free_port()),
    );
    f.set_env("DOCKET_GATEWAY_DELIVERY_TIMEOUT", "300ms");
    f.set_env("DOCKET_GATEWAY_SPOOL_MAX_BYTES", "4000");
    f.set_env("DOCKET_GATEWAY_ON_SPOOL_FULL", mode);
    let gw = f.start().await;
    eventually("the spool to refuse a record", || async {
        gw.chat(Some(KEY_SECRET), &ask("echo-small", "hi")).await;
        gw.metric("docket_gateway_records_dropped_total")
            .await
            .filter(|n| *n > 0.0)
    })
    .await;
    (f, gw)
}

#[tokio::test(flavor = "multi_thread")]
async fn edits_on_a_full_spool_are_refused_and_write_nothing_in_either_mode() {
    for mode in ["fail_closed", "fail_open"] {
        let (_f, gw) = full_spool(mode).await;
        for token in [SUPER_TOKEN, VIEWER_TOKEN, "not-a-token"] {
            let a = gw
                .admin(token, Method::POST, "models/echo-big/disable", None)
                .await;
            assert_eq!(a.status, 503, "{mode}: {}", a.body);
            assert_eq!(a.body["error"]["type"], "service_unavailable");
        }
        let refused = gw
            .metric_with(
                "docket_gateway_admin_refused_total",
                "reason=\"unavailable\"",
            )
            .await;
        assert_eq!(refused, Some(3.0), "{mode}");
        let audited = gw.metric("docket_gateway_audit_events_total").await;
        assert_eq!(
            audited,
            Some(0.0),
            "{mode}: no audit record made, none dropped"
        );
        let models = gw.admin(VIEWER_TOKEN, Method::GET, "models", None).await;
        assert_eq!(models.status, 200, "reads still work");
        let big = models.body["models"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["name"] == "echo-big")
            .unwrap();
        assert_eq!(big["enabled"], true, "{mode}: nothing changed");
    }
}
