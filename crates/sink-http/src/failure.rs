//! Failed sends mapped onto the delivery engine's decisions: transport failures (timeouts,
//! refused or dropped connections) and throttling or unavailability answers retry, a refused
//! credential stops the sink, and a TLS failure stops it too (a retry cannot fix a certificate).
//! Also the `Retry-After` header.

use std::error::Error as _;
use std::time::{Duration, SystemTime};

use docket_delivery::SendError;
use reqwest::StatusCode;
use reqwest::header::{HeaderMap, RETRY_AFTER};

/// The longest `Retry-After` honoured: a receiver cannot park a sink for longer.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(300);

/// The wait a `Retry-After` header asks for: delay-seconds or an HTTP date (relative to `now`;
/// a date in the past means no wait), at most [`MAX_RETRY_AFTER`]. `None` when absent or
/// unreadable.
pub fn retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    let wait = match value.parse::<u64>() {
        Ok(seconds) => Duration::from_secs(seconds),
        Err(_) => {
            let at = httpdate::parse_http_date(value).ok()?;
            at.duration_since(now).unwrap_or(Duration::ZERO)
        }
    };
    Some(wait.min(MAX_RETRY_AFTER))
}

/// What the engine does about a request that got no answer: TLS failures are Fatal (the
/// certificate or the scheme is wrong), everything else (timeouts, refused, reset or dropped
/// connections, broken answers) retries. The message names `hop` and never the URL's query.
pub fn transport_error(hop: &str, e: &reqwest::Error) -> SendError {
    let reason = format!("{hop}: {}", chain(e));
    if is_tls(e) {
        return SendError::Fatal {
            reason: format!("{reason} (TLS failure: check the URL's scheme and the CA file)"),
        };
    }
    SendError::Retry {
        reason,
        after: None,
    }
}

/// What the engine does about an HTTP answer that is not a success, when the destination has
/// no more specific code: 408, 429 and 5xx retry (honouring `Retry-After`), 401 and 403 are a
/// refused credential, anything else is Fatal. `detail` is the answer's body or a summary.
pub fn status_error(hop: &str, status: StatusCode, headers: &HeaderMap, detail: &str) -> SendError {
    let reason = format!("{hop} answered {status}: {}", one_line(detail));
    match status.as_u16() {
        408 | 429 | 500..=599 => SendError::Retry {
            reason,
            after: retry_after(headers, SystemTime::now()),
        },
        401 | 403 => SendError::Credential { reason },
        _ => SendError::Fatal { reason },
    }
}

/// At most `limit` bytes of an answer's body: a destination's explanation is short, and a
/// hostile or broken endpoint must not make the sink buffer an endless answer.
pub async fn body_prefix(
    mut response: reqwest::Response,
    limit: usize,
) -> Result<Vec<u8>, reqwest::Error> {
    let mut body = Vec::new();
    while body.len() < limit {
        let Some(chunk) = response.chunk().await? else {
            break;
        };
        let room = limit - body.len();
        body.extend_from_slice(&chunk[..chunk.len().min(room)]);
    }
    Ok(body)
}

/// Whether the failure comes from the TLS layer.
pub(crate) fn is_tls(e: &reqwest::Error) -> bool {
    tls_error(e).is_some()
}

/// The TLS layer's error behind `e`, if any. An `io::Error` hides the error it wraps from
/// `source()`, so each one is opened with `get_ref()`.
pub(crate) fn tls_error(e: &reqwest::Error) -> Option<&rustls::Error> {
    let mut next: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = next {
        if let Some(tls) = err.downcast_ref::<rustls::Error>() {
            return Some(tls);
        }
        next = match err.downcast_ref::<std::io::Error>() {
            Some(io) => io.get_ref().map(|inner| inner as _),
            None => err.source(),
        };
    }
    None
}

/// The error and its causes on one line, without the request URL.
pub(crate) fn chain(e: &reqwest::Error) -> String {
    let mut text = if e.is_timeout() {
        "timed out".to_owned()
    } else {
        e.to_string()
    };
    if let Some(url) = e.url() {
        text = text.replace(&format!(" for url ({url})"), "");
    }
    let mut next = e.source();
    while let Some(err) = next {
        text.push_str(": ");
        text.push_str(&err.to_string());
        next = err.source();
    }
    one_line(&text)
}

/// At most 300 characters of `text`, on one line.
pub(crate) fn one_line(text: &str) -> String {
    let flat: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(300)
        .collect();
    flat.trim().to_owned()
}

#[cfg(test)]
mod tests {
    use reqwest::header::HeaderValue;

    use super::*;

    fn headers(retry: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(RETRY_AFTER, HeaderValue::from_str(retry).unwrap());
        h
    }

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        let now = httpdate::parse_http_date("Wed, 21 Oct 2015 07:28:00 GMT").unwrap();
        assert_eq!(
            retry_after(&headers("120"), now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(
            retry_after(&headers("Wed, 21 Oct 2015 07:28:30 GMT"), now),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            retry_after(&headers("Wed, 21 Oct 2015 07:00:00 GMT"), now),
            Some(Duration::ZERO)
        );
        assert_eq!(retry_after(&headers("soon"), now), None);
        assert_eq!(retry_after(&HeaderMap::new(), now), None);
    }

    #[test]
    fn a_hostile_retry_after_cannot_park_a_sink() {
        let now = httpdate::parse_http_date("Wed, 21 Oct 2015 07:28:00 GMT").unwrap();
        for huge in [
            "18446744073709551615",
            "1000000000",
            "Fri, 31 Dec 9999 23:59:59 GMT",
        ] {
            assert_eq!(
                retry_after(&headers(huge), now),
                Some(MAX_RETRY_AFTER),
                "{huge}"
            );
        }
    }

    #[test]
    fn statuses_map_onto_the_engine() {
        let h = headers("7");
        let retry = status_error("hec", StatusCode::TOO_MANY_REQUESTS, &h, "busy");
        assert_eq!(
            retry,
            SendError::Retry {
                reason: "hec answered 429 Too Many Requests: busy".to_owned(),
                after: Some(Duration::from_secs(7))
            }
        );
        for s in [408, 500, 502, 503, 504] {
            let s = StatusCode::from_u16(s).unwrap();
            assert!(matches!(
                status_error("x", s, &h, ""),
                SendError::Retry { .. }
            ));
        }
        for s in [401, 403] {
            let s = StatusCode::from_u16(s).unwrap();
            assert!(matches!(
                status_error("x", s, &h, ""),
                SendError::Credential { .. }
            ));
        }
        assert!(matches!(
            status_error("x", StatusCode::NOT_FOUND, &h, "line\nbreak"),
            SendError::Fatal { reason } if !reason.contains('\n')
        ));
    }

    #[tokio::test]
    async fn an_endless_answer_is_cut_at_the_limit() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            use std::io::{Read, Write};
            let (mut s, _) = listener.accept().unwrap();
            let _ = s.read(&mut [0u8; 4096]);
            let _ = s.write_all(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n");
            let chunk = format!("{:x}\r\n{}\r\n", 65_536, "x".repeat(65_536));
            while s.write_all(chunk.as_bytes()).is_ok() {}
        });
        let response = reqwest::get(format!("http://{addr}/")).await.unwrap();
        let body = body_prefix(response, 100_000).await.unwrap();
        assert_eq!(body.len(), 100_000);
    }
}
