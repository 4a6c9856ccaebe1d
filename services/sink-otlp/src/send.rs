//! Exporting one batch: the records' `LogRecord`s under one resource and scope in an
//! `ExportLogsServiceRequest` framed around their encoded bytes, gzip as written, `POST /v1/logs`; the answer mapped onto the
//! engine's decisions (OTLP/HTTP: 429, 502, 503, 504 retry; 400 is split to find the refused
//! records; a partial success dead-letters what was rejected; 401/403 stop).

use docket_delivery::{
    Accepted, Answer, Batch, Delivered, EncodeError, Exported, SendError, Sink, send_splitting,
};
use docket_records::Micros;
use docket_sink_http::{BodyWriter, status_error, transport_error};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceResponse;
use opentelemetry_proto::tonic::common::v1::{AnyValue, InstrumentationScope, any_value};
use opentelemetry_proto::tonic::logs::v1::{ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::resource::v1::Resource;
use prost::Message;
use prost::encoding::{self, WireType};
use reqwest::header::{CONTENT_ENCODING, CONTENT_TYPE};

use crate::config::{OtlpConfig, ResourceSettings};
use crate::encode;

/// The hop named in errors.
pub const HOP: &str = "OTLP receiver";
/// OTLP/HTTP's binary content type.
pub const PROTOBUF: &str = "application/x-protobuf";
/// The instrumentation scope of every record.
const SCOPE: &str = "docket-sink-otlp";
/// Most bytes of an answer read (a response message or an error status).
const MAX_ANSWER: usize = 64 * 1024;

/// The OTLP destination.
pub struct OtlpSink {
    client: reqwest::Client,
    config: OtlpConfig,
    resource: Resource,
    delivered: Delivered,
}

impl OtlpSink {
    /// A sink exporting through `client` as `config` says.
    pub fn new(client: reqwest::Client, config: OtlpConfig) -> Self {
        Self {
            resource: resource(&config.resource),
            client,
            config,
            delivered: Delivered::default(),
        }
    }

    /// Posts `body` (an encoded request) to the logs endpoint.
    pub(crate) async fn post(&self, body: Vec<u8>) -> Result<reqwest::Response, reqwest::Error> {
        let mut request = self
            .client
            .post(self.config.logs_url.clone())
            .headers(self.config.headers.clone())
            .header(CONTENT_TYPE, PROTOBUF);
        if self.config.gzip {
            request = request.header(CONTENT_ENCODING, "gzip");
        }
        request.body(body).send().await
    }

    async fn export(&self, batch: &Batch, part: Vec<usize>) -> Answer {
        let body = match self.body(batch, &part).await {
            Ok(body) => body,
            Err(e) => return Answer::Failed(e),
        };
        let response = match self.post(body).await {
            Ok(r) => r,
            Err(e) => return Answer::Failed(transport_error(HOP, &e)),
        };
        answer(response, part).await
    }

    /// The request of `part` under the resource, framed and compressed on this task straight
    /// from the batch's encoded records (no decoding, no uncompressed copy), yielding to the
    /// runtime now and then.
    async fn body(&self, batch: &Batch, part: &[usize]) -> Result<Vec<u8>, SendError> {
        let records: Vec<&[u8]> = part.iter().map(|&i| batch.item(i).bytes).collect();
        let mut body = head(self.resource.clone(), &records, self.config.gzip)?;
        for record in records {
            put_record(&mut body, record);
            body.pause().await;
        }
        Ok(body.finish())
    }
}

/// The encoded (and maybe compressed) export request of `records` (`LogRecord` bytes): one
/// resource, one scope, the records framed as its `log_records` as they are, byte for byte what
/// encoding the decoded request would give. A record that is not a well-formed protobuf
/// message stops the sink rather than corrupt the request.
pub fn request<B: AsRef<[u8]>>(
    resource: Resource,
    records: &[B],
    gzip: bool,
) -> Result<Vec<u8>, SendError> {
    let mut body = head(resource, records, gzip)?;
    for record in records {
        put_record(&mut body, record.as_ref());
    }
    Ok(body.finish())
}

/// A body holding the request's start, up to its first record: the request, resource logs
/// and scope logs fields with the lengths that `records` will fill.
fn head<B: AsRef<[u8]>>(
    resource: Resource,
    records: &[B],
    gzip: bool,
) -> Result<BodyWriter, SendError> {
    if let Some(n) = records.iter().position(|r| !well_formed(r.as_ref())) {
        return Err(SendError::Fatal {
            reason: format!("batched record {n} is not a LogRecord: malformed protobuf"),
        });
    }
    let records_len: usize = records.iter().map(|r| field_len(2, r.as_ref().len())).sum();
    let scope = ScopeLogs {
        scope: Some(scope()),
        ..ScopeLogs::default()
    }
    .encode_to_vec();
    let scope_len = scope.len() + records_len;
    let resource_logs = ResourceLogs {
        resource: Some(resource),
        ..ResourceLogs::default()
    }
    .encode_to_vec();
    let resource_logs_len = resource_logs.len() + field_len(2, scope_len);
    let mut body = BodyWriter::new(gzip, field_len(1, resource_logs_len));
    body.put(&frame(1, resource_logs_len));
    body.put(&resource_logs);
    body.put(&frame(2, scope_len));
    body.put(&scope);
    Ok(body)
}

/// One record as a `log_records` field of the scope logs.
fn put_record(body: &mut BodyWriter, record: &[u8]) {
    body.put(&frame(2, record.len()));
    body.put(record);
}

/// The instrumentation scope of every record.
fn scope() -> InstrumentationScope {
    InstrumentationScope {
        name: SCOPE.to_owned(),
        version: env!("CARGO_PKG_VERSION").to_owned(),
        ..InstrumentationScope::default()
    }
}

/// The key and length of a length-delimited field `tag` of `len` bytes.
fn frame(tag: u32, len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(8);
    encoding::encode_key(tag, WireType::LengthDelimited, &mut out);
    encoding::encode_varint(len as u64, &mut out);
    out
}

/// Bytes of a length-delimited field `tag` holding `len` bytes.
fn field_len(tag: u32, len: usize) -> usize {
    encoding::key_len(tag) + encoding::encoded_len_varint(len as u64) + len
}

/// Whether `bytes` is a sequence of well-formed protobuf fields (keys, varints and lengths
/// within bounds); the field types are not checked against `LogRecord`.
fn well_formed(mut bytes: &[u8]) -> bool {
    while !bytes.is_empty() {
        let Ok(key) = encoding::decode_varint(&mut bytes) else {
            return false;
        };
        let skip = match key & 7 {
            0 => encoding::decode_varint(&mut bytes).map(|_| 0).ok(),
            1 => Some(8),
            2 => encoding::decode_varint(&mut bytes)
                .ok()
                .and_then(|n| usize::try_from(n).ok()),
            5 => Some(4),
            _ => None,
        };
        match skip {
            Some(n) if key >> 3 != 0 && n <= bytes.len() => bytes = &bytes[n..],
            _ => return false,
        }
    }
    true
}

/// What an answer means for the records of `part`.
async fn answer(mut response: reqwest::Response, part: Vec<usize>) -> Answer {
    let status = response.status();
    let headers = response.headers().clone();
    let body = read_bounded(&mut response).await;
    if status.is_success() {
        return partial_success(&body, part);
    }
    let detail = printable(&body);
    match status.as_u16() {
        400 | 413 => Answer::Refused(format!("{HOP} answered {status}: {detail}")),
        429 | 502 | 503 | 504 | 401 | 403 => {
            Answer::Failed(status_error(HOP, status, &headers, &detail))
        }
        _ => Answer::Failed(SendError::Fatal {
            reason: format!("{HOP} answered {status} (not retryable in OTLP/HTTP): {detail}"),
        }),
    }
}

/// A success that rejected records: OTLP does not say which, so the whole part goes to the
/// dead-letter topic with the receiver's count and message (some of it may also be stored).
fn partial_success(body: &[u8], part: Vec<usize>) -> Answer {
    let Ok(response) = ExportLogsServiceResponse::decode(body) else {
        return Answer::Accepted; // an empty or foreign body: a plain success
    };
    match response.partial_success {
        Some(p) if p.rejected_log_records > 0 => Answer::Failed(SendError::Reject {
            reason: format!(
                "{HOP} rejected {} of {} records without saying which ({}); all {} are dead-lettered, some may also be stored",
                p.rejected_log_records,
                part.len(),
                printable(p.error_message.as_bytes()),
                part.len()
            ),
            items: part,
        }),
        _ => Answer::Accepted,
    }
}

async fn read_bounded(response: &mut reqwest::Response) -> Vec<u8> {
    let mut bytes = Vec::new();
    while bytes.len() < MAX_ANSWER {
        match response.chunk().await {
            Ok(Some(chunk)) => bytes.extend_from_slice(&chunk),
            _ => break,
        }
    }
    bytes.truncate(MAX_ANSWER);
    bytes
}

/// The readable text in an answer (an error status is protobuf with a message inside), on one
/// line, at most 300 characters.
fn printable(body: &[u8]) -> String {
    let text: String = String::from_utf8_lossy(body)
        .chars()
        .map(|c| {
            if c.is_control() || c == '\u{fffd}' {
                ' '
            } else {
                c
            }
        })
        .collect();
    text.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .chars()
        .take(300)
        .collect()
}

/// The resource: `service.name`, `service.version`, `service.instance.id`, then the extras.
pub fn resource(settings: &ResourceSettings) -> Resource {
    let pairs = [
        ("service.name", settings.service_name.as_str()),
        ("service.version", env!("CARGO_PKG_VERSION")),
        ("service.instance.id", settings.instance_id.as_str()),
    ];
    let attributes = pairs
        .into_iter()
        .chain(
            settings
                .attributes
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str())),
        )
        .map(|(key, value)| {
            let value = AnyValue {
                value: Some(any_value::Value::StringValue(value.to_owned())),
            };
            encode::key_value(key.to_owned(), value)
        })
        .collect();
    Resource {
        attributes,
        ..Resource::default()
    }
}

