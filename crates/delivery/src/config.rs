//! The engine's configuration: which streams a sink takes, batch limits, retry policy and
//! the health endpoint, validated without touching the network.

use std::net::SocketAddr;
use std::time::Duration;

use docket_config::{Var, Vars};
use docket_telemetry::Backoff;

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

/// Exponential backoff with full jitter: each delay is drawn uniformly between zero and
/// the current ceiling, which doubles from `initial` up to `max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// First delay.
    pub initial: Duration,
    /// Largest delay.
    pub max: Duration,
}

impl RetryPolicy {
    /// A fresh backoff sequence under this policy.
    pub fn backoff(&self) -> Backoff {
        Backoff::new(self.initial, self.max)
    }
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
    /// Longest an accepted offset waits to be committed with the others.
    pub commit_interval: Duration,
    /// Address of `/metrics`, `/healthz` and `/readyz` (none: no endpoint).
    pub http_addr: Option<SocketAddr>,
    /// This process's stable name in the group (`group.instance.id`): a restart with the
    /// same name takes its partitions back at once. Unique per process within the group.
    pub instance: String,
}

/// A configuration value that cannot be used: the shared configuration error, naming the
/// variable or field.
pub use docket_config::ConfigError;

/// Bytes held in batches not yet accepted, across partitions, before consumption pauses, when
/// [`vars::MAX_BUFFERED_BYTES`] is unset: room for [`BUFFERED_BATCHES`] of the destination's
/// largest batches, and at least [`MIN_MAX_BUFFERED_BYTES`] (S3: 32 MiB; Splunk and OTLP:
/// 16 MiB; Datadog: 20 MiB).
///
/// Measured on 300k realistic ~1 KB records (docs/benchmarks.md): the S3 sink ran at 0.26 of
/// the stock consumer's rate with 32 MiB, 0.20 with 24 and 0.14 with 16; the HTTP sinks kept
/// their rate at 16 MiB and peaked 25–35 MiB lower than at 32 MiB.
pub fn default_max_buffered_bytes(limits: &BatchLimits) -> usize {
    limits
        .max_bytes
        .saturating_mul(BUFFERED_BATCHES)
        .max(MIN_MAX_BUFFERED_BYTES)
}

/// Largest batches the default allowance holds.
pub const BUFFERED_BATCHES: usize = 4;
/// The smallest default allowance.
pub const MIN_MAX_BUFFERED_BYTES: usize = 16 * 1024 * 1024;

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
            max_buffered_bytes: default_max_buffered_bytes(&limits),
            retry: RetryPolicy::default(),
            shutdown_grace: Duration::from_secs(20),
            commit_interval: Duration::from_millis(100),
            http_addr: None,
            instance: docket_kafka::instance_name(None, &format!("docket-sink-{name}-0")),
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

/// The engine's declared variables (name, default, help), for `--help` and the docs check.
pub mod vars {
    use docket_config::{OldName, Var};
    use docket_kafka::topic;

