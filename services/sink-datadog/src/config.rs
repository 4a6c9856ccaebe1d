//! The Datadog sink's configuration from the environment: the site (or a full URL for
//! proxies and tests), the API key, the entries' service, hostname and tags, gzip, TLS, and
//! batch limits inside the logs intake's (1,000 entries, 5 MB per request), validated without
//! touching the network.

use std::path::PathBuf;
use std::time::Duration;

use docket_config::{Var, Vars};
use docket_delivery::{BatchLimits, ConfigError, EngineConfig};
use docket_sink_http::{ClientOptions, Secret};
use reqwest::Url;

use crate::encode::EntrySettings;

/// The sink's name: group `docket-sink-datadog`, dead-letter topic `docket.dlq.sink-datadog`.
pub const SINK_NAME: &str = "datadog";

/// The Datadog sink's variables (name, default, help).
pub mod vars {
    use docket_config::Var;

    /// Datadog site.
    pub const SITE: Var = Var::new(
        "DOCKET_DATADOG_SITE",
        "Datadog site: datadoghq.com, datadoghq.eu, us3, us5, ap1 or ddog-gov",
    )
    .default("datadoghq.com");
    /// Base URL replacing the site's hosts.
    pub const URL: Var = Var::new(
        "DOCKET_DATADOG_URL",
        "base URL replacing the site's intake and API hosts (a proxy, a test receiver)",
    );
    /// The API key.
    pub const API_KEY: Var =
        Var::new("DOCKET_DATADOG_API_KEY", "the API key").described("required, or the key file");
    /// A file holding the API key.
    pub const API_KEY_FILE: Var = Var::new(
        "DOCKET_DATADOG_API_KEY_FILE",
        "a file holding the API key (a mounted secret)",
    );
    /// `service` of every entry.
    pub const SERVICE: Var =
        Var::new("DOCKET_DATADOG_SERVICE", "service of every entry").default("docket");
    /// `hostname` of every entry.
    pub const HOSTNAME: Var = Var::new("DOCKET_DATADOG_HOSTNAME", "hostname of every entry")
        .described("the gateway instance for decisions, docket for audit events");
    /// Extra tags.
    pub const TAGS: Var = Var::new(
        "DOCKET_DATADOG_TAGS",
        "extra tags on every entry, comma-separated key:value",
    );
    /// gzip request bodies.
    pub const GZIP: Var = Var::new("DOCKET_DATADOG_GZIP", "gzip request bodies").default("true");
    /// Timeout of one request.
    pub const TIMEOUT: Var =
        Var::new("DOCKET_DATADOG_TIMEOUT", "timeout of one request").default("30s");
    /// PEM file of extra CA certificates.
    pub const CA_FILE: Var = Var::new(
        "DOCKET_DATADOG_CA_FILE",
        "PEM file of CA certificates trusted besides the system's",
    );
    /// Accept any certificate.
    pub const INSECURE: Var = Var::new(
        "DOCKET_DATADOG_INSECURE",
        "accept any certificate (tests only; logged as a warning)",
    )
    .default("false");
    /// Check the key at start-up.
    pub const VALIDATE: Var = Var::new(
        "DOCKET_DATADOG_VALIDATE",
        "check the key with GET /api/v1/validate at start-up",
    )
    .default("true");
}

/// Every variable of the Datadog sink (the engine's and Kafka's come on top).
pub const VARS: &[Var] = &[
    vars::SITE,
    vars::URL,
    vars::API_KEY,
    vars::API_KEY_FILE,
    vars::SERVICE,
    vars::HOSTNAME,
    vars::TAGS,
    vars::GZIP,
    vars::TIMEOUT,
    vars::CA_FILE,
    vars::INSECURE,
    vars::VALIDATE,
];

/// Most entries in one request.
pub const MAX_ENTRIES: usize = 1_000;
/// Most bytes of one uncompressed request.
pub const MAX_PAYLOAD_BYTES: usize = 5_000_000;
/// The JSON array around the entries: brackets and a comma between two.
const ARRAY_OVERHEAD: usize = MAX_ENTRIES + 1;

