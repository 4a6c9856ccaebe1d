//! The Splunk sink's configuration from the environment: HEC URL, token (value or file),
//! index and sourcetype per stream, indexer acknowledgement, TLS and timeouts, validated
//! without touching the network. The engine's settings (streams, batches, retries) come from
//! `docket-delivery`; only the batch defaults are HEC's.

use std::path::PathBuf;
use std::time::Duration;

use docket_config::{Var, Vars};
use docket_delivery::{BatchLimits, ConfigError, EngineConfig, Stream};
use docket_sink_http::{ClientOptions, Secret, SecretError};
use thiserror::Error;

/// The sink's name: group `docket-sink-splunk`, dead-letter topic `docket.dlq.sink-splunk`.
pub const SINK_NAME: &str = "splunk";

/// The Splunk sink's declared variables (name, default, help).
pub mod vars {
    use docket_config::Var;

    /// Base URL of the HEC endpoint.
    pub const URL: Var = Var::new(
        "DOCKET_SPLUNK_URL",
        "HEC base URL: scheme, host and port, e.g. https://splunk.example:8088",
    )
    .required();
    /// The HEC token.
    pub const TOKEN: Var = Var::new("DOCKET_SPLUNK_TOKEN", "HEC token (or the token file)");
    /// A file holding the HEC token.
    pub const TOKEN_FILE: Var = Var::new(
        "DOCKET_SPLUNK_TOKEN_FILE",
        "file holding the HEC token (instead of DOCKET_SPLUNK_TOKEN)",
    );
    /// Index of every event.
    pub const INDEX: Var = Var::new("DOCKET_SPLUNK_INDEX", "index of every event")
        .described("the token's default index");
    /// Index of decisions.
    pub const DECISIONS_INDEX: Var = Var::new(
        "DOCKET_SPLUNK_DECISIONS_INDEX",
        "index of decisions (overrides DOCKET_SPLUNK_INDEX)",
    );
    /// Index of audit events.
    pub const AUDIT_INDEX: Var = Var::new(
        "DOCKET_SPLUNK_AUDIT_INDEX",
        "index of audit events (overrides DOCKET_SPLUNK_INDEX)",
    );
    /// Sourcetype of decisions.
    pub const DECISIONS_SOURCETYPE: Var = Var::new(
        "DOCKET_SPLUNK_DECISIONS_SOURCETYPE",
        "sourcetype of decisions",
    )
    .default("docket:decision");
    /// Sourcetype of audit events.
    pub const AUDIT_SOURCETYPE: Var = Var::new(
        "DOCKET_SPLUNK_AUDIT_SOURCETYPE",
        "sourcetype of audit events",
    )
    .default("docket:audit");
    /// Indexer acknowledgement.
    pub const ACK: Var = Var::new(
        "DOCKET_SPLUNK_ACK",
        "indexer acknowledgement: offsets only for batches the indexer confirmed",
    )
    .default("false");
    /// How long an acknowledgement may take before the batch is sent again.
    pub const ACK_TIMEOUT: Var = Var::new(
        "DOCKET_SPLUNK_ACK_TIMEOUT",
        "wait for an acknowledgement before sending the batch again",
    )
    .default("3m");
    /// First wait before asking for an acknowledgement.
    pub const ACK_POLL: Var = Var::new(
        "DOCKET_SPLUNK_ACK_POLL",
        "first wait before asking for an acknowledgement (doubles up to 2s)",
    )
    .default("250ms");
    /// The channel GUID.
    pub const CHANNEL: Var = Var::new(
        "DOCKET_SPLUNK_CHANNEL",
        "channel GUID of X-Splunk-Request-Channel",
    )
    .described("a fresh one per process");
    /// gzip request bodies.
    pub const GZIP: Var = Var::new("DOCKET_SPLUNK_GZIP", "gzip request bodies").default("true");
    /// PEM file of extra trusted CA certificates.
    pub const CA_FILE: Var = Var::new(
        "DOCKET_SPLUNK_CA_FILE",
        "PEM file of CA certificates trusted besides the system's",
    );
    /// Accept any certificate.
    pub const INSECURE: Var = Var::new(
        "DOCKET_SPLUNK_INSECURE",
        "accept any certificate and host name (tests only; logged as a warning)",
    )
    .default("false");
    /// Timeout of one HEC request.
    pub const TIMEOUT: Var =
        Var::new("DOCKET_SPLUNK_TIMEOUT", "timeout of one HEC request").default("30s");
}

