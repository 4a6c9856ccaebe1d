//! `/metrics` (Prometheus text), `/healthz` (the process serves) and `/readyz` (started, not
//! shutting down, and able to record decisions: not fail-closed on a full spool). `HEAD` is
//! answered on each, as on every `GET` route.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use prometheus::{Encoder, TextEncoder};

use crate::App;

pub async fn metrics(State(app): State<Arc<App>>) -> Response {
    let mut out = Vec::new();
    if let Err(e) = TextEncoder::new().encode(&app.metrics.registry.gather(), &mut out) {
        out = format!("# metrics could not be encoded: {e}\n").into_bytes();
    }
    ([(CONTENT_TYPE, prometheus::TEXT_FORMAT)], out).into_response()
}

pub async fn health() -> &'static str {
    "ok\n"
}

pub async fn ready(State(app): State<Arc<App>>) -> (StatusCode, &'static str) {
    if app.health.is_ready() && app.publisher.accepting() {
        (StatusCode::OK, "ready\n")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready\n")
    }
}