/// The intake's limits; the tail of the log waits one second of idleness.
pub const DEFAULT_LIMITS: BatchLimits = BatchLimits {
    max_records: MAX_ENTRIES,
    max_bytes: MAX_PAYLOAD_BYTES - ARRAY_OVERHEAD,
    window: Duration::from_secs(300),
    idle_flush: Duration::from_secs(1),
};

/// `hostname` of audit events unless configured.
const DEFAULT_HOSTNAME: &str = "docket";
/// The path of the logs intake, relative to the intake URL.
pub const LOGS_PATH: &str = "api/v2/logs";
/// The path of the key validation endpoint, relative to the API URL.
pub const VALIDATE_PATH: &str = "api/v1/validate";

/// Where and how entries are sent.
#[derive(Debug, Clone)]
pub struct DatadogConfig {
    /// `https://http-intake.logs.<site>/` or the URL override (always ending in `/`).
    pub intake_url: Url,
    /// `https://api.<site>/` or the URL override (always ending in `/`).
    pub api_url: Url,
    /// The API key.
    pub api_key: Secret,
    /// What every entry carries.
    pub entries: EntrySettings,
    /// gzip request bodies.
    pub gzip: bool,
    /// Check the key at start-up.
    pub validate: bool,
    /// TLS and timeouts.
    pub client: ClientOptions,
}

/// The whole configuration of the sink process.
#[derive(Debug, Clone)]
pub struct Config {
    /// Destination settings.
    pub datadog: DatadogConfig,
    /// Engine settings.
    pub engine: EngineConfig,
}

impl Config {
    /// Reads and validates `vars` (usually the process environment).
    pub fn from_vars(vars: &Vars) -> Result<Self, ConfigError> {
        let engine = EngineConfig::from_config(SINK_NAME, DEFAULT_LIMITS, vars)?;
        within(
            engine.limits.max_records,
            DEFAULT_LIMITS.max_records,
            docket_delivery::env::MAX_RECORDS,
        )?;
        within(
            engine.limits.max_bytes,
            DEFAULT_LIMITS.max_bytes,
            docket_delivery::env::MAX_BYTES,
        )?;
        let (intake_url, api_url) = urls(vars)?;
        let api_key = Secret::from_vars(vars.map(), vars::API_KEY.name, vars::API_KEY_FILE.name)
            .map_err(|e| ConfigError::with_source(vars::API_KEY.name, "no usable API key", e))?;
        let datadog = DatadogConfig {
            intake_url,
            api_url,
            api_key,
            entries: entry_settings(vars),
            gzip: vars.flag(&vars::GZIP)?,
            validate: vars.flag(&vars::VALIDATE)?,
            client: ClientOptions {
                timeout: vars.duration(&vars::TIMEOUT)?,
                ca_file: vars.optional(&vars::CA_FILE).map(PathBuf::from),
                insecure: vars.flag(&vars::INSECURE)?,
                ..ClientOptions::default()
            },
        };
        Ok(Self { datadog, engine })
    }
}

