//! Writing one batch as one object: a conditional create (`If-None-Match: *`) under the
//! batch's key, with the object's offset range in its metadata, and the classification of
//! every S3 answer into the engine's retry / stop decisions.
//!
//! When the key already exists (a restart after an upload whose offsets were not committed,
//! or a replay), the existing object's last offset says what the bucket already holds: the
//! batch is accepted through it, and any records past it are written under the next key.
//! So a replay rewrites nothing and duplicates nothing, even with changed batch limits.

use std::time::Duration;

use aws_sdk_s3::Client;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::{ByteStream, DateTime};
use aws_sdk_s3::types::{ChecksumAlgorithm, ObjectLockMode, ServerSideEncryption};
use docket_delivery::{Accepted, Batch, EncodeError, Exported, Item, SendError, Sink};

use crate::config::S3Config;
use crate::{encode, key};

/// Object metadata (`x-amz-meta-*`) naming the offset range an object holds.
mod meta {
    /// First Kafka offset in the object.
    pub const FIRST_OFFSET: &str = "docket-first-offset";
    /// Last Kafka offset in the object.
    pub const LAST_OFFSET: &str = "docket-last-offset";
    /// Number of records.
    pub const RECORDS: &str = "docket-records";
}

/// Content type of the objects.
const CONTENT_TYPE: &str = "application/gzip";
/// `If-None-Match` value for "only if absent".
const ANY: &str = "*";
/// Error codes that mean the credential is wrong, expired or not allowed.
const CREDENTIAL_CODES: [&str; 7] = [
    "AccessDenied",
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "ExpiredToken",
    "InvalidToken",
    "TokenRefreshRequired",
    "InvalidSecurity",
];
/// Error codes worth retrying whatever their status.
const RETRY_CODES: [&str; 5] = [
    "SlowDown",
    "RequestTimeout",
    "InternalError",
    "ServiceUnavailable",
    "ConditionalRequestConflict",
];
const SECONDS_PER_DAY: i64 = 86_400;

/// The S3 destination.
pub struct S3Sink {
    client: Client,
    config: S3Config,
}

impl S3Sink {
    /// A sink writing through `client` as `config` says.
    pub fn new(client: Client, config: S3Config) -> Self {
        Self { client, config }
    }

    async fn put(&self, batch: &Batch, items: &[Item]) -> Result<Outcome, SendError> {
        let (first, last) = (&items[0], &items[items.len() - 1]);
        let key = key::object_key(
            &self.config.prefix,
            batch.stream,
            &batch.topic,
            batch.partition,
            first.offset,
            first.time,
        );
        let level = self.config.gzip_level;
        let owned = items.to_vec();
        let body = tokio::task::spawn_blocking(move || encode::gzip(&owned, level))
            .await
            .map_err(|e| SendError::Fatal {
                reason: format!("compression task failed: {e}"),
            })?;
        let mut put = self
            .client
            .put_object()
            .bucket(&self.config.bucket)
            .key(&key)
            .content_type(CONTENT_TYPE)
            .metadata(meta::FIRST_OFFSET, first.offset.to_string())
            .metadata(meta::LAST_OFFSET, last.offset.to_string())
            .metadata(meta::RECORDS, items.len().to_string())
            .body(ByteStream::from(body));
        if self.config.conditional_create {
            put = put.if_none_match(ANY);
        }
        if let Some(kms) = &self.config.sse_kms_key_id {
            put = put
                .server_side_encryption(ServerSideEncryption::AwsKms)
                .ssekms_key_id(kms);
        }
        if let Some(lock) = &self.config.object_lock {
            let until = first.time.0.div_euclid(1_000_000) + i64::from(lock.days) * SECONDS_PER_DAY;
            put = put
                .object_lock_mode(ObjectLockMode::from(lock.mode.as_str()))
                .object_lock_retain_until_date(DateTime::from_secs(until))
                .checksum_algorithm(ChecksumAlgorithm::Crc32);
        }
        match put.send().await {
            Ok(_) => Ok(Outcome::Written),
            Err(e) if status(&e) == Some(412) || code(&e) == Some("PreconditionFailed") => {
                Ok(Outcome::Exists(key))
            }
            Err(e) => Err(classify(&e)),
        }
    }