impl Sink for OtlpSink {
    fn encode(&self, record: &Exported, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        encode::log_record(record, Micros::now(), out)
    }

    async fn send(&self, batch: &Batch) -> Result<Accepted, SendError> {
        send_splitting(batch, &self.delivered, |part| self.export(batch, part)).await
    }
}

#[cfg(test)]
mod tests {
    use opentelemetry_proto::tonic::collector::logs::v1::{
        ExportLogsPartialSuccess, ExportLogsServiceRequest,
    };
    use opentelemetry_proto::tonic::logs::v1::LogRecord;

    use super::*;

    #[test]
    fn a_partial_success_rejects_the_whole_part_and_says_why() {
        let body = ExportLogsServiceResponse {
            partial_success: Some(ExportLogsPartialSuccess {
                rejected_log_records: 1,
                error_message: "too old\n".to_owned(),
            }),
        }
        .encode_to_vec();
        let Answer::Failed(SendError::Reject { items, reason }) =
            partial_success(&body, vec![4, 5])
        else {
            panic!("expected a rejection");
        };
        assert_eq!(items, vec![4, 5]);
        assert!(
            reason.contains("rejected 1 of 2 records") && reason.contains("(too old)"),
            "{reason}"
        );
        let empty = ExportLogsServiceResponse::default().encode_to_vec();
        assert_eq!(partial_success(&empty, vec![0]), Answer::Accepted);
        assert_eq!(partial_success(b"", vec![0]), Answer::Accepted);
    }

