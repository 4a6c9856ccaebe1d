//! The joiner's configuration, loaded in layers (defaults, then environment) and validated
//! before anything connects.

use std::net::SocketAddr;
use std::time::Duration;

use docket_kafka::{KafkaSettings, SettingsError, dlq_topic, group, topic};
use thiserror::Error;

/// Environment variable names.
pub mod env {
    /// This instance's stable name; the transactional id derives from it.
    pub const INSTANCE: &str = "DOCKET_JOINER_INSTANCE";
    /// How long a decision naming an unseen policy version waits for its edit (`5s`).
    pub const GRACE: &str = "DOCKET_JOINER_GRACE";
    /// How far before a decision an edit still counts (`30d`).
    pub const HORIZON: &str = "DOCKET_JOINER_HORIZON";
    /// How much audit history is loaded on start (`30d`).
    pub const HISTORY: &str = "DOCKET_JOINER_HISTORY";
    /// Address of the `/metrics`, `/healthz`, `/readyz` endpoint.
    pub const METRICS_ADDR: &str = "DOCKET_JOINER_METRICS_ADDR";
    /// Consumer group on the decisions topic.
    pub const GROUP: &str = "DOCKET_JOINER_GROUP";
    /// Most records handled in one transaction (`20000`). Each transaction costs about
    /// 100 ms of broker round trips whatever its size, so large batches carry the rate.
    pub const BATCH_MAX: &str = "DOCKET_JOINER_BATCH_MAX";
    /// Longest a round collects before its transaction (`100ms`).
    pub const BATCH_WAIT: &str = "DOCKET_JOINER_BATCH_WAIT";
    /// Topic overrides, for running several pipelines on one cluster.
    pub const DECISIONS_TOPIC: &str = "DOCKET_JOINER_DECISIONS_TOPIC";
    /// See [`DECISIONS_TOPIC`].
    pub const AUDIT_TOPIC: &str = "DOCKET_JOINER_AUDIT_TOPIC";
    /// See [`DECISIONS_TOPIC`].
    pub const ENRICHED_TOPIC: &str = "DOCKET_JOINER_ENRICHED_TOPIC";
    /// See [`DECISIONS_TOPIC`].
    pub const PENDING_TOPIC: &str = "DOCKET_JOINER_PENDING_TOPIC";
    /// See [`DECISIONS_TOPIC`].
    pub const DLQ_TOPIC: &str = "DOCKET_JOINER_DLQ_TOPIC";
}

/// Service name used for the dead-letter topic and the transactional id.
pub const SERVICE: &str = "joiner";
const DEFAULT_GRACE: Duration = Duration::from_secs(5);
const DEFAULT_HORIZON: Duration = Duration::from_secs(30 * 86_400);
const DEFAULT_HISTORY: Duration = Duration::from_secs(30 * 86_400);
const DEFAULT_METRICS_ADDR: &str = "127.0.0.1:9601";
const DEFAULT_INSTANCE: &str = "joiner-0";
const DEFAULT_BATCH_MAX: usize = 20_000;
const DEFAULT_BATCH_WAIT: Duration = Duration::from_millis(100);

/// The topics one joiner reads and writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topics {
    /// Decisions in.
    pub decisions: String,
    /// Audit events in (read whole).
    pub audit: String,
    /// Enriched decisions out.
    pub enriched: String,
    /// Decisions held back during the grace period.
    pub pending: String,
    /// Undecodable input.
    pub dlq: String,
}

/// Everything the joiner needs to run.
#[derive(Debug, Clone)]
pub struct JoinerConfig {
    /// Kafka and registry.
    pub kafka: KafkaSettings,
    /// Stable instance name.
    pub instance: String,
    /// Consumer group on the decisions and pending topics.
    pub group: String,
    /// Topic names.
    pub topics: Topics,
    /// Grace period for unseen versions.
    pub grace: Duration,
    /// Join horizon.
    pub horizon: Duration,
    /// Audit history loaded on start.
    pub history: Duration,
    /// Metrics and health endpoint.
    pub metrics_addr: SocketAddr,
    /// Most records handled in one transaction.
    pub batch_max: usize,
    /// Longest a round collects before its transaction.
    pub batch_wait: Duration,
}

/// A setting that cannot be used; names its variable.
#[derive(Debug, Error)]
pub enum ConfigError {
    /// Kafka or registry setting.
    #[error(transparent)]
    Kafka(#[from] SettingsError),
    /// A joiner setting.
    #[error("{variable}: {reason}")]
    Invalid {
        /// The variable.
        variable: &'static str,
        /// What is wrong.
        reason: String,
    },
}

impl JoinerConfig {
    /// Defaults overlaid with the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_vars(std::env::vars().collect())
    }

