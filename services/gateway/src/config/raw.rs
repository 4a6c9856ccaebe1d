//! The merged, unvalidated configuration: defaults, then file, then environment.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use docket_kafka::{KafkaSettings, topic};
use serde::Deserialize;

use super::{Admin, ConfigError, GatewayConfig, HttpLimits, OnSpoolFull, Seed, SpoolConfig};
use crate::names::{ECHO_PROVIDER, env};
use crate::store::{Provider, ProviderKind, State};

const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
const DEFAULT_INSTANCE: &str = "docket-gateway";
const DEFAULT_STATE_DIR: &str = "gateway-state";
const SPOOL_SUBDIR: &str = "spool";
const DEFAULT_SPOOL_MAX_BYTES: u64 = 256 * 1024 * 1024;
const SEGMENT_BYTES: u64 = 4 * 1024 * 1024;
const DEFAULT_MAX_BODY_BYTES: usize = 1024 * 1024;
const DEFAULT_DELIVERY_TIMEOUT_MS: u64 = 5_000;
const DEFAULT_UPSTREAM_TIMEOUT_MS: u64 = 60_000;
const DEFAULT_HEADER_READ_TIMEOUT: &str = "10s";
const DEFAULT_BODY_READ_TIMEOUT: &str = "30s";
const DEFAULT_IDLE_TIMEOUT: &str = "60s";
const DEFAULT_MAX_CONNECTIONS: usize = 1024;
/// More would exceed what a semaphore can count and any sane file limit.
const MAX_CONNECTIONS_CEILING: usize = 1 << 20;
const DEFAULT_SHUTDOWN_GRACE: &str = "30s";
const DEFAULT_PROVIDER_KEY_PREFIX: &str = "DOCKET_PROVIDER_KEY_";
const DEFAULT_ADMIN_REFUSALS_PER_MINUTE: u32 = 60;

/// Every setting, as strings and numbers before validation. File keys are the field names.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct RawConfig {
    /// `host:port`.
    pub listen: String,
    /// Instance name.
    pub instance: String,
    /// Decision topic.
    pub decisions_topic: String,
    /// Audit topic.
    pub audit_topic: String,
    /// State directory.
    pub state_dir: String,
    /// Spool size limit in bytes.
    pub spool_max_bytes: u64,
    /// `fail_closed` or `fail_open`.
    pub on_spool_full: String,
    /// Body limit in bytes.
    pub max_body_bytes: usize,
    /// Kafka acknowledgement timeout.
    pub delivery_timeout_ms: u64,
    /// Upstream call timeout.
    pub upstream_timeout_ms: u64,
    /// Request head timeout (humantime, e.g. `10s`).
    pub header_read_timeout: String,
    /// Request body timeout (humantime).
    pub body_read_timeout: String,
    /// Keep-alive idle timeout (humantime).
    pub idle_timeout: String,
    /// Connection cap.
    pub max_connections: usize,
    /// Longest wait for requests in flight at shutdown (humantime).
    pub shutdown_grace: String,
    /// Required prefix of `api_key_env` in provider edits.
    pub provider_key_prefix: String,
    /// Audited admin refusals per source address and minute.
    pub admin_refusals_per_minute: u32,
    /// Administrators.
    pub admins: Vec<Admin>,
    /// Initial tables.
    #[serde(flatten)]
    pub seed: Seed,
}

impl Default for RawConfig {
    fn default() -> Self {
        Self {
            listen: DEFAULT_LISTEN.to_owned(),
            instance: DEFAULT_INSTANCE.to_owned(),
            decisions_topic: topic::DECISIONS.to_owned(),
            audit_topic: topic::AUDIT.to_owned(),
            state_dir: DEFAULT_STATE_DIR.to_owned(),
            spool_max_bytes: DEFAULT_SPOOL_MAX_BYTES,
            on_spool_full: "fail_closed".to_owned(),
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            delivery_timeout_ms: DEFAULT_DELIVERY_TIMEOUT_MS,
            upstream_timeout_ms: DEFAULT_UPSTREAM_TIMEOUT_MS,
            header_read_timeout: DEFAULT_HEADER_READ_TIMEOUT.to_owned(),
            body_read_timeout: DEFAULT_BODY_READ_TIMEOUT.to_owned(),
            idle_timeout: DEFAULT_IDLE_TIMEOUT.to_owned(),
            max_connections: DEFAULT_MAX_CONNECTIONS,
            shutdown_grace: DEFAULT_SHUTDOWN_GRACE.to_owned(),
            provider_key_prefix: DEFAULT_PROVIDER_KEY_PREFIX.to_owned(),
            admin_refusals_per_minute: DEFAULT_ADMIN_REFUSALS_PER_MINUTE,
            admins: Vec::new(),
            seed: Seed::default(),
        }
    }
}

impl RawConfig {
    /// Defaults, overlaid with the file named in `vars` (if any), then with `vars`.
    pub fn load(vars: impl IntoIterator<Item = (String, String)>) -> Result<Self, ConfigError> {
        let vars: BTreeMap<String, String> = vars.into_iter().collect();
        let mut raw = match vars.get(env::CONFIG_FILE) {
            Some(path) => Self::from_file(path)?,
            None => Self::default(),
        };
        raw.overlay_env(&vars)?;
        Ok(raw)
    }