    /// `decisions`, `audit` or `both`.
    pub const STREAMS: Var =
        Var::new("DOCKET_SINK_STREAMS", "decisions, audit or both").default("both");
    /// Consumer group override.
    pub const GROUP: Var =
        Var::new("DOCKET_SINK_GROUP", "consumer group").described("docket-sink-<name>");
    /// Dead-letter topic override.
    pub const DLQ_TOPIC: Var =
        Var::new("DOCKET_SINK_DLQ_TOPIC", "dead-letter topic").described("docket.dlq.sink-<name>");
    /// Enriched-decision topic override.
    pub const DECISIONS_TOPIC: Var =
        Var::new("DOCKET_SINK_DECISIONS_TOPIC", "enriched-decision topic").default(topic::ENRICHED);
    /// Audit topic override.
    pub const AUDIT_TOPIC: Var =
        Var::new("DOCKET_SINK_AUDIT_TOPIC", "audit topic").default(topic::AUDIT);
    /// Most records per batch.
    pub const MAX_RECORDS: Var =
        Var::new("DOCKET_SINK_BATCH_MAX_RECORDS", "most records per batch").described("per sink");
    /// Most encoded bytes per batch.
    pub const MAX_BYTES: Var = Var::new(
        "DOCKET_SINK_BATCH_MAX_BYTES",
        "most encoded bytes per batch",
    )
    .described("per sink");
    /// Record-time window of a batch.
    pub const WINDOW: Var = Var::new("DOCKET_SINK_BATCH_WINDOW", "record-time window of a batch")
        .described("per sink")
        .old(OldName::secs("DOCKET_SINK_BATCH_WINDOW_SECS"));
    /// Idle time before the tail batch is sent.
    pub const IDLE_FLUSH: Var = Var::new(
        "DOCKET_SINK_IDLE_FLUSH",
        "idle time of the whole consumer before the tail batches are sent",
    )
    .described("per sink")
    .old(OldName::millis("DOCKET_SINK_IDLE_FLUSH_MS"));
    /// Bytes held in batches before consumption pauses.
    pub const MAX_BUFFERED_BYTES: Var = Var::new(
        "DOCKET_SINK_MAX_BUFFERED_BYTES",
        "bytes held in batches not yet accepted before consumption pauses",
    )
    .described("four of the largest batches, at least 16MiB");
    /// First retry delay.
    pub const RETRY_INITIAL: Var =
        Var::new("DOCKET_SINK_RETRY_INITIAL", "first retry delay ceiling")
            .default("200ms")
            .old(OldName::millis("DOCKET_SINK_RETRY_INITIAL_MS"));
    /// Largest retry delay.
    pub const RETRY_MAX: Var = Var::new("DOCKET_SINK_RETRY_MAX", "largest retry delay ceiling")
        .default("30s")
        .old(OldName::millis("DOCKET_SINK_RETRY_MAX_MS"));
    /// How long shutdown waits for in-flight batches.
    pub const SHUTDOWN_GRACE: Var = Var::new(
        "DOCKET_SINK_SHUTDOWN_GRACE",
        "how long shutdown waits for in-flight batches",
    )
    .default("20s")
    .old(OldName::millis("DOCKET_SINK_SHUTDOWN_GRACE_MS"));
    /// Longest an accepted offset waits to be committed with the others.
    pub const COMMIT_INTERVAL: Var = Var::new(
        "DOCKET_SINK_COMMIT_INTERVAL",
        "longest an accepted offset waits to be committed with the others' in one request",
    )
    .default("100ms");
    /// This process's stable name in the group.
    pub const INSTANCE: Var = Var::new(
        "DOCKET_SINK_INSTANCE",
        "this process's stable name in its group (group.instance.id); unique per process",
    )
    .described("the host name (the pod name under Kubernetes)");
    /// `host:port` of `/metrics`, `/healthz`, `/readyz`; `off` disables it.
    pub const HTTP_ADDR: Var = Var::new(
        "DOCKET_SINK_HTTP_ADDR",
        "/metrics, /healthz, /readyz (host:port, or off)",
    )
    .default("0.0.0.0:9464");
}

/// Every variable the engine reads.
pub const VARS: &[Var] = &[
    vars::STREAMS,
    vars::GROUP,
    vars::DLQ_TOPIC,
    vars::DECISIONS_TOPIC,
    vars::AUDIT_TOPIC,
    vars::MAX_RECORDS,
    vars::MAX_BYTES,
    vars::WINDOW,
    vars::IDLE_FLUSH,
    vars::MAX_BUFFERED_BYTES,
    vars::RETRY_INITIAL,
    vars::RETRY_MAX,
    vars::SHUTDOWN_GRACE,
    vars::COMMIT_INTERVAL,
    vars::INSTANCE,
    vars::HTTP_ADDR,
];

/// Environment variable names every sink reads (see [`vars`] for defaults and help).
pub mod env {
    use super::vars;

