//! The Splunk sink's configuration from the environment: HEC URL, token (value or file),
//! index and sourcetype per stream, indexer acknowledgement, TLS and timeouts, validated
//! without touching the network. The engine's settings (streams, batches, retries) come from
//! `docket-delivery`; only the batch defaults are HEC's.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use docket_delivery::{BatchLimits, ConfigError, EngineConfig, Stream};
use docket_sink_http::{ClientOptions, Secret, SecretError};
use thiserror::Error;

/// The sink's name: group `docket-sink-splunk`, dead-letter topic `docket.dlq.sink-splunk`.
pub const SINK_NAME: &str = "splunk";

/// Environment variables of the Splunk sink.
pub mod env {
    /// Base URL of the HEC endpoint, `https://host:8088` (required).
    pub const URL: &str = "DOCKET_SPLUNK_URL";
    /// The HEC token.
    pub const TOKEN: &str = "DOCKET_SPLUNK_TOKEN";
    /// A file holding the HEC token (instead of [`TOKEN`]).
    pub const TOKEN_FILE: &str = "DOCKET_SPLUNK_TOKEN_FILE";
    /// Index of every event (else the token's default index).
    pub const INDEX: &str = "DOCKET_SPLUNK_INDEX";
    /// Index of decisions (overrides [`INDEX`]).
    pub const DECISIONS_INDEX: &str = "DOCKET_SPLUNK_DECISIONS_INDEX";
    /// Index of audit events (overrides [`INDEX`]).
    pub const AUDIT_INDEX: &str = "DOCKET_SPLUNK_AUDIT_INDEX";
    /// Sourcetype of decisions.
    pub const DECISIONS_SOURCETYPE: &str = "DOCKET_SPLUNK_DECISIONS_SOURCETYPE";
    /// Sourcetype of audit events.
    pub const AUDIT_SOURCETYPE: &str = "DOCKET_SPLUNK_AUDIT_SOURCETYPE";
    /// `true`/`false`: indexer acknowledgement (default false).
    pub const ACK: &str = "DOCKET_SPLUNK_ACK";
    /// How long an acknowledgement may take before the batch is sent again.
    pub const ACK_TIMEOUT: &str = "DOCKET_SPLUNK_ACK_TIMEOUT";
    /// First wait before asking for an acknowledgement (doubles up to 2 s).
    pub const ACK_POLL: &str = "DOCKET_SPLUNK_ACK_POLL";
    /// The channel GUID (default: a fresh one per process).
    pub const CHANNEL: &str = "DOCKET_SPLUNK_CHANNEL";
    /// PEM file of CA certificates trusted besides the system's.
    pub const CA_FILE: &str = "DOCKET_SPLUNK_CA_FILE";
    /// `true`: accept any certificate (tests only; logged as a warning).
    pub const INSECURE: &str = "DOCKET_SPLUNK_INSECURE";
    /// Timeout of one HEC request.
    pub const TIMEOUT: &str = "DOCKET_SPLUNK_TIMEOUT";
}

/// HEC's batch limits: at most 1 MiB of events (uncompressed) or 10,000 events, within one
/// hour of record time; the tail waits 1 s of idleness.
pub const DEFAULT_LIMITS: BatchLimits = BatchLimits {
    max_records: 10_000,
    max_bytes: 1024 * 1024,
    window: Duration::from_secs(3_600),
    idle_flush: Duration::from_secs(1),
};

const DEFAULT_DECISIONS_SOURCETYPE: &str = "docket:decision";
const DEFAULT_AUDIT_SOURCETYPE: &str = "docket:audit";
const DEFAULT_ACK_TIMEOUT: Duration = Duration::from_secs(180);
const DEFAULT_ACK_POLL: Duration = Duration::from_millis(250);
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// Where one stream's events go in Splunk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Index (none: the token's default).
    pub index: Option<String>,
    /// Sourcetype.
    pub sourcetype: String,
}

