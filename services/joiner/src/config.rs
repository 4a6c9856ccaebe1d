//! The joiner's configuration, loaded in layers (defaults, then environment) and validated
//! before anything connects.

use std::net::SocketAddr;
use std::time::Duration;

use docket_config::{Var, Vars};
use docket_kafka::{KafkaSettings, dlq_topic};

/// Service name used for the dead-letter topic and the transactional id.
pub const SERVICE: &str = "joiner";

/// The joiner's declared variables (name, default, help).
pub mod vars {
    use docket_config::Var;
    use docket_kafka::{group, topic};

    /// This instance's stable name; the transactional id and the static group membership
    /// derive from it.
    pub const INSTANCE: Var = Var::new(
        "DOCKET_JOINER_INSTANCE",
        "this instance's stable name (a StatefulSet's pod name): transactional id and static membership",
    )
    .described("the host name, else joiner-0");
    /// How long a decision naming an unseen policy version waits for its edit.
    pub const GRACE: Var = Var::new(
        "DOCKET_JOINER_GRACE",
        "how long a decision naming an unseen policy version waits for its edit",
    )
    .default("5s");
    /// How far before a decision an edit still counts.
    pub const HORIZON: Var = Var::new(
        "DOCKET_JOINER_HORIZON",
        "how far before a decision an edit still counts",
    )
    .default("30d");
    /// How much audit history is loaded on start.
    pub const HISTORY: Var = Var::new(
        "DOCKET_JOINER_HISTORY",
        "how much audit history is loaded on start",
    )
    .default("30d");
    /// Address of the `/metrics`, `/healthz`, `/readyz` endpoint.
    pub const METRICS_ADDR: Var = Var::new(
        "DOCKET_JOINER_METRICS_ADDR",
        "/metrics, /healthz, /readyz (host:port)",
    )
    .default("127.0.0.1:9601");
    /// Consumer group on the decisions topic.
    pub const GROUP: Var = Var::new(
        "DOCKET_JOINER_GROUP",
        "consumer group on the decisions and pending topics",
    )
    .default(group::JOINER);
    /// Most records handled in one transaction. A round's records go to the producer as they
    /// are made and a commit takes a few milliseconds, so the size mostly sets how much is in
    /// flight: on 2M decisions 20,000 drained 205k–209k records/s at 99–106 MiB, 10,000
    /// 183k–192k at 92–94 MiB (more commits), 30,000 193k–212k at 112–132 MiB.
    pub const BATCH_MAX: Var = Var::new(
        "DOCKET_JOINER_BATCH_MAX",
        "most records handled in one transaction",
    )
    .default("20000");
    /// Longest a round collects before its transaction.
    pub const BATCH_WAIT: Var = Var::new(
        "DOCKET_JOINER_BATCH_WAIT",
        "longest a round collects before its transaction",
    )
    .default("100ms");
    /// Decisions topic.
    pub const DECISIONS_TOPIC: Var =
        Var::new("DOCKET_JOINER_DECISIONS_TOPIC", "decisions in").default(topic::DECISIONS);
    /// Audit topic.
    pub const AUDIT_TOPIC: Var =
        Var::new("DOCKET_JOINER_AUDIT_TOPIC", "audit events in (read whole)").default(topic::AUDIT);
    /// Enriched-decision topic.
    pub const ENRICHED_TOPIC: Var =
        Var::new("DOCKET_JOINER_ENRICHED_TOPIC", "enriched decisions out").default(topic::ENRICHED);
    /// Pending topic.
    pub const PENDING_TOPIC: Var = Var::new(
        "DOCKET_JOINER_PENDING_TOPIC",
        "decisions held back during the grace period",
    )
    .default(topic::JOINER_PENDING);
    /// Dead-letter topic.
    pub const DLQ_TOPIC: Var =
        Var::new("DOCKET_JOINER_DLQ_TOPIC", "undecodable input").described("docket.dlq.joiner");
}

/// Every variable the joiner reads (Kafka's come on top).
pub const VARS: &[Var] = &[
    vars::INSTANCE,
    vars::GRACE,
    vars::HORIZON,
    vars::HISTORY,
    vars::METRICS_ADDR,
    vars::GROUP,
    vars::BATCH_MAX,
    vars::BATCH_WAIT,
    vars::DECISIONS_TOPIC,
    vars::AUDIT_TOPIC,
    vars::ENRICHED_TOPIC,
    vars::PENDING_TOPIC,
    vars::DLQ_TOPIC,
];

