//! An S3 client from explicit settings (the stack's endpoint and keys, or the environment's),
//! so the local run never picks up an unrelated profile.

use std::collections::BTreeMap;

use aws_sdk_s3::Client;
use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};

/// Default region when none is set.
const DEFAULT_REGION: &str = "us-east-1";

/// The S3 settings `verify`, `doctor` and `up` use.
#[derive(Debug, Clone)]
pub struct S3Settings {
    /// Endpoint URL (none: AWS).
    pub endpoint: Option<String>,
    /// Access key id.
    pub access_key: String,
    /// Secret key (never printed).
    pub secret_key: String,
    /// Region.
    pub region: String,
}

impl S3Settings {
    /// From `DOCKET_S3_ENDPOINT`, `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_REGION`.
    pub fn from_vars(vars: &BTreeMap<String, String>) -> Self {
        let get = |k: &str| vars.get(k).cloned().unwrap_or_default();
        Self {
            endpoint: vars
                .get("DOCKET_S3_ENDPOINT")
                .cloned()
                .filter(|e| !e.is_empty()),
            access_key: get("AWS_ACCESS_KEY_ID"),
            secret_key: get("AWS_SECRET_ACCESS_KEY"),
            region: vars
                .get("AWS_REGION")
                .cloned()
                .unwrap_or_else(|| DEFAULT_REGION.to_owned()),
        }
    }

    /// A client with path-style addressing when an endpoint is set and no SDK retries.
    pub fn client(&self) -> Client {
        let creds = Credentials::new(&self.access_key, &self.secret_key, None, None, "docket");
        let mut config = aws_sdk_s3::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(self.region.clone()))
            .credentials_provider(creds)
            .retry_config(aws_sdk_s3::config::retry::RetryConfig::disabled());
        if let Some(endpoint) = &self.endpoint {
            config = config.endpoint_url(endpoint).force_path_style(true);
        }
        Client::from_conf(config.build())
    }
}
