//! Client settings, loaded in layers: built-in defaults (the local stack), then environment
//! variables. Validation is pure; building clients is a separate step.

use std::collections::BTreeMap;
use std::fmt;

use docket_config::{ConfigError, Var, Vars};

/// The settings' declared variables (name, default, help), for `--help` and the docs check.
pub mod vars {
    use docket_config::Var;

    /// Comma-separated `host:port` list of brokers.
    pub const BOOTSTRAP: Var = Var::new(
        "DOCKET_KAFKA_BOOTSTRAP",
        "brokers, comma separated host:port",
    )
    .default("127.0.0.1:19092");
    /// Base URL of the registry's Confluent-compatible API.
    pub const SCHEMA_REGISTRY_URL: Var = Var::new(
        "DOCKET_SCHEMA_REGISTRY_URL",
        "Confluent-compatible registry API",
    )
    .default("http://127.0.0.1:18081/apis/ccompat/v7");
    /// Client id reported to the brokers.
    pub const CLIENT_ID: Var = Var::new("DOCKET_KAFKA_CLIENT_ID", "client.id").default("docket");
    /// Pass-through librdkafka properties.
    pub const PROPERTY: Var = Var::new(
        "DOCKET_KAFKA_PROP_<NAME>",
        "any librdkafka property: DOCKET_KAFKA_PROP_SASL_MECHANISM=PLAIN sets sasl.mechanism",
    );
}

/// Every variable the settings read.
pub const VARS: &[Var] = &[
    vars::BOOTSTRAP,
    vars::SCHEMA_REGISTRY_URL,
    vars::CLIENT_ID,
    vars::PROPERTY,
];

/// Environment variable names.
pub mod env {
    /// Comma-separated `host:port` list of brokers.
    pub const BOOTSTRAP: &str = super::vars::BOOTSTRAP.name;
    /// Base URL of the registry's Confluent-compatible API.
    pub const SCHEMA_REGISTRY_URL: &str = super::vars::SCHEMA_REGISTRY_URL.name;
    /// Client id reported to the brokers.
    pub const CLIENT_ID: &str = super::vars::CLIENT_ID.name;
    /// Prefix of pass-through librdkafka properties: `DOCKET_KAFKA_PROP_SASL_MECHANISM=PLAIN`
    /// sets `sasl.mechanism` (lower-cased, `_` becomes `.`).
    pub const PROPERTY_PREFIX: &str = "DOCKET_KAFKA_PROP_";
}

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

/// A setting that cannot be used: the shared configuration error, naming the variable.
pub type SettingsError = ConfigError;

impl Default for KafkaSettings {
    fn default() -> Self {
        Self::from_config(&Vars::default()).expect("the declared defaults are valid")
    }
}

impl KafkaSettings {
    /// Defaults overlaid with the process environment, validated.
    pub fn from_env() -> Result<Self, SettingsError> {
        Self::from_config(&Vars::from_env())
    }

    /// Defaults overlaid with `vars` (name, value pairs), validated.
    pub fn from_vars(
        vars: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, SettingsError> {
        Self::from_config(&vars.into_iter().collect())
    }

    /// Defaults overlaid with `vars`, validated.
    pub fn from_config(vars: &Vars) -> Result<Self, SettingsError> {
        let s = Self {
            bootstrap_servers: vars.text(&vars::BOOTSTRAP),
            schema_registry_url: vars.text(&vars::SCHEMA_REGISTRY_URL),
            client_id: vars.text(&vars::CLIENT_ID),
            properties: vars
                .prefixed(env::PROPERTY_PREFIX)
                .map(|(name, value)| (name.to_lowercase().replace('_', "."), value.to_owned()))
                .collect(),
        };
        s.validate()?;
        Ok(s)
    }

    /// Checks every value without touching the network.
    pub fn validate(&self) -> Result<(), SettingsError> {
        if self
            .bootstrap_servers
            .split(',')
            .any(|b| !is_host_port(b.trim()))
        {
            return Err(ConfigError::new(
                env::BOOTSTRAP,
                "expected a comma-separated list of host:port",
            ));
        }
        let url = &self.schema_registry_url;
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(ConfigError::new(
                env::SCHEMA_REGISTRY_URL,
                "expected an http:// or https:// URL",
            ));
        }
        if self.client_id.trim().is_empty() {
            return Err(ConfigError::new(env::CLIENT_ID, "must not be empty"));
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

    fn vars(pairs: &[(&str, &str)]) -> Vars {
        Vars::from(pairs)
    }

    #[test]
    fn environment_overrides_defaults() {
        let s = KafkaSettings::from_config(&vars(&[
            (env::BOOTSTRAP, "k1:9092,k2:9092"),
            ("DOCKET_KAFKA_PROP_SECURITY_PROTOCOL", "SASL_SSL"),
            ("UNRELATED", "x"),
        ]))
        .unwrap();
        assert_eq!(s.bootstrap_servers, "k1:9092,k2:9092");
        assert_eq!(
            s.schema_registry_url,
            KafkaSettings::default().schema_registry_url
        );
        assert_eq!(
            s.properties.get("security.protocol").map(String::as_str),
            Some("SASL_SSL")
        );
        assert_eq!(s.properties.len(), 1);
    }

    #[test]
    fn invalid_values_name_their_variable() {
        let err = KafkaSettings::from_config(&vars(&[(env::BOOTSTRAP, "no-port")])).unwrap_err();
        assert!(err.to_string().starts_with(env::BOOTSTRAP), "{err}");
        let err = KafkaSettings::from_config(&vars(&[(env::SCHEMA_REGISTRY_URL, "ftp://x")]))
            .unwrap_err();
        assert!(
            err.to_string().starts_with(env::SCHEMA_REGISTRY_URL),
            "{err}"
        );
    }

    #[test]
    fn every_variable_is_in_one_docs_table() {
        let docs = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs");
        docket_config::check_documented(&docs, VARS).unwrap();
    }

    #[test]
    fn debug_output_hides_secrets() {
        let s =
            KafkaSettings::from_config(&vars(&[("DOCKET_KAFKA_PROP_SASL_PASSWORD", "hunter2")]))
                .unwrap();
        let printed = format!("{s:?}");
        assert!(!printed.contains("hunter2"), "{printed}");
        assert!(printed.contains("sasl.password"), "{printed}");
    }
}
