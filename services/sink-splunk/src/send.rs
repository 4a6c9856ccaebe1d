//! Sending one batch: the events concatenated (and gzipped, unless turned off) as the batch
//! holds them, `POST /services/collector/event`
//! with `Authorization: Splunk <token>` and the channel GUID, then (with indexer
//! acknowledgement on) waiting until the indexer confirms the batch's ack id. Every HEC
//! answer is mapped onto the engine's decisions:
//!
//! | HEC answer | decision |
//! |---|---|
//! | code 0 | accepted (after the ack, when acks are on) |
//! | code 9 (busy), 8 (internal), 18/19/20/23 (unhealthy), HTTP 429, 503, other 5xx, timeouts, connection errors | retry, honouring `Retry-After` |
//! | codes 6, 12, 13, 15 with `invalid-event-number` | that event to the dead-letter topic, the rest resent |
//! | code 7 (incorrect index) | stop, naming the index |
//! | codes 1 to 4 (token disabled, required, invalid authorization, invalid token) | stop: credential refused, nothing committed |
//! | codes 10, 11 (channel missing or invalid), 14 (ack disabled) | stop with what to change |

use std::time::SystemTime;

use docket_delivery::{Accepted, Batch, EncodeError, Exported, SendError, Sink};
use docket_sink_http::{body_prefix, retry_after, status_error, transport_error};
use reqwest::header::{AUTHORIZATION, CONTENT_ENCODING, CONTENT_TYPE, HeaderMap};
use reqwest::{Client, StatusCode};
use serde::Deserialize;

use crate::ack::Acks;
use crate::config::HecConfig;
use crate::encode;

/// The hop named in errors.
pub const HOP: &str = "Splunk HEC";
/// The channel header.
pub const CHANNEL: &str = "X-Splunk-Request-Channel";
/// Most bytes of an answer read (HEC's answers are a few dozen bytes; a longer one is cut).
pub const MAX_ANSWER: usize = 64 * 1024;
/// The event endpoint, relative to the base URL.
pub const EVENT_PATH: &str = "/services/collector/event";

/// What HEC answers.
#[derive(Debug, Default, Deserialize)]
pub struct Answer {
    /// Human text.
    #[serde(default)]
    pub text: String,
    /// HEC status code.
    pub code: Option<i64>,
    /// Ack id of an accepted request (acks on).
    #[serde(rename = "ackId")]
    pub ack_id: Option<u64>,
    /// The refused event's index in the request.
    #[serde(rename = "invalid-event-number")]
    pub invalid_event_number: Option<usize>,
}

impl Answer {
    /// Parses an answer body; `None` when it is not HEC's JSON.
    pub fn parse(body: &[u8]) -> Option<Self> {
        serde_json::from_slice(body).ok()
    }
}

/// The HEC destination.
pub struct HecSink {
    client: Client,
    config: HecConfig,
    acks: Option<Acks>,
}

impl HecSink {
    /// A sink posting through `client`; `acks` waits for indexer acknowledgement when on.
    pub fn new(client: Client, config: HecConfig, acks: Option<Acks>) -> Self {
        Self {
            client,
            config,
            acks,
        }
    }

    /// Posts `batch`; returns the ack id when HEC gave one.
    async fn post(&self, batch: &Batch) -> Result<Option<u64>, SendError> {
        let url = crate::endpoint(&self.config.url, EVENT_PATH);
        let mut request = self
            .client
            .post(url)
            .header(AUTHORIZATION, authorization(&self.config))
            .header(CHANNEL, &self.config.channel)
            .header(CONTENT_TYPE, "application/json");
        if self.config.gzip {
            request = request.header(CONTENT_ENCODING, "gzip");
        }
        let response = request
            .body(body(batch, self.config.gzip))
            .send()
            .await
            .map_err(|e| transport_error(HOP, &e))?;
        let status = response.status();
        let headers = response.headers().clone();
        let body = body_prefix(response, MAX_ANSWER)
            .await
            .map_err(|e| transport_error(HOP, &e))?;
        let context = Context {
            batch_len: batch.len(),
            index: self.config.target(batch.stream).index.as_deref(),
        };
        classify(status, &headers, &body, &context)
    }
}

