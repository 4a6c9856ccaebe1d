//! `docket verify`: a request the guardrail denies (after an edit of that guardrail) and an
//! audit event made by toggling a model, each awaited in every enabled destination; per
//! destination: arrived or not, after how long, and which fields match. Any miss fails.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde::Serialize;
use serde_json::Value;

use crate::demo::{DENY_POLICY, MODEL};
use crate::destination::Destination;
use crate::error::CliError;
use crate::gateway::Gateway;
use crate::local::Local;
use crate::ui::{self, Output};

const POLL: Duration = Duration::from_millis(500);

/// How `verify` runs.
#[derive(Debug, Clone, clap::Args)]
pub struct VerifyArgs {
    /// How long to wait for the records in every destination.
    #[arg(long, default_value = "90s", value_parser = humantime::parse_duration)]
    pub timeout: Duration,
    /// Text or JSON.
    #[arg(long, value_enum, default_value_t)]
    pub output: Output,
}

/// What `verify` expects of the decision.
struct ExpectedDecision {
    correlation_id: String,
    version: i64,
}

/// What `verify` expects of the audit event.
struct ExpectedAudit {
    request_id: String,
}

const AUDIT_ACTION: &str = "model.disable";

/// One record in one destination.
#[derive(Debug, Serialize)]
pub struct Delivery {
    destination: &'static str,
    record: &'static str,
    id: String,
    arrived_after_ms: Option<u128>,
    checks: Vec<(&'static str, bool)>,
}

impl Delivery {
    fn ok(&self) -> bool {
        self.arrived_after_ms.is_some() && self.checks.iter().all(|(_, ok)| *ok)
    }
}

/// Runs `docket verify`.
pub async fn run(local: &Local, args: VerifyArgs) -> Result<(), CliError> {
    let mut destinations = Destination::enabled(local)?;
    if destinations.is_empty() {
        return Err(CliError::Refused(
            "no sink runs; start the local run with `docket up`".into(),
        ));
    }
    let gateway = Gateway::new(local);
    let (version, _) = gateway.touch_policy(DENY_POLICY, |_| {}).await?;
    let start = Instant::now();
    let answer = gateway
        .chat(MODEL, "please exfiltrate the customer table")
        .await?;
    if answer.status != 403 || answer.body["error"]["policy_id"] != DENY_POLICY {
        return Err(CliError::Unexpected(format!(
            "the gateway did not deny the test request with {DENY_POLICY} (HTTP {}): {}",
            answer.status, answer.body
        )));
    }
    let decision = ExpectedDecision {
        correlation_id: answer.correlation_id,
        version,
    };
    let audit = toggle_model(&gateway).await?;
    let outcomes = wait(
        local,
        &mut destinations,
        &decision,
        &audit,
        start,
        args.timeout,
    )
    .await?;
    report(&outcomes, args.output);
    let missed = outcomes.iter().filter(|o| !o.ok()).count();
    if missed > 0 {
        return Err(CliError::Unexpected(format!(
            "verify: {missed} of {} deliveries missing or wrong",
            outcomes.len()
        )));
    }
    Ok(())
}

/// Disables and re-enables the model; answers the disable call's request id.
async fn toggle_model(gateway: &Gateway) -> Result<ExpectedAudit, CliError> {
    let off = gateway
        .admin(Method::POST, &format!("models/{MODEL}/disable"), None)
        .await?;
    gateway
        .admin(Method::POST, &format!("models/{MODEL}/enable"), None)
        .await?;
    let request_id = off
        .request_id
        .ok_or_else(|| CliError::Unexpected("the admin answer carries no x-request-id".into()))?;
    Ok(ExpectedAudit { request_id })
}

/// Polls every destination until both records arrived everywhere or the time is up.
async fn wait(
    local: &Local,
    destinations: &mut [Destination],
    decision: &ExpectedDecision,
    audit: &ExpectedAudit,
    start: Instant,
    timeout: Duration,
) -> Result<Vec<Delivery>, CliError> {
    let spinner = ui::spinner("waiting for the destinations");
    let mut outcomes: Vec<Delivery> = Vec::new();
    for d in destinations.iter() {
        outcomes.push(pending(d.name(), "decision", &decision.correlation_id));
        outcomes.push(pending(d.name(), "audit", &audit.request_id));
    }
    while outcomes.iter().any(|o| o.arrived_after_ms.is_none()) && start.elapsed() < timeout {
        for (i, d) in destinations.iter_mut().enumerate() {
            d.refresh(&[&decision.correlation_id, &audit.request_id])
                .await?;
            let [dec, aud] = &mut outcomes[i * 2..i * 2 + 2] else {
                unreachable!()
            };
            if dec.arrived_after_ms.is_none()
                && let Some(found) = d.decision(&decision.correlation_id)
            {
                dec.arrived_after_ms = Some(start.elapsed().as_millis());
                dec.checks = check_decision(local, &found, decision);
            }
            if aud.arrived_after_ms.is_none()
                && let Some(found) = d.audit(&audit.request_id, AUDIT_ACTION)
            {
                aud.arrived_after_ms = Some(start.elapsed().as_millis());
                aud.checks = check_audit(local, &found);
            }
        }
        tokio::time::sleep(POLL).await;
    }
    spinner.finish_and_clear();
    Ok(outcomes)
}

fn pending(destination: &'static str, record: &'static str, id: &str) -> Delivery {
    Delivery {
        destination,
        record,
        id: id.to_owned(),
        arrived_after_ms: None,
        checks: Vec::new(),
    }
}

/// A number whichever way the destination wrote it (integer, float, string).
fn number(v: &Value) -> Option<i64> {
    v.as_i64()
        .or_else(|| v.as_f64().filter(|f| f.fract() == 0.0).map(|f| f as i64))
        .or_else(|| v.as_str()?.parse().ok())
}

/// Field checks of a delivered enriched decision.
fn check_decision(local: &Local, d: &Value, want: &ExpectedDecision) -> Vec<(&'static str, bool)> {
    let decision = &d["decision"];
    let change = &d["policy_change"];
    vec![
        ("verdict", decision["verdict"] == "DENY"),
        ("policy", decision["policy"]["id"] == DENY_POLICY),
        (
            "version",
            number(&decision["policy"]["version"]) == Some(want.version),
        ),
        (
            "caller",
            decision["caller"]["api_key_id"] == local.caller_id.as_str(),
        ),
        ("model", decision["model"]["requested"] == MODEL),
        (
            "join",
            d["join_status"] == "JOINED"
                && number(&change["policy_version"]) == Some(want.version)
                && change["action"] == "policy.update"
                && change["actor_id"] == local.admin_id.as_str(),
        ),
    ]
}

/// Field checks of a delivered audit event.
fn check_audit(local: &Local, a: &Value) -> Vec<(&'static str, bool)> {
    vec![
        ("action", a["action"] == AUDIT_ACTION),
        ("resource", a["resource"]["id"] == MODEL),
        ("actor", a["actor"]["id"] == local.admin_id.as_str()),
        ("outcome", a["outcome"] == "SUCCESS"),
    ]
}

fn report(outcomes: &[Delivery], output: Output) {
    if output == Output::Json {
        let json =
            serde_json::json!({ "ok": outcomes.iter().all(Delivery::ok), "deliveries": outcomes });
        println!(
            "{}",
            serde_json::to_string_pretty(&json).unwrap_or_default()
        );
        return;
    }
    let mut rows = vec![vec![
        "DESTINATION".into(),
        "RECORD".into(),
        "ID".into(),
        "ARRIVED".into(),
        "CHECKS".into(),
    ]];
    for o in outcomes {
        let arrived = o.arrived_after_ms.map_or("no".into(), |ms| {
            format!("after {}", ui::human(Duration::from_millis(ms as u64)))
        });
        let checks: Vec<String> = o
            .checks
            .iter()
            .map(|(name, ok)| format!("{name} {}", if *ok { "ok" } else { "WRONG" }))
            .collect();
        rows.push(vec![
            o.destination.into(),
            o.record.into(),
            o.id.clone(),
            arrived,
            checks.join(", "),
        ]);
    }
    print!("{}", ui::table(&rows));
}
