//! The engine's configuration: which streams a sink takes, batch limits, retry policy and
//! the health endpoint, validated without touching the network.

use std::net::SocketAddr;
use std::time::Duration;

use thiserror::Error;

/// Which record streams a sink takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Streams {
    /// Enriched decisions only.
    Decisions,
    /// Audit events only.
    Audit,
    /// Both.
    Both,
}

impl Streams {
    /// Parses `decisions`, `audit` or `both`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "decisions" => Some(Self::Decisions),
            "audit" => Some(Self::Audit),
            "both" => Some(Self::Both),
            _ => None,
        }
    }

    /// Whether decisions are taken.
    pub fn decisions(self) -> bool {
        matches!(self, Self::Decisions | Self::Both)
    }

    /// Whether audit events are taken.
    pub fn audit(self) -> bool {
        matches!(self, Self::Audit | Self::Both)
    }
}

/// Where a batch ends: whichever limit is reached first. Every limit is a property of the
/// records (count, encoded bytes, record time), so the same records give the same batches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchLimits {
    /// Most records in one batch.
    pub max_records: usize,
    /// Most encoded bytes in one batch (a single larger record still forms its own batch).
    pub max_bytes: usize,
    /// Record-time window: a batch holds records of one aligned window of this length.
    pub window: Duration,
    /// A batch that received nothing for this long while the partition is idle is sent
    /// (the tail of the log must not wait forever).
    pub idle_flush: Duration,
}

/// Exponential backoff with full jitter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// First delay.
    pub initial: Duration,
    /// Largest delay.
    pub max: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            initial: Duration::from_millis(200),
            max: Duration::from_secs(30),
        }
    }
}

/// Everything the engine needs besides the sink itself.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// The sink's name: its consumer group is `docket-sink-<name>`, its dead-letter topic
    /// `docket.dlq.sink-<name>`.
    pub sink_name: String,
    /// Consumer group (defaults to the sink's group).
    pub group_id: String,
    /// Dead-letter topic.
    pub dlq_topic: String,
    /// Enriched-decision topic.
    pub decisions_topic: String,
    /// Audit topic.
    pub audit_topic: String,
    /// Which streams to take.
    pub streams: Streams,
    /// Batch boundaries.
    pub limits: BatchLimits,
    /// Bytes held in open, queued and in-flight batches before consumption pauses.
    pub max_buffered_bytes: usize,
    /// Retries of retryable failures.
    pub retry: RetryPolicy,
    /// How long shutdown waits for in-flight batches before abandoning them.
    pub shutdown_grace: Duration,
    /// Address of `/metrics`, `/healthz` and `/readyz` (none: no endpoint).
    pub http_addr: Option<SocketAddr>,
}

/// A configuration value that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{field}: {reason}")]
pub struct ConfigError {
    /// The setting (environment variable or field) at fault.
    pub field: String,
    /// What is wrong.
    pub reason: String,
}

