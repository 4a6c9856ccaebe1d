//! Redaction and guardrails against a running gateway, as an attacker would try them: cards
//! next to other digits and personal data in disguised forms masked before the upstream and
//! absent from records; every text field of the request under the same policies; personal
//! data of denied, malformed and upstream-failed requests in no log line and no error body;
//! key secrets, admin tokens and provider keys in no log line.

#[path = "support/gateway.rs"]
mod gateway;
mod support;

use docket_records::{Micros, Verdict};
use gateway::*;
use reqwest::Method;
use serde_json::{Value, json};
use support::*;

const EMAIL: &str = "jane.doe@example.com";
const CARD_DIGITS: &str = "4111111111111111";

fn policies() -> Value {
    json!([
        {"id": "no-exfil", "name": "No exfiltration talk", "kind": "guardrail",
         "spec": {"keywords": ["exfiltrate"], "reason": "exfiltration is not discussed here"}},
        {"id": "pii", "name": "Mask personal data", "kind": "redaction",
         "spec": {"entities": ["email", "card_number"]}}
    ])
}

/// The text's digits after NFKC-like folding of fullwidth digits, without anything else.
fn digits(text: &str) -> String {
    text.chars()
        .filter_map(|c| match c {
            '0'..='9' => Some(c),
            '０'..='９' => char::from_u32(c as u32 - 0xFF10 + u32::from(b'0')),
            _ => None,
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn cards_next_to_digits_and_disguised_addresses_never_reach_the_upstream() {
    let f = Fixture::new(policies()).await;
    let gw = f.start().await;
    let cards = [
        "card 4111 1111 1111 1111 12/27",
        "ref 12 4111 1111 1111 1111",
        "4111111111111111 cvv 123",
        "４１１１ １１１１ １１１１ １１１１",
        "4111\u{200B}1111\u{200B}1111\u{200B}1111",
        "4111\u{00A0}1111\u{2011}1111\u{202F}1111",
        "4111.1111.1111.1111 and 4111/1111/1111/1111 and 4111_1111_1111_1111",
        "card4111111111111111now",
    ];
    let addresses = [
        "mail jane.doe\u{FF20}example.com",
        "mail jürgen@exämple.de",
        "mail ivan@пример.рф",
        "mail root@[192.0.2.1] now",
    ];
    for text in cards.iter().chain(&addresses) {
        let a = gw.chat(Some(KEY_SECRET), &ask("echo-small", text)).await;
        assert_eq!(a.status, 200, "{}", a.body);
        let echoed = a.body["choices"][0]["message"]["content"].as_str().unwrap();
        assert!(
            !digits(echoed).contains(CARD_DIGITS),
            "{text:?} -> {echoed:?}"
        );
        assert!(
            !echoed.contains('@') && !echoed.contains('\u{FF20}'),
            "{text:?} -> {echoed:?}"
        );
    }
    let n = cards.len() + addresses.len();
    let records = decisions(&f.decisions, n).await;
    for (d, m) in &records {
        assert_eq!(d.verdict, Verdict::Redact, "{d:?}");
        let raw = String::from_utf8_lossy(payload(m));
        assert!(!digits(&raw).contains(CARD_DIGITS));
        // Random ids and the time are blanked: their digits may hold "4111" by chance.
        let mut shown = d.clone();
        (shown.event_id, shown.correlation_id) = (String::new(), String::new());
        shown.time = Micros(0);
        let decoded = format!("{shown:?}");
        assert!(
            !decoded.contains('@') && !decoded.contains("4111"),
            "{decoded}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn every_text_field_passes_the_same_policies() {
    let f = Fixture::new(policies()).await;
    let gw = f.start().await;
    let with = |f: &dyn Fn(&mut Value)| {
        let mut body = ask("echo-small", "hello");
        f(&mut body);
        body
    };
    let word = "please exfiltrate it";
    let denied = [
        with(&|b| b["user"] = json!(word)),
        with(&|b| b["messages"][0]["name"] = json!("exfiltrate")),
        with(&|b| {
            b["messages"][0]["content"] = json!([{"type": "text", "text": word}]);
        }),
        with(&|b| {
            b["messages"] = json!([
                {"role": "user", "content": "hi"},
                {"role": "assistant", "content": null, "tool_calls": [{"id": "c1", "type": "function",
                  "function": {"name": "f", "arguments": "{\"q\":\"exfiltrate\"}"}}]},
                {"role": "tool", "tool_call_id": "c1", "content": "done"},
                {"role": "user", "content": "thanks"}
            ]);
        }),
        with(&|b| {
            b["tools"] = json!([{"type": "function", "function": {"name": "f",
                "description": word, "parameters": {"type": "object", "properties": {}}}}]);
        }),
        // Look-alikes and invisible characters.
        ask("echo-small", "please exfiltrаte it"),
        ask("echo-small", "please ex\u{200B}filtrate it"),
        ask("echo-small", "please ＥＸＦＩＬＴＲＡＴＥ it"),
    ];
    for body in &denied {
        let a = gw.chat(Some(KEY_SECRET), body).await;
        assert_eq!(a.status, 403, "{body} -> {}", a.body);
    }
    let card_in_tool = with(&|b| {
        b["messages"] = json!([
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": null, "tool_calls": [{"id": "c1", "type": "function",
              "function": {"name": "pay", "arguments": "{\"card\":\"4111 1111 1111 1111\"}"}}]},
            {"role": "tool", "tool_call_id": "c1", "content": "paid"},
            {"role": "user", "content": "thanks"}
        ]);
    });
    let a = gw.chat(Some(KEY_SECRET), &card_in_tool).await;
    assert_eq!(a.status, 200, "{}", a.body);
    let records = decisions(&f.decisions, denied.len() + 1).await;
    let last = &records.last().unwrap().0;
    assert_eq!(last.verdict, Verdict::Redact);
    let action = &last.actions[0];
    assert_eq!(
        action.target.as_deref(),
        Some("messages[1].tool_calls[0].function.arguments")
    );
    assert_eq!(action.entity_types, ["card_number"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn personal_data_and_secrets_stay_out_of_logs_and_error_bodies() {
    let mut f = Fixture::new(policies()).await;
    let provider_key = "pk-provider-secret-0123456789abcdef";
    let closed = format!("http://127.0.0.1:{}/v1", free_port());
    f.edit_config(|c| {
        c["providers"] = json!([{"name": "down", "kind": "openai", "base_url": closed,
                                 "api_key_env": "DOCKET_PROVIDER_KEY_DOWN"}]);
        c["models"]
            .as_array_mut()
            .unwrap()
            .push(json!({"name": "down-model", "provider": "down"}));
        c["keys"][0]["models"]
            .as_array_mut()
            .unwrap()
            .push(json!("down-model"));
    });
    f.set_env("DOCKET_PROVIDER_KEY_DOWN", provider_key);
    let gw = f.start().await;
    let pii = format!("mail {EMAIL} card 4111 1111 1111 1111");
    let chat = |body: Vec<u8>| gw.chat_raw(Some(KEY_SECRET), body, &[]);
    let bodies = [
        // Denied by the guardrail.
        (
            403,
            serde_json::to_vec(&ask("echo-small", &format!("exfiltrate {pii}"))).unwrap(),
        ),
        // Malformed in several ways.
        (
            400,
            format!(r#"{{"model":"echo-small","messages":[{{"role":"user","content":"{pii}"}}]"#)
                .into_bytes(),
        ),
        (
            400,
            serde_json::to_vec(&json!({"model": "echo-small", "max_tokens": "x",
            "messages": [{"role": "user", "content": pii}]}))
            .unwrap(),
        ),
        (
            400,
            serde_json::to_vec(&json!({"model": "echo-small",
            "messages": [{"role": pii, "content": pii}]}))
            .unwrap(),
        ),
        (
            400,
            serde_json::to_vec(&json!({"model": "echo-small", "user": 5,
            "messages": [{"role": "user", "content": pii}]}))
            .unwrap(),
        ),
        // The upstream is down.
        (502, serde_json::to_vec(&ask("down-model", &pii)).unwrap()),
    ];
    for (status, body) in bodies {
        let a = chat(body.clone()).await;
        assert_eq!(
            a.status,
            status,
            "{} -> {}",
            String::from_utf8_lossy(&body),
            a.body
        );
        // The random correlation id is left out: its digits may hold "4111" by chance.
        let mut shown = a.body.clone();
        if let Some(error) = shown.get_mut("error").and_then(Value::as_object_mut) {
            error.remove("correlation_id");
        }
        let text = shown.to_string();
        assert!(
            !text.contains(EMAIL) && !text.contains("4111"),
            "error body: {text}"
        );
    }

    // Secrets presented right and wrong, and a key created (its secret answered once).
    let wrong_key = "sk-wrong-secret-value-0123456789";
    let wrong_token = "token-wrong-0123456789";
    assert_eq!(
        gw.chat(Some(wrong_key), &ask("echo-small", "hi"))
            .await
            .status,
        401
    );
    assert_eq!(
        gw.admin(wrong_token, Method::GET, "policies", None)
            .await
            .status,
        401
    );
    for token in [SUPER_TOKEN, POLICY_TOKEN, VIEWER_TOKEN] {
        assert_eq!(gw.admin(token, Method::GET, "keys", None).await.status, 200);
    }
    let created = gw
        .admin(
            SUPER_TOKEN,
            Method::POST,
            "keys",
            Some(json!({"id": "key-bob", "user": "bob", "models": ["*"]})),
        )
        .await;
    assert!(
        created.status == 200 || created.status == 201,
        "{}",
        created.body
    );
    let new_secret = created.body["secret"].as_str().unwrap().to_owned();
    assert_eq!(
        gw.chat(Some(&new_secret), &ask("echo-small", "hi"))
            .await
            .status,
        200
    );

    gw.terminate();
    let mut gw = gw;
    assert!(gw.exited().await, "the gateway exits cleanly");
    let log = f.log();
    assert!(
        log.contains("request rejected") || log.contains("rejected"),
        "the log has lines"
    );
    // The log holds random ids and microsecond times, whose digits may hold "4111" by chance;
    // the card is looked for whole, and by its groups as the request wrote them.
    assert!(
        !digits(&log).contains(CARD_DIGITS)
            && !log.contains("4111 1111")
            && !log.contains("1111 1111"),
        "the card in the log"
    );
    for secret in [
        EMAIL,
        KEY_SECRET,
        wrong_key,
        SUPER_TOKEN,
        POLICY_TOKEN,
        VIEWER_TOKEN,
        wrong_token,
        new_secret.as_str(),
        provider_key,
    ] {
        assert!(!log.contains(secret), "{secret} in the log");
    }
}
