//! Client settings, loaded in layers: built-in defaults (the local stack), then environment
//! variables. Validation is pure; building clients is a separate step.

use std::collections::BTreeMap;
use std::fmt;

use thiserror::Error;

/// Environment variable names.
pub mod env {
    /// Comma-separated `host:port` list of brokers.
    pub const BOOTSTRAP: &str = "DOCKET_KAFKA_BOOTSTRAP";
    /// Base URL of the registry's Confluent-compatible API.
    pub const SCHEMA_REGISTRY_URL: &str = "DOCKET_SCHEMA_REGISTRY_URL";
    /// Client id reported to the brokers.
    pub const CLIENT_ID: &str = "DOCKET_KAFKA_CLIENT_ID";
    /// Prefix of pass-through librdkafka properties: `DOCKET_KAFKA_PROP_SASL_MECHANISM=PLAIN`
    /// sets `sasl.mechanism` (lower-cased, `_` becomes `.`).
    pub const PROPERTY_PREFIX: &str = "DOCKET_KAFKA_PROP_";
}

/// Defaults: the local stack started by `dev/stack up`.
const DEFAULT_BOOTSTRAP: &str = "127.0.0.1:19092";
const DEFAULT_REGISTRY_URL: &str = "http://127.0.0.1:18081/apis/ccompat/v7";
const DEFAULT_CLIENT_ID: &str = "docket";

/// Property names whose values are secrets and never printed.
const SECRET_MARKERS: [&str; 4] = ["password", "secret", "token", "key"];

/// Where Kafka and the registry are, and extra client properties.
#[derive(Clone, PartialEq, Eq)]
pub struct KafkaSettings {
    /// `bootstrap.servers`.
    pub bootstrap_servers: String,
    /// Registry base URL (Confluent-compatible API).
    pub schema_registry_url: String,
    /// `client.id`.
    pub client_id: String,
    /// Further librdkafka properties (security settings and tuning).
    pub properties: BTreeMap<String, String>,
}

/// A setting that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum SettingsError {
    /// A value is empty or malformed; names the variable.
    #[error("{variable}: {reason}")]
    Invalid {
        /// The setting's environment variable.
        variable: String,
        /// What is wrong.
        reason: String,
    },
}

impl Default for KafkaSettings {
    fn default() -> Self {
        Self {
            bootstrap_servers: DEFAULT_BOOTSTRAP.to_owned(),
            schema_registry_url: DEFAULT_REGISTRY_URL.to_owned(),
            client_id: DEFAULT_CLIENT_ID.to_owned(),
            properties: BTreeMap::new(),
        }
    }
}

impl KafkaSettings {
    /// Defaults overlaid with the process environment, validated.
    pub fn from_env() -> Result<Self, SettingsError> {
        Self::from_vars(std::env::vars())
    }

    /// Defaults overlaid with `vars` (name, value pairs), validated.
    pub fn from_vars(
        vars: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, SettingsError> {
        let mut s = Self::default();
        for (name, value) in vars {
            match name.as_str() {
                env::BOOTSTRAP => s.bootstrap_servers = value,
                env::SCHEMA_REGISTRY_URL => s.schema_registry_url = value,
                env::CLIENT_ID => s.client_id = value,
                _ => {
                    if let Some(prop) = name.strip_prefix(env::PROPERTY_PREFIX) {
                        s.properties
                            .insert(prop.to_lowercase().replace('_', "."), value);
                    }
                }
            }
        }
        s.validate()?;
        Ok(s)
    }

    /// Checks every value without touching the network.
    pub fn validate(&self) -> Result<(), SettingsError> {
        let invalid = |variable: &str, reason: &str| SettingsError::Invalid {
            variable: variable.to_owned(),
            reason: reason.to_owned(),
        };
        if self
            .bootstrap_servers
            .split(',')
            .any(|b| !is_host_port(b.trim()))
        {
            return Err(invalid(
                env::BOOTSTRAP,
                "expected a comma-separated list of host:port",
            ));
        }
        let url = &self.schema_registry_url;
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(invalid(
                env::SCHEMA_REGISTRY_URL,
                "expected an http:// or https:// URL",
            ));
        }
        if self.client_id.trim().is_empty() {
            return Err(invalid(env::CLIENT_ID, "must not be empty"));
        }
        Ok(())
    }
}

fn is_host_port(s: &str) -> bool {
    match s.rsplit_once(':') {
        Some((host, port)) => !host.is_empty() && port.parse::<u16>().is_ok(),
        None => false,
    }
}

fn is_secret(property: &str) -> bool {
    SECRET_MARKERS.iter().any(|m| property.contains(m))
}

/// Prints everything but secret property values.
impl fmt::Debug for KafkaSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let props: BTreeMap<&str, &str> = self
            .properties
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str(),
                    if is_secret(k) {
                        "<redacted>"
                    } else {
                        v.as_str()
                    },
                )
            })
            .collect();
        f.debug_struct("KafkaSettings")
            .field("bootstrap_servers", &self.bootstrap_servers)
            .field("schema_registry_url", &self.schema_registry_url)
            .field("client_id", &self.client_id)
            .field("properties", &props)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn environment_overrides_defaults() {
        let s = KafkaSettings::from_vars(vars(&[
            (env::BOOTSTRAP, "k1:9092,k2:9092"),
            ("DOCKET_KAFKA_PROP_SECURITY_PROTOCOL", "SASL_SSL"),
            ("UNRELATED", "x"),
        ]))
        .unwrap();
        assert_eq!(s.bootstrap_servers, "k1:9092,k2:9092");
        assert_eq!(s.schema_registry_url, DEFAULT_REGISTRY_URL);
        assert_eq!(
            s.properties.get("security.protocol").map(String::as_str),
            Some("SASL_SSL")
        );
        assert_eq!(s.properties.len(), 1);
    }

    #[test]
    fn invalid_values_name_their_variable() {
        let err = KafkaSettings::from_vars(vars(&[(env::BOOTSTRAP, "no-port")])).unwrap_err();
        assert!(err.to_string().starts_with(env::BOOTSTRAP), "{err}");
        let err =
            KafkaSettings::from_vars(vars(&[(env::SCHEMA_REGISTRY_URL, "ftp://x")])).unwrap_err();
        assert!(
            err.to_string().starts_with(env::SCHEMA_REGISTRY_URL),
            "{err}"
        );
    }

    #[test]
    fn debug_output_hides_secrets() {
        let s = KafkaSettings::from_vars(vars(&[("DOCKET_KAFKA_PROP_SASL_PASSWORD", "hunter2")]))
            .unwrap();
        let printed = format!("{s:?}");
        assert!(!printed.contains("hunter2"), "{printed}");
        assert!(printed.contains("sasl.password"), "{printed}");
    }
}
