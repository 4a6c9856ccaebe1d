//! The S3 sink's configuration from the environment: bucket, prefix, region, endpoint
//! override (path-style addressing for S3-compatible stores), SSE-KMS and Object Lock,
//! validated without touching the network. Credentials come from the standard AWS chain.

use std::collections::BTreeMap;
use std::time::Duration;

use docket_config::{Var, Vars};
use docket_delivery::{BatchLimits, ConfigError, EngineConfig};

/// The sink's name: group `docket-sink-s3`, dead-letter topic `docket.dlq.sink-s3`.
pub const SINK_NAME: &str = "s3";

/// The S3 sink's declared variables (name, default, help).
pub mod vars {
    use docket_config::{OldName, Var};

    /// Bucket (required).
    pub const BUCKET: Var = Var::new("DOCKET_S3_BUCKET", "bucket").required();
    /// Key prefix.
    pub const PREFIX: Var =
        Var::new("DOCKET_S3_PREFIX", "key prefix (may be empty)").default("docket");
    /// Region.
    pub const REGION: Var =
        Var::new("DOCKET_S3_REGION", "region").described("the AWS chain's, else us-east-1");
    /// Endpoint URL of an S3-compatible store.
    pub const ENDPOINT: Var = Var::new(
        "DOCKET_S3_ENDPOINT",
        "S3-compatible endpoint; implies path-style addressing",
    );
    /// Path-style addressing.
    pub const FORCE_PATH_STYLE: Var =
        Var::new("DOCKET_S3_FORCE_PATH_STYLE", "path-style addressing")
            .described("true with an endpoint");
    /// KMS key id: objects are encrypted with SSE-KMS under it.
    pub const SSE_KMS_KEY_ID: Var = Var::new("DOCKET_S3_SSE_KMS_KEY_ID", "SSE-KMS with this key");
    /// `GOVERNANCE` or `COMPLIANCE`: Object Lock mode of every object.
    pub const OBJECT_LOCK_MODE: Var = Var::new(
        "DOCKET_S3_OBJECT_LOCK_MODE",
        "Object Lock mode (GOVERNANCE or COMPLIANCE)",
    );
    /// Days of Object Lock retention, counted from the first record's time.
    pub const OBJECT_LOCK_DAYS: Var = Var::new(
        "DOCKET_S3_OBJECT_LOCK_DAYS",
        "Object Lock retention, days from the first record's time; required with a mode",
    );
    /// Conditional create with `If-None-Match: *`.
    pub const CONDITIONAL_CREATE: Var = Var::new(
        "DOCKET_S3_CONDITIONAL_CREATE",
        "If-None-Match: * on every write",
    )
    .default("true");
    /// gzip level 0-9.
    pub const GZIP_LEVEL: Var =
        Var::new("DOCKET_S3_GZIP_LEVEL", "gzip level (libdeflate), 0 to 9").default("1");
    /// Timeout of one S3 call.
    pub const TIMEOUT: Var = Var::new("DOCKET_S3_TIMEOUT", "timeout of one S3 call")
        .default("60s")
        .old(OldName::secs("DOCKET_S3_TIMEOUT_SECS"));
}

/// Every variable of the S3 sink (the engine's and Kafka's come on top).
pub const VARS: &[Var] = &[
    vars::BUCKET,
    vars::PREFIX,
    vars::REGION,
    vars::ENDPOINT,
    vars::FORCE_PATH_STYLE,
    vars::SSE_KMS_KEY_ID,
    vars::OBJECT_LOCK_MODE,
    vars::OBJECT_LOCK_DAYS,
    vars::CONDITIONAL_CREATE,
    vars::GZIP_LEVEL,
    vars::TIMEOUT,
];

/// S3's batch limits: objects of at most 100,000 records or 8 MiB of NDJSON, within one
/// five-minute record-time window; the tail waits 5 s of idleness. Four partitions' open
/// batches fit the engine's default 32 MiB allowance, so objects close on their own limit
/// (with 16 MiB objects the same benchmark used 67 MiB more memory at the same rate).
pub const DEFAULT_LIMITS: BatchLimits = BatchLimits {
    max_records: 100_000,
    max_bytes: 8 * 1024 * 1024,
    window: Duration::from_secs(300),
    idle_flush: Duration::from_secs(5),
};

const HOUR: Duration = Duration::from_secs(3_600);

/// Object Lock settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectLock {
    /// `GOVERNANCE` or `COMPLIANCE`.
    pub mode: String,
    /// Retention in days from the first record's time.
    pub days: u32,
}

/// Where and how objects are written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Config {
    /// Bucket.
    pub bucket: String,
    /// Key prefix (may be empty).
    pub prefix: String,
    /// Region override.
    pub region: Option<String>,
    /// Endpoint override.
    pub endpoint: Option<String>,
    /// Path-style addressing.
    pub force_path_style: bool,
    /// SSE-KMS key id.
    pub sse_kms_key_id: Option<String>,
    /// Object Lock.
    pub object_lock: Option<ObjectLock>,
    /// `If-None-Match: *` on every write.
    pub conditional_create: bool,
    /// gzip level.
    pub gzip_level: u32,
    /// Timeout of one call.
    pub timeout: Duration,
}

/// The whole configuration of the sink process.
#[derive(Debug, Clone)]
pub struct Config {
    /// Destination settings.
    pub s3: S3Config,
    /// Engine settings.
    pub engine: EngineConfig,
}

