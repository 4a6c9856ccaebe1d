//! One Datadog log entry per record: the reserved attributes (`ddsource`, `service`,
//! `hostname`, `status`, `ddtags`, `message`, `timestamp`), `trace_id` for log-trace
//! correlation, and the whole exported record under `docket`; an entry above the intake's
//! 1 MB per log is refused here (the engine dead-letters it), never truncated.

use std::fmt::Write;

use docket_delivery::{Body, EncodeError, Exported, json};
use docket_records::{Audit, Decision, EnrichedDecision, Micros};
use docket_sink_http::Level;
use serde::Serialize;

/// The intake's limit for one log entry, in bytes of JSON.
pub const MAX_ENTRY_BYTES: usize = 1_000_000;
/// `ddsource` of every entry.
pub const SOURCE: &str = "docket";
/// Longest tag the intake keeps.
const MAX_TAG_CHARS: usize = 200;
/// Attribute holding the record time when the entry is sent with a later `timestamp`.
pub const ORIGINAL_TIMESTAMP: &str = "original_timestamp";

/// Settings that shape every entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntrySettings {
    /// `service`.
    pub service: String,
    /// `hostname` of audit events (decisions carry their gateway instance), and of decisions
    /// too when set explicitly.
    pub hostname: String,
    /// Whether `hostname` also replaces the gateway instance of decisions.
    pub hostname_override: bool,
    /// Extra tags (`key:value`) on every entry.
    pub tags: Vec<String>,
}

#[derive(Serialize)]
struct Entry<'a> {
    ddsource: &'static str,
    service: &'a str,
    hostname: &'a str,
    status: &'static str,
    ddtags: String,
    message: String,
    timestamp: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    trace_id: Option<&'a str>,
    #[serde(rename = "dd.trace_id", skip_serializing_if = "Option::is_none")]
    dd_trace_id: Option<String>,
    docket: &'a Exported,
}

/// The JSON entry of `record`.
pub fn entry(
    record: &Exported,
    settings: &EntrySettings,
    out: &mut Vec<u8>,
) -> Result<(), EncodeError> {
    let (hostname, trace_id) = match &record.record {
        Body::Decision(d) if !settings.hostname_override => (
            d.decision.gateway_instance.as_str(),
            Some(d.decision.correlation_id.as_str()),
        ),
        Body::Decision(d) => (
            settings.hostname.as_str(),
            Some(d.decision.correlation_id.as_str()),
        ),
        Body::Audit(_) => (settings.hostname.as_str(), None),
    };
    let entry = Entry {
        ddsource: SOURCE,
        service: &settings.service,
        hostname,
        status: Level::of(&record.record).status(),
        ddtags: ddtags(&record.record, &settings.tags),
        message: message(&record.record),
        timestamp: record.time.as_millis(),
        trace_id: trace_id.filter(|t| !t.is_empty()),
        dd_trace_id: trace_id.and_then(datadog_trace_id),
        docket: record,
    };
    let start = out.len();
    json::write(out, &entry)?;
    let len = out.len() - start;
    if len > MAX_ENTRY_BYTES {
        return Err(EncodeError(format!(
            "the Datadog log entry is {len} bytes, above the intake's {MAX_ENTRY_BYTES} bytes per log; not truncated"
        )));
    }
    Ok(())
}

/// The entry with `timestamp` set to `now` and the record time kept in
/// [`ORIGINAL_TIMESTAMP`] (milliseconds): for records older than the intake accepts.
pub fn restamp(entry: &[u8], now: Micros) -> Result<Vec<u8>, EncodeError> {
    let mut value: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(entry).map_err(|e| EncodeError(e.to_string()))?;
    if let Some(original) = value.insert("timestamp".to_owned(), now.as_millis().into()) {
        value.insert(ORIGINAL_TIMESTAMP.to_owned(), original);
    }
    serde_json::to_vec(&value).map_err(|e| EncodeError(e.to_string()))
}

/// Datadog's own form of a W3C trace id for log-trace correlation: the low 64 bits, decimal.
fn datadog_trace_id(correlation_id: &str) -> Option<String> {
    if correlation_id.len() != 32 || !correlation_id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u64::from_str_radix(&correlation_id[16..], 16)
        .ok()
        .map(|low| low.to_string())
}

/// `ddtags`: what a Datadog user filters on, then the configured tags, each as
/// [`normalize_tag`] makes it, comma-separated; written straight into one string (this was a
/// tenth of the sink's CPU as one string per tag, normalised character by character).
pub fn ddtags(record: &Body, extra: &[String]) -> String {
    let mut out = String::with_capacity(192);
    {
        let mut tag = |key: &str, value: &str| push_tag(&mut out, &[key, ":", value]);
        match record {
            Body::Decision(d) => decision_tags(d, &mut tag),
            Body::Audit(a) => audit_tags(a, &mut tag),
        }
    }
    for t in extra {
        push_tag(&mut out, &[t]);
    }
    out
}

