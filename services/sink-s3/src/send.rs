//! Writing one batch as one object: a conditional create (`If-None-Match: *`) under the
//! batch's key, with the object's offset range in its metadata, and the classification of
//! every S3 answer into the engine's retry / stop decisions.
//!
//! When the key already exists (a restart after an upload whose offsets were not committed,
//! or a replay), the existing object's last offset says what the bucket already holds: the
//! batch is accepted through it, and any records past it are written under the next key.
//! So a replay rewrites nothing and duplicates nothing, even with changed batch limits.
//! An object that names its last offset neither in its metadata nor in a readable last line
//! is never assumed to hold the batch: the sink stops (Fatal) with nothing committed.

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_s3::Client;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::{ByteStream, DateTime};
use aws_sdk_s3::types::{ChecksumAlgorithm, ObjectLockMode, ServerSideEncryption};
use docket_delivery::{Accepted, Batch, EncodeError, Exported, SendError, Sink};

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

    /// Writes the records of `batch` from `start` on as one object.
    async fn put(&self, batch: &Batch, start: usize) -> Result<Outcome, SendError> {
        let (first, last) = (batch.item(start), batch.item(batch.len() - 1));
        let key = key::object_key(
            &self.config.prefix,
            batch.stream,
            &batch.topic,
            batch.partition,
            first.offset,
            first.time,
        );
        let body = docket_delivery::gzip(batch.data_from(start), self.config.gzip_level);
        let mut put = self
            .client
            .put_object()
            .bucket(&self.config.bucket)
            .key(&key)
            .content_type(CONTENT_TYPE)
            .metadata(meta::FIRST_OFFSET, first.offset.to_string())
            .metadata(meta::LAST_OFFSET, last.offset.to_string())
            .metadata(meta::RECORDS, (batch.len() - start).to_string())
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
    /// last record (stores that drop user metadata), else a Fatal error.
    async fn existing_last_offset(&self, key: &str) -> Result<i64, SendError> {
        let head = self
            .client
            .head_object()
            .bucket(&self.config.bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| classify(&e))?;
        if let Some(held) = offset_in_metadata(head.metadata()) {
            return Ok(held);
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
        offset_in_body(key, &body.into_bytes())
    }
}

/// The last offset named by an object's Docket metadata, if it has any.
fn offset_in_metadata(metadata: Option<&HashMap<String, String>>) -> Option<i64> {
    metadata?.get(meta::LAST_OFFSET)?.parse().ok()
}

/// The last offset of an object without Docket's metadata, from its last line. An object
/// that does not say what it holds cannot be assumed to hold the batch (that could lose
/// records) nor be overwritten (it may be someone's data): stop.
fn offset_in_body(key: &str, gzip_body: &[u8]) -> Result<i64, SendError> {
    encode::last_offset(gzip_body).ok_or_else(|| SendError::Fatal {
        reason: format!(
            "object {key} already exists but names no offset (no Docket metadata, no readable \
             last line); move it aside so the batch can be written"
        ),
    })
}

/// What a batch does after finding its key taken by an object that ends at `held`.
#[derive(Debug, PartialEq, Eq)]
enum Resume {
    /// The bucket holds the batch through this offset.
    Done(i64),
    /// The rest, from this index of the items, still has to be written.
    From(usize),
}

/// Where a batch whose remaining records are at `offsets` resumes after an object at `key`
/// ending at `held`.
fn resume(key: &str, held: i64, offsets: &[i64]) -> Result<Resume, SendError> {
    let (first, last) = (offsets[0], offsets[offsets.len() - 1]);
    if held < first {
        return Err(SendError::Fatal {
            reason: format!(
                "object {key} claims to end at offset {held}, before its own first record"
            ),
        });
    }
    if held >= last {
        return Ok(Resume::Done(held));
    }
    Ok(Resume::From(offsets.partition_point(|&o| o <= held)))
}

enum Outcome {
    Written,
    Exists(String),
}

impl Sink for S3Sink {
    fn encode(&self, record: &Exported, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        encode::line(record, out)
    }

    async fn send(&self, batch: &Batch) -> Result<Accepted, SendError> {
        let offsets: Vec<i64> = batch.items().map(|r| r.offset).collect();
        let last = batch.last_offset().unwrap_or(-1);
        let mut start = 0;
        while start < offsets.len() {
            let Outcome::Exists(key) = self.put(batch, start).await? else {
                return Ok(Accepted { through: last });
            };
            let held = self.existing_last_offset(&key).await?;
            tracing::info!(%key, held, "object already written; resuming after its last offset");
            match resume(&key, held, &offsets[start..])? {
                Resume::Done(through) => return Ok(Accepted { through }),
                Resume::From(index) => start += index,
            }
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

#[cfg(test)]
mod tests {
    use aws_sdk_s3::config::http::HttpResponse;
    use aws_sdk_s3::error::ErrorMetadata;
    use aws_sdk_s3::operation::put_object::PutObjectError;
    use aws_sdk_s3::primitives::SdkBody;

    use super::*;

    /// An S3 error answer: `status`, the error `code` (if any), and a `Retry-After` header.
    fn answer(
        status: u16,
        code: Option<&str>,
        retry_after: Option<&str>,
    ) -> SdkError<PutObjectError, HttpResponse> {
        let mut raw = HttpResponse::new(status.try_into().unwrap(), SdkBody::empty());
        if let Some(seconds) = retry_after {
            raw.headers_mut().insert("retry-after", seconds.to_owned());
        }
        let mut meta = ErrorMetadata::builder().message("refused");
        if let Some(code) = code {
            meta = meta.code(code);
        }
        SdkError::service_error(PutObjectError::generic(meta.build()), raw)
    }

    fn is_retry(e: &SendError) -> bool {
        matches!(e, SendError::Retry { .. })
    }

    #[test]
    fn server_errors_and_throttling_are_retried_honouring_retry_after() {
        for status in [500, 502, 503, 504, 429, 408] {
            assert!(is_retry(&classify(&answer(status, None, None))), "{status}");
        }
        let slow_down = classify(&answer(503, Some("SlowDown"), Some("7")));
        assert_eq!(
            slow_down,
            SendError::Retry {
                reason: "S3 answered 503 SlowDown: refused".to_owned(),
                after: Some(Duration::from_secs(7)),
            }
        );
        let unparsable = classify(&answer(429, None, Some("soon")));
        assert!(matches!(unparsable, SendError::Retry { after: None, .. }));
    }

    #[test]
    fn retryable_codes_are_retried_whatever_their_status() {
        for code in RETRY_CODES {
            assert!(
                is_retry(&classify(&answer(400, Some(code), None))),
                "{code}"
            );
        }
    }

    #[test]
    fn refused_credentials_stop_the_sink() {
        for code in CREDENTIAL_CODES {
            let e = classify(&answer(400, Some(code), None));
            assert!(matches!(e, SendError::Credential { .. }), "{code}: {e:?}");
        }
        for status in [401, 403] {
            let e = classify(&answer(status, None, None));
            assert!(matches!(e, SendError::Credential { .. }), "{status}: {e:?}");
        }
    }

    #[test]
    fn other_client_errors_are_fatal_not_retried() {
        for (status, code) in [(404, "NoSuchBucket"), (400, "InvalidArgument"), (409, "")] {
            let code = (!code.is_empty()).then_some(code);
            let e = classify(&answer(status, code, None));
            assert!(matches!(e, SendError::Fatal { .. }), "{status}: {e:?}");
        }
    }

    #[test]
    fn an_unanswered_request_is_retried() {
        let e: SdkError<PutObjectError, HttpResponse> = SdkError::timeout_error("timed out");
        assert!(is_retry(&classify(&e)));
    }

    fn line(offset: i64) -> String {
        format!("{{\"source\":{{\"offset\":{offset}}}}}\n")
    }

    #[test]
    fn the_held_offset_comes_from_metadata_when_present() {
        let with = HashMap::from([(meta::LAST_OFFSET.to_owned(), "41".to_owned())]);
        assert_eq!(offset_in_metadata(Some(&with)), Some(41));
        let foreign = HashMap::from([("owner".to_owned(), "someone".to_owned())]);
        assert_eq!(offset_in_metadata(Some(&foreign)), None);
        let garbled = HashMap::from([(meta::LAST_OFFSET.to_owned(), "x".to_owned())]);
        assert_eq!(offset_in_metadata(Some(&garbled)), None);
        assert_eq!(offset_in_metadata(None), None);
    }

    #[test]
    fn without_metadata_the_last_line_names_the_held_offset() {
        let body = docket_delivery::gzip((10..13).map(line).collect::<String>().as_bytes(), 1);
        assert_eq!(offset_in_body("k", &body), Ok(12));
    }

    #[test]
    fn an_object_that_names_no_offset_stops_the_sink() {
        let foreign_lines = docket_delivery::gzip(b"{\"hello\":\"world\"}\n", 1);
        for body in [
            &b"not gzip"[..],
            &docket_delivery::gzip(b"", 1),
            &foreign_lines,
        ] {
            let e = offset_in_body("x/k", body).unwrap_err();
            assert!(
                matches!(&e, SendError::Fatal { reason } if reason.contains("x/k")),
                "{e:?}"
            );
        }
    }

    #[test]
    fn a_batch_resumes_after_what_the_object_holds() {
        let offsets: Vec<i64> = (5..10).collect();
        assert_eq!(resume("k", 9, &offsets), Ok(Resume::Done(9)));
        assert_eq!(resume("k", 12, &offsets), Ok(Resume::Done(12)));
        assert_eq!(resume("k", 7, &offsets), Ok(Resume::From(3)));
        assert_eq!(resume("k", 5, &offsets), Ok(Resume::From(1)));
        assert!(matches!(
            resume("k", 4, &offsets),
            Err(SendError::Fatal { .. })
        ));
    }
}
