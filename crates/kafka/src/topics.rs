//! The topic catalogue: names, partition counts and retention of Docket's topics, read from
//! `config/topics.conf` (the same file the local stack and the setup job read), and the
//! consumer-group names.

use std::sync::LazyLock;

use thiserror::Error;

const TOPICS_CONF: &str = include_str!("../../../config/topics.conf");

/// Topic names.
pub mod topic {
    /// Per-request decisions from the gateway (key: correlation id).
    pub const DECISIONS: &str = "docket.decisions.v1";
    /// Admin audit events from the gateway (key: resource id).
    pub const AUDIT: &str = "docket.audit.v1";
    /// Decisions joined to policy edits, written by the joiner (key: correlation id).
    pub const ENRICHED: &str = "docket.decisions.enriched.v1";
    /// Decisions the joiner holds back while their policy edit is awaited.
    pub const JOINER_PENDING: &str = "docket.joiner.pending.v1";
    /// Prefix of the dead-letter topics, one per service.
    pub const DLQ_PREFIX: &str = "docket.dlq.";
}

/// Consumer-group names.
pub mod group {
    /// The joiner's group on the decisions topic.
    pub const JOINER: &str = "docket-joiner";
    /// Prefix of the sinks' groups: `docket-sink-<name>`.
    pub const SINK_PREFIX: &str = "docket-sink-";

    /// The group of sink `name` (`s3`, `splunk`, ...).
    pub fn sink(name: &str) -> String {
        format!("{SINK_PREFIX}{name}")
    }
}

/// The dead-letter topic of `service` (`joiner`, `sink-s3`, ...).
pub fn dlq_topic(service: &str) -> String {
    format!("{}{service}", topic::DLQ_PREFIX)
}

/// One topic as configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicSpec {
    /// Topic name.
    pub name: String,
    /// Partition count.
    pub partitions: i32,
    /// `retention.ms`.
    pub retention_ms: i64,
    /// `cleanup.policy`.
    pub cleanup_policy: String,
}

/// A line of `topics.conf` that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("topics.conf line {line}: {reason}")]
pub struct TopicsError {
    /// 1-based line number.
    pub line: usize,
    /// What is wrong with it.
    pub reason: String,
}

/// Parses the catalogue format: `name partitions retention_ms cleanup`, `#` comments.
pub fn parse(text: &str) -> Result<Vec<TopicSpec>, TopicsError> {
    let mut specs = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.split('#').next().unwrap_or_default().trim();
        if line.is_empty() {
            continue;
        }
        let err = |reason: String| TopicsError {
            line: i + 1,
            reason,
        };
        let cols: Vec<&str> = line.split_whitespace().collect();
        let [name, partitions, retention, cleanup] = cols[..] else {
            return Err(err(format!("expected 4 columns, found {}", cols.len())));
        };
        specs.push(TopicSpec {
            name: name.to_owned(),
            partitions: partitions
                .parse()
                .map_err(|e| err(format!("partitions: {e}")))?,
            retention_ms: retention
                .parse()
                .map_err(|e| err(format!("retention_ms: {e}")))?,
            cleanup_policy: cleanup.to_owned(),
        });
    }
    Ok(specs)
}

static CATALOGUE: LazyLock<Vec<TopicSpec>> = LazyLock::new(|| {
    parse(TOPICS_CONF).unwrap_or_else(|e| panic!("config/topics.conf ships with the crate: {e}"))
});

/// Every topic Docket uses, as configured.
pub fn catalogue() -> &'static [TopicSpec] {
    &CATALOGUE
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalogue_names_every_topic_the_code_uses() {
        let names: Vec<&str> = catalogue().iter().map(|t| t.name.as_str()).collect();
        for expected in [
            topic::DECISIONS,
            topic::AUDIT,
            topic::ENRICHED,
            topic::JOINER_PENDING,
        ] {
            assert!(
                names.contains(&expected),
                "{expected} missing from topics.conf"
            );
        }
        for service in [
            "joiner",
            "sink-s3",
            "sink-splunk",
            "sink-datadog",
            "sink-otlp",
        ] {
            let dlq = dlq_topic(service);
            assert!(
                names.contains(&dlq.as_str()),
                "{dlq} missing from topics.conf"
            );
        }
    }

    #[test]
    fn malformed_lines_name_their_line() {
        let err = parse("# header\ndocket.x 3 1000\n").unwrap_err();
        assert_eq!(err.line, 2);
        let err = parse("docket.x three 1000 delete").unwrap_err();
        assert!(err.reason.starts_with("partitions"), "{err}");
    }
}