/// Appends the tag made of `parts`, after a comma unless it is the first, as
/// [`normalize_tag`] makes it; ASCII (the usual case) byte by byte, where lower-casing and
/// the allowed characters are the same as for any text.
fn push_tag(out: &mut String, parts: &[&str]) {
    if !out.is_empty() {
        out.push(',');
    }
    if !parts.iter().all(|p| p.is_ascii()) {
        return out.push_str(&normalize_tag(&parts.concat()));
    }
    for b in parts.iter().flat_map(|p| p.bytes()).take(MAX_TAG_CHARS) {
        let c = b.to_ascii_lowercase();
        let allowed = c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-' | b':' | b'.' | b'/');
        out.push(if allowed { char::from(c) } else { '_' });
    }
}

fn decision_tags(d: &EnrichedDecision, tag: &mut impl FnMut(&str, &str)) {
    let decision = &d.decision;
    tag("stream", "decision");
    tag("verdict", decision.verdict.name());
    if let Some(policy) = &decision.policy {
        tag("policy_id", &policy.id);
        tag("policy_version", &policy.version.to_string());
    }
    tag("model", &decision.model.requested);
    tag("join_status", d.join_status.name());
    if let Some(change) = &d.policy_change {
        tag("action", &change.action);
    }
}

fn audit_tags(a: &Audit, tag: &mut impl FnMut(&str, &str)) {
    tag("stream", "audit");
    tag("action", &a.action);
    tag("outcome", a.outcome.name());
    if let Some(version) = a.policy_version {
        tag("policy_version", &version.to_string());
    }
}

/// A tag as the intake stores it: lower case, only letters, digits and `_ - : . /` (anything
/// else, commas included, becomes `_`), at most 200 characters.
pub fn normalize_tag(tag: &str) -> String {
    tag.chars()
        .flat_map(char::to_lowercase)
        .map(|c| {
            if c.is_alphanumeric() || matches!(c, '_' | '-' | ':' | '.' | '/') {
                c
            } else {
                '_'
            }
        })
        .take(MAX_TAG_CHARS)
        .collect()
}

/// The one-line human summary: `DENY no-exfil v4 key-1 → small` for a decision,
/// `policy.update policy/pol-pii SUCCESS by admin-bob` for an audit event; control
/// characters become spaces.
pub fn message(record: &Body) -> String {
    let mut text = String::with_capacity(128);
    match record {
        Body::Decision(d) => decision_message(&d.decision, &mut text),
        Body::Audit(a) => write!(
            text,
            "{} {}/{} {} by {}",
            a.action,
            a.resource.kind,
            a.resource.id,
            a.outcome.name(),
            a.actor.id
        ),
    }
    .expect("writing to a String cannot fail");
    if text.contains(char::is_control) {
        text = text
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
    }
    text
}

fn decision_message(decision: &Decision, text: &mut String) -> std::fmt::Result {
    text.push_str(decision.verdict.name());
    if let Some(p) = &decision.policy {
        write!(text, " {} v{}", p.id, p.version)?;
    }
    let model = decision
        .model
        .routed
        .as_deref()
        .unwrap_or(&decision.model.requested);
    write!(text, " {} → {model}", decision.caller.api_key_id)
}

#[cfg(test)]
mod tests {
    use docket_delivery::Source;
    use docket_records::{Outcome, Verdict, samples};

    use super::*;

    /// `entry` into a buffer of its own.
    fn entry_vec(record: &Exported, settings: &EntrySettings) -> Result<Vec<u8>, EncodeError> {
        let mut out = Vec::new();
        entry(record, settings, &mut out).map(|()| out)
    }

    fn settings() -> EntrySettings {
        EntrySettings {
            service: "docket".to_owned(),
            hostname: "sink-host".to_owned(),
            hostname_override: false,
            tags: vec!["env:test".to_owned()],
        }
    }

    fn exported(record: Body) -> Exported {
        let source = Source {
            topic: "t".into(),
            partition: 2,
            offset: 40,
        };
        Exported::new(record, source)
    }

    fn parse(bytes: &[u8]) -> serde_json::Value {
        serde_json::from_slice(bytes).unwrap()
    }

