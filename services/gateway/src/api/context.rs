//! What every request goes through before its route: an HTTP/1.1 request without `Host` is
//! refused; the W3C trace context is read (its trace id is the correlation id, in scope for
//! [`ApiError`] and on every log line of the request); the answer gets `x-correlation-id`
//! and `traceparent`; a 405 from the router gets the JSON error body (its `Allow` header
//! kept). Request ids are tower-http's (see [`super::router`]); a caller's own
//! `x-request-id` is replaced, never trusted.

use axum::extract::Request;
use axum::http::header::{ALLOW, CONTENT_TYPE, HOST};
use axum::http::{HeaderValue, StatusCode, Version};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tracing::Instrument;

use super::error::{ApiError, CORRELATION_ID};
use crate::names::{error_type, header};
use crate::trace::TraceContext;

/// The middleware (see the module docs).
pub async fn context(mut req: Request, next: Next) -> Response {
    let incoming = req
        .headers()
        .get(header::TRACEPARENT)
        .and_then(|v| v.to_str().ok());
    let trace = TraceContext::from_header(incoming);
    let span = tracing::info_span!("request", correlation_id = %trace.trace_id);
    let (id, parent) = (trace.trace_id.clone(), trace.traceparent());
    let missing_host = req.version() == Version::HTTP_11 && !req.headers().contains_key(HOST);
    req.extensions_mut().insert(trace);
    let answer = async move {
        if missing_host {
            return ApiError::invalid("an HTTP/1.1 request needs a Host header").into_response();
        }
        with_error_body(next.run(req).await)
    };
    let mut response = CORRELATION_ID
        .scope(id.clone(), answer)
        .instrument(span)
        .await;
    let headers = response.headers_mut();
    for (name, value) in [(header::CORRELATION_ID, id), (header::TRACEPARENT, parent)] {
        if let Ok(v) = HeaderValue::from_str(&value) {
            headers.insert(name, v);
        }
    }
    response
}

/// A body-less 405 from the router becomes the JSON error, `Allow` kept.
fn with_error_body(response: Response) -> Response {
    if response.status() != StatusCode::METHOD_NOT_ALLOWED
        || response.headers().contains_key(CONTENT_TYPE)
    {
        return response;
    }
    let allow = response.headers().get(ALLOW).cloned();
    let mut answer = ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        error_type::METHOD_NOT_ALLOWED,
        "this method is not allowed here; see the Allow header",
    )
    .into_response();
    if let Some(allow) = allow {
        answer.headers_mut().insert(ALLOW, allow);
    }
    answer
}
