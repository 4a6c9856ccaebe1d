//! The start-up check's verdicts: an endpoint that cannot be reached (DNS, TCP), one that
//! speaks another transport than the URL says (plain HTTP to an HTTPS port and the reverse,
//! a certificate that does not verify, something that is not HTTP at all), and one that
//! refuses the credential. Each is a one-line error naming the hop, so an operator knows
//! which of the three to fix.

use reqwest::StatusCode;
use thiserror::Error;

use crate::failure::{chain, is_tls, one_line, tls_error};

/// Why the start-up check failed.
#[derive(Debug, Error)]
pub enum ProbeError {
    /// No connection: the name does not resolve, nothing listens, or no answer in time.
    #[error("{hop} unreachable at {url}: {detail}")]
    Unreachable {
        /// The destination's name.
        hop: String,
        /// Where it was looked for.
        url: String,
        /// The network's answer.
        detail: String,
        /// The client's error.
        #[source]
        source: reqwest::Error,
    },
    /// Connected, but the two ends do not speak the same transport.
    #[error("{hop} at {url}: TLS/transport mismatch ({hint}): {detail}")]
    Transport {
        /// The destination's name.
        hop: String,
        /// Where it was looked for.
        url: String,
        /// What probably is wrong.
        hint: &'static str,
        /// The client's complaint.
        detail: String,
        /// The client's error.
        #[source]
        source: reqwest::Error,
    },
    /// The destination answered and refused the credential.
    #[error("{hop} refused the credential (HTTP {status}): {detail}")]
    Credential {
        /// The destination's name.
        hop: String,
        /// The answer's status.
        status: u16,
        /// The destination's explanation (never the credential).
        detail: String,
    },
    /// The destination answered something the check does not accept.
    #[error("{hop} answered HTTP {status} to the start-up check: {detail}")]
    Unexpected {
        /// The destination's name.
        hop: String,
        /// The answer's status.
        status: u16,
        /// The answer's body, shortened.
        detail: String,
    },
}

impl ProbeError {
    /// A refused credential, whatever the destination's way of saying so.
    pub fn credential(hop: &str, status: StatusCode, detail: &str) -> Self {
        Self::Credential {
            hop: hop.to_owned(),
            status: status.as_u16(),
            detail: one_line(detail),
        }
    }
}

/// One destination's start-up check: classifies what it got back.
#[derive(Debug, Clone)]
pub struct Probe {
    hop: String,
    url: String,
}

const HINT_HTTPS_TO_PLAIN: &str =
    "the URL says https:// but the endpoint does not complete a TLS handshake; plain http://?";
const HINT_CERTIFICATE: &str =
    "the certificate does not verify; set the CA file, or fix the host name";
const HINT_PLAIN_TO_HTTPS: &str =
    "the URL says http:// but the endpoint does not answer plain HTTP; https://?";

impl Probe {
    /// A check of `hop` at `url` (only its scheme, host and port are shown).
    pub fn new(hop: &str, url: &reqwest::Url) -> Self {
        let mut shown = url.clone();
        shown.set_query(None);
        let _ = shown.set_password(None);
        Self {
            hop: hop.to_owned(),
            url: shown.to_string(),
        }
    }

    /// The verdict on a request that got no HTTP answer.
    pub fn failure(&self, e: reqwest::Error) -> ProbeError {
        let detail = chain(&e);
        let https = self.url.starts_with("https:");
        if is_tls(&e) {
            let hint = if certificate_problem(&e) {
                HINT_CERTIFICATE
            } else {
                HINT_HTTPS_TO_PLAIN
            };
            return self.transport(hint, detail, e);
        }
        if e.is_connect() || e.is_timeout() {
            return ProbeError::Unreachable {
                hop: self.hop.clone(),
                url: self.url.clone(),
                detail,
                source: e,
            };
        }
        let hint = if https {
            HINT_HTTPS_TO_PLAIN
        } else {
            HINT_PLAIN_TO_HTTPS
        };
        self.transport(hint, detail, e)
    }

    /// The verdict on an HTTP answer: `Ok` for a success, a refused credential for 401 and
    /// 403, else unexpected.
    pub fn answer(&self, status: StatusCode, body: &str) -> Result<(), ProbeError> {
        match status.as_u16() {
            200..=299 => Ok(()),
            401 | 403 => Err(ProbeError::credential(&self.hop, status, body)),
            _ => Err(ProbeError::Unexpected {
                hop: self.hop.clone(),
                status: status.as_u16(),
                detail: one_line(body),
            }),
        }
    }

    /// The destination's name.
    pub fn hop(&self) -> &str {
        &self.hop
    }

    fn transport(&self, hint: &'static str, detail: String, source: reqwest::Error) -> ProbeError {
        ProbeError::Transport {
            hop: self.hop.clone(),
            url: self.url.clone(),
            hint,
            detail,
            source,
        }
    }
}

/// Whether a TLS failure is about the peer's certificate (rather than the protocol).
fn certificate_problem(e: &reqwest::Error) -> bool {
    matches!(
        tls_error(e),
        Some(rustls::Error::InvalidCertificate(_) | rustls::Error::NoCertificatesPresented)
    )
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::net::TcpListener;

    use super::*;
    use crate::client::{ClientOptions, client};

    /// A one-shot server on loopback answering every connection with `answer` once it read
    /// something.
    fn server(answer: &'static [u8]) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        std::thread::spawn(move || {
            for mut stream in listener.incoming().flatten() {
                let mut buf = [0u8; 1024];
                let _ = stream.read(&mut buf);
                let _ = stream.write_all(answer);
            }
        });
        addr
    }

    async fn probe(url: &str) -> ProbeError {
        let url = reqwest::Url::parse(url).unwrap();
        let e = client(&ClientOptions::default(), "hec")
            .unwrap()
            .get(url.clone())
            .send()
            .await
            .unwrap_err();
        Probe::new("hec", &url).failure(e)
    }

    #[tokio::test]
    async fn tells_unreachable_from_transport_mismatch() {
        let closed = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = closed.local_addr().unwrap().port();
        drop(closed);
        let e = probe(&format!("http://127.0.0.1:{port}/")).await;
        assert!(matches!(e, ProbeError::Unreachable { .. }), "{e}");
        let plain = server(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n");
        let e = probe(&format!("https://{plain}/")).await;
        assert!(matches!(e, ProbeError::Transport { .. }), "{e}");
        // A TLS server's answer to plain HTTP: a TLS alert record.
        let tls = server(b"\x15\x03\x03\x00\x02\x02\x46");
        let e = probe(&format!("http://{tls}/")).await;
        assert!(matches!(e, ProbeError::Transport { .. }), "{e}");
        assert!(e.to_string().starts_with("hec at http://"), "{e}");
    }

    #[test]
    fn answers_tell_a_refused_credential() {
        let p = Probe::new("hec", &reqwest::Url::parse("http://h/?token=x").unwrap());
        assert!(p.answer(StatusCode::OK, "").is_ok());
        let e = p
            .answer(StatusCode::FORBIDDEN, "Invalid token")
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "hec refused the credential (HTTP 403): Invalid token"
        );
        assert!(matches!(
            p.answer(StatusCode::NOT_FOUND, ""),
            Err(ProbeError::Unexpected { .. })
        ));
    }
}
