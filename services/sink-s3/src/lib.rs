//! Docket's S3 sink: exports decisions and audit events as gzip NDJSON objects under
//! deterministic keys (topic, partition, first offset), written with conditional create, so
//! a restart or a replay rewrites the same keys and never duplicates a record. The delivery
//! engine (`docket-delivery`) does the consuming, batching, retries and offsets.

pub mod config;
pub mod encode;
pub mod key;
pub mod send;

use aws_sdk_s3::config::retry::RetryConfig;
use aws_sdk_s3::config::timeout::TimeoutConfig;
use aws_sdk_s3::config::{
    BehaviorVersion, ProvideCredentials, Region, RequestChecksumCalculation,
    ResponseChecksumValidation,
};
use docket_config::{Help, Vars};
use docket_delivery::{ConfigError, EngineError, Handles, Shutdown};
use docket_kafka::KafkaSettings;
use thiserror::Error;

use crate::config::{Config, S3Config, SINK_NAME};
use crate::send::S3Sink;

/// Region used when neither the configuration nor the AWS chain names one.
const FALLBACK_REGION: &str = "us-east-1";

/// Why the sink stopped.
#[derive(Debug, Error)]
pub enum RunError {
    /// A setting (the sink's, the engine's or Kafka's) is invalid.
    #[error("invalid setting {0}")]
    Config(#[from] ConfigError),
    /// No usable AWS credential was found.
    #[error(
        "no AWS credentials: {0} (set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, a profile, or web identity)"
    )]
    NoCredentials(String),
    /// The engine stopped.
    #[error(transparent)]
    Engine(#[from] EngineError),
}

/// What `docket-sink-s3 --help` prints: every variable the sink reads.
pub const HELP: Help<'static> = Help {
    binary: "docket-sink-s3",
    about: "exports Docket's decisions and audit events to S3 as gzip NDJSON objects",
    sections: &[
        ("S3", config::VARS),
        ("Delivery engine", docket_delivery::VARS),
        ("Kafka", docket_kafka::VARS),
    ],
};

/// Runs the sink configured by `vars` until `shutdown` fires or a fatal error stops it.
pub async fn run(vars: &Vars, shutdown: Shutdown) -> Result<(), RunError> {
    let config = Config::from_config(vars)?;
    let settings = KafkaSettings::from_config(vars)?;
    let client = client(&config.s3).await?;
    tracing::info!(bucket = %config.s3.bucket, prefix = %config.s3.prefix, group = %config.engine.group_id, "starting the S3 sink");
    let sink = S3Sink::new(client, config.s3);
    let handles = Handles::new(SINK_NAME);
    docket_delivery::run(config.engine, &settings, sink, shutdown, handles).await?;
    Ok(())
}

/// An S3 client: the standard AWS chain for credentials and region, the endpoint override
/// with path-style addressing, checksums only when an operation requires them, and no SDK
/// retries (the engine retries with its own policy and metrics).
pub async fn client(config: &S3Config) -> Result<aws_sdk_s3::Client, RunError> {
    let mut loader = aws_config::defaults(BehaviorVersion::latest());
    if let Some(region) = &config.region {
        loader = loader.region(Region::new(region.clone()));
    }
    let shared = loader.load().await;
    let provider = shared
        .credentials_provider()
        .ok_or_else(|| RunError::NoCredentials("no provider configured".to_owned()))?;
    provider
        .provide_credentials()
        .await
        .map_err(|e| RunError::NoCredentials(e.to_string()))?;
    let mut builder = aws_sdk_s3::config::Builder::from(&shared)
        .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
        .response_checksum_validation(ResponseChecksumValidation::WhenRequired)
        .retry_config(RetryConfig::disabled())
        .timeout_config(
            TimeoutConfig::builder()
                .operation_timeout(config.timeout)
                .build(),
        )
        .force_path_style(config.force_path_style);
    if shared.region().is_none() {
        builder = builder.region(Region::new(FALLBACK_REGION));
    }
    if let Some(endpoint) = &config.endpoint {
        builder = builder.endpoint_url(endpoint);
    }
    Ok(aws_sdk_s3::Client::from_conf(builder.build()))
}
