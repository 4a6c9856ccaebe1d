//! `/metrics` (Prometheus text), `/healthz` (the process serves) and `/readyz` (started,
//! and able to record decisions: not fail-closed on a full spool).

use hyper::body::Bytes;
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::{Response, StatusCode};
use prometheus::{Encoder, TextEncoder};

use super::Body;
use crate::App;

pub fn metrics(app: &App) -> Response<Body> {
    let mut out = Vec::new();
    if let Err(e) = TextEncoder::new().encode(&app.metrics.registry.gather(), &mut out) {
        out = format!("# metrics could not be encoded: {e}\n").into_bytes();
    }
    let mut r = text(StatusCode::OK, out);
    r.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4"),
    );
    r
}

pub fn health() -> Response<Body> {
    text(StatusCode::OK, b"ok\n".to_vec())
}

pub fn ready(app: &App) -> Response<Body> {
    if app.health.is_ready() && app.publisher.accepting() {
        text(StatusCode::OK, b"ready\n".to_vec())
    } else {
        text(StatusCode::SERVICE_UNAVAILABLE, b"not ready\n".to_vec())
    }
}

fn text(status: StatusCode, body: Vec<u8>) -> Response<Body> {
    let mut r = Response::new(Body::new(Bytes::from(body)));
    *r.status_mut() = status;
    r
}
