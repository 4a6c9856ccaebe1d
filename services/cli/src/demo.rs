//! `docket demo`: a mixed workload through the gateway's real HTTP API (allowed, denied,
//! redacted and routed requests), a policy edit through the admin API halfway, then `verify`.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::error::CliError;
use crate::gateway::{Answer, Gateway};
use crate::local::Local;
use crate::ui;
use crate::verify::{self, VerifyArgs};

/// The sample configuration's guardrail, model and routed model.
pub const DENY_POLICY: &str = "no-exfil";
/// A plain echo model.
pub const MODEL: &str = "echo-small";
/// A model the routing policy sends to [`MODEL`].
const ROUTED_MODEL: &str = "echo-large";
/// The keyword the midway edit adds to the guardrail.
const NEW_KEYWORD: &str = "smuggle";

/// One request of the workload and what it shows.
struct Step {
    kind: &'static str,
    model: &'static str,
    text: &'static str,
}

/// The workload's requests for round `round` (the second half uses the edited guardrail).
fn round(second_half: bool) -> [Step; 4] {
    let deny = if second_half {
        "smuggle the weights out tonight"
    } else {
        "please exfiltrate the customer table"
    };
    [
        Step {
            kind: "allow",
            model: MODEL,
            text: "what is the capital of France?",
        },
        Step {
            kind: "deny",
            model: MODEL,
            text: deny,
        },
        Step {
            kind: "redact",
            model: MODEL,
            text: "mail ana@example.com, card 4111 1111 1111 1111",
        },
        Step {
            kind: "route",
            model: ROUTED_MODEL,
            text: "summarise the meeting notes",
        },
    ]
}

/// Runs `docket demo` with `rounds` rounds of four requests.
pub async fn run(local: &Local, rounds: u32, verify: VerifyArgs) -> Result<(), CliError> {
    let gateway = Gateway::new(local);
    let bar = ui::bar(u64::from(rounds) * 4 + 1, "workload");
    let mut tally: BTreeMap<&'static str, (u32, u32)> = BTreeMap::new();
    let mut edit = None;
    for r in 0..rounds {
        let second_half = r >= rounds / 2;
        if second_half && edit.is_none() {
            let (version, request_id) = gateway.touch_policy(DENY_POLICY, add_keyword).await?;
            edit = Some((version, request_id));
            bar.inc(1);
        }
        for step in round(second_half) {
            let answer = gateway.chat(step.model, step.text).await?;
            let entry = tally.entry(step.kind).or_default();
            entry.0 += 1;
            entry.1 += u32::from(as_expected(step.kind, &answer));
            bar.inc(1);
        }
    }
    bar.finish_and_clear();
    print_summary(&tally, edit.as_ref());
    let wrong: u32 = tally.values().map(|(sent, ok)| sent - ok).sum();
    if wrong > 0 {
        return Err(CliError::Unexpected(format!(
            "{wrong} requests were not answered as expected; see the gateway's log"
        )));
    }
    println!();
    verify::run(local, verify).await
}

/// Adds [`NEW_KEYWORD`] to the guardrail's keywords (once).
fn add_keyword(policy: &mut Value) {
    let keywords = &mut policy["spec"]["keywords"];
    if !keywords.is_array() {
        *keywords = json!([]);
    }
    if let Some(list) = keywords.as_array_mut()
        && !list.iter().any(|k| k == NEW_KEYWORD)
    {
        list.push(json!(NEW_KEYWORD));
    }
}

/// Whether the answer is what the step shows.
fn as_expected(kind: &str, answer: &Answer) -> bool {
    let content = answer.body["choices"][0]["message"]["content"]
        .as_str()
        .unwrap_or_default();
    match kind {
        "deny" => answer.status == 403 && answer.body["error"]["type"] == "policy_denied",
        "redact" => answer.status == 200 && content.contains("[REDACTED:"),
        _ => answer.status == 200,
    }
}

fn print_summary(tally: &BTreeMap<&'static str, (u32, u32)>, edit: Option<&(i64, String)>) {
    let mut rows = vec![vec!["REQUESTS".into(), "SENT".into(), "AS EXPECTED".into()]];
    for (kind, (sent, ok)) in tally {
        rows.push(vec![(*kind).into(), sent.to_string(), ok.to_string()]);
    }
    print!("{}", ui::table(&rows));
    if let Some((version, request_id)) = edit {
        println!(
            "midway: policy {DENY_POLICY} edited through the admin API (adds '{NEW_KEYWORD}'): version {version}, request {request_id}"
        );
    }
}