    fn from_file(path: &str) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError::new(env::CONFIG_FILE, format!("{path}: {e}")))?;
        serde_json::from_str(&text)
            .map_err(|e| ConfigError::new(env::CONFIG_FILE, format!("{path}: {e}")))
    }

    fn overlay_env(&mut self, vars: &BTreeMap<String, String>) -> Result<(), ConfigError> {
        let text = |name: &str, slot: &mut String| {
            if let Some(v) = vars.get(name) {
                *slot = v.clone();
            }
        };
        text(env::LISTEN, &mut self.listen);
        text(env::INSTANCE, &mut self.instance);
        text(env::DECISIONS_TOPIC, &mut self.decisions_topic);
        text(env::AUDIT_TOPIC, &mut self.audit_topic);
        text(env::STATE_DIR, &mut self.state_dir);
        text(env::ON_SPOOL_FULL, &mut self.on_spool_full);
        text(env::HEADER_READ_TIMEOUT, &mut self.header_read_timeout);
        text(env::BODY_READ_TIMEOUT, &mut self.body_read_timeout);
        text(env::IDLE_TIMEOUT, &mut self.idle_timeout);
        text(env::SHUTDOWN_GRACE, &mut self.shutdown_grace);
        text(env::PROVIDER_KEY_PREFIX, &mut self.provider_key_prefix);
        number(vars, env::MAX_CONNECTIONS, &mut self.max_connections)?;
        number(
            vars,
            env::ADMIN_REFUSALS_PER_MINUTE,
            &mut self.admin_refusals_per_minute,
        )?;
        number(vars, env::SPOOL_MAX_BYTES, &mut self.spool_max_bytes)?;
        number(vars, env::MAX_BODY_BYTES, &mut self.max_body_bytes)?;
        number(
            vars,
            env::DELIVERY_TIMEOUT_MS,
            &mut self.delivery_timeout_ms,
        )?;
        number(
            vars,
            env::UPSTREAM_TIMEOUT_MS,
            &mut self.upstream_timeout_ms,
        )?;
        Ok(())
    }

    /// Checks every value (no network, no files) and yields the validated configuration.
    pub fn validate(self, kafka: KafkaSettings) -> Result<GatewayConfig, ConfigError> {
        let listen: SocketAddr = self
            .listen
            .parse()
            .map_err(|_| ConfigError::new("listen", "expected host:port with an IP address"))?;
        non_empty("instance", &self.instance)?;
        non_empty("decisions_topic", &self.decisions_topic)?;
        non_empty("audit_topic", &self.audit_topic)?;
        non_empty("state_dir", &self.state_dir)?;
        let on_full = match self.on_spool_full.as_str() {
            "fail_closed" => OnSpoolFull::FailClosed,
            "fail_open" => OnSpoolFull::FailOpen,
            _ => {
                return Err(ConfigError::new(
                    "on_spool_full",
                    "expected fail_closed or fail_open",
                ));
            }
        };
        positive("spool_max_bytes", self.spool_max_bytes)?;
        positive("max_body_bytes", self.max_body_bytes as u64)?;
        positive("delivery_timeout_ms", self.delivery_timeout_ms)?;
        positive("upstream_timeout_ms", self.upstream_timeout_ms)?;
        validate_admins(&self.admins)?;
        let http = self.http_limits()?;
        non_empty("provider_key_prefix", &self.provider_key_prefix)?;
        let seed = seed_state(self.seed)?;
        let state_dir = PathBuf::from(&self.state_dir);
        Ok(GatewayConfig {
            listen,
            instance: self.instance,
            decisions_topic: self.decisions_topic,
            audit_topic: self.audit_topic,
            spool: SpoolConfig {
                dir: state_dir.join(SPOOL_SUBDIR),
                max_bytes: self.spool_max_bytes,
                segment_bytes: SEGMENT_BYTES.min(self.spool_max_bytes),
                on_full,
            },
            state_dir,
            max_body_bytes: self.max_body_bytes,
            delivery_timeout: Duration::from_millis(self.delivery_timeout_ms),
            upstream_timeout: Duration::from_millis(self.upstream_timeout_ms),
            kafka,
            http,
            provider_key_prefix: self.provider_key_prefix,
            admin_refusals_per_minute: self.admin_refusals_per_minute,
            admins: self.admins,
            seed,
        })
    }
}

impl RawConfig {
    fn http_limits(&self) -> Result<HttpLimits, ConfigError> {
        if !(1..=MAX_CONNECTIONS_CEILING).contains(&self.max_connections) {
            return Err(ConfigError::new(
                "max_connections",
                format!("expected 1 to {MAX_CONNECTIONS_CEILING}"),
            ));
        }
        Ok(HttpLimits {
            header_read_timeout: duration("header_read_timeout", &self.header_read_timeout)?,
            body_read_timeout: duration("body_read_timeout", &self.body_read_timeout)?,
            idle_timeout: duration("idle_timeout", &self.idle_timeout)?,
            max_connections: self.max_connections,
            shutdown_grace: duration("shutdown_grace", &self.shutdown_grace)?,
        })
    }
}