/// The request body of `batch`: its events, one after another as the batch holds them,
/// compressed at once when `gzip`.
pub fn body(batch: &Batch, gzip: bool) -> Vec<u8> {
    if gzip {
        docket_sink_http::gzip(batch.data())
    } else {
        batch.data().to_vec()
    }
}

/// The `Authorization` header value.
pub fn authorization(config: &HecConfig) -> String {
    format!("Splunk {}", config.token.expose())
}

impl Sink for HecSink {
    fn encode(&self, record: &Exported, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        encode::event(record, &self.config, out)
    }

    async fn send(&self, batch: &Batch) -> Result<Accepted, SendError> {
        let ack_id = self.post(batch).await?;
        if let Some(acks) = &self.acks {
            let id = ack_id.ok_or_else(|| SendError::Fatal {
                reason: format!(
                    "{HOP} accepted the batch without an ackId: indexer acknowledgement is off for \
                     this token; enable it in Splunk or set DOCKET_SPLUNK_ACK=false"
                ),
            })?;
            acks.confirm(id).await?;
        }
        Ok(Accepted {
            through: batch.last_offset().unwrap_or(-1),
        })
    }
}

/// What a refusal is about.
pub struct Context<'a> {
    /// Events in the request.
    pub batch_len: usize,
    /// The index the events name.
    pub index: Option<&'a str>,
}

/// The ack id of an accepted request, or what the engine must do about a refused one.
pub fn classify(
    status: StatusCode,
    headers: &HeaderMap,
    body: &[u8],
    context: &Context<'_>,
) -> Result<Option<u64>, SendError> {
    let answer = Answer::parse(body);
    match (status.is_success(), answer) {
        (true, Some(a)) if a.code.unwrap_or(0) == 0 => Ok(a.ack_id),
        (_, Some(a)) if a.code.is_some() => Err(refusal(status, headers, &a, context)),
        _ => Err(status_error(
            HOP,
            status,
            headers,
            &String::from_utf8_lossy(body),
        )),
    }
}

fn refusal(
    status: StatusCode,
    headers: &HeaderMap,
    a: &Answer,
    context: &Context<'_>,
) -> SendError {
    let code = a.code.unwrap_or_default();
    let reason = format!("{HOP} answered {status}, code {code}: {}", a.text);
    match code {
        1..=4 => SendError::Credential { reason },
        6 | 12 | 13 | 15 => reject(reason, a.invalid_event_number, context.batch_len),
        7 => SendError::Fatal {
            reason: format!(
                "{reason}: the token may not write to index {}; fix DOCKET_SPLUNK_INDEX (or the \
                 stream's index) or the token's allowed indexes",
                context.index.unwrap_or("(the token's default index)")
            ),
        },
        8 | 9 | 18..=20 | 23 => SendError::Retry {
            reason,
            after: retry_after(headers, SystemTime::now()),
        },
        10 | 11 => SendError::Fatal {
            reason: format!(
                "{reason}: HEC wants a valid channel GUID; check DOCKET_SPLUNK_CHANNEL and the \
                 token's indexer acknowledgement"
            ),
        },
        14 => SendError::Fatal {
            reason: format!(
                "{reason}: indexer acknowledgement is disabled for this token; enable it or set \
                 DOCKET_SPLUNK_ACK=false"
            ),
        },
        _ => status_error(HOP, status, headers, &reason),
    }
}