    #[test]
    fn a_hostile_answer_becomes_one_short_printable_line() {
        let mut body = b"\x12\x0binvalid\x00\xff\xfe\nrecord".to_vec();
        body.extend(std::iter::repeat_n(b'x', 100_000));
        let text = printable(&body);
        assert!(text.starts_with("invalid recordxxx"), "{text}");
        assert_eq!(text.chars().count(), 300);
        assert!(!text.chars().any(char::is_control));
    }

    #[test]
    fn the_request_holds_every_record_under_the_resource() {
        let record = LogRecord {
            event_name: "docket.audit".to_owned(),
            ..LogRecord::default()
        };
        let settings = ResourceSettings {
            service_name: "docket".to_owned(),
            instance_id: "i-1".to_owned(),
            attributes: vec![("deployment.environment.name".to_owned(), "prod".to_owned())],
        };
        let bytes = request(
            resource(&settings),
            &[record.encode_to_vec(), record.encode_to_vec()],
            false,
        )
        .unwrap();
        let decoded = ExportLogsServiceRequest::decode(&bytes[..]).unwrap();
        let rl = &decoded.resource_logs[0];
        let keys: Vec<&str> = rl
            .resource
            .as_ref()
            .unwrap()
            .attributes
            .iter()
            .map(|kv| kv.key.as_str())
            .collect();
        assert_eq!(
            keys,
            [
                "service.name",
                "service.version",
                "service.instance.id",
                "deployment.environment.name"
            ]
        );
        assert_eq!(rl.scope_logs[0].log_records.len(), 2);
        assert!(request(resource(&settings), &[b"\xff\xff".to_vec()], false).is_err());
    }

