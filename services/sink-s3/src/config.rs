//! The S3 sink's configuration from the environment: bucket, prefix, region, endpoint
//! override (path-style addressing for S3-compatible stores), SSE-KMS and Object Lock,
//! validated without touching the network. Credentials come from the standard AWS chain.

use std::collections::BTreeMap;
use std::time::Duration;

use docket_delivery::{BatchLimits, ConfigError, EngineConfig};

/// The sink's name: group `docket-sink-s3`, dead-letter topic `docket.dlq.sink-s3`.
pub const SINK_NAME: &str = "s3";

/// Environment variables of the S3 sink.
pub mod env {
    /// Bucket (required).
    pub const BUCKET: &str = "DOCKET_S3_BUCKET";
    /// Key prefix.
    pub const PREFIX: &str = "DOCKET_S3_PREFIX";
    /// Region (else the AWS chain's, else `us-east-1`).
    pub const REGION: &str = "DOCKET_S3_REGION";
    /// Endpoint URL of an S3-compatible store.
    pub const ENDPOINT: &str = "DOCKET_S3_ENDPOINT";
    /// `true`/`false`: path-style addressing (default: true when an endpoint is set).
    pub const FORCE_PATH_STYLE: &str = "DOCKET_S3_FORCE_PATH_STYLE";
    /// KMS key id: objects are encrypted with SSE-KMS under it.
    pub const SSE_KMS_KEY_ID: &str = "DOCKET_S3_SSE_KMS_KEY_ID";
    /// `GOVERNANCE` or `COMPLIANCE`: Object Lock mode of every object.
    pub const OBJECT_LOCK_MODE: &str = "DOCKET_S3_OBJECT_LOCK_MODE";
    /// Days of Object Lock retention, counted from the first record's time.
    pub const OBJECT_LOCK_DAYS: &str = "DOCKET_S3_OBJECT_LOCK_DAYS";
    /// `true`/`false`: conditional create with `If-None-Match: *` (default true).
    pub const CONDITIONAL_CREATE: &str = "DOCKET_S3_CONDITIONAL_CREATE";
    /// gzip level 0-9 (default 3).
    pub const GZIP_LEVEL: &str = "DOCKET_S3_GZIP_LEVEL";
    /// Timeout of one S3 call, seconds.
    pub const TIMEOUT_SECS: &str = "DOCKET_S3_TIMEOUT_SECS";
}

/// S3's batch limits: objects of at most 100,000 records or 16 MiB of NDJSON, within one
/// five-minute record-time window; the tail waits 5 s of idleness.
pub const DEFAULT_LIMITS: BatchLimits = BatchLimits {
    max_records: 100_000,
    max_bytes: 16 * 1024 * 1024,
    window: Duration::from_secs(300),
    idle_flush: Duration::from_secs(5),
};