    /// The last offset the existing object at `key` holds: from its metadata, else from its
    /// last record (stores that drop user metadata).
    async fn existing_last_offset(&self, key: &str) -> Result<Option<i64>, SendError> {
        let head = self
            .client
            .head_object()
            .bucket(&self.config.bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| classify(&e))?;
        let from_meta = head
            .metadata()
            .and_then(|m| m.get(meta::LAST_OFFSET))
            .and_then(|v| v.parse().ok());
        if from_meta.is_some() {
            return Ok(from_meta);
        }
        let object = self
            .client
            .get_object()
            .bucket(&self.config.bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| classify(&e))?;
        let body = object.body.collect().await.map_err(|e| SendError::Retry {
            reason: format!("reading {key}: {e}"),
            after: None,
        })?;
        Ok(encode::last_offset(&body.into_bytes()))
    }
}

enum Outcome {
    Written,
    Exists(String),
}

impl Sink for S3Sink {
    fn encode(&self, record: &Exported) -> Result<Vec<u8>, EncodeError> {
        encode::line(record)
    }

    async fn send(&self, batch: &Batch) -> Result<Accepted, SendError> {
        let items = batch.items();
        let last = batch.last_offset().unwrap_or(-1);
        let mut start = 0;
        while start < items.len() {
            let Outcome::Exists(key) = self.put(batch, &items[start..]).await? else {
                return Ok(Accepted { through: last });
            };
            let Some(held) = self.existing_last_offset(&key).await? else {
                tracing::warn!(%key, "object exists without Docket's offset metadata; assuming it holds this batch");
                return Ok(Accepted { through: last });
            };
            tracing::info!(%key, held, "object already written; resuming after its last offset");
            if held < items[start].offset {
                return Err(SendError::Fatal {
                    reason: format!(
                        "object {key} claims to end at offset {held}, before its own first record"
                    ),
                });
            }
            if held >= last {
                return Ok(Accepted { through: held });
            }
            start = items.partition_point(|i| i.offset <= held);
        }
        Ok(Accepted { through: last })
    }
}

fn status<E>(e: &SdkError<E, aws_sdk_s3::config::http::HttpResponse>) -> Option<u16> {
    e.raw_response().map(|r| r.status().as_u16())
}

fn code<E: ProvideErrorMetadata>(
    e: &SdkError<E, aws_sdk_s3::config::http::HttpResponse>,
) -> Option<&str> {
    match e {
        SdkError::ServiceError(s) => s.err().code(),
        _ => None,
    }
}

fn retry_after<E>(e: &SdkError<E, aws_sdk_s3::config::http::HttpResponse>) -> Option<Duration> {
    let value = e.raw_response()?.headers().get("retry-after")?;
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}

/// What the engine must do about a failed call.
fn classify<E>(e: &SdkError<E, aws_sdk_s3::config::http::HttpResponse>) -> SendError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let reason = describe(e);
    let service = matches!(e, SdkError::ServiceError(_));
    if !service {
        // Timeouts, refused connections, broken responses: the store may come back.
        return SendError::Retry {
            reason,
            after: None,
        };
    }
    let code = code(e).unwrap_or_default();
    match status(e).unwrap_or_default() {
        _ if CREDENTIAL_CODES.contains(&code) => SendError::Credential { reason },
        401 | 403 => SendError::Credential { reason },
        408 | 429 | 500..=599 => SendError::Retry {
            reason,
            after: retry_after(e),
        },
        _ if RETRY_CODES.contains(&code) => SendError::Retry {
            reason,
            after: retry_after(e),
        },
        _ => SendError::Fatal { reason },
    }
}

/// The error's code, message and status; never request headers (they carry the signature).
fn describe<E>(e: &SdkError<E, aws_sdk_s3::config::http::HttpResponse>) -> String
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    match e {
        SdkError::ServiceError(s) => format!(
            "S3 answered {} {}: {}",
            s.raw().status().as_u16(),
            s.err().code().unwrap_or("(no code)"),
            s.err().message().unwrap_or("(no message)")
        ),
        other => aws_sdk_s3::error::DisplayErrorContext(other).to_string(),
    }
}
