//! The operations endpoint: `/metrics` (Prometheus text format, with its content type, and
//! the standard `process_*` metrics), `/healthz` (the process runs) and `/readyz` (the service
//! has loaded what it needs and is doing its job).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, LazyLock};

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use prometheus::core::Collector;
use prometheus::process_collector::ProcessCollector;
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
/// Content type of `/metrics`: Prometheus text format 0.0.4 (Prometheus 3 refuses a scrape
/// without it unless told a fallback).
pub const METRICS_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";
/// Content type of the probes' answers.
const TEXT: &str = "text/plain; charset=utf-8";

/// This process's CPU, memory, file descriptors and start time (`process_*`), unprefixed,
/// as every Prometheus client reports them.
static PROCESS: LazyLock<ProcessCollector> = LazyLock::new(ProcessCollector::for_self);

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
    let (status, content_type, body) = match req.uri().path() {
        METRICS_PATH => (
            StatusCode::OK,
            METRICS_CONTENT_TYPE,
            metrics_text(&registry),
        ),
        HEALTH_PATH => (StatusCode::OK, TEXT, "ok\n".to_owned()),
        READY_PATH if health.is_ready() => (StatusCode::OK, TEXT, "ready\n".to_owned()),
        READY_PATH => (
            StatusCode::SERVICE_UNAVAILABLE,
            TEXT,
            "not ready\n".to_owned(),
        ),
        _ => (StatusCode::NOT_FOUND, TEXT, "not found\n".to_owned()),
    };
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    Ok(response)
}

/// The service's metrics and the process metrics, in the text format.
pub fn metrics_text(registry: &Registry) -> String {
    let mut families = registry.gather();
    families.extend(PROCESS.collect());
    let mut out = Vec::new();
    if let Err(e) = TextEncoder::new().encode(&families, &mut out) {
        return format!("# metrics could not be encoded: {e}\n");
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn get(addr: SocketAddr, path: &str) -> reqwest::Response {
        reqwest::get(format!("http://{addr}{path}"))
            .await
            .expect("GET")
    }

    #[tokio::test]
    async fn metrics_carry_the_text_format_content_type_and_process_metrics() {
        let registry = Registry::new_custom(Some("docket_test".into()), None).unwrap();
        let counter = prometheus::IntCounter::new("things_total", "things").unwrap();
        registry.register(Box::new(counter.clone())).unwrap();
        counter.inc();
        let endpoint = serve(([127, 0, 0, 1], 0).into(), registry, Health::default())
            .await
            .unwrap();
        let answer = get(endpoint.addr(), METRICS_PATH).await;
        assert_eq!(answer.status(), 200);
        assert_eq!(
            answer.headers()[CONTENT_TYPE.as_str()],
            "text/plain; version=0.0.4; charset=utf-8"
        );
        let text = answer.text().await.unwrap();
        assert!(text.contains("docket_test_things_total 1"), "{text}");
        assert!(text.contains("\nprocess_resident_memory_bytes "), "{text}");
        assert!(text.contains("\nprocess_start_time_seconds "), "{text}");
    }

    #[tokio::test]
    async fn probes_answer_by_readiness_and_anything_else_is_not_found() {
        let health = Health::default();
        let endpoint = serve(([127, 0, 0, 1], 0).into(), Registry::new(), health.clone())
            .await
            .unwrap();
        assert_eq!(get(endpoint.addr(), READY_PATH).await.status(), 503);
        health.set_ready(true);
        assert_eq!(get(endpoint.addr(), READY_PATH).await.status(), 200);
        assert_eq!(get(endpoint.addr(), HEALTH_PATH).await.status(), 200);
        assert_eq!(get(endpoint.addr(), "/nope").await.status(), 404);
    }
}