const DEFAULT_PREFIX: &str = "docket";
const DEFAULT_GZIP_LEVEL: u32 = 3;
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);
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
        let engine = EngineConfig::from_vars(SINK_NAME, DEFAULT_LIMITS, vars)?;
        if engine.limits.window > HOUR
            || !HOUR
                .as_secs()
                .is_multiple_of(engine.limits.window.as_secs())
        {
            return Err(ConfigError::new(
                docket_delivery::env::WINDOW_SECS,
                "must divide an hour, so an object never spans two hour folders",
            ));
        }
        let get = |k: &str| vars.get(k).filter(|v| !v.is_empty()).cloned();
        let flag = |k: &str, default: bool| match vars.get(k).map(String::as_str) {
            None => Ok(default),
            Some("true") => Ok(true),
            Some("false") => Ok(false),
            Some(_) => Err(ConfigError::new(k, "expected true or false")),
        };
        let bucket = get(env::BUCKET).ok_or_else(|| ConfigError::new(env::BUCKET, "required"))?;
        let endpoint = get(env::ENDPOINT);
        if let Some(e) = &endpoint
            && !(e.starts_with("http://") || e.starts_with("https://"))
        {
            return Err(ConfigError::new(
                env::ENDPOINT,
                "expected an http:// or https:// URL",
            ));
        }
        let s3 = S3Config {
            bucket,
            prefix: vars
                .get(env::PREFIX)
                .cloned()
                .unwrap_or_else(|| DEFAULT_PREFIX.to_owned()),
            region: get(env::REGION),
            force_path_style: flag(env::FORCE_PATH_STYLE, endpoint.is_some())?,
            endpoint,
            sse_kms_key_id: get(env::SSE_KMS_KEY_ID),
            object_lock: object_lock(vars)?,
            conditional_create: flag(env::CONDITIONAL_CREATE, true)?,
            gzip_level: number(vars, env::GZIP_LEVEL)?.map_or(Ok(DEFAULT_GZIP_LEVEL), |l| {
                if l <= 9 {
                    Ok(l as u32)
                } else {
                    Err(ConfigError::new(env::GZIP_LEVEL, "expected 0 to 9"))
                }
            })?,
            timeout: number(vars, env::TIMEOUT_SECS)?.map_or(DEFAULT_TIMEOUT, Duration::from_secs),
        };
        Ok(Self { s3, engine })
    }
}

fn number(vars: &BTreeMap<String, String>, key: &str) -> Result<Option<u64>, ConfigError> {
    vars.get(key)
        .map(|v| v.parse())
        .transpose()
        .map_err(|_| ConfigError::new(key, "expected a non-negative integer"))
}

fn object_lock(vars: &BTreeMap<String, String>) -> Result<Option<ObjectLock>, ConfigError> {
    let Some(mode) = vars.get(env::OBJECT_LOCK_MODE) else {
        return Ok(None);
    };
    if mode != "GOVERNANCE" && mode != "COMPLIANCE" {
        return Err(ConfigError::new(
            env::OBJECT_LOCK_MODE,
            "expected GOVERNANCE or COMPLIANCE",
        ));
    }
    let days = number(vars, env::OBJECT_LOCK_DAYS)?
        .filter(|d| *d > 0)
        .ok_or_else(|| {
            ConfigError::new(
                env::OBJECT_LOCK_DAYS,
                "required (days > 0) with a lock mode",
            )
        })?;
    Ok(Some(ObjectLock {
        mode: mode.clone(),
        days: u32::try_from(days)
            .map_err(|_| ConfigError::new(env::OBJECT_LOCK_DAYS, "too large"))?,
    }))
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

    #[test]
    fn an_endpoint_implies_path_style_and_the_bucket_is_required() {
        let c = Config::from_vars(&vars(&[
            (env::BUCKET, "b"),
            (env::ENDPOINT, "http://127.0.0.1:19000"),
        ]))
        .unwrap();
        assert!(c.s3.force_path_style && c.s3.conditional_create);
        assert_eq!(c.engine.group_id, "docket-sink-s3");
        let err = Config::from_vars(&vars(&[])).unwrap_err();
        assert_eq!(err.field, env::BUCKET);
    }

    #[test]
    fn invalid_values_name_their_variable() {
        let base = [(env::BUCKET, "b")];
        for (k, v) in [
            (env::OBJECT_LOCK_MODE, "FOREVER"),
            (env::GZIP_LEVEL, "12"),
            (env::ENDPOINT, "ftp://x"),
            (docket_delivery::env::WINDOW_SECS, "7"),
        ] {
            let mut all = vars(&base);
            all.insert(k.to_owned(), v.to_owned());
            let err = Config::from_vars(&all).unwrap_err();
            assert_eq!(err.field, k, "{err}");
        }
        let err = Config::from_vars(&vars(&[
            (env::BUCKET, "b"),
            (env::OBJECT_LOCK_MODE, "COMPLIANCE"),
        ]))
        .unwrap_err();
        assert_eq!(err.field, env::OBJECT_LOCK_DAYS);
    }
}