impl ConfigError {
    /// An error about `field`.
    pub fn new(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

/// Bytes held in batches not yet accepted, across partitions, before consumption pauses.
/// Measured on a million 1 KB records (with 16 MiB objects): 256 MiB gave 60k records/s at
/// 701 MiB peak RSS, 64 MiB gave 50 to 57k records/s at about 410 MiB.
const DEFAULT_MAX_BUFFERED_BYTES: usize = 64 * 1024 * 1024;

impl EngineConfig {
    /// The defaults for sink `name`: Docket's topics, its group and dead-letter topic.
    pub fn for_sink(name: &str, streams: Streams, limits: BatchLimits) -> Self {
        Self {
            sink_name: name.to_owned(),
            group_id: docket_kafka::group::sink(name),
            dlq_topic: docket_kafka::dlq_topic(&format!("sink-{name}")),
            decisions_topic: docket_kafka::topic::ENRICHED.to_owned(),
            audit_topic: docket_kafka::topic::AUDIT.to_owned(),
            streams,
            limits,
            max_buffered_bytes: DEFAULT_MAX_BUFFERED_BYTES,
            retry: RetryPolicy::default(),
            shutdown_grace: Duration::from_secs(20),
            http_addr: None,
        }
    }

    /// Checks the values that do not need the network.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let l = &self.limits;
        if l.max_records == 0 || l.max_bytes == 0 {
            return Err(ConfigError::new(
                "limits",
                "record and byte limits must be positive",
            ));
        }
        if l.window.is_zero() {
            return Err(ConfigError::new("limits.window", "must be positive"));
        }
        if self.max_buffered_bytes < l.max_bytes {
            return Err(ConfigError::new(
                "max_buffered_bytes",
                "must be at least one batch's byte limit",
            ));
        }
        if self.retry.initial.is_zero() || self.retry.max < self.retry.initial {
            return Err(ConfigError::new("retry", "need 0 < initial <= max"));
        }
        Ok(())
    }

    /// The topics to subscribe to.
    pub fn topics(&self) -> Vec<&str> {
        let mut topics = Vec::new();
        if self.streams.decisions() {
            topics.push(self.decisions_topic.as_str());
        }
        if self.streams.audit() {
            topics.push(self.audit_topic.as_str());
        }
        topics
    }
}

/// Environment variables every sink reads.
pub mod env {
    /// `decisions`, `audit` or `both`.
    pub const STREAMS: &str = "DOCKET_SINK_STREAMS";
    /// Consumer group override (default `docket-sink-<name>`).
    pub const GROUP: &str = "DOCKET_SINK_GROUP";
    /// Dead-letter topic override (default `docket.dlq.sink-<name>`).
    pub const DLQ_TOPIC: &str = "DOCKET_SINK_DLQ_TOPIC";
    /// Enriched-decision topic override.
    pub const DECISIONS_TOPIC: &str = "DOCKET_SINK_DECISIONS_TOPIC";
    /// Audit topic override.
    pub const AUDIT_TOPIC: &str = "DOCKET_SINK_AUDIT_TOPIC";
    /// Most records per batch.
    pub const MAX_RECORDS: &str = "DOCKET_SINK_BATCH_MAX_RECORDS";
    /// Most encoded bytes per batch.
    pub const MAX_BYTES: &str = "DOCKET_SINK_BATCH_MAX_BYTES";
    /// Record-time window of a batch, seconds.
    pub const WINDOW_SECS: &str = "DOCKET_SINK_BATCH_WINDOW_SECS";
    /// Idle time before the tail batch is sent, milliseconds.
    pub const IDLE_FLUSH_MS: &str = "DOCKET_SINK_IDLE_FLUSH_MS";
    /// Bytes held in batches before consumption pauses.
    pub const MAX_BUFFERED_BYTES: &str = "DOCKET_SINK_MAX_BUFFERED_BYTES";
    /// First retry delay, milliseconds.
    pub const RETRY_INITIAL_MS: &str = "DOCKET_SINK_RETRY_INITIAL_MS";
    /// Largest retry delay, milliseconds.
    pub const RETRY_MAX_MS: &str = "DOCKET_SINK_RETRY_MAX_MS";
    /// How long shutdown waits for in-flight batches, milliseconds.
    pub const SHUTDOWN_GRACE_MS: &str = "DOCKET_SINK_SHUTDOWN_GRACE_MS";
    /// `host:port` of `/metrics`, `/healthz`, `/readyz`; `off` disables it.
    pub const HTTP_ADDR: &str = "DOCKET_SINK_HTTP_ADDR";
}

/// The default address of the metrics and health endpoint.
const DEFAULT_HTTP_ADDR: &str = "0.0.0.0:9464";
/// The value of [`env::HTTP_ADDR`] that disables the endpoint.
const HTTP_OFF: &str = "off";

impl EngineConfig {
    /// The defaults for sink `name` and its destination's `limits`, overlaid with `vars`
    /// (name, value pairs, usually the process environment), validated.
    pub fn from_vars(
        name: &str,
        limits: BatchLimits,
        vars: &std::collections::BTreeMap<String, String>,
    ) -> Result<Self, ConfigError> {
        let streams = match vars.get(env::STREAMS) {
            None => Streams::Both,
            Some(s) => Streams::parse(s).ok_or_else(|| {
                ConfigError::new(env::STREAMS, "expected decisions, audit or both")
            })?,
        };
        let mut c = Self::for_sink(name, streams, limits);
        let text = |var: &str, slot: &mut String| {
            if let Some(v) = vars.get(var) {
                slot.clone_from(v);
            }
        };
        text(env::GROUP, &mut c.group_id);
        text(env::DLQ_TOPIC, &mut c.dlq_topic);
        text(env::DECISIONS_TOPIC, &mut c.decisions_topic);
        text(env::AUDIT_TOPIC, &mut c.audit_topic);
        let num = |var: &str| -> Result<Option<u64>, ConfigError> {
            vars.get(var)
                .map(|v| v.parse::<u64>())
                .transpose()
                .map_err(|_| ConfigError::new(var, "expected a non-negative integer"))
        };
        let ms = Duration::from_millis;
        if let Some(n) = num(env::MAX_RECORDS)? {
            c.limits.max_records = n as usize;
        }
        if let Some(n) = num(env::MAX_BYTES)? {
            c.limits.max_bytes = n as usize;
        }
        if let Some(n) = num(env::WINDOW_SECS)? {
            c.limits.window = Duration::from_secs(n);
        }
        if let Some(n) = num(env::IDLE_FLUSH_MS)? {
            c.limits.idle_flush = ms(n);
        }
        if let Some(n) = num(env::MAX_BUFFERED_BYTES)? {
            c.max_buffered_bytes = n as usize;
        }
        if let Some(n) = num(env::RETRY_INITIAL_MS)? {
            c.retry.initial = ms(n);
        }
        if let Some(n) = num(env::RETRY_MAX_MS)? {
            c.retry.max = ms(n);
        }
        if let Some(n) = num(env::SHUTDOWN_GRACE_MS)? {
            c.shutdown_grace = ms(n);
        }
        let addr = vars
            .get(env::HTTP_ADDR)
            .map_or(DEFAULT_HTTP_ADDR, String::as_str);
        c.http_addr = if addr == HTTP_OFF {
            None
        } else {
            Some(addr.parse().map_err(|_| {
                ConfigError::new(env::HTTP_ADDR, "expected host:port (an IP address) or off")
            })?)
        };
        c.validate()?;
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    const LIMITS: BatchLimits = BatchLimits {
        max_records: 10,
        max_bytes: 1000,
        window: Duration::from_secs(60),
        idle_flush: Duration::from_secs(1),
    };

    fn vars(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_name_the_sinks_group_and_dead_letter_topic() {
        let c = EngineConfig::from_vars("s3", LIMITS, &vars(&[])).unwrap();
        assert_eq!(c.group_id, "docket-sink-s3");
        assert_eq!(c.dlq_topic, "docket.dlq.sink-s3");
        assert_eq!(
            c.topics(),
            vec![docket_kafka::topic::ENRICHED, docket_kafka::topic::AUDIT]
        );
    }

    #[test]
    fn environment_overrides_and_errors_name_the_variable() {
        let c = EngineConfig::from_vars(
            "s3",
            LIMITS,
            &vars(&[
                (env::STREAMS, "audit"),
                (env::MAX_RECORDS, "5"),
                (env::HTTP_ADDR, "off"),
            ]),
        )
        .unwrap();
        assert_eq!(c.topics(), vec![docket_kafka::topic::AUDIT]);
        assert_eq!((c.limits.max_records, c.http_addr), (5, None));
        let err =
            EngineConfig::from_vars("s3", LIMITS, &vars(&[(env::MAX_BYTES, "x")])).unwrap_err();
        assert_eq!(err.field, env::MAX_BYTES);
        let err =
            EngineConfig::from_vars("s3", LIMITS, &vars(&[(env::MAX_RECORDS, "0")])).unwrap_err();
        assert_eq!(err.field, "limits");
    }
}
