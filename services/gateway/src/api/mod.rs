//! The HTTP server: one listener for `/v1` (callers), `/admin/v1` (administrators) and the
//! operations endpoints (`/metrics`, `/healthz`, `/readyz`), as one axum [`Router`] naming
//! each route once. Every answer carries the request's `x-correlation-id`, a `traceparent`
//! and an `x-request-id`; its log lines carry the correlation id; every error is an
//! [`ApiError`]. Connections are bounded by [`conn`] and drained at shutdown by [`server`].

pub mod admin;
pub mod chat;
pub mod conn;
pub mod context;
pub mod error;
pub mod extract;
mod ops;
pub mod server;
mod sse;
pub mod validate;
mod workers;

use std::sync::Arc;

use axum::Router;
use axum::http::HeaderName;
use axum::middleware;
use axum::routing::{get, post};
use docket_telemetry::Shutdown;
use tokio::net::TcpListener;
use tower::ServiceBuilder;
use tower_http::request_id::{
    MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};

pub use error::ApiError;

use crate::App;
use crate::names::{header, path};

/// Serves `app` until `shutdown` fires, then drains (see [`server`]).
pub async fn serve(listener: TcpListener, app: Arc<App>, shutdown: Shutdown) {
    let limits = app.config.http;
    let (metrics, health) = (app.metrics.clone(), app.health.clone());
    server::serve(listener, router(app), limits, metrics, health, shutdown).await;
}

/// Every route of the gateway, with the request context around them.
pub fn router(app: Arc<App>) -> Router {
    let request_id = HeaderName::from_static(header::REQUEST_ID);
    let chat = post(chat::handle).route_layer(middleware::from_fn_with_state(
        Arc::clone(&app),
        chat::timed,
    ));
    Router::new()
        .route(path::CHAT, chat)
        .route(path::METRICS, get(ops::metrics))
        .route(path::HEALTH, get(ops::health))
        .route(path::READY, get(ops::ready))
        .merge(admin::routes())
        .fallback(not_found)
        .with_state(app)
        .layer(
            ServiceBuilder::new()
                .map_request(forget_request_id)
                .layer(SetRequestIdLayer::new(request_id.clone(), EventIds))
                .layer(PropagateRequestIdLayer::new(request_id))
                .layer(middleware::from_fn(context::context)),
        )
}

async fn not_found() -> ApiError {
    ApiError::not_found("no such route")
}

/// A caller's `x-request-id` is not trusted (it would become the audit record's request id).
fn forget_request_id<B>(mut req: axum::http::Request<B>) -> axum::http::Request<B> {
    req.headers_mut().remove(header::REQUEST_ID);
    req
}

/// Request ids are event ids (UUIDv7).
#[derive(Debug, Clone, Copy)]
struct EventIds;

impl MakeRequestId for EventIds {
    fn make_request_id<B>(&mut self, _: &axum::http::Request<B>) -> Option<RequestId> {
        let id = docket_records::event_id().parse().ok()?;
        Some(RequestId::new(id))
    }
}
