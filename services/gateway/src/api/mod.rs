//! The HTTP server: one listener for `/v1` (callers), `/admin/v1` (administrators) and the
//! operations endpoints (`/metrics`, `/healthz`, `/readyz`). Every answer carries the
//! request's `x-correlation-id` and a `traceparent`; its log lines carry the correlation id.

pub mod admin;
pub mod chat;
mod ops;
mod sse;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use docket_telemetry::Shutdown;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::header::{CONTENT_LENGTH, CONTENT_TYPE, HeaderMap, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tracing::Instrument;

use crate::App;
use crate::names::{error_type, header, path};
use crate::trace::TraceContext;

/// Response body type.
pub type Body = Full<Bytes>;

/// Serves until `shutdown` fires (open connections are then left to finish on their own).
pub async fn serve(listener: TcpListener, app: Arc<App>, mut shutdown: Shutdown) {
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = shutdown.wait() => return,
        };
        let Ok((stream, peer)) = accepted else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        let app = Arc::clone(&app);
        tokio::spawn(async move {
            let service = service_fn(move |req| handle(Arc::clone(&app), peer, req));
            if let Err(e) = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await
            {
                tracing::debug!(error = %e, "connection ended with an error");
            }
        });
    }
}

async fn handle(
    app: Arc<App>,
    peer: SocketAddr,
    req: Request<Incoming>,
) -> Result<Response<Body>, Infallible> {
    let incoming = req
        .headers()
        .get(header::TRACEPARENT)
        .and_then(|v| v.to_str().ok());
    let trace = TraceContext::from_header(incoming);
    let span = tracing::info_span!("request", correlation_id = %trace.trace_id);
    let mut response = route(&app, peer, &trace, req).instrument(span).await;
    let headers = response.headers_mut();
    for (name, value) in [
        (header::CORRELATION_ID, trace.trace_id.clone()),
        (header::TRACEPARENT, trace.traceparent()),
    ] {
        if let Ok(v) = HeaderValue::from_str(&value) {
            headers.insert(name, v);
        }
    }
    Ok(response)
}

async fn route(
    app: &App,
    peer: SocketAddr,
    trace: &TraceContext,
    req: Request<Incoming>,
) -> Response<Body> {
    let p = req.uri().path().to_owned();
    match (req.method(), p.as_str()) {
        (&Method::POST, path::CHAT) => chat::handle(app, peer, trace, req).await,
        (&Method::GET, path::METRICS) => ops::metrics(app),
        (&Method::GET, path::HEALTH) => ops::health(),
        (&Method::GET, path::READY) => ops::ready(app),
        _ if p.starts_with(path::ADMIN_PREFIX) => admin::handle(app, peer, trace, req).await,
        _ => error(
            StatusCode::NOT_FOUND,
            error_type::NOT_FOUND,
            "no such route",
            &trace.trace_id,
        ),
    }
}

/// A JSON answer.
pub fn json_response(status: StatusCode, value: &Value) -> Response<Body> {
    let bytes = serde_json::to_vec(value).expect("JSON serializes");
    let mut r = Response::new(Full::new(Bytes::from(bytes)));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}

/// An OpenAI-style error answer.
pub fn error(
    status: StatusCode,
    kind: &str,
    message: &str,
    correlation_id: &str,
) -> Response<Body> {
    json_response(
        status,
        &json!({"error": {"type": kind, "message": message, "correlation_id": correlation_id}}),
    )
}

/// Why a body could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyError {
    /// Larger than allowed.
    TooLarge,
    /// The connection failed.
    Read,
}

/// Reads the whole body, refusing more than `max` bytes.
pub async fn read_body(req: Request<Incoming>, max: usize) -> Result<Bytes, BodyError> {
    let declared = req
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > max) {
        return Err(BodyError::TooLarge);
    }
    match Limited::new(req.into_body(), max).collect().await {
        Ok(c) => Ok(c.to_bytes()),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => Err(BodyError::TooLarge),
        Err(_) => Err(BodyError::Read),
    }
}

/// The bearer token of the `Authorization` header.
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(hyper::header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix(header::BEARER)
        .map(str::trim)
        .filter(|t| !t.is_empty())
}