/// The event HEC named goes to the dead-letter topic; without a usable number only a
/// one-event batch can be refused, anything else stops the sink rather than guess.
fn reject(reason: String, number: Option<usize>, batch_len: usize) -> SendError {
    match number {
        Some(n) if n < batch_len => SendError::Reject {
            items: vec![n],
            reason,
        },
        _ if batch_len == 1 => SendError::Reject {
            items: vec![0],
            reason,
        },
        _ => SendError::Fatal {
            reason: format!("{reason} (names no event of the {batch_len} sent)"),
        },
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use reqwest::header::{HeaderValue, RETRY_AFTER};

    use super::*;

    const CTX: Context<'static> = Context {
        batch_len: 5,
        index: Some("docket"),
    };

    fn answer(status: u16, body: &str) -> Result<Option<u64>, SendError> {
        let mut h = HeaderMap::new();
        h.insert(RETRY_AFTER, HeaderValue::from_static("3"));
        classify(
            StatusCode::from_u16(status).unwrap(),
            &h,
            body.as_bytes(),
            &CTX,
        )
    }

    #[test]
    fn success_with_and_without_an_ack_id() {
        assert_eq!(answer(200, r#"{"text":"Success","code":0}"#), Ok(None));
        assert_eq!(
            answer(200, r#"{"text":"Success","code":0,"ackId":7}"#),
            Ok(Some(7))
        );
    }

    #[test]
    fn busy_and_throttled_retry_after_the_asked_wait() {
        for (s, body) in [
            (503, r#"{"text":"Server is busy","code":9}"#),
            (429, "too many"),
            (503, ""),
            (500, r#"{"text":"Internal server error","code":8}"#),
        ] {
            let Err(SendError::Retry { after, .. }) = answer(s, body) else {
                panic!("{s} {body}");
            };
            assert_eq!(after, Some(Duration::from_secs(3)));
        }
    }

    #[test]
    fn an_invalid_event_is_refused_alone() {
        let e = answer(
            400,
            r#"{"text":"Invalid data format","code":6,"invalid-event-number":3}"#,
        );
        assert!(matches!(e, Err(SendError::Reject { items, .. }) if items == vec![3]));
        let e = answer(
            400,
            r#"{"text":"Event field is required","code":12,"invalid-event-number":9}"#,
        );
        assert!(matches!(e, Err(SendError::Fatal { .. })), "out of range");
    }

    #[test]
    fn hostile_answers_never_reject_an_event_that_was_not_sent() {
        for body in [
            r#"{"code":6,"invalid-event-number":18446744073709551615}"#,
            r#"{"code":6,"invalid-event-number":-1}"#,
            r#"{"code":6,"invalid-event-number":"3"}"#,
            r#"{"code":6}"#,
        ] {
            let e = answer(400, body);
            assert!(
                !matches!(&e, Err(SendError::Reject { items, .. }) if items.iter().any(|i| *i >= 5)),
                "{body}: {e:?}"
            );
            assert!(e.is_err(), "{body}");
        }
        for body in [
            "",
            "<html>busy</html>",
            "{",
            "null",
            r#"{"code":"x"}"#,
            "\u{0}",
        ] {
            assert!(
                answer(200, body).is_err() || answer(200, body) == Ok(None),
                "{body}"
            );
            assert!(
                matches!(answer(503, body), Err(SendError::Retry { .. })),
                "{body}"
            );
        }
        let huge = format!(r#"{{"text":"{}","code":9}}"#, "y".repeat(100_000));
        let Err(SendError::Retry { reason, .. }) = answer(503, &huge) else {
            panic!("busy");
        };
        assert!(reason.len() < 100_200);
    }

    #[test]
    fn token_index_and_channel_refusals_stop() {
        for code in 1..=4 {
            let e = answer(403, &format!(r#"{{"text":"Invalid token","code":{code}}}"#));
            assert!(matches!(e, Err(SendError::Credential { .. })), "{code}");
        }
        let e = answer(400, r#"{"text":"Incorrect index","code":7}"#);
        assert!(matches!(e, Err(SendError::Fatal { reason }) if reason.contains("index docket")));
        for code in [10, 11, 14] {
            let e = answer(400, &format!(r#"{{"text":"x","code":{code}}}"#));
            assert!(matches!(e, Err(SendError::Fatal { .. })), "{code}");
        }
    }

    #[test]
    fn the_body_is_every_event_in_order_plain_or_gzipped() {
        let mut batch = Batch::new("t", 0, docket_delivery::Stream::Decision);
        for offset in 0..3 {
            let event = format!(r#"{{"event":{offset}}}"#);
            batch.push(docket_delivery::Record {
                offset,
                time: docket_records::Micros(0),
                bytes: event.as_bytes(),
            });
        }
        let events = r#"{"event":0}{"event":1}{"event":2}"#;
        let mut text = String::new();
        std::io::Read::read_to_string(
            &mut flate2::read::GzDecoder::new(&body(&batch, true)[..]),
            &mut text,
        )
        .unwrap();
        assert_eq!(text, events);
        assert_eq!(body(&batch, false), events.as_bytes());
    }
}