/// Indexer acknowledgement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AckConfig {
    /// How long an acknowledgement may take before the batch is sent again.
    pub timeout: Duration,
    /// First wait before asking.
    pub poll: Duration,
}

/// The HEC destination.
#[derive(Debug, Clone)]
pub struct HecConfig {
    /// Base URL (scheme, host, port).
    pub url: reqwest::Url,
    /// The token (never printed).
    pub token: Secret,
    /// Decisions' index and sourcetype.
    pub decisions: Target,
    /// Audit events' index and sourcetype.
    pub audit: Target,
    /// Indexer acknowledgement, when on.
    pub ack: Option<AckConfig>,
    /// The channel GUID sent with every request.
    pub channel: String,
    /// TLS and timeouts.
    pub client: ClientOptions,
}

impl HecConfig {
    /// Where `stream`'s events go.
    pub fn target(&self, stream: Stream) -> &Target {
        match stream {
            Stream::Decision => &self.decisions,
            Stream::Audit => &self.audit,
        }
    }
}

/// The whole configuration of the sink process.
#[derive(Debug, Clone)]
pub struct Config {
    /// Destination settings.
    pub hec: HecConfig,
    /// Engine settings.
    pub engine: EngineConfig,
}

/// A configuration that cannot be used.
#[derive(Debug, Error)]
pub enum Invalid {
    /// A setting is invalid.
    #[error(transparent)]
    Setting(#[from] ConfigError),
    /// The token cannot be read.
    #[error(transparent)]
    Token(#[from] SecretError),
}

impl Config {
    /// Reads and validates `vars` (usually the process environment).
    pub fn from_vars(vars: &BTreeMap<String, String>) -> Result<Self, Invalid> {
        let engine = EngineConfig::from_vars(SINK_NAME, DEFAULT_LIMITS, vars)?;
        let get = |k: &str| vars.get(k).filter(|v| !v.is_empty()).cloned();
        let url = url(get(env::URL))?;
        let token = Secret::from_vars(vars, env::TOKEN, env::TOKEN_FILE)?;
        let index = get(env::INDEX);
        let target = |index_var: &str, sourcetype_var: &str, default: &str| Target {
            index: get(index_var).or_else(|| index.clone()),
            sourcetype: get(sourcetype_var).unwrap_or_else(|| default.to_owned()),
        };
        let ack = flag(vars, env::ACK)?
            .then(|| -> Result<AckConfig, ConfigError> {
                Ok(AckConfig {
                    timeout: duration(vars, env::ACK_TIMEOUT, DEFAULT_ACK_TIMEOUT)?,
                    poll: duration(vars, env::ACK_POLL, DEFAULT_ACK_POLL)?,
                })
            })
            .transpose()?;
        let hec = HecConfig {
            url,
            token,
            decisions: target(
                env::DECISIONS_INDEX,
                env::DECISIONS_SOURCETYPE,
                DEFAULT_DECISIONS_SOURCETYPE,
            ),
            audit: target(
                env::AUDIT_INDEX,
                env::AUDIT_SOURCETYPE,
                DEFAULT_AUDIT_SOURCETYPE,
            ),
            ack,
            channel: channel(get(env::CHANNEL))?,
            client: ClientOptions {
                timeout: duration(vars, env::TIMEOUT, DEFAULT_TIMEOUT)?,
                ca_file: get(env::CA_FILE).map(PathBuf::from),
                insecure: flag(vars, env::INSECURE)?,
                ..ClientOptions::default()
            },
        };
        Ok(Self { hec, engine })
    }
}

fn url(value: Option<String>) -> Result<reqwest::Url, ConfigError> {
    let value = value.ok_or_else(|| ConfigError::new(env::URL, "required"))?;
    let url = reqwest::Url::parse(&value)
        .map_err(|e| ConfigError::new(env::URL, format!("not a URL: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(ConfigError::new(
            env::URL,
            "expected http:// or https:// with a host, e.g. https://splunk.example:8088",
        ));
    }
    if !url.username().is_empty() || url.password().is_some() || url.query().is_some() {
        return Err(ConfigError::new(
            env::URL,
            "must not carry credentials or a query; put the token in DOCKET_SPLUNK_TOKEN",
        ));
    }
    Ok(url)
}

fn channel(value: Option<String>) -> Result<String, ConfigError> {
    match value {
        None => Ok(uuid::Uuid::now_v7().hyphenated().to_string()),
        Some(v) => uuid::Uuid::parse_str(&v)
            .map(|u| u.hyphenated().to_string())
            .map_err(|_| ConfigError::new(env::CHANNEL, "expected a GUID")),
    }
}

fn flag(vars: &BTreeMap<String, String>, key: &str) -> Result<bool, ConfigError> {
    match vars.get(key).map(String::as_str) {
        None | Some("") | Some("false") => Ok(false),
        Some("true") => Ok(true),
        Some(_) => Err(ConfigError::new(key, "expected true or false")),
    }
}

fn duration(
    vars: &BTreeMap<String, String>,
    key: &str,
    default: Duration,
) -> Result<Duration, ConfigError> {
    let Some(v) = vars.get(key).filter(|v| !v.is_empty()) else {
        return Ok(default);
    };
    let d = humantime::parse_duration(v).map_err(|e| {
        ConfigError::new(key, format!("expected a duration such as 3m or 250ms: {e}"))
    })?;
    if d.is_zero() {
        return Err(ConfigError::new(key, "must be positive"));
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    const BASE: [(&str, &str); 2] = [(env::URL, "https://hec:8088"), (env::TOKEN, "t0k3n")];

    #[test]
    fn defaults_per_stream_and_ack_off() {
        let c = Config::from_vars(&vars(&BASE)).unwrap();
        assert_eq!(c.engine.group_id, "docket-sink-splunk");
        assert_eq!(c.engine.dlq_topic, "docket.dlq.sink-splunk");
        assert_eq!(c.engine.limits.max_bytes, 1024 * 1024);
        assert_eq!(c.hec.decisions.sourcetype, "docket:decision");
        assert_eq!(c.hec.audit.sourcetype, "docket:audit");
        assert_eq!((c.hec.decisions.index.clone(), c.hec.ack), (None, None));
        assert!(!format!("{c:?}").contains("t0k3n"));
    }

    #[test]
    fn one_index_per_stream_and_ack_settings() {
        let mut v = vars(&BASE);
        for (k, x) in [
            (env::INDEX, "docket"),
            (env::AUDIT_INDEX, "audit"),
            (env::ACK, "true"),
            (env::ACK_TIMEOUT, "2s"),
        ] {
            v.insert(k.to_owned(), x.to_owned());
        }
        let c = Config::from_vars(&v).unwrap();
        assert_eq!(c.hec.decisions.index.as_deref(), Some("docket"));
        assert_eq!(c.hec.audit.index.as_deref(), Some("audit"));
        let ack = c.hec.ack.unwrap();
        assert_eq!(
            (ack.timeout, ack.poll),
            (Duration::from_secs(2), DEFAULT_ACK_POLL)
        );
    }

    #[test]
    fn invalid_values_name_their_variable() {
        for (k, v) in [
            (env::URL, "ftp://hec"),
            (env::URL, "https://user:pw@hec:8088"),
            (env::URL, "https://hec:8088/?token=x"),
            (env::ACK, "yes"),
            (env::TIMEOUT, "30"),
            (env::TIMEOUT, "0s"),
            (env::CHANNEL, "not-a-guid"),
        ] {
            let mut all = vars(&BASE);
            all.insert(k.to_owned(), v.to_owned());
            let Err(Invalid::Setting(err)) = Config::from_vars(&all) else {
                panic!("{k}={v} accepted");
            };
            assert_eq!(err.field, k, "{err}");
        }
        assert!(matches!(
            Config::from_vars(&vars(&[(env::URL, "https://hec:8088")])),
            Err(Invalid::Token(_))
        ));
    }
}