fn entry_settings(vars: &Vars) -> EntrySettings {
    let hostname = vars.optional(&vars::HOSTNAME);
    EntrySettings {
        service: vars.text(&vars::SERVICE),
        hostname_override: hostname.is_some(),
        hostname: hostname.unwrap_or_else(|| DEFAULT_HOSTNAME.to_owned()),
        tags: vars
            .optional(&vars::TAGS)
            .map(|t| {
                t.split(',')
                    .map(str::trim)
                    .filter(|t| !t.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default(),
    }
}

/// The intake and API base URLs of `site`, or `url` for both.
fn urls(vars: &Vars) -> Result<(Url, Url), ConfigError> {
    if let Some(url) = vars.optional(&vars::URL) {
        let base = base_url(&url).ok_or_else(|| {
            ConfigError::new(vars::URL.name, "expected an http:// or https:// URL")
        })?;
        return Ok((base.clone(), base));
    }
    let site = vars.text(&vars::SITE);
    let domain = match site.as_str() {
        "datadoghq.com" | "us1" => "datadoghq.com",
        "datadoghq.eu" | "eu" | "eu1" => "datadoghq.eu",
        "us3" | "us3.datadoghq.com" => "us3.datadoghq.com",
        "us5" | "us5.datadoghq.com" => "us5.datadoghq.com",
        "ap1" | "ap1.datadoghq.com" => "ap1.datadoghq.com",
        "ddog-gov" | "ddog-gov.com" => "ddog-gov.com",
        _ => {
            return Err(ConfigError::new(
                vars::SITE.name,
                "expected datadoghq.com, datadoghq.eu, us3, us5, ap1 or ddog-gov (or set DOCKET_DATADOG_URL)",
            ));
        }
    };
    let host = |name: &str| base_url(&format!("https://{name}.{domain}")).expect("a valid host");
    Ok((host("http-intake.logs"), host("api")))
}

/// `text` as a base URL ending in `/`, if it is an http or https URL.
fn base_url(text: &str) -> Option<Url> {
    let url = Url::parse(&format!("{}/", text.trim_end_matches('/'))).ok()?;
    matches!(url.scheme(), "http" | "https")
        .then_some(url)
        .filter(|u| u.host().is_some())
}

/// Refuses a batch limit above the intake's.
fn within(value: usize, most: usize, var: &str) -> Result<(), ConfigError> {
    if value > most {
        return Err(ConfigError::new(
            var,
            format!("the logs intake takes at most {most} here"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> Vars {
        Vars::from(pairs)
    }

    #[test]
    fn the_site_names_the_intake_and_the_api_hosts() {
        let c = Config::from_vars(&vars(&[
            (vars::API_KEY.name, "k"),
            (vars::SITE.name, "us5"),
        ]))
        .unwrap();
        assert_eq!(
            c.datadog.intake_url.join(LOGS_PATH).unwrap().as_str(),
            "https://http-intake.logs.us5.datadoghq.com/api/v2/logs"
        );
        assert_eq!(
            c.datadog.api_url.join(VALIDATE_PATH).unwrap().as_str(),
            "https://api.us5.datadoghq.com/api/v1/validate"
        );
        assert_eq!(c.engine.group_id, "docket-sink-datadog");
        assert_eq!(c.engine.dlq_topic, "docket.dlq.sink-datadog");
        assert_eq!(c.engine.limits.max_records, 1_000);
        assert_eq!(c.datadog.entries.service, "docket");
        let c = Config::from_vars(&vars(&[
            (vars::API_KEY.name, "k"),
            (vars::URL.name, "http://127.0.0.1:8126/proxy/dd/"),
            (vars::TAGS.name, "env:prod, team:sec ,"),
            (vars::HOSTNAME.name, "h"),
        ]))
        .unwrap();
        assert_eq!(
            c.datadog.intake_url.join(LOGS_PATH).unwrap().as_str(),
            "http://127.0.0.1:8126/proxy/dd/api/v2/logs"
        );
        assert_eq!(c.datadog.entries.tags, vec!["env:prod", "team:sec"]);
        assert!(c.datadog.entries.hostname_override);
        assert!(!format!("{c:?}").contains("\"k\""), "the key never prints");
    }

    #[test]
    fn invalid_values_name_their_variable() {
        for (k, v) in [
            (vars::SITE.name, "datadoghq.moon"),
            (vars::URL.name, "ftp://x"),
            (vars::GZIP.name, "maybe"),
            (vars::TIMEOUT.name, "-1"),
            (docket_delivery::env::MAX_BYTES, "6MB"),
            (docket_delivery::env::MAX_RECORDS, "1001"),
        ] {
            let err = Config::from_vars(&vars(&[(vars::API_KEY.name, "k"), (k, v)])).unwrap_err();
            assert_eq!(err.field, k, "{err}");
        }
        let err = Config::from_vars(&vars(&[])).unwrap_err();
        assert_eq!(err.field, vars::API_KEY.name);
    }

    #[test]
    fn every_variable_is_documented_once() {
        let docs = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs");
        docket_config::check_documented(&docs, VARS).unwrap();
    }
}
