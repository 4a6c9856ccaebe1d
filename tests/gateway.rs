//! The gateway against the real broker and registry, run as its own process: each verdict's
//! decision record read back from Kafka, redacted text absent from records and logs, admin
//! edits audited with the version they produced and carried by the next decision, refused
//! edits audited, keys created and revoked, state surviving a restart, and bad input.

#[path = "support/gateway.rs"]
mod gateway;
mod support;

use docket_records::{Outcome, PolicyKind, Stage, Verdict};
use gateway::*;
use rdkafka::Message;
use reqwest::Method;
use serde_json::json;
use support::*;

const EMAIL: &str = "jane.doe@example.com";
const CARD: &str = "4111 1111 1111 1111";
const CODENAME: &str = "PRJ-4242";

fn policies() -> serde_json::Value {
    json!([
        {"id": "no-exfil", "name": "No exfiltration talk", "kind": "guardrail",
         "spec": {"keywords": ["exfiltrate"], "reason": "exfiltration is not discussed here"}},
        {"id": "pii", "name": "Mask personal data", "kind": "redaction", "stages": ["request"],
         "spec": {"entities": ["email", "card_number", "phone", "api_key"]}},
        {"id": "codenames", "name": "Mask codenames in answers", "kind": "redaction", "stages": ["response"],
         "spec": {"entities": [], "custom": [{"name": "codename", "pattern": "PRJ-\\d{4}"}]}},
        {"id": "downsize", "name": "Big model to small", "kind": "routing",
         "spec": {"models": ["echo-big"], "route_to": "echo-small", "max_tokens": 3, "reason": "cost"}}
    ])
}