    /// `decisions`, `audit` or `both`.
    pub const STREAMS: &str = vars::STREAMS.name;
    /// Consumer group override (default `docket-sink-<name>`).
    pub const GROUP: &str = vars::GROUP.name;
    /// Dead-letter topic override (default `docket.dlq.sink-<name>`).
    pub const DLQ_TOPIC: &str = vars::DLQ_TOPIC.name;
    /// Enriched-decision topic override.
    pub const DECISIONS_TOPIC: &str = vars::DECISIONS_TOPIC.name;
    /// Audit topic override.
    pub const AUDIT_TOPIC: &str = vars::AUDIT_TOPIC.name;
    /// Most records per batch.
    pub const MAX_RECORDS: &str = vars::MAX_RECORDS.name;
    /// Most encoded bytes per batch (`16MiB` or bytes).
    pub const MAX_BYTES: &str = vars::MAX_BYTES.name;
    /// Record-time window of a batch (`5m`).
    pub const WINDOW: &str = vars::WINDOW.name;
    /// Idle time before the tail batch is sent (`5s`).
    pub const IDLE_FLUSH: &str = vars::IDLE_FLUSH.name;
    /// Bytes held in batches before consumption pauses (`32MiB` or bytes).
    pub const MAX_BUFFERED_BYTES: &str = vars::MAX_BUFFERED_BYTES.name;
    /// First retry delay (`200ms`).
    pub const RETRY_INITIAL: &str = vars::RETRY_INITIAL.name;
    /// Largest retry delay (`30s`).
    pub const RETRY_MAX: &str = vars::RETRY_MAX.name;
    /// How long shutdown waits for in-flight batches (`20s`).
    pub const SHUTDOWN_GRACE: &str = vars::SHUTDOWN_GRACE.name;
    /// Longest an accepted offset waits to be committed (`100ms`).
    pub const COMMIT_INTERVAL: &str = vars::COMMIT_INTERVAL.name;
    /// This process's stable name in the group (`group.instance.id`).
    pub const INSTANCE: &str = vars::INSTANCE.name;
    /// `host:port` of `/metrics`, `/healthz`, `/readyz`; `off` disables it.
    pub const HTTP_ADDR: &str = vars::HTTP_ADDR.name;
    /// Old name of [`WINDOW`] (whole seconds), read for one release.
    pub const WINDOW_SECS: &str = "DOCKET_SINK_BATCH_WINDOW_SECS";
    /// Old name of [`IDLE_FLUSH`] (milliseconds), read for one release.
    pub const IDLE_FLUSH_MS: &str = "DOCKET_SINK_IDLE_FLUSH_MS";
    /// Old name of [`RETRY_INITIAL`] (milliseconds), read for one release.
    pub const RETRY_INITIAL_MS: &str = "DOCKET_SINK_RETRY_INITIAL_MS";
    /// Old name of [`RETRY_MAX`] (milliseconds), read for one release.
    pub const RETRY_MAX_MS: &str = "DOCKET_SINK_RETRY_MAX_MS";
    /// Old name of [`SHUTDOWN_GRACE`] (milliseconds), read for one release.
    pub const SHUTDOWN_GRACE_MS: &str = "DOCKET_SINK_SHUTDOWN_GRACE_MS";
}

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
        Self::from_config(name, limits, &Vars::from(vars.clone()))
    }

    /// The defaults for sink `name` and its destination's `limits`, overlaid with `vars`,
    /// validated.
    pub fn from_config(name: &str, limits: BatchLimits, vars: &Vars) -> Result<Self, ConfigError> {
        let streams = vars.parsed_or_default(&vars::STREAMS, |s| {
            Streams::parse(s).ok_or_else(|| "expected decisions, audit or both".to_owned())
        })?;
        let mut c = Self::for_sink(name, streams, limits);
        if let Some(group) = vars.optional(&vars::GROUP) {
            c.group_id = group;
        }
        if let Some(dlq) = vars.optional(&vars::DLQ_TOPIC) {
            c.dlq_topic = dlq;
        }
        c.decisions_topic = vars.text(&vars::DECISIONS_TOPIC);
        c.audit_topic = vars.text(&vars::AUDIT_TOPIC);
        c.limits = limits_from(vars, limits)?;
        c.max_buffered_bytes = match vars.size_opt(&vars::MAX_BUFFERED_BYTES)? {
            Some(bytes) => to_usize(&vars::MAX_BUFFERED_BYTES, bytes)?,
            None => default_max_buffered_bytes(&c.limits),
        };
        c.retry = RetryPolicy {
            initial: vars.duration(&vars::RETRY_INITIAL)?,
            max: vars.duration(&vars::RETRY_MAX)?,
        };
        c.shutdown_grace = vars.duration(&vars::SHUTDOWN_GRACE)?;
        c.commit_interval = vars.duration(&vars::COMMIT_INTERVAL)?;
        c.http_addr = http_addr(vars)?;
        if let Some(instance) = vars.optional(&vars::INSTANCE) {
            c.instance = instance;
        }
        c.validate()?;
        Ok(c)
    }
}

