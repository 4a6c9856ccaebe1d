//! A discarding HTTP receiver for the HTTP sinks' benchmarks: it reads every request body,
//! gunzips it when `Content-Encoding: gzip` says so, counts the requests, the bytes on the wire
//! and the items the benchmark's counter finds, and answers one fixed success, so a sink's own
//! rate shows instead of a real receiver's (the stack's collector converts and writes every
//! event on the same cores).
//!
//! It is no protocol implementation: it accepts anything, on loopback only.

use std::io::Read;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::header::{CONTENT_ENCODING, CONTENT_TYPE};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

/// The fixed answer to every request.
#[derive(Debug, Clone, Copy)]
pub struct Reply {
    /// HTTP status.
    pub status: u16,
    /// `Content-Type` of the body.
    pub content_type: &'static str,
    /// The body.
    pub body: &'static [u8],
}

/// Counts the items of one decompressed request body (events, entries, log records).
pub type Counter = fn(&[u8]) -> u64;

/// What the receiver saw so far.
#[derive(Debug, Default)]
struct Seen {
    requests: AtomicU64,
    wire_bytes: AtomicU64,
    body_bytes: AtomicU64,
    items: AtomicU64,
}

/// A running discarding receiver.
pub struct Discard {
    /// Its base URL (`http://127.0.0.1:<port>`).
    pub url: String,
    seen: Arc<Seen>,
}

impl Discard {
    /// Starts a receiver on a free loopback port answering `reply` to every request and
    /// counting each decompressed body's items with `count`.
    pub async fn start(reply: Reply, count: Counter) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let seen = Arc::new(Seen::default());
        let shared = seen.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let seen = shared.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |req| answer(seen.clone(), reply, count, req));
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Self { url, seen }
    }

    /// Prints what the receiver saw since the last print: requests, items, bytes and the
    /// compression ratio.
    pub fn print(&self) {
        let s = &self.seen;
        let (requests, wire, body) = (
            s.requests.swap(0, Ordering::Relaxed),
            s.wire_bytes.swap(0, Ordering::Relaxed),
            s.body_bytes.swap(0, Ordering::Relaxed),
        );
        println!(
            "discarding receiver: {requests} requests, {} items, {:.1} MB sent, {:.1} MB decompressed ({:.1}:1)",
            s.items.swap(0, Ordering::Relaxed),
            wire as f64 / 1e6,
            body as f64 / 1e6,
            body as f64 / wire.max(1) as f64
        );
    }
}

async fn answer(
    seen: Arc<Seen>,
    reply: Reply,
    count: Counter,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, hyper::Error> {
    let gzip = req
        .headers()
        .get(CONTENT_ENCODING)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"gzip"));
    let wire = req.into_body().collect().await?.to_bytes();
    let body = if gzip { gunzip(&wire) } else { wire.to_vec() };
    seen.requests.fetch_add(1, Ordering::Relaxed);
    seen.wire_bytes
        .fetch_add(wire.len() as u64, Ordering::Relaxed);
    seen.body_bytes
        .fetch_add(body.len() as u64, Ordering::Relaxed);
    seen.items.fetch_add(count(&body), Ordering::Relaxed);
    let mut response = Response::new(Full::new(Bytes::from_static(reply.body)));
    *response.status_mut() = StatusCode::from_u16(reply.status).expect("a valid status");
    response.headers_mut().insert(
        CONTENT_TYPE,
        reply.content_type.parse().expect("a valid content type"),
    );
    Ok(response)
}

/// The decompressed body; empty when it is not gzip.
fn gunzip(wire: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    match flate2::read::MultiGzDecoder::new(wire).read_to_end(&mut body) {
        Ok(_) => body,
        Err(_) => Vec::new(),
    }
}
