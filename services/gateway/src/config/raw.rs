//! The merged, unvalidated configuration: defaults, then file, then environment.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use docket_config::{Var, Vars};
use docket_kafka::{KafkaSettings, topic};
use serde::Deserialize;

use super::{
    Admin, ConfigError, FsyncPolicy, GatewayConfig, HttpLimits, OnSpoolFull, Seed, SpoolConfig,
    vars,
};
use crate::names::ECHO_PROVIDER;
use crate::store::{Provider, ProviderKind, State};

pub(super) const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
pub(super) const DEFAULT_INSTANCE: &str = "docket-gateway";
pub(super) const DEFAULT_STATE_DIR: &str = "gateway-state";
const SPOOL_SUBDIR: &str = "spool";
const DEFAULT_SPOOL_MAX_BYTES: u64 = 256 * 1024 * 1024;
const SEGMENT_BYTES: u64 = 4 * 1024 * 1024;
const DEFAULT_MAX_BODY_BYTES: usize = 1024 * 1024;
pub(super) const DEFAULT_DELIVERY_TIMEOUT: &str = "5s";
pub(super) const DEFAULT_UPSTREAM_TIMEOUT: &str = "60s";
pub(super) const DEFAULT_HEADER_READ_TIMEOUT: &str = "10s";
pub(super) const DEFAULT_BODY_READ_TIMEOUT: &str = "30s";
pub(super) const DEFAULT_IDLE_TIMEOUT: &str = "60s";
const DEFAULT_MAX_CONNECTIONS: usize = 1024;
/// More would exceed what a semaphore can count and any sane file limit.
const MAX_CONNECTIONS_CEILING: usize = 1 << 20;
/// Most serving threads.
const THREADS_CEILING: usize = 1024;
pub(super) const DEFAULT_SHUTDOWN_GRACE: &str = "30s";
pub(super) const DEFAULT_PROVIDER_KEY_PREFIX: &str = "DOCKET_PROVIDER_KEY_";
const DEFAULT_ADMIN_REFUSALS_PER_MINUTE: u32 = 60;