    /// Defaults overlaid with `vars`.
    pub fn from_vars(vars: Vec<(String, String)>) -> Result<Self, ConfigError> {
        let get = |name: &str| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
        let duration = |name: &'static str, default: Duration| match get(name) {
            None => Ok(default),
            Some(v) => parse_duration(&v).map_err(|reason| ConfigError::Invalid {
                variable: name,
                reason,
            }),
        };
        let metrics = get(env::METRICS_ADDR).unwrap_or_else(|| DEFAULT_METRICS_ADDR.to_owned());
        let instance = get(env::INSTANCE)
            .or_else(|| get("HOSTNAME"))
            .unwrap_or_else(|| DEFAULT_INSTANCE.to_owned());
        if instance.trim().is_empty() {
            return Err(ConfigError::Invalid {
                variable: env::INSTANCE,
                reason: "must not be empty".into(),
            });
        }
        Ok(Self {
            kafka: KafkaSettings::from_vars(vars.iter().cloned())?,
            group: get(env::GROUP).unwrap_or_else(|| group::JOINER.to_owned()),
            topics: Topics {
                decisions: get(env::DECISIONS_TOPIC).unwrap_or_else(|| topic::DECISIONS.to_owned()),
                audit: get(env::AUDIT_TOPIC).unwrap_or_else(|| topic::AUDIT.to_owned()),
                enriched: get(env::ENRICHED_TOPIC).unwrap_or_else(|| topic::ENRICHED.to_owned()),
                pending: get(env::PENDING_TOPIC)
                    .unwrap_or_else(|| topic::JOINER_PENDING.to_owned()),
                dlq: get(env::DLQ_TOPIC).unwrap_or_else(|| dlq_topic(SERVICE)),
            },
            instance,
            grace: duration(env::GRACE, DEFAULT_GRACE)?,
            horizon: duration(env::HORIZON, DEFAULT_HORIZON)?,
            history: duration(env::HISTORY, DEFAULT_HISTORY)?,
            metrics_addr: metrics.parse().map_err(|e| ConfigError::Invalid {
                variable: env::METRICS_ADDR,
                reason: format!("{e}"),
            })?,
            batch_max: match get(env::BATCH_MAX) {
                None => DEFAULT_BATCH_MAX,
                Some(v) => {
                    v.parse()
                        .ok()
                        .filter(|n| *n > 0)
                        .ok_or_else(|| ConfigError::Invalid {
                            variable: env::BATCH_MAX,
                            reason: format!("'{v}' is not a positive count"),
                        })?
                }
            },
            batch_wait: duration(env::BATCH_WAIT, DEFAULT_BATCH_WAIT)?,
        })
    }

    /// The transactional id: stable per instance, so a restarted instance fences its
    /// predecessor and aborts what it left open.
    pub fn transactional_id(&self) -> String {
        format!("docket-{SERVICE}-{}", self.instance)
    }
}

/// Parses `250ms`, `5s`, `10m`, `2h`, `30d`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let n: u64 = number
        .parse()
        .map_err(|_| format!("'{text}' is not a duration like 5s, 250ms, 30d"))?;
    let seconds = |s: u64| Ok(Duration::from_secs(n.saturating_mul(s)));
    match unit {
        "ms" => Ok(Duration::from_millis(n)),
        "s" => seconds(1),
        "m" => seconds(60),
        "h" => seconds(3_600),
        "d" => seconds(86_400),
        _ => Err(format!("'{text}' has no unit (ms, s, m, h, d)")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_with_units() {
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_duration("30d"), Ok(Duration::from_secs(30 * 86_400)));
        assert!(parse_duration("5").is_err());
        assert!(parse_duration("five s").is_err());
    }

    #[test]
    fn environment_overrides_defaults_and_errors_name_the_variable() {
        let vars = |pairs: &[(&str, &str)]| {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        let c =
            JoinerConfig::from_vars(vars(&[(env::GRACE, "2s"), (env::INSTANCE, "j-1")])).unwrap();
        assert_eq!(c.grace, Duration::from_secs(2));
        assert_eq!(c.transactional_id(), "docket-joiner-j-1");
        assert_eq!(c.topics.decisions, topic::DECISIONS);
        let err = JoinerConfig::from_vars(vars(&[(env::HORIZON, "soon")])).unwrap_err();
        assert!(err.to_string().starts_with(env::HORIZON), "{err}");
    }
}
