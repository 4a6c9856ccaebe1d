//! A fake of Datadog's logs intake for fault tests, on a real loopback socket, written from
//! Datadog's public API reference for `POST /api/v2/logs` (a JSON array of entries, optional
//! `Content-Encoding: gzip`, `DD-API-KEY`; 202 on success, 400 for an invalid entry, 403 for a
//! refused key, 413 for a payload too large, 429 with `Retry-After` when throttled) and for
//! `GET /api/v1/validate` (200 `{"valid":true}` for a good key, 403 otherwise). The content
//! tests use the OpenTelemetry Collector's real `datadogreceiver` instead; this fake exists
//! only to inject what a real receiver will not do on demand.
//!
//! Also the scripted HTTP server both fakes (this one and the OTLP one) are built on: each
//! request takes the next scripted [`Fault`] if there is one, else the protocol's answer.

#![allow(dead_code)]

use std::collections::VecDeque;
use std::io::Read;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

/// What the server does with one request instead of answering it properly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// Answers as the protocol does (lets a scripted fault wait for a later request).
    Pass,
    /// Answers this status with an optional `Retry-After` (seconds) and stores nothing.
    Status(u16, Option<u64>),
    /// Reads the request, waits this long, then closes the connection without an answer.
    Hang(Duration),
    /// Reads the request and closes the connection at once.
    Drop,
}

/// One request as received (body decompressed).
#[derive(Debug, Clone)]
pub struct Received {
    /// Request path.
    pub path: String,
    /// Header names (lower case) and values.
    pub headers: Vec<(String, String)>,
    /// The body, gunzipped when `Content-Encoding: gzip`.
    pub body: Vec<u8>,
}

impl Received {
    /// The value of header `name` (lower case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A protocol's answer: status, headers, body.
pub type Answer = (u16, Vec<(&'static str, String)>, Vec<u8>);
type Protocol = dyn Fn(&Received) -> Answer + Send + Sync;

struct Shared {
    faults: Mutex<VecDeque<Fault>>,
    requests: Mutex<Vec<Received>>,
    protocol: Box<Protocol>,
}

/// A scripted HTTP/1.1 server on 127.0.0.1.
pub struct FakeServer {
    /// Where it listens.
    pub addr: SocketAddr,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl FakeServer {
    /// Serves `protocol`, after the scripted `faults` (one per request, in order).
    pub async fn start(
        faults: Vec<Fault>,
        protocol: impl Fn(&Received) -> Answer + Send + Sync + 'static,
    ) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind fake");
        let addr = listener.local_addr().expect("fake address");
        let shared = Arc::new(Shared {
            faults: Mutex::new(faults.into()),
            requests: Mutex::new(Vec::new()),
            protocol: Box::new(protocol),
        });
        let state = shared.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let state = state.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |req| handle(state.clone(), req));
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Self { addr, shared, task }
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every request received so far.
    pub fn requests(&self) -> Vec<Received> {
        self.shared.requests.lock().unwrap().clone()
    }

    /// Scripted faults not yet used.
    pub fn faults_left(&self) -> usize {
        self.shared.faults.lock().unwrap().len()
    }
}

impl Drop for FakeServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

async fn handle(
    state: Arc<Shared>,
    req: hyper::Request<Incoming>,
) -> Result<hyper::Response<Full<Bytes>>, BoxError> {
    let (parts, body) = req.into_parts();
    let raw = body.collect().await?.to_bytes();
    let headers: Vec<(String, String)> = parts
        .headers
        .iter()
        .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
        .collect();
    let gzip = parts
        .headers
        .get("content-encoding")
        .is_some_and(|v| v == "gzip");
    let received = Received {
        path: parts.uri.path().to_owned(),
        headers,
        body: if gzip { gunzip(&raw) } else { raw.to_vec() },
    };
    let fault = state.faults.lock().unwrap().pop_front();
    state.requests.lock().unwrap().push(received.clone());
    let (status, headers, body) = match fault {
        None | Some(Fault::Pass) => (state.protocol)(&received),
        Some(Fault::Status(status, retry)) => {
            let headers = retry
                .map(|s| vec![("retry-after", s.to_string())])
                .unwrap_or_default();
            (status, headers, b"{\"errors\":[\"scripted\"]}".to_vec())
        }
        Some(Fault::Hang(d)) => {
            tokio::time::sleep(d).await;
            return Err("hung up".into());
        }
        Some(Fault::Drop) => return Err("dropped".into()),
    };
    let mut response = hyper::Response::builder().status(status);
    for (k, v) in headers {
        response = response.header(k, v);
    }
    Ok(response.body(Full::new(Bytes::from(body)))?)
}

fn gunzip(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(bytes)
        .read_to_end(&mut out)
        .expect("a gzip body");
    out
}

// ------------------------------------------------------------------ Datadog

/// Datadog's logs intake and key validation: `key` is the only valid key; a request holding
/// an entry whose JSON contains `refuse` is answered 400 (the intake refuses a whole request
/// for one bad entry); accepted entries are kept.
pub struct FakeDatadog {
    /// The server.
    pub server: FakeServer,
    entries: Arc<Mutex<Vec<serde_json::Value>>>,
}

impl FakeDatadog {
    /// A fake accepting `key`, refusing entries containing `refuse`, after `faults`.
    pub async fn start(key: &str, refuse: Option<&str>, faults: Vec<Fault>) -> Self {
        let entries = Arc::new(Mutex::new(Vec::new()));
        let (key, refuse, kept) = (key.to_owned(), refuse.map(str::to_owned), entries.clone());
        let server = FakeServer::start(faults, move |r| {
            datadog_answer(r, &key, refuse.as_deref(), &kept)
        })
        .await;
        Self { server, entries }
    }

    /// Entries accepted so far.
    pub fn entries(&self) -> Vec<serde_json::Value> {
        self.entries.lock().unwrap().clone()
    }

    /// How often each `docket.event_id` was accepted.
    pub fn event_counts(&self) -> std::collections::BTreeMap<String, usize> {
        let mut counts = std::collections::BTreeMap::new();
        for e in self.entries() {
            let id = e["docket"]["event_id"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            *counts.entry(id).or_default() += 1;
        }
        counts
    }
}

fn datadog_answer(
    r: &Received,
    key: &str,
    refuse: Option<&str>,
    kept: &Mutex<Vec<serde_json::Value>>,
) -> Answer {
    let json = |status: u16, body: &str| {
        (
            status,
            vec![("content-type", "application/json".to_owned())],
            body.as_bytes().to_vec(),
        )
    };
    if r.header("dd-api-key") != Some(key) {
        return json(403, r#"{"errors":["Forbidden"]}"#);
    }
    match r.path.as_str() {
        "/api/v1/validate" => json(200, r#"{"valid":true}"#),
        "/api/v2/logs" => {
            let Ok(serde_json::Value::Array(batch)) = serde_json::from_slice(&r.body) else {
                return json(400, r#"{"errors":["invalid JSON array"]}"#);
            };
            if batch.len() > 1_000 || r.body.len() > 5_000_000 {
                return json(413, r#"{"errors":["payload too large"]}"#);
            }
            if let Some(marker) = refuse
                && batch.iter().any(|e| e.to_string().contains(marker))
            {
                return json(400, r#"{"errors":["invalid log entry"]}"#);
            }
            kept.lock().unwrap().extend(batch);
            json(202, "{}")
        }
        _ => json(404, r#"{"errors":["not found"]}"#),
    }
}
