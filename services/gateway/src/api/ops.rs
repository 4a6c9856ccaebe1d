//! `/metrics`, `/healthz` and `/readyz` on the gateway's own listener. The metrics page is
//! the shared operations endpoint's (`docket_telemetry::metrics_text`: the gateway's metrics
//! plus the process metrics, with the text format's content type), so every service's page
//! reads the same. `/readyz` is the gateway's own: started, not shutting down, and able to
//! record decisions (not fail-closed on a full spool). `HEAD` is answered on each, as on
//! every `GET` route.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use docket_telemetry::{METRICS_CONTENT_TYPE, metrics_text};

use crate::App;

pub async fn metrics(State(app): State<Arc<App>>) -> Response {
    app.publisher.refresh_gauges();
    let body = metrics_text(&app.metrics.registry);
    ([(CONTENT_TYPE, METRICS_CONTENT_TYPE)], body).into_response()
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
