//! The operations endpoint: `/metrics` (Prometheus text format), `/healthz` (the process
//! runs) and `/readyz` (the service has loaded what it needs and is doing its job).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use prometheus::{Encoder, Registry, TextEncoder};
use thiserror::Error;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// Path of the metrics page.
pub const METRICS_PATH: &str = "/metrics";
/// Path of the liveness probe.
pub const HEALTH_PATH: &str = "/healthz";
/// Path of the readiness probe.
pub const READY_PATH: &str = "/readyz";

/// Readiness shared between a service and its endpoint.
#[derive(Debug, Clone, Default)]
pub struct Health {
    ready: Arc<AtomicBool>,
}

impl Health {
    /// Marks the service ready (or not).
    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::Relaxed);
    }

    /// Whether the service said it is ready.
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Relaxed)
    }
}

/// The endpoint could not start.
#[derive(Debug, Error)]
#[error("cannot listen on {addr} for metrics and health: {source}")]
pub struct EndpointError {
    addr: SocketAddr,
    #[source]
    source: std::io::Error,
}

/// A running endpoint; it stops serving when dropped.
#[derive(Debug)]
pub struct Endpoint {
    addr: SocketAddr,
    task: JoinHandle<()>,
}

impl Endpoint {
    /// The bound address (useful when asked for port 0).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for Endpoint {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Binds `addr` and serves the endpoint in the background until the returned guard is dropped.
pub async fn serve(
    addr: SocketAddr,
    registry: Registry,
    health: Health,
) -> Result<Endpoint, EndpointError> {
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| EndpointError { addr, source })?;
    let bound = listener
        .local_addr()
        .map_err(|source| EndpointError { addr, source })?;
    let task = tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let (registry, health) = (registry.clone(), health.clone());
            tokio::spawn(async move {
                let service = service_fn(move |req| answer(req, registry.clone(), health.clone()));
                if let Err(e) = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await
                {
                    tracing::debug!(error = %e, "metrics connection ended with an error");
                }
            });
        }
    });
    Ok(Endpoint { addr: bound, task })
}

async fn answer(
    req: Request<Incoming>,
    registry: Registry,
    health: Health,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let (status, body) = match req.uri().path() {
        METRICS_PATH => (StatusCode::OK, metrics_text(&registry)),
        HEALTH_PATH => (StatusCode::OK, "ok\n".to_owned()),
        READY_PATH if health.is_ready() => (StatusCode::OK, "ready\n".to_owned()),
        READY_PATH => (StatusCode::SERVICE_UNAVAILABLE, "not ready\n".to_owned()),
        _ => (StatusCode::NOT_FOUND, "not found\n".to_owned()),
    };
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    Ok(response)
}

fn metrics_text(registry: &Registry) -> String {
    let mut out = Vec::new();
    if let Err(e) = TextEncoder::new().encode(&registry.gather(), &mut out) {
        return format!("# metrics could not be encoded: {e}\n");
    }
    String::from_utf8_lossy(&out).into_owned()
}