/// A positive humantime duration (`250ms`, `10s`, `2m`).
fn duration(field: &str, value: &str) -> Result<Duration, ConfigError> {
    let d = humantime::parse_duration(value.trim()).map_err(|_| {
        ConfigError::new(
            field,
            format!("expected a duration such as 10s or 250ms, got '{value}'"),
        )
    })?;
    if d.is_zero() {
        return Err(ConfigError::new(field, "must be greater than zero"));
    }
    Ok(d)
}

fn number<T: std::str::FromStr>(
    vars: &BTreeMap<String, String>,
    name: &str,
    slot: &mut T,
) -> Result<(), ConfigError> {
    if let Some(v) = vars.get(name) {
        *slot = v
            .parse()
            .map_err(|_| ConfigError::new(name, format!("expected a number, got '{v}'")))?;
    }
    Ok(())
}

fn non_empty(field: &str, value: &str) -> Result<(), ConfigError> {
    if value.trim().is_empty() {
        return Err(ConfigError::new(field, "must not be empty"));
    }
    Ok(())
}

fn positive(field: &str, value: u64) -> Result<(), ConfigError> {
    if value == 0 {
        return Err(ConfigError::new(field, "must be greater than zero"));
    }
    Ok(())
}

fn is_digest(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

fn validate_admins(admins: &[Admin]) -> Result<(), ConfigError> {
    for (i, a) in admins.iter().enumerate() {
        non_empty(&format!("admins[{i}].id"), &a.id)?;
        if !is_digest(&a.token_sha256) {
            return Err(ConfigError::new(
                format!("admins[{i}].token_sha256"),
                "expected 64 lowercase hex digits (SHA-256 of the token)",
            ));
        }
    }
    Ok(())
}

/// The seed tables as state, with the built-in echo provider, checked for consistency.
fn seed_state(seed: Seed) -> Result<State, ConfigError> {
    let mut state = State::default();
    state.providers.insert(
        ECHO_PROVIDER.to_owned(),
        Provider {
            name: ECHO_PROVIDER.to_owned(),
            kind: ProviderKind::Echo,
            base_url: None,
            api_key_env: None,
        },
    );
    for (i, p) in seed.providers.into_iter().enumerate() {
        if p.kind == ProviderKind::Openai
            && p.base_url.as_deref().is_none_or(|u| !u.starts_with("http"))
        {
            return Err(ConfigError::new(
                format!("providers[{i}].base_url"),
                "an http(s) URL is required for openai providers",
            ));
        }
        state.providers.insert(p.name.clone(), p);
    }
    for (i, m) in seed.models.into_iter().enumerate() {
        if !state.providers.contains_key(&m.provider) {
            return Err(ConfigError::new(
                format!("models[{i}].provider"),
                format!("unknown provider '{}'", m.provider),
            ));
        }
        state.models.insert(m.name.clone(), m);
    }
    for (i, k) in seed.keys.into_iter().enumerate() {
        if !is_digest(&k.secret_sha256) {
            return Err(ConfigError::new(
                format!("keys[{i}].secret_sha256"),
                "expected 64 lowercase hex digits (SHA-256 of the secret)",
            ));
        }
        state.keys.insert(k.id.clone(), k);
    }
    for (i, p) in seed.policies.into_iter().enumerate() {
        p.validate()
            .map_err(|e| ConfigError::new(format!("policies[{i}].{}", e.field), e.reason))?;
        state.policies.insert(p.id.clone(), p);
    }
    state.revision = 1;
    Ok(state)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn defaults_validate() {
        let c = RawConfig::load(vars(&[]))
            .unwrap()
            .validate(KafkaSettings::default())
            .unwrap();
        assert_eq!(c.decisions_topic, topic::DECISIONS);
        assert_eq!(c.spool.on_full, OnSpoolFull::FailClosed);
        assert!(c.seed.providers.contains_key(ECHO_PROVIDER));
    }

    #[test]
    fn environment_wins_and_errors_name_the_field() {
        let c = RawConfig::load(vars(&[
            (env::DECISIONS_TOPIC, "d"),
            (env::ON_SPOOL_FULL, "fail_open"),
        ]))
        .unwrap()
        .validate(KafkaSettings::default())
        .unwrap();
        assert_eq!(c.decisions_topic, "d");
        assert_eq!(c.spool.on_full, OnSpoolFull::FailOpen);
        let e = RawConfig::load(vars(&[(env::SPOOL_MAX_BYTES, "lots")])).unwrap_err();
        assert_eq!(e.field, env::SPOOL_MAX_BYTES);
        let e = RawConfig::load(vars(&[(env::ON_SPOOL_FULL, "maybe")]))
            .unwrap()
            .validate(KafkaSettings::default())
            .unwrap_err();
        assert_eq!(e.field, "on_spool_full");
    }
}
