//! The OTLP sink's configuration from the environment: the endpoint (logs go to
//! `<endpoint>/v1/logs`), extra request headers (authentication; never logged), gzip, TLS,
//! the resource attributes and batch limits, validated without touching the network.

use std::path::PathBuf;
use std::time::Duration;

use docket_config::{Var, Vars};
use docket_delivery::{BatchLimits, ConfigError, EngineConfig};
use docket_sink_http::ClientOptions;
use reqwest::Url;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};

/// The sink's name: group `docket-sink-otlp`, dead-letter topic `docket.dlq.sink-otlp`.
pub const SINK_NAME: &str = "otlp";

/// The OTLP sink's variables (name, default, help).
pub mod vars {
    use docket_config::Var;

    /// Base URL of the OTLP/HTTP receiver.
    pub const ENDPOINT: Var = Var::new(
        "DOCKET_OTLP_ENDPOINT",
        "base URL of the OTLP/HTTP receiver; logs go to <endpoint>/v1/logs",
    )
    .required();
    /// Extra request headers.
    pub const HEADERS: Var = Var::new(
        "DOCKET_OTLP_HEADERS",
        "extra request headers, comma-separated name=value (authentication); never logged",
    );
    /// A file holding the extra headers.
    pub const HEADERS_FILE: Var = Var::new(
        "DOCKET_OTLP_HEADERS_FILE",
        "a file holding the headers in the same form (a mounted secret)",
    );
    /// gzip request bodies.
    pub const GZIP: Var = Var::new("DOCKET_OTLP_GZIP", "gzip request bodies").default("true");
    /// Timeout of one request.
    pub const TIMEOUT: Var =
        Var::new("DOCKET_OTLP_TIMEOUT", "timeout of one request").default("30s");
    /// PEM file of extra CA certificates.
    pub const CA_FILE: Var = Var::new(
        "DOCKET_OTLP_CA_FILE",
        "PEM file of CA certificates trusted besides the system's",
    );
    /// Accept any certificate.
    pub const INSECURE: Var = Var::new(
        "DOCKET_OTLP_INSECURE",
        "accept any certificate (tests only; logged as a warning)",
    )
    .default("false");
    /// `service.name` of the resource.
    pub const SERVICE_NAME: Var =
        Var::new("DOCKET_OTLP_SERVICE_NAME", "service.name of the resource").default("docket");
    /// `service.instance.id` of the resource.
    pub const SERVICE_INSTANCE_ID: Var = Var::new(
        "DOCKET_OTLP_SERVICE_INSTANCE_ID",
        "service.instance.id of the resource",
    )
    .described("a random UUID per process");
    /// Extra resource attributes.
    pub const RESOURCE_ATTRIBUTES: Var = Var::new(
        "DOCKET_OTLP_RESOURCE_ATTRIBUTES",
        "extra resource attributes, comma-separated key=value (deployment.environment.name=prod)",
    );
}

/// Every variable of the OTLP sink (the engine's and Kafka's come on top).
pub const VARS: &[Var] = &[
    vars::ENDPOINT,
    vars::HEADERS,
    vars::HEADERS_FILE,
    vars::GZIP,
    vars::TIMEOUT,
    vars::CA_FILE,
    vars::INSECURE,
    vars::SERVICE_NAME,
    vars::SERVICE_INSTANCE_ID,
    vars::RESOURCE_ATTRIBUTES,
];

/// Batches of 2,000 records or 4 MiB of encoded records (well inside a collector's default
/// request limit); the tail waits one second of idleness.
pub const DEFAULT_LIMITS: BatchLimits = BatchLimits {
    max_records: 2_000,
    max_bytes: 4 * 1024 * 1024,
    window: Duration::from_secs(300),
    idle_flush: Duration::from_secs(1),
};

/// The logs path, relative to the endpoint.
pub const LOGS_PATH: &str = "v1/logs";

/// The resource every record is exported under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceSettings {
    /// `service.name`.
    pub service_name: String,
    /// `service.instance.id`.
    pub instance_id: String,
    /// Extra attributes, in order.
    pub attributes: Vec<(String, String)>,
}

/// Where and how records are exported.
#[derive(Debug, Clone)]
pub struct OtlpConfig {
    /// `<endpoint>/v1/logs`.
    pub logs_url: Url,
    /// Extra headers (values marked sensitive: never printed).
    pub headers: HeaderMap,
    /// gzip request bodies.
    pub gzip: bool,
    /// The resource.
    pub resource: ResourceSettings,
    /// TLS and timeouts.
    pub client: ClientOptions,
}

/// The whole configuration of the sink process.
#[derive(Debug, Clone)]
pub struct Config {
    /// Destination settings.
    pub otlp: OtlpConfig,
    /// Engine settings.
    pub engine: EngineConfig,
}

impl Config {
    /// Reads and validates `vars` (usually the process environment).
    pub fn from_vars(vars: &Vars) -> Result<Self, ConfigError> {
        let engine = EngineConfig::from_config(SINK_NAME, DEFAULT_LIMITS, vars)?;
        let otlp = OtlpConfig {
            logs_url: logs_url(&vars.required(&vars::ENDPOINT)?)?,
            headers: headers(vars)?,
            gzip: vars.flag(&vars::GZIP)?,
            resource: ResourceSettings {
                service_name: vars.text(&vars::SERVICE_NAME),
                instance_id: vars
                    .optional(&vars::SERVICE_INSTANCE_ID)
                    .unwrap_or_else(|| uuid::Uuid::new_v4().to_string()),
                attributes: pairs(vars, &vars::RESOURCE_ATTRIBUTES)?,
            },
            client: ClientOptions {
                timeout: vars.duration(&vars::TIMEOUT)?,
                ca_file: vars.optional(&vars::CA_FILE).map(PathBuf::from),
                insecure: vars.flag(&vars::INSECURE)?,
                ..ClientOptions::default()
            },
        };
        Ok(Self { otlp, engine })
    }
}

