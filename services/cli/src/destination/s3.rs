//! Reading the S3 sink's objects back: every gzip NDJSON object written since `verify`
//! started, each read once (objects are never rewritten).

use std::collections::HashSet;
use std::io::Read;
use std::time::{Duration, SystemTime};

use aws_sdk_s3::Client;
use serde_json::Value;

use crate::error::CliError;
use crate::local::Local;
use crate::s3::S3Settings;

/// The S3 sink's default key prefix.
const PREFIX: &str = "docket/";
/// Slack for clock differences between this host and the store.
const SLACK: Duration = Duration::from_secs(5);

/// A reader of one bucket.
pub struct S3Reader {
    client: Client,
    bucket: String,
    since: SystemTime,
    seen: HashSet<String>,
    records: Vec<Value>,
}

impl S3Reader {
    /// Reads the local run's bucket, objects written from now on.
    pub fn new(local: &Local) -> Result<Self, CliError> {
        Ok(Self {
            client: S3Settings::from_vars(&local.stack_env()?).client(),
            bucket: local.names.bucket(),
            since: SystemTime::now() - SLACK,
            seen: HashSet::new(),
            records: Vec::new(),
        })
    }

    /// The records read so far.
    pub fn records(&self) -> &[Value] {
        &self.records
    }

    /// Lists the bucket and reads every new object written since the start.
    /// (only lines that mention one of `needles` are kept).
    pub async fn refresh(&mut self, needles: &[&str]) -> Result<(), CliError> {
        for key in self.new_keys().await? {
            let body = self.get(&key).await?;
            self.records.extend(lines(&body, needles));
            self.seen.insert(key);
        }
        Ok(())
    }

    async fn new_keys(&self) -> Result<Vec<String>, CliError> {
        let mut keys = Vec::new();
        let mut pages = self
            .client
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(PREFIX)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| s3_error(&format!("listing s3://{}", self.bucket), &e))?;
            for object in page.contents() {
                let recent = object
                    .last_modified()
                    .and_then(|t| SystemTime::try_from(*t).ok())
                    .is_some_and(|t| t >= self.since);
                match object.key() {
                    Some(k) if recent && !self.seen.contains(k) => keys.push(k.to_owned()),
                    _ => {}
                }
            }
        }
        Ok(keys)
    }

    async fn get(&self, key: &str) -> Result<Vec<u8>, CliError> {
        let what = format!("reading s3://{}/{key}", self.bucket);
        let object = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| s3_error(&what, &e))?;
        let bytes = object
            .body
            .collect()
            .await
            .map_err(|e| CliError::Unexpected(format!("{what}: {e}")))?;
        Ok(bytes.into_bytes().to_vec())
    }
}

/// The JSON lines of a gzip NDJSON body that mention one of `needles` (unreadable lines are
/// skipped).
fn lines(gzip: &[u8], needles: &[&str]) -> Vec<Value> {
    let mut text = String::new();
    if flate2::read::GzDecoder::new(gzip)
        .read_to_string(&mut text)
        .is_err()
    {
        return Vec::new();
    }
    text.lines()
        .filter(|l| needles.iter().any(|n| l.contains(n)))
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// An SDK error as one line with its cause.
pub fn s3_error<E: std::error::Error + 'static>(what: &str, e: &E) -> CliError {
    CliError::Unexpected(format!(
        "{what}: {}",
        aws_sdk_s3::error::DisplayErrorContext(e)
    ))
}