const DEFAULT_INSTANCE: &str = "joiner-0";

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

/// A setting that cannot be used: the shared configuration error, naming the variable.
pub type ConfigError = docket_config::ConfigError;

impl JoinerConfig {
    /// Defaults overlaid with the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_config(&Vars::from_env())
    }

    /// Defaults overlaid with `vars`.
    pub fn from_vars(vars: Vec<(String, String)>) -> Result<Self, ConfigError> {
        Self::from_config(&vars.into_iter().collect())
    }

    /// Defaults overlaid with `vars`, validated.
    pub fn from_config(vars: &Vars) -> Result<Self, ConfigError> {
        let batch_max = vars.number(&vars::BATCH_MAX)?;
        if batch_max == 0 {
            return Err(ConfigError::new(
                vars::BATCH_MAX.name,
                "must be a positive count",
            ));
        }
        Ok(Self {
            kafka: KafkaSettings::from_config(vars)?,
            group: vars.text(&vars::GROUP),
            topics: Topics {
                decisions: vars.text(&vars::DECISIONS_TOPIC),
                audit: vars.text(&vars::AUDIT_TOPIC),
                enriched: vars.text(&vars::ENRICHED_TOPIC),
                pending: vars.text(&vars::PENDING_TOPIC),
                dlq: vars
                    .optional(&vars::DLQ_TOPIC)
                    .unwrap_or_else(|| dlq_topic(SERVICE)),
            },
            instance: instance(vars)?,
            grace: vars.duration(&vars::GRACE)?,
            horizon: vars.duration(&vars::HORIZON)?,
            history: vars.duration(&vars::HISTORY)?,
            metrics_addr: vars.number(&vars::METRICS_ADDR)?,
            batch_max,
            batch_wait: vars.duration(&vars::BATCH_WAIT)?,
        })
    }

    /// The transactional id: stable per instance, so a restarted instance fences its
    /// predecessor and aborts what it left open.
    pub fn transactional_id(&self) -> String {
        format!("docket-{SERVICE}-{}", self.instance)
    }
}

/// The instance name: the variable, else the host name, else a fixed name.
fn instance(vars: &Vars) -> Result<String, ConfigError> {
    let instance = match vars.raw(vars::INSTANCE.name) {
        Some(v) => v.to_owned(),
        None => vars.raw("HOSTNAME").unwrap_or(DEFAULT_INSTANCE).to_owned(),
    };
    if instance.trim().is_empty() {
        return Err(ConfigError::new(vars::INSTANCE.name, "must not be empty"));
    }
    Ok(instance)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn environment_overrides_defaults_and_errors_name_the_variable() {
        let vars = |pairs: &[(&str, &str)]| Vars::from(pairs);
        let c = JoinerConfig::from_config(&vars(&[
            (vars::GRACE.name, "2s"),
            (vars::INSTANCE.name, "j-1"),
        ]))
        .unwrap();
        assert_eq!(c.grace, Duration::from_secs(2));
        assert_eq!(c.transactional_id(), "docket-joiner-j-1");
        assert_eq!(c.topics.decisions, docket_kafka::topic::DECISIONS);
        let err = JoinerConfig::from_config(&vars(&[(vars::HORIZON.name, "soon")])).unwrap_err();
        assert!(err.to_string().starts_with(vars::HORIZON.name), "{err}");
        let err = JoinerConfig::from_config(&vars(&[(vars::BATCH_MAX.name, "0")])).unwrap_err();
        assert!(err.to_string().starts_with(vars::BATCH_MAX.name), "{err}");
        let c = JoinerConfig::from_config(&vars(&[])).unwrap();
        assert_eq!(
            (c.horizon, c.batch_wait),
            (Duration::from_secs(30 * 86_400), Duration::from_millis(100))
        );
    }

    #[test]
    fn every_variable_is_in_one_docs_table() {
        let docs = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs");
        docket_config::check_documented(&docs, VARS).unwrap();
    }
}
