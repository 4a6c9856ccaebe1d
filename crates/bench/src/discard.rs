//! A discarding HTTP receiver for the HTTP sinks' benchmarks: it reads every request body,
//! keeps it as it arrived and answers one fixed success, so a sink's own rate shows instead of
//! a real receiver's (the stack's collector converts and writes every event on the same cores).
//! Only when the report is printed, after the measured run, are the kept bodies gunzipped
//! (when `Content-Encoding: gzip` said so) and their items counted: done as they arrive, that
//! work took most of a core beside the measured sink on a two-core machine, which a real
//! receiver on its own host does not.
//!
//! It is no protocol implementation: it accepts anything, on loopback only.

use std::io::Read;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

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

/// What the receiver saw so far: every body as it arrived, and whether it was gzipped.
#[derive(Debug, Default)]
struct Seen {
    requests: AtomicU64,
    bodies: Mutex<Vec<(Bytes, bool)>>,
}

/// A running discarding receiver.
pub struct Discard {
    /// Its base URL (`http://127.0.0.1:<port>`).
    pub url: String,
    seen: Arc<Seen>,
    count: Counter,
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
                    let service = service_fn(move |req| answer(seen.clone(), reply, req));
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Self { url, seen, count }
    }

    /// Prints what the receiver saw since the last print: requests, items, bytes and the
    /// compression ratio, gunzipping and counting the kept bodies now.
    pub fn print(&self) {
        let requests = self.seen.requests.swap(0, Ordering::Relaxed);
        let bodies = std::mem::take(&mut *self.seen.bodies.lock().expect("not poisoned"));
        let (mut wire, mut body, mut items) = (0, 0, 0);
        for (sent, gzip) in bodies {
            let decompressed = if gzip { gunzip(&sent) } else { sent.to_vec() };
            wire += sent.len();
            body += decompressed.len();
            items += (self.count)(&decompressed);
        }
        println!(
            "discarding receiver: {requests} requests, {items} items, {:.1} MB sent, {:.1} MB decompressed ({:.1}:1)",
            wire as f64 / 1e6,
            body as f64 / 1e6,
            body as f64 / wire.max(1) as f64
        );
    }
}

async fn answer(
    seen: Arc<Seen>,
    reply: Reply,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, hyper::Error> {
    let gzip = req
        .headers()
        .get(CONTENT_ENCODING)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"gzip"));
    let wire = req.into_body().collect().await?.to_bytes();
    seen.requests.fetch_add(1, Ordering::Relaxed);
    seen.bodies.lock().expect("not poisoned").push((wire, gzip));
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