impl Config {
    /// Reads and validates `vars` (usually the process environment).
    pub fn from_vars(vars: &BTreeMap<String, String>) -> Result<Self, ConfigError> {
        Self::from_config(&Vars::from(vars.clone()))
    }

    /// Reads and validates `vars`.
    pub fn from_config(vars: &Vars) -> Result<Self, ConfigError> {
        let engine = EngineConfig::from_config(SINK_NAME, DEFAULT_LIMITS, vars)?;
        let window = engine.limits.window;
        if window > HOUR || window.is_zero() || !HOUR.as_nanos().is_multiple_of(window.as_nanos()) {
            return Err(ConfigError::new(
                docket_delivery::env::WINDOW,
                "must divide an hour, so an object never spans two hour folders",
            ));
        }
        Ok(Self {
            s3: s3_config(vars)?,
            engine,
        })
    }
}

fn s3_config(vars: &Vars) -> Result<S3Config, ConfigError> {
    let endpoint = vars.optional(&vars::ENDPOINT);
    if let Some(e) = &endpoint
        && !(e.starts_with("http://") || e.starts_with("https://"))
    {
        return Err(ConfigError::new(
            vars::ENDPOINT.name,
            "expected an http:// or https:// URL",
        ));
    }
    let gzip_level: u32 = vars.number(&vars::GZIP_LEVEL)?;
    if gzip_level > 9 {
        return Err(ConfigError::new(vars::GZIP_LEVEL.name, "expected 0 to 9"));
    }
    Ok(S3Config {
        bucket: vars.required(&vars::BUCKET)?,
        prefix: vars.text(&vars::PREFIX),
        region: vars.optional(&vars::REGION),
        force_path_style: vars
            .flag_opt(&vars::FORCE_PATH_STYLE)?
            .unwrap_or(endpoint.is_some()),
        endpoint,
        sse_kms_key_id: vars.optional(&vars::SSE_KMS_KEY_ID),
        object_lock: object_lock(vars)?,
        conditional_create: vars.flag(&vars::CONDITIONAL_CREATE)?,
        gzip_level,
        timeout: vars.duration(&vars::TIMEOUT)?,
    })
}

fn object_lock(vars: &Vars) -> Result<Option<ObjectLock>, ConfigError> {
    let Some(mode) = vars.optional(&vars::OBJECT_LOCK_MODE) else {
        return Ok(None);
    };
    if mode != "GOVERNANCE" && mode != "COMPLIANCE" {
        return Err(ConfigError::new(
            vars::OBJECT_LOCK_MODE.name,
            "expected GOVERNANCE or COMPLIANCE",
        ));
    }
    let days = vars
        .number_opt::<u32>(&vars::OBJECT_LOCK_DAYS)?
        .filter(|d| *d > 0)
        .ok_or_else(|| {
            ConfigError::new(
                vars::OBJECT_LOCK_DAYS.name,
                "required (days > 0) with a lock mode",
            )
        })?;
    Ok(Some(ObjectLock { mode, days }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> Vars {
        Vars::from(pairs)
    }

    #[test]
    fn an_endpoint_implies_path_style_and_the_bucket_is_required() {
        let c = Config::from_config(&vars(&[
            (vars::BUCKET.name, "b"),
            (vars::ENDPOINT.name, "http://127.0.0.1:19000"),
        ]))
        .unwrap();
        assert!(c.s3.force_path_style && c.s3.conditional_create);
        assert_eq!(c.engine.group_id, "docket-sink-s3");
        let err = Config::from_config(&vars(&[])).unwrap_err();
        assert_eq!(err.field, vars::BUCKET.name);
    }

    #[test]
    fn invalid_values_name_their_variable() {
        let base = [(vars::BUCKET.name, "b")];
        for (k, v) in [
            (vars::OBJECT_LOCK_MODE.name, "FOREVER"),
            (vars::GZIP_LEVEL.name, "12"),
            (vars::ENDPOINT.name, "ftp://x"),
            (docket_delivery::env::WINDOW, "7s"),
        ] {
            let all = [base[0], (k, v)];
            let err = Config::from_config(&vars(&all)).unwrap_err();
            assert_eq!(err.field, k, "{err}");
        }
        let err = Config::from_config(&vars(&[
            (vars::BUCKET.name, "b"),
            (vars::OBJECT_LOCK_MODE.name, "COMPLIANCE"),
        ]))
        .unwrap_err();
        assert_eq!(err.field, vars::OBJECT_LOCK_DAYS.name);
        let err = Config::from_config(&vars(&[
            (vars::BUCKET.name, "b"),
            (docket_delivery::env::WINDOW_SECS, "7"),
        ]))
        .unwrap_err();
        assert_eq!(err.field, docket_delivery::env::WINDOW);
    }

    #[test]
    fn the_old_timeout_name_counts_seconds() {
        let c = Config::from_config(&vars(&[
            (vars::BUCKET.name, "b"),
            ("DOCKET_S3_TIMEOUT_SECS", "20"),
        ]))
        .unwrap();
        assert_eq!(c.s3.timeout, Duration::from_secs(20));
    }

    #[test]
    fn every_variable_is_in_one_docs_table() {
        let docs = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs");
        docket_config::check_documented(&docs, VARS).unwrap();
    }
}