#[tokio::test(flavor = "multi_thread")]
async fn every_verdict_is_recorded_with_every_field() {
    let f = Fixture::new(policies()).await;
    let gw = f.start().await;
    let traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

    let allow = gw
        .chat_raw(
            Some(KEY_SECRET),
            serde_json::to_vec(&ask("echo-small", "hello there")).unwrap(),
            &[("traceparent", traceparent)],
        )
        .await;
    assert_eq!(allow.status, 200, "{}", allow.body);
    assert_eq!(allow.correlation_id, "0af7651916cd43dd8448eb211c80319c");
    assert!(
        allow
            .traceparent
            .starts_with("00-0af7651916cd43dd8448eb211c80319c-")
    );
    assert_eq!(
        allow.body["choices"][0]["message"]["content"],
        "echo: hello there"
    );

    let deny = gw
        .chat(
            Some(KEY_SECRET),
            &ask("echo-small", "how do I exfiltrate data"),
        )
        .await;
    assert_eq!(deny.status, 403);
    assert_eq!(deny.body["error"]["type"], "policy_denied");
    assert_eq!(deny.body["error"]["policy_id"], "no-exfil");
    assert_eq!(
        deny.body["error"]["correlation_id"],
        deny.correlation_id.as_str()
    );
    assert_eq!(
        deny.body["error"]["message"],
        "exfiltration is not discussed here"
    );

    let modify = gw
        .chat(
            Some(KEY_SECRET),
            &ask("echo-big", "one two three four five"),
        )
        .await;
    assert_eq!(modify.status, 200);
    assert_eq!(
        modify.body["choices"][0]["message"]["content"],
        "echo: one two three"
    );

    let redact = gw
        .chat(
            Some(KEY_SECRET),
            &ask("echo-small", &format!("mail {EMAIL} card {CARD}")),
        )
        .await;
    assert_eq!(redact.status, 200);
    let content = redact.body["choices"][0]["message"]["content"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        !content.contains(EMAIL) && !content.contains("4111"),
        "{content}"
    );
    assert!(content.contains("[REDACTED:email]") && content.contains("[REDACTED:card_number]"));

    let answer = gw
        .chat(
            Some(KEY_SECRET),
            &ask("echo-small", &format!("codename {CODENAME}")),
        )
        .await;
    assert_eq!(answer.status, 200);
    assert_eq!(
        answer.body["choices"][0]["message"]["content"],
        "echo: codename [REDACTED:codename]"
    );

    // allow, deny, modify, redact, allow (request) + redact (response)
    let records = decisions(&f.decisions, 6).await;
    let d: Vec<_> = records.iter().map(|(d, _)| d).collect();
    for (rec, (_, msg)) in d.iter().zip(&records) {
        assert_eq!(
            msg.key(),
            Some(rec.correlation_id.as_bytes()),
            "keyed by correlation id"
        );
        assert_eq!(rec.gateway_instance, "gw-test");
        assert_eq!(rec.policy_set_version, 1);
        assert_eq!(rec.caller.api_key_id, KEY_ID);
        assert_eq!(rec.caller.user.as_deref(), Some("alice"));
        assert_eq!(rec.caller.team.as_deref(), Some("research"));
        assert_eq!(rec.caller.source_ip.as_deref(), Some("127.0.0.1"));
        assert_eq!(rec.event_id.len(), 36);
    }

    assert_eq!(d[0].correlation_id, allow.correlation_id);
    assert_eq!((d[0].stage, d[0].verdict), (Stage::Request, Verdict::Allow));
    assert!(d[0].policy.is_none() && d[0].actions.is_empty());
    assert_eq!(d[0].model.requested, "echo-small");
    assert_eq!(d[0].model.routed.as_deref(), Some("echo-small"));
    assert_eq!(d[0].model.provider.as_deref(), Some("echo"));

    assert_eq!(d[1].correlation_id, deny.correlation_id);
    assert_eq!(d[1].verdict, Verdict::Deny);
    let p = d[1].policy.as_ref().unwrap();
    assert_eq!(
        (p.id.as_str(), p.name.as_str(), p.kind, p.version),
        ("no-exfil", "No exfiltration talk", PolicyKind::Guardrail, 1)
    );
    assert_eq!(d[1].actions.len(), 1);
    assert_eq!(d[1].actions[0].rule_id.as_deref(), Some("keyword:0"));
    assert_eq!(
        d[1].actions[0].target.as_deref(),
        Some("messages[0].content")
    );
    assert_eq!(d[1].model.routed, None, "a deny calls no upstream");

    assert_eq!(d[2].correlation_id, modify.correlation_id);
    assert_eq!(d[2].verdict, Verdict::Modify);
    assert_eq!(d[2].policy.as_ref().unwrap().id, "downsize");
    let rules: Vec<_> = d[2]
        .actions
        .iter()
        .map(|a| a.rule_id.clone().unwrap())
        .collect();
    assert_eq!(rules, ["route_to", "max_tokens"]);
    assert!(
        d[2].actions
            .iter()
            .all(|a| a.verdict == Verdict::Modify && a.reason.as_deref() == Some("cost"))
    );
    assert_eq!(d[2].model.requested, "echo-big");
    assert_eq!(d[2].model.routed.as_deref(), Some("echo-small"));

    assert_eq!(d[3].correlation_id, redact.correlation_id);
    assert_eq!(d[3].verdict, Verdict::Redact);
    assert_eq!(d[3].policy.as_ref().unwrap().id, "pii");
    assert_eq!(d[3].actions[0].redacted_count, 2);
    assert_eq!(d[3].actions[0].entity_types, ["card_number", "email"]);

    assert_eq!(
        (d[4].correlation_id.as_str(), d[4].stage, d[4].verdict),
        (
            answer.correlation_id.as_str(),
            Stage::Request,
            Verdict::Allow
        )
    );
    assert_eq!(
        (d[5].correlation_id.as_str(), d[5].stage, d[5].verdict),
        (
            answer.correlation_id.as_str(),
            Stage::Response,
            Verdict::Redact
        )
    );
    assert_eq!(d[5].actions[0].entity_types, ["codename"]);
    assert_eq!(
        d[5].actions[0].target.as_deref(),
        Some("choices[0].message.content")
    );

    // The card as sent and as digits only, not its first four digits alone: those turn up in
    // random hex ids (one run of the suite logged an id holding "4111").
    for (_, m) in &records {
        let raw = String::from_utf8_lossy(payload(m)).into_owned();
        for secret in [EMAIL, "4111 1111", "41111111", CODENAME] {
            assert!(!raw.contains(secret), "{secret} in a record");
        }
    }
    assert_eq!(gw.metric("docket_gateway_requests_total").await, Some(5.0));
    eventually("published records counted", || async {
        gw.metric("docket_gateway_records_published_total")
            .await
            .filter(|n| *n == 6.0)
    })
    .await;
    assert_eq!(gw.metric("docket_gateway_spool_records").await, Some(0.0));
    let log = f.log();
    assert!(
        log.contains(&deny.correlation_id),
        "log lines carry the correlation id"
    );
    for secret in [EMAIL, "4111 1111", "41111111", CODENAME] {
        assert!(!log.contains(secret), "{secret} in the log");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn admin_edits_are_audited_and_drive_later_decisions() {
    let f = Fixture::new(policies()).await;
    let mut gw = f.start().await;

    let edit = json!({"name": "No exfiltration talk", "kind": "guardrail",
                      "spec": {"keywords": ["exfiltrate", "smuggle"]}});
    let viewer = gw
        .admin(
            VIEWER_TOKEN,
            Method::PUT,
            "policies/no-exfil",
            Some(edit.clone()),
        )
        .await;
    assert_eq!(viewer.status, 403);
    assert_eq!(viewer.body["error"]["type"], "forbidden");
    let updated = gw
        .admin(POLICY_TOKEN, Method::PUT, "policies/no-exfil", Some(edit))
        .await;
    assert_eq!(updated.status, 200, "{}", updated.body);
    assert_eq!(updated.body["policy"]["version"], 2);
    assert_eq!(updated.body["policy_set_version"], 2);
    let listed = gw
        .admin(VIEWER_TOKEN, Method::GET, "policies/no-exfil", None)
        .await;
    assert_eq!(listed.body["version"], 2);

    let denied = gw
        .chat(Some(KEY_SECRET), &ask("echo-small", "smuggle it out"))
        .await;
    assert_eq!(denied.status, 403);
    let (d, _) = &decisions(&f.decisions, 1).await[0];
    assert_eq!(d.correlation_id, denied.correlation_id);
    assert_eq!(
        d.policy.as_ref().unwrap().version,
        2,
        "the decision carries the edited version"
    );
    assert_eq!(d.policy_set_version, 2);

    let records = audits(&f.audit, 2).await;
    let (refused, refused_msg) = &records[0];
    assert_eq!(refused.action, "policy.update");
    assert_eq!(refused.outcome, Outcome::Denied);
    assert_eq!(
        (refused.actor.id.as_str(), refused.actor.role.as_str()),
        ("vera", "viewer")
    );
    assert_eq!(refused.request_id, viewer.request_id.clone().unwrap());
    assert_eq!(refused.policy_version, None);
    assert_eq!(refused_msg.key(), Some(b"no-exfil".as_slice()));
    let (ok, _) = &records[1];
    assert_eq!(
        (ok.action.as_str(), ok.outcome),
        ("policy.update", Outcome::Success)
    );
    assert_eq!(
        (
            ok.actor.id.as_str(),
            ok.actor.role.as_str(),
            ok.actor.kind.as_str()
        ),
        ("polly", "policy_admin", "user")
    );
    assert_eq!(ok.actor.source_ip.as_deref(), Some("127.0.0.1"));
    assert_eq!(
        (ok.resource.kind.as_str(), ok.resource.id.as_str()),
        ("policy", "no-exfil")
    );
    assert_eq!(ok.resource.name.as_deref(), Some("No exfiltration talk"));
    assert_eq!(ok.policy_version, Some(2));
    assert_eq!(ok.details["previous_version"], "1");
    assert_eq!(ok.details["policy_set_version"], "2");
    assert_eq!(ok.request_id, updated.request_id.clone().unwrap());

    // Keys: created with the secret shown once, usable, revoked, refused; a policy admin may not.
    let refused = gw
        .admin(
            POLICY_TOKEN,
            Method::POST,
            "keys",
            Some(json!({"id": "key-bob", "user": "bob", "models": ["*"]})),
        )
        .await;
    assert_eq!(refused.status, 403);
    let created = gw
        .admin(
            SUPER_TOKEN,
            Method::POST,
            "keys",
            Some(json!({"id": "key-bob", "user": "bob", "team": "ops", "models": ["*"]})),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let secret = created.body["secret"].as_str().unwrap().to_owned();
    let keys = gw.admin(VIEWER_TOKEN, Method::GET, "keys", None).await;
    assert!(
        !keys.body.to_string().contains(&secret),
        "the secret is shown once"
    );
    assert_eq!(
        gw.chat(Some(&secret), &ask("echo-small", "hi"))
            .await
            .status,
        200
    );
    let revoked = gw
        .admin(SUPER_TOKEN, Method::POST, "keys/key-bob/revoke", None)
        .await;
    assert_eq!(revoked.status, 200);
    let after = gw.chat(Some(&secret), &ask("echo-small", "hi")).await;
    assert_eq!(after.status, 401);
    assert!(
        after.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("revoked")
    );

    let records = audits(&f.audit, 5).await;
    let actions: Vec<_> = records[2..]
        .iter()
        .map(|(a, _)| (a.action.as_str(), a.outcome))
        .collect();
    assert_eq!(
        actions,
        [
            ("key.create", Outcome::Denied),
            ("key.create", Outcome::Success),
            ("key.revoke", Outcome::Success)
        ]
    );
    assert_eq!(records[3].0.resource.id, "key-bob");
    for (_, m) in &records {
        assert!(
            !String::from_utf8_lossy(payload(m)).contains(&secret),
            "no secret in audit records"
        );
    }

    // State survives a restart.
    gw.stop();
    let gw = f.start().await;
    let again = gw
        .admin(VIEWER_TOKEN, Method::GET, "policies/no-exfil", None)
        .await;
    assert_eq!(again.body["version"], 2);
    assert_eq!(
        gw.chat(Some(&secret), &ask("echo-small", "hi"))
            .await
            .status,
        401
    );
    let disabled = gw
        .admin(SUPER_TOKEN, Method::POST, "policies/no-exfil/disable", None)
        .await;
    assert_eq!(disabled.body["version"], 3);
    assert_eq!(
        gw.chat(Some(KEY_SECRET), &ask("echo-small", "smuggle it out"))
            .await
            .status,
        200
    );
    let model_off = gw
        .admin(SUPER_TOKEN, Method::POST, "models/echo-big/disable", None)
        .await;
    assert_eq!(model_off.status, 200);
    let provider =
        json!({"base_url": "http://127.0.0.1:9/v1", "api_key_env": "DOCKET_PROVIDER_KEY_ECHO"});
    let refused = gw
        .admin(
            POLICY_TOKEN,
            Method::PUT,
            "providers/echo",
            Some(provider.clone()),
        )
        .await;
    assert_eq!(refused.status, 403);
    let changed = gw
        .admin(SUPER_TOKEN, Method::PUT, "providers/echo", Some(provider))
        .await;
    assert_eq!(changed.status, 200, "{}", changed.body);
    let records = audits(&f.audit, 9).await;
    assert_eq!(
        (records[5].0.action.as_str(), records[5].0.policy_version),
        ("policy.disable", Some(3))
    );
    assert_eq!(
        (
            records[6].0.action.as_str(),
            records[6].0.resource.id.as_str()
        ),
        ("model.disable", "echo-big")
    );
    let (denied, updated) = (&records[7].0, &records[8].0);
    assert_eq!(
        (denied.action.as_str(), denied.outcome),
        ("provider.update", Outcome::Denied)
    );
    assert_eq!(
        (updated.action.as_str(), updated.outcome),
        ("provider.update", Outcome::Success)
    );
    assert_eq!(updated.details["base_url"], "http://127.0.0.1:9/v1");
    assert_eq!(updated.details["api_key_env"], "DOCKET_PROVIDER_KEY_ECHO");
    assert_eq!(updated.policy_version, None);
}

/// What is sent, with which key, and the status and error type expected.
type Case<'a> = (&'a str, Option<&'a str>, Vec<u8>, u16, &'a str);

#[tokio::test(flavor = "multi_thread")]
async fn bad_input_gets_clear_answers_and_no_decision() {
    let f = Fixture::new(policies()).await;
    let gw = f.start().await;
    let cases: Vec<Case<'_>> = vec![
        (
            "no key",
            None,
            serde_json::to_vec(&ask("echo-small", "hi")).unwrap(),
            401,
            "invalid_api_key",
        ),
        (
            "wrong key",
            Some("sk-nope"),
            serde_json::to_vec(&ask("echo-small", "hi")).unwrap(),
            401,
            "invalid_api_key",
        ),
        (
            "malformed JSON",
            Some(KEY_SECRET),
            b"{\"model\": ".to_vec(),
            400,
            "invalid_request_error",
        ),
        (
            "no messages",
            Some(KEY_SECRET),
            br#"{"model":"echo-small"}"#.to_vec(),
            400,
            "invalid_request_error",
        ),
        (
            "oversized",
            Some(KEY_SECRET),
            serde_json::to_vec(&ask("echo-small", &"x".repeat(10_000))).unwrap(),
            413,
            "request_too_large",
        ),
        (
            "unknown model",
            Some(KEY_SECRET),
            serde_json::to_vec(&ask("gpt-nothing", "hi")).unwrap(),
            404,
            "model_not_found",
        ),
        (
            "disabled model",
            Some(KEY_SECRET),
            serde_json::to_vec(&ask("echo-off", "hi")).unwrap(),
            403,
            "model_not_allowed",
        ),
    ];
    for (what, key, body, status, kind) in cases {
        let a = gw.chat_raw(key, body, &[]).await;
        assert_eq!(a.status, status, "{what}: {}", a.body);
        assert_eq!(a.body["error"]["type"], kind, "{what}");
        assert_eq!(
            a.body["error"]["correlation_id"],
            a.correlation_id.as_str(),
            "{what}"
        );
    }
    let admin = gw
        .admin("not-a-token", Method::POST, "models/echo-big/disable", None)
        .await;
    assert_eq!(admin.status, 401);
    let good = gw.chat(Some(KEY_SECRET), &ask("echo-small", "hi")).await;
    assert_eq!(good.status, 200);
    let (first, _) = &decisions(&f.decisions, 1).await[0];
    assert_eq!(
        first.correlation_id, good.correlation_id,
        "rejected requests left no decision"
    );
    let (audit, _) = &audits(&f.audit, 1).await[0];
    assert_eq!(
        (
            audit.action.as_str(),
            audit.outcome,
            audit.actor.id.as_str()
        ),
        ("model.disable", Outcome::Denied, "anonymous")
    );
    let rejected = eventually("rejections counted", || async {
        gw.metric("docket_gateway_rejected_total")
            .await
            .filter(|n| *n >= 7.0)
    })
    .await;
    assert_eq!(rejected, 7.0);
}

#[tokio::test(flavor = "multi_thread")]
async fn streamed_answers_are_redacted_before_they_are_sent() {
    let f = Fixture::new(policies()).await;
    let gw = f.start().await;
    let mut body = ask("echo-small", &format!("codename {CODENAME}"));
    body["stream"] = json!(true);
    let r = gw
        .client
        .post(format!("{}/v1/chat/completions", gw.base))
        .header("authorization", format!("Bearer {KEY_SECRET}"))
        .body(serde_json::to_vec(&body).unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "text/event-stream");
    let correlation_id = r.headers()["x-correlation-id"].to_str().unwrap().to_owned();
    let text = r.text().await.unwrap();
    assert!(!text.contains(CODENAME), "{text}");
    let events: Vec<&str> = text.split("\n\n").filter(|e| !e.is_empty()).collect();
    assert_eq!(events.last(), Some(&"data: [DONE]"));
    let chunk: serde_json::Value =
        serde_json::from_str(events[0].strip_prefix("data: ").unwrap()).unwrap();
    assert_eq!(chunk["object"], "chat.completion.chunk");
    assert_eq!(
        chunk["choices"][0]["delta"]["content"],
        "echo: codename [REDACTED:codename]"
    );
    let records = decisions(&f.decisions, 2).await;
    let stages: Vec<_> = records
        .iter()
        .map(|(d, _)| (d.correlation_id.as_str(), d.stage, d.verdict))
        .collect();
    assert_eq!(
        stages,
        [
            (correlation_id.as_str(), Stage::Request, Verdict::Allow),
            (correlation_id.as_str(), Stage::Response, Verdict::Redact)
        ]
    );
}