/// Every variable of the Splunk sink (the engine's and Kafka's come on top).
pub const VARS: &[Var] = &[
    vars::URL,
    vars::TOKEN,
    vars::TOKEN_FILE,
    vars::INDEX,
    vars::DECISIONS_INDEX,
    vars::AUDIT_INDEX,
    vars::DECISIONS_SOURCETYPE,
    vars::AUDIT_SOURCETYPE,
    vars::ACK,
    vars::ACK_TIMEOUT,
    vars::ACK_POLL,
    vars::CHANNEL,
    vars::GZIP,
    vars::CA_FILE,
    vars::INSECURE,
    vars::TIMEOUT,
];

/// Environment variable names of the Splunk sink (see [`vars`] for defaults and help).
pub mod env {
    use super::vars;

    /// Base URL of the HEC endpoint (required).
    pub const URL: &str = vars::URL.name;
    /// The HEC token.
    pub const TOKEN: &str = vars::TOKEN.name;
    /// A file holding the HEC token.
    pub const TOKEN_FILE: &str = vars::TOKEN_FILE.name;
    /// Index of every event.
    pub const INDEX: &str = vars::INDEX.name;
    /// Index of decisions.
    pub const DECISIONS_INDEX: &str = vars::DECISIONS_INDEX.name;
    /// Index of audit events.
    pub const AUDIT_INDEX: &str = vars::AUDIT_INDEX.name;
    /// Sourcetype of decisions.
    pub const DECISIONS_SOURCETYPE: &str = vars::DECISIONS_SOURCETYPE.name;
    /// Sourcetype of audit events.
    pub const AUDIT_SOURCETYPE: &str = vars::AUDIT_SOURCETYPE.name;
    /// Indexer acknowledgement.
    pub const ACK: &str = vars::ACK.name;
    /// Acknowledgement timeout.
    pub const ACK_TIMEOUT: &str = vars::ACK_TIMEOUT.name;
    /// First acknowledgement poll.
    pub const ACK_POLL: &str = vars::ACK_POLL.name;
    /// Channel GUID.
    pub const CHANNEL: &str = vars::CHANNEL.name;
    /// gzip request bodies.
    pub const GZIP: &str = vars::GZIP.name;
    /// CA file.
    pub const CA_FILE: &str = vars::CA_FILE.name;
    /// Accept any certificate.
    pub const INSECURE: &str = vars::INSECURE.name;
    /// Request timeout.
    pub const TIMEOUT: &str = vars::TIMEOUT.name;
}

/// HEC's batch limits: at most 1 MiB of events (uncompressed) or 10,000 events, within one
/// hour of record time; the tail waits 1 s of idleness.
pub const DEFAULT_LIMITS: BatchLimits = BatchLimits {
    max_records: 10_000,
    max_bytes: 1024 * 1024,
    window: Duration::from_secs(3_600),
    idle_flush: Duration::from_secs(1),
};

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
    /// gzip request bodies.
    pub gzip: bool,
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
    pub fn from_config(vars: &Vars) -> Result<Self, Invalid> {
        let engine = EngineConfig::from_config(SINK_NAME, DEFAULT_LIMITS, vars)?;
        let url = vars.parsed_or_default(&vars::URL, url)?;
        let token = Secret::from_vars(vars.map(), env::TOKEN, env::TOKEN_FILE)?;
        let index = vars.optional(&vars::INDEX);
        let target = |index_var: &Var, sourcetype_var: &Var| Target {
            index: vars.optional(index_var).or_else(|| index.clone()),
            sourcetype: vars.text(sourcetype_var),
        };
        let ack = if vars.flag(&vars::ACK)? {
            Some(AckConfig {
                timeout: positive(vars, &vars::ACK_TIMEOUT)?,
                poll: positive(vars, &vars::ACK_POLL)?,
            })
        } else {
            None
        };
        let hec = HecConfig {
            url,
            token,
            decisions: target(&vars::DECISIONS_INDEX, &vars::DECISIONS_SOURCETYPE),
            audit: target(&vars::AUDIT_INDEX, &vars::AUDIT_SOURCETYPE),
            ack,
            channel: vars
                .parsed(&vars::CHANNEL, channel)?
                .unwrap_or_else(|| uuid::Uuid::now_v7().hyphenated().to_string()),
            gzip: vars.flag(&vars::GZIP)?,
            client: ClientOptions {
                timeout: positive(vars, &vars::TIMEOUT)?,
                ca_file: vars.optional(&vars::CA_FILE).map(PathBuf::from),
                insecure: vars.flag(&vars::INSECURE)?,
                ..ClientOptions::default()
            },
        };
        Ok(Self { hec, engine })
    }
}

