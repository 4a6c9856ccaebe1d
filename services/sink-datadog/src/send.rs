//! Sending one batch to the logs intake: a JSON array of the entries, gzip, `DD-API-KEY`,
//! `POST /api/v2/logs`; entries older than the intake accepts are re-stamped; the answer is
//! mapped onto the engine's decisions, and a 400 or 413 is split to find the refused entries.

use std::borrow::Cow;
use std::time::Duration;

use docket_delivery::{
    Accepted, Answer, Batch, Delivered, EncodeError, Exported, SendError, Sink, send_splitting,
};
use docket_records::Micros;
use docket_sink_http::{status_error, transport_error};
use reqwest::StatusCode;
use reqwest::header::{CONTENT_ENCODING, CONTENT_TYPE};

use crate::config::{DatadogConfig, LOGS_PATH};
use crate::encode;

/// The hop named in errors.
pub const HOP: &str = "Datadog logs intake";
/// The header carrying the API key.
pub const API_KEY_HEADER: &str = "DD-API-KEY";
/// The intake refuses entries older than 18 hours; entries older than this when sent are
/// re-stamped (one hour of margin for retries and clock skew).
pub const LATE_AFTER: Duration = Duration::from_secs(17 * 3_600);
/// Most bytes of an error answer kept for the reason.
const MAX_DETAIL: usize = 2_048;

/// The Datadog logs destination.
pub struct DatadogSink {
    client: reqwest::Client,
    config: DatadogConfig,
    url: reqwest::Url,
    delivered: Delivered,
}

impl DatadogSink {
    /// A sink posting through `client` as `config` says.
    pub fn new(client: reqwest::Client, config: DatadogConfig) -> Self {
        Self {
            url: config
                .intake_url
                .join(LOGS_PATH)
                .expect("a path joins onto a base URL"),
            client,
            config,
            delivered: Delivered::default(),
        }
    }

    async fn post(&self, batch: &Batch, part: Vec<usize>) -> Answer {
        let body = match self.body(batch, &part).await {
            Ok(body) => body,
            Err(e) => return Answer::Failed(e),
        };
        let mut request = self
            .client
            .post(self.url.clone())
            .header(API_KEY_HEADER, self.config.api_key.expose())
            .header(CONTENT_TYPE, "application/json");
        if self.config.gzip {
            request = request.header(CONTENT_ENCODING, "gzip");
        }
        match request.body(body).send().await {
            Ok(response) => self.answer(response).await,
            Err(e) => Answer::Failed(self.scrub(transport_error(HOP, &e))),
        }
    }

    /// The request body of `part`: a JSON array, gzip unless turned off.
    async fn body(&self, batch: &Batch, part: &[usize]) -> Result<Vec<u8>, SendError> {
        let now = Micros::now();
        let late = Micros(now.0 - LATE_AFTER.as_micros() as i64);
        let mut json = Vec::with_capacity(batch.bytes() + part.len() + 1);
        json.push(b'[');
        for (n, &i) in part.iter().enumerate() {
            let item = &batch.items()[i];
            let entry = if item.time < late {
                Cow::Owned(encode::restamp(&item.bytes, now).map_err(fatal)?)
            } else {
                Cow::Borrowed(&item.bytes[..])
            };
            if n > 0 {
                json.push(b',');
            }
            json.extend_from_slice(&entry);
        }
        json.push(b']');
        if !self.config.gzip {
            return Ok(json);
        }
        tokio::task::spawn_blocking(move || docket_sink_http::gzip([&json[..]]))
            .await
            .map_err(|e| SendError::Fatal {
                reason: format!("compression task failed: {e}"),
            })
    }

    async fn answer(&self, mut response: reqwest::Response) -> Answer {
        let status = response.status();
        if status.is_success() {
            return Answer::Accepted;
        }
        let headers = response.headers().clone();
        let detail = detail(&mut response).await;
        match status {
            StatusCode::BAD_REQUEST | StatusCode::PAYLOAD_TOO_LARGE => {
                Answer::Refused(self.redact(&format!("{HOP} answered {status}: {detail}")))
            }
            _ => Answer::Failed(self.scrub(status_error(HOP, status, &headers, &detail))),
        }
    }

    /// `text` without the API key, should an answer ever echo it.
    fn redact(&self, text: &str) -> String {
        text.replace(self.config.api_key.expose(), "[redacted]")
    }

    fn scrub(&self, e: SendError) -> SendError {
        match e {
            SendError::Retry { reason, after } => SendError::Retry {
                reason: self.redact(&reason),
                after,
            },
            SendError::Credential { reason } => SendError::Credential {
                reason: self.redact(&reason),
            },
            SendError::Fatal { reason } => SendError::Fatal {
                reason: self.redact(&reason),
            },
            SendError::Reject { items, reason } => SendError::Reject {
                items,
                reason: self.redact(&reason),
            },
        }
    }
}

/// The start of an error answer's body, on one line.
pub(crate) async fn detail(response: &mut reqwest::Response) -> String {
    let mut bytes = Vec::new();
    while bytes.len() < MAX_DETAIL {
        match response.chunk().await {
            Ok(Some(chunk)) => bytes.extend_from_slice(&chunk),
            _ => break,
        }
    }
    bytes.truncate(MAX_DETAIL);
    String::from_utf8_lossy(&bytes)
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect::<String>()
        .trim()
        .to_owned()
}

fn fatal(e: EncodeError) -> SendError {
    SendError::Fatal {
        reason: e.to_string(),
    }
}

impl Sink for DatadogSink {
    fn encode(&self, record: &Exported) -> Result<Vec<u8>, EncodeError> {
        encode::entry(record, &self.config.entries)
    }

    async fn send(&self, batch: &Batch) -> Result<Accepted, SendError> {
        send_splitting(batch, &self.delivered, |part| self.post(batch, part)).await
    }
}
