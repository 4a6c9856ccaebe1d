//! Where the local run lives: the repository (for `dev/stack` and the sample configuration),
//! the stack's state folder, the port block of Docket's services and the namespace that keeps
//! one run's topics, groups and bucket apart from another's on the same stack.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;

use docket_kafka::{KafkaSettings, dlq_topic, group, topic};

use crate::error::CliError;

/// Environment variables the command line reads (besides Kafka's and the S3 client's).
pub mod env {
    /// The repository holding `dev/stack` and `config/` (default: where `docket` was built).
    pub const ROOT: &str = "DOCKET_ROOT";
    /// The stack's state folder (shared with `dev/stack`).
    pub const STACK_HOME: &str = "DOCKET_STACK_HOME";
    /// First port of the block Docket's services bind on 127.0.0.1.
    pub const PORT_BASE: &str = "DOCKET_LOCAL_PORT_BASE";
    /// Suffix of topics, groups and bucket, so several runs share one stack.
    pub const NAMESPACE: &str = "DOCKET_LOCAL_NAMESPACE";
    /// Admin token `demo` and `verify` use.
    pub const ADMIN_TOKEN: &str = "DOCKET_CLI_ADMIN_TOKEN";
    /// Caller API key `demo` and `verify` use.
    pub const API_KEY: &str = "DOCKET_CLI_API_KEY";
    /// The id of the admin whose token that is (checked in delivered records).
    pub const ADMIN_ID: &str = "DOCKET_CLI_ADMIN_ID";
    /// The id of the caller key (checked in delivered records).
    pub const API_KEY_ID: &str = "DOCKET_CLI_API_KEY_ID";
}

/// The sample configuration's admin token (local use only, like the stack's S3 keys).
const LOCAL_ADMIN_TOKEN: &str = "docket-local-admin";
/// The sample configuration's caller key.
const LOCAL_API_KEY: &str = "sk-docket-local-caller";
/// Their ids in the sample configuration.
const LOCAL_ADMIN_ID: &str = "ana";
const LOCAL_API_KEY_ID: &str = "key-local";
const DEFAULT_PORT_BASE: u16 = 18100;
const LOCAL_BUCKET: &str = "docket-local";

/// The local run's coordinates.
#[derive(Debug, Clone)]
pub struct Local {
    /// Repository root.
    pub root: PathBuf,
    /// State folder: `logs/`, `run/`, the gateway's state.
    pub state: PathBuf,
    /// First port of Docket's services.
    pub port_base: u16,
    /// Topic, group and bucket names.
    pub names: Names,
    /// Admin token for the gateway's admin API.
    pub admin_token: String,
    /// Caller key for the gateway's chat API.
    pub api_key: String,
    /// The admin's id.
    pub admin_id: String,
    /// The caller key's id.
    pub caller_id: String,
}

