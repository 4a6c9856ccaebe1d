//! Every environment variable the gateway reads, declared once (name, default, help) for the
//! readers in [`super::raw`], `docket-gateway --help` and the docs check. Durations are
//! humantime (`5s`, `250ms`), sizes bytes with an optional unit (`16MiB`). The defaults
//! shown are those of [`super::raw::RawConfig::default`]; the configuration file, when
//! given, sits between the two.

use docket_config::{OldName, Var};

/// Path of the JSON configuration file (the middle layer).
pub const CONFIG_FILE: Var = Var::new(
    "DOCKET_GATEWAY_CONFIG",
    "JSON file: any setting below by its file key, plus admins, keys, providers, models, policies",
);
/// `host:port` the HTTP server listens on.
pub const LISTEN: Var = Var::new(
    "DOCKET_GATEWAY_LISTEN",
    "API, admin API, metrics and probes",
)
.default(super::raw::DEFAULT_LISTEN);
/// Name of this instance in decision records.
pub const INSTANCE: Var = Var::new("DOCKET_GATEWAY_INSTANCE", "gateway_instance in decisions")
    .default(super::raw::DEFAULT_INSTANCE);
/// Topic of decision records.
pub const DECISIONS_TOPIC: Var =
    Var::new("DOCKET_GATEWAY_DECISIONS_TOPIC", "decision records").default("docket.decisions.v1");
/// Topic of audit records.
pub const AUDIT_TOPIC: Var =
    Var::new("DOCKET_GATEWAY_AUDIT_TOPIC", "audit records").default("docket.audit.v1");
/// Directory of the persistent state file and the spool.
pub const STATE_DIR: Var = Var::new("DOCKET_GATEWAY_STATE_DIR", "state.json and spool/")
    .default(super::raw::DEFAULT_STATE_DIR);
/// Compacted single-partition topic of the administrative state; empty: `state.json` only.
pub const STATE_TOPIC: Var = Var::new(
    "DOCKET_GATEWAY_STATE_TOPIC",
    "state log shared by replicas (e.g. docket.gateway.state.v1); empty: state.json, one replica",
);
/// Largest spool size.
pub const SPOOL_MAX_BYTES: Var =
    Var::new("DOCKET_GATEWAY_SPOOL_MAX_BYTES", "spool bound").default("256MiB");
/// `fail_closed` or `fail_open`.
pub const ON_SPOOL_FULL: Var = Var::new(
    "DOCKET_GATEWAY_ON_SPOOL_FULL",
    "fail_closed (503 while full) or fail_open (serve, count drops)",
)
.default("fail_closed");
/// When the write-ahead log is synced to the disk: `never` or a period.
pub const SPOOL_FSYNC: Var = Var::new(
    "DOCKET_GATEWAY_SPOOL_FSYNC",
    "never, or a period (100ms): the log is synced at most this long after an append",
)
.default("never");
/// Largest accepted request body.
pub const MAX_BODY_BYTES: Var = Var::new(
    "DOCKET_GATEWAY_MAX_BODY_BYTES",
    "request body limit (413 beyond)",
)
.default("1MiB");
/// How long Kafka may take to acknowledge a record before it is spooled.
pub const DELIVERY_TIMEOUT: Var = Var::new(
    "DOCKET_GATEWAY_DELIVERY_TIMEOUT",
    "wait for Kafka's acknowledgement before spooling",
)
.default(super::raw::DEFAULT_DELIVERY_TIMEOUT)
.old(OldName::millis("DOCKET_GATEWAY_DELIVERY_TIMEOUT_MS"));
/// Timeout of one upstream call.
pub const UPSTREAM_TIMEOUT: Var = Var::new(
    "DOCKET_GATEWAY_UPSTREAM_TIMEOUT",
    "one upstream call (502 beyond)",
)
.default(super::raw::DEFAULT_UPSTREAM_TIMEOUT)
.old(OldName::millis("DOCKET_GATEWAY_UPSTREAM_TIMEOUT_MS"));
/// Longest time to receive a request head.
pub const HEADER_READ_TIMEOUT: Var = Var::new(
    "DOCKET_GATEWAY_HEADER_READ_TIMEOUT",
    "request head, from the connect or its first byte (connection closed beyond)",
)
.default(super::raw::DEFAULT_HEADER_READ_TIMEOUT);
/// Longest time to receive a request body.
pub const BODY_READ_TIMEOUT: Var = Var::new(
    "DOCKET_GATEWAY_BODY_READ_TIMEOUT",
    "request body (408 beyond)",
)
.default(super::raw::DEFAULT_BODY_READ_TIMEOUT);
/// Longest pause between two requests of a kept-alive connection.
pub const IDLE_TIMEOUT: Var = Var::new(
    "DOCKET_GATEWAY_IDLE_TIMEOUT",
    "pause between requests on a kept-alive connection (closed beyond)",
)
.default(super::raw::DEFAULT_IDLE_TIMEOUT);
/// Most connections served at once.
pub const MAX_CONNECTIONS: Var = Var::new(
    "DOCKET_GATEWAY_MAX_CONNECTIONS",
    "connections served at once; more wait in the listen backlog",
)
.default("1024");
/// Threads serving connections.
pub const THREADS: Var = Var::new(
    "DOCKET_GATEWAY_THREADS",
    "threads serving connections, each connection on one; default: the CPUs available",
);
/// Longest wait at shutdown for requests in flight.
pub const SHUTDOWN_GRACE: Var = Var::new(
    "DOCKET_GATEWAY_SHUTDOWN_GRACE",
    "at SIGTERM, longest wait for requests in flight",
)
.default(super::raw::DEFAULT_SHUTDOWN_GRACE);
/// Prefix a provider's `api_key_env` must have when set through the admin API.
pub const PROVIDER_KEY_PREFIX: Var = Var::new(
    "DOCKET_GATEWAY_PROVIDER_KEY_PREFIX",
    "required prefix of api_key_env in admin provider edits",
)
.default(super::raw::DEFAULT_PROVIDER_KEY_PREFIX);
/// Audit records one source address may cause per minute with refused admin calls.
pub const ADMIN_REFUSALS_PER_MINUTE: Var = Var::new(
    "DOCKET_GATEWAY_ADMIN_REFUSALS_PER_MINUTE",
    "audited 401 admin calls per source address and minute (429 beyond)",
)
.default("60");

/// Every variable the gateway reads (Kafka's come on top).
pub const VARS: &[Var] = &[
    CONFIG_FILE,
    LISTEN,
    INSTANCE,
    DECISIONS_TOPIC,
    AUDIT_TOPIC,
    STATE_DIR,
    STATE_TOPIC,
    SPOOL_MAX_BYTES,
    ON_SPOOL_FULL,
    SPOOL_FSYNC,
    MAX_BODY_BYTES,
    DELIVERY_TIMEOUT,
    UPSTREAM_TIMEOUT,
    HEADER_READ_TIMEOUT,
    BODY_READ_TIMEOUT,
    IDLE_TIMEOUT,
    MAX_CONNECTIONS,
    THREADS,
    SHUTDOWN_GRACE,
    PROVIDER_KEY_PREFIX,
    ADMIN_REFUSALS_PER_MINUTE,
];
