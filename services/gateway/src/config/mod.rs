//! Configuration in layers: built-in defaults, then a JSON file (`DOCKET_GATEWAY_CONFIG`),
//! then environment variables, read through the shared configuration kit (`docket-config`:
//! one error type naming the variable, humantime durations, `--help` from [`vars`]). [`RawConfig`] holds the merged values; [`RawConfig::validate`]
//! checks them without side effects, naming the offending field; building clients and
//! opening files happens later, in [`crate::run`].

mod raw;
pub mod vars;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

pub use docket_config::ConfigError;
use docket_config::Vars;
use docket_kafka::KafkaSettings;
use serde::{Deserialize, Serialize};

use crate::policy::Policy;
pub use crate::publish::FsyncPolicy;
use crate::store::{ApiKey, Model, Provider, State};
pub use raw::RawConfig;

/// Admin roles, weakest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Reads everything, changes nothing.
    Viewer,
    /// Reads everything, changes policies.
    PolicyAdmin,
    /// Everything.
    SuperAdmin,
}

impl Role {
    /// The name recorded in audit events.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::PolicyAdmin => "policy_admin",
            Role::SuperAdmin => "super_admin",
        }
    }
}

/// An administrator; only the digest of the token is configured.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Admin {
    /// Actor id recorded in audit events.
    pub id: String,
    /// Lowercase hex SHA-256 of the bearer token.
    pub token_sha256: String,
    /// What the admin may do.
    pub role: Role,
}

/// What to do when the spool is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnSpoolFull {
    /// Answer 503 to new requests: no decision goes unrecorded.
    FailClosed,
    /// Keep serving and count each dropped record.
    FailOpen,
}

/// Spool limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpoolConfig {
    /// Directory of the spool segments.
    pub dir: PathBuf,
    /// Largest total size of undelivered records.
    pub max_bytes: u64,
    /// Size at which a segment file is closed and a new one started.
    pub segment_bytes: u64,
    /// Behaviour when full.
    pub on_full: OnSpoolFull,
    /// When the log is synced to the disk.
    pub fsync: FsyncPolicy,
}

/// Limits of the HTTP server's connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpLimits {
    /// Longest time to receive a complete request head (from the connect, or from the
    /// first byte of a later request on a kept-alive connection).
    pub header_read_timeout: Duration,
    /// Longest time to receive a complete request body.
    pub body_read_timeout: Duration,
    /// Longest pause between two requests of a kept-alive connection.
    pub idle_timeout: Duration,
    /// Most connections served at once; more wait in the listen backlog.
    pub max_connections: usize,
    /// Threads serving connections (at least one).
    pub threads: usize,
    /// Longest wait at shutdown for requests in flight.
    pub shutdown_grace: Duration,
}

/// Validated configuration.
#[derive(Debug, Clone)]
pub struct GatewayConfig {
    /// Listen address of the API, admin API, metrics and probes.
    pub listen: SocketAddr,
    /// Instance name in decision records.
    pub instance: String,
    /// Decision topic.
    pub decisions_topic: String,
    /// Audit topic.
    pub audit_topic: String,
    /// Directory of `state.json`.
    pub state_dir: PathBuf,
    /// The state log shared by replicas; `None`: `state.json` in `state_dir`, one replica.
    pub state_topic: Option<String>,
    /// Spool settings.
    pub spool: SpoolConfig,
    /// Largest request body.
    pub max_body_bytes: usize,
    /// Kafka acknowledgement timeout before a record is spooled.
    pub delivery_timeout: Duration,
    /// Timeout of one upstream call.
    pub upstream_timeout: Duration,
    /// Kafka and registry settings.
    pub kafka: KafkaSettings,
    /// Connection limits.
    pub http: HttpLimits,
    /// Prefix every provider's `api_key_env` set through the admin API must have.
    pub provider_key_prefix: String,
    /// Audit records one source address may cause per minute by refused (401) admin calls.
    pub admin_refusals_per_minute: u32,
    /// Administrators.
    pub admins: Vec<Admin>,
    /// Initial state, used when the state directory has none yet.
    pub seed: State,
}

impl GatewayConfig {
    /// Defaults, then the file named by `DOCKET_GATEWAY_CONFIG`, then the environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_vars(&Vars::from_env())
    }

    /// Defaults, then the file named in `vars`, then `vars`.
    pub fn from_vars(vars: &Vars) -> Result<Self, ConfigError> {
        let kafka = KafkaSettings::from_config(vars)?;
        RawConfig::load(vars)?.validate(kafka)
    }
}

/// Seed tables as written in the file.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Seed {
    /// API keys.
    #[serde(default)]
    pub keys: Vec<ApiKey>,
    /// Providers (the built-in `echo` provider is always added).
    #[serde(default)]
    pub providers: Vec<Provider>,
    /// Models.
    #[serde(default)]
    pub models: Vec<Model>,
    /// Policies.
    #[serde(default)]
    pub policies: Vec<Policy>,
}
