//! Sending one batch to the logs intake: a JSON array of the entries, compressed with gzip as
//! it is written, `DD-API-KEY`, `POST /api/v2/logs`; entries older than the intake accepts are
//! re-stamped; the answer is mapped onto the engine's decisions, and a 400 or 413 is split to
//! find the refused entries.

use std::time::Duration;

use docket_delivery::{
    Accepted, Answer, Batch, Delivered, EncodeError, Exported, SendError, Sink, send_splitting,
};
use docket_records::Micros;
use docket_sink_http::{BodyWriter, status_error, transport_error};
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
        let body = match json_array(batch, &part, self.config.gzip, Micros::now()).await {
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

/// The entries of `part` as one JSON array written into a (gzip) body straight from the batch
/// (no uncompressed copy of the array; the task yields to the runtime now and then); entries
/// older than [`LATE_AFTER`] at `now` are re-stamped.
pub async fn json_array(
    batch: &Batch,
    part: &[usize],
    gzip: bool,
    now: Micros,
) -> Result<Vec<u8>, SendError> {
    let late = Micros(now.0 - LATE_AFTER.as_micros() as i64);
    let bytes: usize = part.iter().map(|&i| batch.item(i).bytes.len() + 1).sum();
    let mut body = BodyWriter::new(gzip, bytes + 1);
    body.put(b"[");
    for (n, &i) in part.iter().enumerate() {
        let item = batch.item(i);
        if n > 0 {
            body.put(b",");
        }
        if item.time < late {
            body.put(&encode::restamp(item.bytes, now).map_err(fatal)?);
        } else {
            body.put(item.bytes);
        }
        body.pause().await;
    }
    body.put(b"]");
    Ok(body.finish())
}

fn fatal(e: EncodeError) -> SendError {
    SendError::Fatal {
        reason: e.to_string(),
    }
}

impl Sink for DatadogSink {
    fn encode(&self, record: &Exported, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        encode::entry(record, &self.config.entries, out)
    }

    async fn send(&self, batch: &Batch) -> Result<Accepted, SendError> {
        send_splitting(batch, &self.delivered, |part| self.post(batch, part)).await
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use docket_delivery::{Record, Stream};

    use super::*;

    const NOW: Micros = Micros(1_800_000_000_000_000);

    fn batch(times: &[Micros]) -> Batch {
        let mut batch = Batch::new("t", 0, Stream::Decision);
        for (offset, &time) in times.iter().enumerate() {
            let entry = format!(r#"{{"n":{offset},"timestamp":{}}}"#, time.as_millis());
            batch.push(Record {
                offset: offset as i64,
                time,
                bytes: entry.as_bytes(),
            });
        }
        batch
    }

    fn entries(body: &[u8], gzip: bool) -> Vec<serde_json::Value> {
        let mut plain = Vec::new();
        if gzip {
            flate2::read::GzDecoder::new(body)
                .read_to_end(&mut plain)
                .unwrap();
        } else {
            plain = body.to_vec();
        }
        serde_json::from_slice(&plain).unwrap()
    }

    #[tokio::test]
    async fn the_body_is_the_parts_entries_as_one_array_plain_or_gzip() {
        let b = batch(&[NOW, NOW, NOW]);
        for gzip in [false, true] {
            let body = json_array(&b, &[0, 2], gzip, NOW).await.unwrap();
            let got = entries(&body, gzip);
            assert_eq!(got.len(), 2, "gzip {gzip}");
            assert_eq!((&got[0]["n"], &got[1]["n"]), (&0.into(), &2.into()));
        }
        assert!(entries(&json_array(&b, &[], true, NOW).await.unwrap(), true).is_empty());
    }

    #[tokio::test]
    async fn only_entries_older_than_the_intake_takes_are_restamped() {
        let old = Micros(NOW.0 - LATE_AFTER.as_micros() as i64 - 1);
        let got = entries(
            &json_array(&batch(&[old, NOW]), &[0, 1], true, NOW)
                .await
                .unwrap(),
            true,
        );
        assert_eq!(got[0]["timestamp"], NOW.as_millis());
        assert_eq!(got[0][encode::ORIGINAL_TIMESTAMP], old.as_millis());
        assert_eq!(got[1]["timestamp"], NOW.as_millis());
        assert!(got[1].get(encode::ORIGINAL_TIMESTAMP).is_none());
    }
}