    #[test]
    fn a_decision_carries_the_reserved_attributes_and_the_whole_record() {
        let mut r = samples::enriched();
        r.decision.verdict = Verdict::Deny;
        let record = exported(Body::Decision(Box::new(r.clone())));
        let e = parse(&entry_vec(&record, &settings()).unwrap());
        assert_eq!(e["ddsource"], "docket");
        assert_eq!(e["service"], "docket");
        assert_eq!(e["hostname"], "gateway-7f9c-0");
        assert_eq!(e["status"], "warn");
        assert_eq!(e["timestamp"], 1_795_000_000_123_i64);
        assert_eq!(e["trace_id"], "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(
            e["dd.trace_id"],
            u64::from_str_radix("a3ce929d0e0e4736", 16)
                .unwrap()
                .to_string()
        );
        assert_eq!(e["message"], "DENY pol-pii v7 key-01 → gpt-4o-mini");
        assert_eq!(
            e["ddtags"],
            "stream:decision,verdict:deny,policy_id:pol-pii,policy_version:7,model:gpt-4o,join_status:joined,action:policy.update,env:test"
        );
        assert_eq!(e["docket"], serde_json::to_value(&record).unwrap());
    }

    #[test]
    fn an_audit_event_has_its_own_summary_tags_and_the_configured_host() {
        let mut a = samples::audit();
        a.outcome = Outcome::Failed;
        let e = parse(&entry_vec(&exported(Body::Audit(Box::new(a))), &settings()).unwrap());
        assert_eq!(e["hostname"], "sink-host");
        assert_eq!(e["status"], "error");
        assert_eq!(
            e["message"],
            "policy.update policy/pol-pii FAILED by admin-bob"
        );
        assert_eq!(
            e["ddtags"],
            "stream:audit,action:policy.update,outcome:failed,policy_version:7,env:test"
        );
        assert!(e.get("trace_id").is_none());
    }

    #[test]
    fn hostile_values_cannot_add_tags_or_lines() {
        let mut r = samples::enriched();
        r.decision.policy.as_mut().unwrap().id = "x,verdict:allow\nEVIL".to_owned();
        r.decision.caller.api_key_id = "k\r\nforged line\u{0}\u{85}".to_owned();
        r.decision.correlation_id = "not-a-trace-id".to_owned();
        let e = parse(&entry_vec(&exported(Body::Decision(Box::new(r))), &settings()).unwrap());
        let tags = e["ddtags"].as_str().unwrap();
        assert!(tags.contains("policy_id:x_verdict:allow_evil"), "{tags}");
        assert_eq!(tags.matches("verdict:").count(), 2, "{tags}");
        let message = e["message"].as_str().unwrap();
        assert!(!message.chars().any(char::is_control), "{message:?}");
        assert!(e.get("dd.trace_id").is_none());
        assert_eq!(normalize_tag(&"é".repeat(500)).chars().count(), 200);
    }

    /// The tags as they were made before [`ddtags`]: one string per tag, each normalised by
    /// [`normalize_tag`], then joined.
    fn reference_tags(record: &Body, extra: &[String]) -> String {
        let mut out = Vec::new();
        let mut tag = |key: &str, value: &str| out.push(normalize_tag(&format!("{key}:{value}")));
        match record {
            Body::Decision(d) => decision_tags(d, &mut tag),
            Body::Audit(a) => audit_tags(a, &mut tag),
        }
        out.extend(extra.iter().map(|t| normalize_tag(t)));
        out.join(",")
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2_000))]

        #[test]
        fn tags_are_what_normalising_each_one_makes(
            id in "(?s).{0,40}|[a-zA-Z0-9 ,:._/-]{150,260}",
            model in "(?s).{0,20}",
            action in "[A-Za-z .,]{0,30}|(?s).{0,10}",
            extra in proptest::collection::vec("(?s).{0,12}|[A-Z:]{195,205}", 0..3),
            audit in proptest::bool::ANY,
        ) {
            let record = if audit {
                let mut a = samples::audit();
                a.action = action;
                Body::Audit(Box::new(a))
            } else {
                let mut r = samples::enriched();
                r.decision.policy.as_mut().unwrap().id = id;
                r.decision.model.requested = model;
                r.policy_change.as_mut().unwrap().action = action;
                Body::Decision(Box::new(r))
            };
            proptest::prop_assert_eq!(ddtags(&record, &extra), reference_tags(&record, &extra));
        }
    }

    #[test]
    fn an_entry_above_one_megabyte_is_refused_not_truncated() {
        let mut a = samples::audit();
        a.details
            .insert("blob".to_owned(), "x".repeat(MAX_ENTRY_BYTES));
        let err = entry_vec(&exported(Body::Audit(Box::new(a))), &settings()).unwrap_err();
        assert!(
            err.0.contains("above the intake's 1000000 bytes per log"),
            "{err}"
        );
    }

    #[test]
    fn restamping_keeps_the_record_time_as_an_attribute() {
        let record = exported(Body::Audit(Box::new(samples::audit())));
        let bytes = entry_vec(&record, &settings()).unwrap();
        let e = parse(&restamp(&bytes, Micros(1_800_000_000_000_000)).unwrap());
        assert_eq!(e["timestamp"], 1_800_000_000_000_i64);
        assert_eq!(e[ORIGINAL_TIMESTAMP], record.time.as_millis());
        assert_eq!(e["docket"]["time"], record.time.0);
    }
}