/// Every setting, as strings and numbers before validation. File keys are the field names;
/// durations are humantime strings (`5s`, `250ms`).
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
    /// State log topic (empty: `state.json`).
    pub state_topic: String,
    /// Spool size limit in bytes.
    pub spool_max_bytes: u64,
    /// `fail_closed` or `fail_open`.
    pub on_spool_full: String,
    /// `never` or a period: when the write-ahead log is synced to the disk.
    pub spool_fsync: String,
    /// Body limit in bytes.
    pub max_body_bytes: usize,
    /// Kafka acknowledgement timeout.
    pub delivery_timeout: String,
    /// Upstream call timeout.
    pub upstream_timeout: String,
    /// Deprecated file key: the acknowledgement timeout in milliseconds.
    pub delivery_timeout_ms: Option<u64>,
    /// Deprecated file key: the upstream timeout in milliseconds.
    pub upstream_timeout_ms: Option<u64>,
    /// Request head timeout.
    pub header_read_timeout: String,
    /// Request body timeout.
    pub body_read_timeout: String,
    /// Keep-alive idle timeout.
    pub idle_timeout: String,
    /// Connection cap.
    pub max_connections: usize,
    /// Serving threads; `None`: the CPUs available.
    pub threads: Option<usize>,
    /// Longest wait for requests in flight at shutdown.
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
            state_topic: String::new(),
            spool_max_bytes: DEFAULT_SPOOL_MAX_BYTES,
            on_spool_full: "fail_closed".to_owned(),
            spool_fsync: "never".to_owned(),
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            delivery_timeout: DEFAULT_DELIVERY_TIMEOUT.to_owned(),
            upstream_timeout: DEFAULT_UPSTREAM_TIMEOUT.to_owned(),
            delivery_timeout_ms: None,
            upstream_timeout_ms: None,
            header_read_timeout: DEFAULT_HEADER_READ_TIMEOUT.to_owned(),
            body_read_timeout: DEFAULT_BODY_READ_TIMEOUT.to_owned(),
            idle_timeout: DEFAULT_IDLE_TIMEOUT.to_owned(),
            max_connections: DEFAULT_MAX_CONNECTIONS,
            threads: None,
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
    pub fn load(vars: &Vars) -> Result<Self, ConfigError> {
        let mut raw = match vars.optional(&vars::CONFIG_FILE) {
            Some(path) => Self::from_file(&path)?,
            None => Self::default(),
        };
        raw.overlay_env(vars)?;
        Ok(raw)
    }

    fn from_file(path: &str) -> Result<Self, ConfigError> {
        let file_error =
            |e: String| ConfigError::new(vars::CONFIG_FILE.name, format!("{path}: {e}"));
        let text = std::fs::read_to_string(path).map_err(|e| file_error(e.to_string()))?;
        let mut raw: Self = serde_json::from_str(&text).map_err(|e| file_error(e.to_string()))?;
        for (old, slot, ms) in [
            (
                "delivery_timeout_ms",
                &mut raw.delivery_timeout,
                raw.delivery_timeout_ms,
            ),
            (
                "upstream_timeout_ms",
                &mut raw.upstream_timeout,
                raw.upstream_timeout_ms,
            ),
        ] {
            if let Some(ms) = ms {
                tracing::warn!(
                    "{old} is deprecated; write the duration without the suffix (e.g. \"5s\")"
                );
                *slot = format!("{ms}ms");
            }
        }
        Ok(raw)
    }

    fn overlay_env(&mut self, vars: &Vars) -> Result<(), ConfigError> {
        let text = |var: &Var, slot: &mut String| {
            if let Some(v) = vars.raw(var.name).filter(|v| !v.is_empty()) {
                *slot = v.to_owned();
            }
        };
        text(&vars::LISTEN, &mut self.listen);
        text(&vars::INSTANCE, &mut self.instance);
        text(&vars::DECISIONS_TOPIC, &mut self.decisions_topic);
        text(&vars::AUDIT_TOPIC, &mut self.audit_topic);
        text(&vars::STATE_DIR, &mut self.state_dir);
        text(&vars::STATE_TOPIC, &mut self.state_topic);
        text(&vars::ON_SPOOL_FULL, &mut self.on_spool_full);
        text(&vars::SPOOL_FSYNC, &mut self.spool_fsync);
        text(&vars::PROVIDER_KEY_PREFIX, &mut self.provider_key_prefix);
        let durations = [
            (&vars::DELIVERY_TIMEOUT, &mut self.delivery_timeout),
            (&vars::UPSTREAM_TIMEOUT, &mut self.upstream_timeout),
            (&vars::HEADER_READ_TIMEOUT, &mut self.header_read_timeout),
            (&vars::BODY_READ_TIMEOUT, &mut self.body_read_timeout),
            (&vars::IDLE_TIMEOUT, &mut self.idle_timeout),
            (&vars::SHUTDOWN_GRACE, &mut self.shutdown_grace),
        ];
        for (var, slot) in durations {
            if let Some(d) = vars.duration_opt(var)? {
                *slot = format!("{}ms", d.as_millis());
            }
        }
        if let Some(n) = vars.size_opt(&vars::SPOOL_MAX_BYTES)? {
            self.spool_max_bytes = n;
        }
        if let Some(n) = vars.size_opt(&vars::MAX_BODY_BYTES)? {
            self.max_body_bytes = usize::try_from(n)
                .map_err(|_| ConfigError::new(vars::MAX_BODY_BYTES.name, "too large"))?;
        }
        if let Some(n) = vars.number_opt(&vars::MAX_CONNECTIONS)? {
            self.max_connections = n;
        }
        if let Some(n) = vars.number_opt(&vars::THREADS)? {
            self.threads = Some(n);
        }
        if let Some(n) = vars.number_opt(&vars::ADMIN_REFUSALS_PER_MINUTE)? {
            self.admin_refusals_per_minute = n;
        }
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
        let fsync = FsyncPolicy::parse(&self.spool_fsync)
            .map_err(|reason| ConfigError::new("spool_fsync", reason))?;
        positive("max_body_bytes", self.max_body_bytes as u64)?;
        validate_admins(&self.admins)?;
        let http = self.http_limits()?;
        non_empty("provider_key_prefix", &self.provider_key_prefix)?;
        let delivery_timeout = duration("delivery_timeout", &self.delivery_timeout)?;
        let upstream_timeout = duration("upstream_timeout", &self.upstream_timeout)?;
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
                fsync,
            },
            state_dir,
            state_topic: Some(self.state_topic).filter(|t| !t.is_empty()),
            max_body_bytes: self.max_body_bytes,
            delivery_timeout,
            upstream_timeout,
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
        let threads = match self.threads {
            Some(n) if (1..=THREADS_CEILING).contains(&n) => n,
            Some(_) => {
                return Err(ConfigError::new(
                    "threads",
                    format!("expected 1 to {THREADS_CEILING}"),
                ));
            }
            None => std::thread::available_parallelism().map_or(1, |n| n.get()),
        };
        Ok(HttpLimits {
            header_read_timeout: duration("header_read_timeout", &self.header_read_timeout)?,
            body_read_timeout: duration("body_read_timeout", &self.body_read_timeout)?,
            idle_timeout: duration("idle_timeout", &self.idle_timeout)?,
            max_connections: self.max_connections,
            threads,
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
    use crate::names::env;

    fn vars(pairs: &[(&str, &str)]) -> Vars {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn defaults_validate() {
        let c = RawConfig::load(&vars(&[]))
            .unwrap()
            .validate(KafkaSettings::default())
            .unwrap();
        assert_eq!(c.decisions_topic, topic::DECISIONS);
        assert_eq!(c.spool.on_full, OnSpoolFull::FailClosed);
        assert!(c.seed.providers.contains_key(ECHO_PROVIDER));
        assert_eq!(c.http.header_read_timeout, Duration::from_secs(10));
        assert_eq!(c.delivery_timeout, Duration::from_secs(5));
    }

    #[test]
    fn environment_wins_and_errors_name_the_field() {
        let c = RawConfig::load(&vars(&[
            (env::DECISIONS_TOPIC, "d"),
            (env::ON_SPOOL_FULL, "fail_open"),
            (env::IDLE_TIMEOUT, "250ms"),
            (env::MAX_BODY_BYTES, "16KiB"),
        ]))
        .unwrap()
        .validate(KafkaSettings::default())
        .unwrap();
        assert_eq!(c.decisions_topic, "d");
        assert_eq!(c.spool.on_full, OnSpoolFull::FailOpen);
        assert_eq!(c.http.idle_timeout, Duration::from_millis(250));
        assert_eq!(c.max_body_bytes, 16 * 1024);
        let e = RawConfig::load(&vars(&[(env::SPOOL_MAX_BYTES, "lots")])).unwrap_err();
        assert_eq!(e.variable(), env::SPOOL_MAX_BYTES);
        let e = RawConfig::load(&vars(&[(env::HEADER_READ_TIMEOUT, "10")])).unwrap_err();
        assert_eq!(
            e.variable(),
            env::HEADER_READ_TIMEOUT,
            "a duration needs its unit"
        );
        let e = RawConfig::load(&vars(&[(env::ON_SPOOL_FULL, "maybe")]))
            .unwrap()
            .validate(KafkaSettings::default())
            .unwrap_err();
        assert_eq!(e.variable(), "on_spool_full");
        let e = RawConfig::load(&vars(&[(env::MAX_CONNECTIONS, "0")]))
            .unwrap()
            .validate(KafkaSettings::default())
            .unwrap_err();
        assert_eq!(e.variable(), "max_connections");
        let threads = |value: &str| {
            RawConfig::load(&vars(&[(env::THREADS, value)]))
                .unwrap()
                .validate(KafkaSettings::default())
        };
        assert_eq!(threads("3").unwrap().http.threads, 3);
        assert_eq!(threads("0").unwrap_err().variable(), "threads");
        let default = RawConfig::load(&vars(&[])).unwrap();
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        assert_eq!(
            default
                .validate(KafkaSettings::default())
                .unwrap()
                .http
                .threads,
            cpus
        );
    }

    #[test]
    fn the_fsync_policy_is_read_from_its_declared_variable() {
        let load = |value: &str| {
            RawConfig::load(&vars(&[(vars::SPOOL_FSYNC.name, value)]))
                .unwrap()
                .validate(KafkaSettings::default())
        };
        let c = load("100ms").unwrap();
        assert_eq!(
            c.spool.fsync,
            FsyncPolicy::Every(Duration::from_millis(100))
        );
        assert_eq!(load("").unwrap().spool.fsync, FsyncPolicy::Never);
        for bad in ["0s", "always", "\u{202e}1s"] {
            assert_eq!(load(bad).unwrap_err().variable(), "spool_fsync", "{bad}");
        }
    }

    #[test]
    fn old_millisecond_names_still_count() {
        let c = RawConfig::load(&vars(&[("DOCKET_GATEWAY_DELIVERY_TIMEOUT_MS", "1500")]))
            .unwrap()
            .validate(KafkaSettings::default())
            .unwrap();
        assert_eq!(c.delivery_timeout, Duration::from_millis(1500));
    }

    #[test]
    fn every_variable_is_in_one_docs_table() {
        let docs = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs");
        docket_config::check_documented(&docs, vars::VARS).unwrap();
    }
}