/// The sink's `limits`, overridden where the variables say.
fn limits_from(vars: &Vars, limits: BatchLimits) -> Result<BatchLimits, ConfigError> {
    let bytes = match vars.size_opt(&vars::MAX_BYTES)? {
        Some(b) => to_usize(&vars::MAX_BYTES, b)?,
        None => limits.max_bytes,
    };
    Ok(BatchLimits {
        max_records: vars
            .number_opt(&vars::MAX_RECORDS)?
            .unwrap_or(limits.max_records),
        max_bytes: bytes,
        window: vars.duration_opt(&vars::WINDOW)?.unwrap_or(limits.window),
        idle_flush: vars
            .duration_opt(&vars::IDLE_FLUSH)?
            .unwrap_or(limits.idle_flush),
    })
}

fn to_usize(var: &Var, n: u64) -> Result<usize, ConfigError> {
    usize::try_from(n).map_err(|e| ConfigError::with_source(var.name, "too large", e))
}

fn http_addr(vars: &Vars) -> Result<Option<SocketAddr>, ConfigError> {
    let addr = vars.text(&vars::HTTP_ADDR);
    if addr == HTTP_OFF {
        return Ok(None);
    }
    addr.parse().map(Some).map_err(|e| {
        ConfigError::with_source(
            env::HTTP_ADDR,
            "expected host:port (an IP address) or off",
            e,
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: BatchLimits = BatchLimits {
        max_records: 10,
        max_bytes: 1000,
        window: Duration::from_secs(60),
        idle_flush: Duration::from_secs(1),
    };

    fn vars(pairs: &[(&str, &str)]) -> Vars {
        Vars::from(pairs)
    }

    #[test]
    fn defaults_name_the_sinks_group_and_dead_letter_topic() {
        let c = EngineConfig::from_config("s3", LIMITS, &vars(&[])).unwrap();
        assert_eq!(c.group_id, "docket-sink-s3");
        assert_eq!(c.dlq_topic, "docket.dlq.sink-s3");
        assert_eq!(
            c.topics(),
            vec![docket_kafka::topic::ENRICHED, docket_kafka::topic::AUDIT]
        );
    }

    #[test]
    fn environment_overrides_and_errors_name_the_variable() {
        let c = EngineConfig::from_config(
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
            EngineConfig::from_config("s3", LIMITS, &vars(&[(env::MAX_BYTES, "x")])).unwrap_err();
        assert_eq!(err.field, env::MAX_BYTES);
        let err =
            EngineConfig::from_config("s3", LIMITS, &vars(&[(env::MAX_RECORDS, "0")])).unwrap_err();
        assert_eq!(err.field, "limits");
    }

    #[test]
    fn durations_take_units_and_old_names_still_count() {
        let c = EngineConfig::from_config(
            "s3",
            LIMITS,
            &vars(&[
                (env::IDLE_FLUSH, "300ms"),
                (env::SHUTDOWN_GRACE_MS, "5000"),
                (env::MAX_BYTES, "1KiB"),
            ]),
        )
        .unwrap();
        assert_eq!(c.limits.idle_flush, Duration::from_millis(300));
        assert_eq!(c.shutdown_grace, Duration::from_secs(5));
        assert_eq!(c.limits.max_bytes, 1024);
        assert_eq!(c.retry, RetryPolicy::default());
        assert_eq!(c.max_buffered_bytes, default_max_buffered_bytes(&c.limits));
    }

    #[test]
    fn the_default_allowance_holds_four_of_the_largest_batches_and_at_least_16_mib() {
        const MIB: usize = 1024 * 1024;
        let with = |max_bytes| {
            default_max_buffered_bytes(&BatchLimits {
                max_bytes,
                ..LIMITS
            })
        };
        assert_eq!(with(8 * MIB), 32 * MIB);
        assert_eq!(with(5 * MIB), 20 * MIB);
        assert_eq!(with(MIB), 16 * MIB);
        assert_eq!(with(usize::MAX), usize::MAX);
        let raised = vars(&[(env::MAX_BYTES, "10MiB")]);
        let c = EngineConfig::from_config("s3", LIMITS, &raised).unwrap();
        assert_eq!(
            c.max_buffered_bytes,
            40 * MIB,
            "follows a raised batch limit"
        );
        let set = vars(&[(env::MAX_BUFFERED_BYTES, "64MiB")]);
        let c = EngineConfig::from_config("s3", LIMITS, &set).unwrap();
        assert_eq!(c.max_buffered_bytes, 64 * MIB);
    }

    #[test]
    fn every_variable_is_in_one_docs_table() {
        let docs = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs");
        docket_config::check_documented(&docs, VARS).unwrap();
    }
}