    #[test]
    fn the_framed_request_is_what_encoding_the_decoded_request_gives() {
        let settings = ResourceSettings {
            service_name: "docket".to_owned(),
            instance_id: "i-1".to_owned(),
            attributes: vec![],
        };
        let records: Vec<Vec<u8>> = (0..300)
            .map(|i| {
                LogRecord {
                    event_name: "x".repeat(i),
                    time_unix_nano: i as u64,
                    ..LogRecord::default()
                }
                .encode_to_vec()
            })
            .collect();
        let decoded = ExportLogsServiceRequest {
            resource_logs: vec![ResourceLogs {
                resource: Some(resource(&settings)),
                scope_logs: vec![ScopeLogs {
                    scope: Some(scope()),
                    log_records: records
                        .iter()
                        .map(|r| LogRecord::decode(&r[..]).unwrap())
                        .collect(),
                    schema_url: String::new(),
                }],
                schema_url: String::new(),
            }],
        };
        let framed = request(resource(&settings), &records, false).unwrap();
        assert_eq!(framed, decoded.encode_to_vec());
        let compressed = request(resource(&settings), &records, true).unwrap();
        let mut plain = Vec::new();
        std::io::Read::read_to_end(
            &mut flate2::read::GzDecoder::new(&compressed[..]),
            &mut plain,
        )
        .unwrap();
        assert_eq!(plain, framed);
        let empty: [&[u8]; 0] = [];
        assert!(request(resource(&settings), &empty, false).is_ok());
    }

    #[test]
    fn written_records_pass_the_check_and_frame_into_the_request() {
        let settings = ResourceSettings {
            service_name: "docket".to_owned(),
            instance_id: "i-1".to_owned(),
            attributes: vec![],
        };
        let records: Vec<Vec<u8>> = encode::tests::hostile_records()
            .iter()
            .map(|r| encode::tests::log_record_vec(r, Micros(1)).unwrap())
            .collect();
        assert!(records.iter().all(|r| well_formed(r)));
        let framed = request(resource(&settings), &records, false).unwrap();
        let decoded = ExportLogsServiceRequest::decode(&framed[..]).unwrap();
        let sent = &decoded.resource_logs[0].scope_logs[0].log_records;
        assert_eq!(sent.len(), records.len());
        for (record, bytes) in sent.iter().zip(&records) {
            assert!(record.encode_to_vec() == *bytes);
        }
        assert!(decoded.encode_to_vec() == framed);
    }

    #[test]
    fn malformed_records_are_refused_before_sending() {
        let good = LogRecord::default().encode_to_vec();
        for bad in [
            &b"\x08"[..],        // a varint field without its value
            b"\x0a\x05ab",       // a length past the end
            b"\x0b",             // a group start
            b"\x00\x01",         // field number 0
            b"\x09\x01\x02\x03", // a fixed64 cut short
        ] {
            assert!(
                request(Resource::default(), &[&good[..], bad], false).is_err(),
                "{bad:?}"
            );
        }
    }
}