impl Local {
    /// From the process environment.
    pub fn from_env() -> Result<Self, CliError> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let root = var(env::ROOT).map_or_else(default_root, PathBuf::from);
        let state = var(env::STACK_HOME).map_or_else(|| root.join(".stack"), PathBuf::from);
        let port_base = match var(env::PORT_BASE) {
            None => DEFAULT_PORT_BASE,
            Some(v) => v
                .parse()
                .ok()
                .filter(|p| *p > 0 && *p < 65000)
                .ok_or_else(|| {
                    CliError::Usage(format!(
                        "{}: expected a port below 65000, got {v:?}",
                        env::PORT_BASE
                    ))
                })?,
        };
        let namespace = var(env::NAMESPACE).unwrap_or_default();
        if !namespace
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        {
            return Err(CliError::Usage(format!(
                "{}: use lowercase letters, digits and '-' only",
                env::NAMESPACE
            )));
        }
        Ok(Self {
            root,
            state,
            port_base,
            names: Names::new(&namespace),
            admin_token: var(env::ADMIN_TOKEN).unwrap_or_else(|| LOCAL_ADMIN_TOKEN.to_owned()),
            api_key: var(env::API_KEY).unwrap_or_else(|| LOCAL_API_KEY.to_owned()),
            admin_id: var(env::ADMIN_ID).unwrap_or_else(|| LOCAL_ADMIN_ID.to_owned()),
            caller_id: var(env::API_KEY_ID).unwrap_or_else(|| LOCAL_API_KEY_ID.to_owned()),
        })
    }

    /// Where services' logs go.
    pub fn logs(&self) -> PathBuf {
        self.state.join("logs")
    }

    /// Where pid files go.
    pub fn run_dir(&self) -> PathBuf {
        self.state.join("run")
    }

    /// The `dev/stack` script.
    pub fn stack_script(&self) -> PathBuf {
        self.root.join("dev/stack")
    }

    /// The gateway's base URL.
    pub fn gateway_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port_base)
    }

    /// The stack's client settings (`dev/stack env`), overlaid with the process environment.
    pub fn stack_env(&self) -> Result<BTreeMap<String, String>, CliError> {
        let mut vars = self.stack_exports()?;
        for (name, value) in std::env::vars() {
            if vars.contains_key(&name) {
                vars.insert(name, value);
            }
        }
        Ok(vars)
    }

    /// The stack's client settings exactly as `dev/stack env` prints them.
    pub fn stack_exports(&self) -> Result<BTreeMap<String, String>, CliError> {
        let out = Command::new(self.stack_script())
            .arg("env")
            .output()
            .map_err(CliError::io(format!(
                "running {} env",
                self.stack_script().display()
            )))?;
        if !out.status.success() {
            return Err(CliError::Unexpected(format!(
                "dev/stack env failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        Ok(String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.strip_prefix("export ")?.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect())
    }

    /// Kafka and registry settings: the process environment over the local defaults.
    pub fn kafka(&self) -> Result<KafkaSettings, CliError> {
        Ok(KafkaSettings::from_env()?)
    }
}

/// The repository this binary was built from.
fn default_root() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

/// Topic, group and bucket names of one namespace (Docket's own names when it is empty).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Names {
    namespace: String,
}

impl Names {
    /// Names for `namespace` (empty: Docket's names).
    pub fn new(namespace: &str) -> Self {
        Self {
            namespace: namespace.to_owned(),
        }
    }

    /// The namespace ("" for none).
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// A topic's name in this namespace.
    pub fn topic(&self, base: &str) -> String {
        if self.namespace.is_empty() {
            base.to_owned()
        } else {
            format!("{base}.{}", self.namespace)
        }
    }

    /// A group's name in this namespace.
    pub fn group(&self, base: &str) -> String {
        if self.namespace.is_empty() {
            base.to_owned()
        } else {
            format!("{base}-{}", self.namespace)
        }
    }

    /// Decisions topic.
    pub fn decisions(&self) -> String {
        self.topic(topic::DECISIONS)
    }

    /// Audit topic.
    pub fn audit(&self) -> String {
        self.topic(topic::AUDIT)
    }

    /// Enriched-decision topic.
    pub fn enriched(&self) -> String {
        self.topic(topic::ENRICHED)
    }

    /// The joiner's pending topic.
    pub fn pending(&self) -> String {
        self.topic(topic::JOINER_PENDING)
    }

    /// Dead-letter topic of `service` (`joiner`, `sink-s3`, ...).
    pub fn dlq(&self, service: &str) -> String {
        self.topic(&dlq_topic(service))
    }

    /// The joiner's group.
    pub fn joiner_group(&self) -> String {
        self.group(group::JOINER)
    }

    /// The group of sink `name`.
    pub fn sink_group(&self, name: &str) -> String {
        self.group(&group::sink(name))
    }

    /// The local S3 bucket.
    pub fn bucket(&self) -> String {
        self.group(LOCAL_BUCKET)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_namespace_keeps_dockets_names() {
        let n = Names::new("");
        assert_eq!(n.decisions(), "docket.decisions.v1");
        assert_eq!(n.sink_group("s3"), "docket-sink-s3");
        assert_eq!(n.dlq("sink-s3"), "docket.dlq.sink-s3");
        assert_eq!(n.bucket(), "docket-local");
    }

    #[test]
    fn a_namespace_suffixes_topics_groups_and_bucket() {
        let n = Names::new("t1");
        assert_eq!(n.enriched(), "docket.decisions.enriched.v1.t1");
        assert_eq!(n.joiner_group(), "docket-joiner-t1");
        assert_eq!(n.bucket(), "docket-local-t1");
    }
}