fn url(value: &str) -> Result<reqwest::Url, String> {
    let url = reqwest::Url::parse(value).map_err(|e| format!("not a URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(
            "expected http:// or https:// with a host, e.g. https://splunk.example:8088".into(),
        );
    }
    if !url.username().is_empty() || url.password().is_some() || url.query().is_some() {
        return Err(
            "must not carry credentials or a query; put the token in DOCKET_SPLUNK_TOKEN".into(),
        );
    }
    Ok(url)
}

fn channel(value: &str) -> Result<String, String> {
    uuid::Uuid::parse_str(value)
        .map(|u| u.hyphenated().to_string())
        .map_err(|_| "expected a GUID".to_owned())
}

fn positive(vars: &Vars, var: &Var) -> Result<Duration, ConfigError> {
    let d = vars.duration(var)?;
    if d.is_zero() {
        return Err(ConfigError::new(var.name, "must be positive"));
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> Vars {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn with(base: &[(&str, &str)], more: &[(&str, &str)]) -> Vars {
        vars(&[base, more].concat())
    }

    const BASE: [(&str, &str); 2] = [(env::URL, "https://hec:8088"), (env::TOKEN, "t0k3n")];

    #[test]
    fn defaults_per_stream_and_ack_off() {
        let c = Config::from_config(&vars(&BASE)).unwrap();
        assert_eq!(c.engine.group_id, "docket-sink-splunk");
        assert_eq!(c.engine.dlq_topic, "docket.dlq.sink-splunk");
        assert_eq!(c.engine.limits.max_bytes, 1024 * 1024);
        assert_eq!(c.hec.decisions.sourcetype, "docket:decision");
        assert_eq!(c.hec.audit.sourcetype, "docket:audit");
        assert_eq!((c.hec.decisions.index.clone(), c.hec.ack), (None, None));
        assert!(c.hec.gzip);
        let plain = Config::from_config(&with(&BASE, &[(env::GZIP, "false")])).unwrap();
        assert!(!plain.hec.gzip);
        assert!(!format!("{c:?}").contains("t0k3n"));
    }

    #[test]
    fn one_index_per_stream_and_ack_settings() {
        let v = with(
            &BASE,
            &[
                (env::INDEX, "docket"),
                (env::AUDIT_INDEX, "audit"),
                (env::ACK, "true"),
                (env::ACK_TIMEOUT, "2s"),
            ],
        );
        let c = Config::from_config(&v).unwrap();
        assert_eq!(c.hec.decisions.index.as_deref(), Some("docket"));
        assert_eq!(c.hec.audit.index.as_deref(), Some("audit"));
        let ack = c.hec.ack.unwrap();
        assert_eq!(
            (ack.timeout, ack.poll),
            (Duration::from_secs(2), Duration::from_millis(250))
        );
    }

    #[test]
    fn invalid_values_name_their_variable() {
        for (k, v) in [
            (env::URL, "ftp://hec"),
            (env::URL, "https://user:pw@hec:8088"),
            (env::URL, "https://hec:8088/?token=x"),
            (env::ACK, "maybe"),
            (env::GZIP, "sometimes"),
            (env::TIMEOUT, "30"),
            (env::TIMEOUT, "0s"),
            (env::CHANNEL, "not-a-guid"),
        ] {
            let Err(Invalid::Setting(err)) = Config::from_config(&with(&BASE, &[(k, v)])) else {
                panic!("{k}={v} accepted");
            };
            assert_eq!(err.field, k, "{err}");
        }
        assert!(matches!(
            Config::from_config(&vars(&[(env::URL, "https://hec:8088")])),
            Err(Invalid::Token(_))
        ));
    }

    #[test]
    fn every_variable_is_in_one_docs_table() {
        let docs = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs");
        docket_config::check_documented(&docs, VARS).unwrap();
    }
}