/// `<endpoint>/v1/logs` of an http or https endpoint.
fn logs_url(endpoint: &str) -> Result<Url, ConfigError> {
    let invalid = |reason: &str| ConfigError::new(vars::ENDPOINT.name, reason);
    let base = Url::parse(&format!("{}/", endpoint.trim_end_matches('/')))
        .map_err(|e| ConfigError::with_source(vars::ENDPOINT.name, "not a URL", e))?;
    if !matches!(base.scheme(), "http" | "https") || base.host().is_none() {
        return Err(invalid("expected an http:// or https:// URL"));
    }
    base.join(LOGS_PATH)
        .map_err(|e| ConfigError::with_source(vars::ENDPOINT.name, "not a base URL", e))
}

/// The extra headers, from the variable or the file (not both), values marked sensitive.
fn headers(vars: &Vars) -> Result<HeaderMap, ConfigError> {
    let (text, var) = match (
        vars.optional(&vars::HEADERS),
        vars.optional(&vars::HEADERS_FILE),
    ) {
        (Some(_), Some(_)) => {
            return Err(ConfigError::new(
                vars::HEADERS.name,
                "set the headers or the headers file, not both",
            ));
        }
        (Some(text), None) => (text, vars::HEADERS),
        (None, Some(path)) => (
            std::fs::read_to_string(&path).map_err(|e| {
                ConfigError::with_source(vars::HEADERS_FILE.name, format!("cannot read {path}"), e)
            })?,
            vars::HEADERS_FILE,
        ),
        (None, None) => return Ok(HeaderMap::new()),
    };
    let mut map = HeaderMap::new();
    for (name, value) in split_pairs(text.trim(), &var)? {
        let name = HeaderName::from_bytes(name.as_bytes()).map_err(|e| {
            ConfigError::with_source(var.name, format!("bad header name {name}"), e)
        })?;
        let mut value = HeaderValue::from_str(&value).map_err(|e| {
            ConfigError::with_source(var.name, format!("bad value for header {name}"), e)
        })?;
        value.set_sensitive(true);
        map.append(name, value);
    }
    Ok(map)
}

fn pairs(vars: &Vars, var: &Var) -> Result<Vec<(String, String)>, ConfigError> {
    vars.optional(var)
        .map_or(Ok(Vec::new()), |text| split_pairs(&text, var))
}

/// `a=1,b=2` as pairs (values may contain `=`); no value is ever echoed in an error.
fn split_pairs(text: &str, var: &Var) -> Result<Vec<(String, String)>, ConfigError> {
    text.split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair
                .split_once('=')
                .ok_or_else(|| ConfigError::new(var.name, "expected name=value pairs"))?;
            Ok((k.trim().to_owned(), v.trim().to_owned()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> Vars {
        Vars::from(pairs)
    }

    #[test]
    fn the_endpoint_headers_and_resource_are_read() {
        let c = Config::from_vars(&vars(&[
            (vars::ENDPOINT.name, "https://otel.example:4318/prefix/"),
            (
                vars::HEADERS.name,
                "Authorization=Bearer s3cr=t, x-tenant = blue",
            ),
            (
                vars::RESOURCE_ATTRIBUTES.name,
                "deployment.environment.name=prod",
            ),
        ]))
        .unwrap();
        assert_eq!(
            c.otlp.logs_url.as_str(),
            "https://otel.example:4318/prefix/v1/logs"
        );
        assert_eq!(c.otlp.headers["authorization"], "Bearer s3cr=t");
        assert_eq!(c.otlp.headers["x-tenant"], "blue");
        assert!(
            !format!("{c:?}").contains("s3cr=t"),
            "header values never print"
        );
        assert_eq!(c.otlp.resource.service_name, "docket");
        assert_eq!(c.otlp.resource.attributes.len(), 1);
        assert_eq!(c.engine.group_id, "docket-sink-otlp");
        assert!(c.otlp.gzip);
    }

    #[test]
    fn invalid_values_name_their_variable() {
        let endpoint = (vars::ENDPOINT.name, "http://127.0.0.1:4318");
        for (k, v) in [
            (vars::ENDPOINT.name, "ftp://x"),
            (vars::ENDPOINT.name, "not a url"),
            (vars::HEADERS.name, "no-equals-sign"),
            (vars::HEADERS.name, "bad name=x"),
            (vars::HEADERS.name, "x=line\nbreak"),
            (vars::GZIP.name, "perhaps"),
        ] {
            let mut all = vec![endpoint];
            all.retain(|(name, _)| *name != k);
            all.push((k, v));
            let err = Config::from_vars(&vars(&all)).unwrap_err();
            assert_eq!(err.field, k, "{err}");
            assert!(
                !err.to_string().contains("line"),
                "values are not echoed: {err}"
            );
        }
        let err = Config::from_vars(&vars(&[])).unwrap_err();
        assert_eq!(err.field, vars::ENDPOINT.name);
    }

    #[test]
    fn every_variable_is_documented_once() {
        let docs = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs");
        docket_config::check_documented(&docs, VARS).unwrap();
    }
}
