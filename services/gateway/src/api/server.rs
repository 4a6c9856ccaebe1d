//! The accept loop: at most `max_connections` connections at once (one semaphore permit
//! each; while none is free, new connections wait in the listen backlog), and a graceful
//! stop: readiness off, the listener closed, every connection asked to finish its request in
//! flight, and a bounded wait until all have closed.

use std::sync::Arc;

use axum::Router;
use docket_telemetry::{Health, Shutdown};
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};

use super::conn::{self, Limits};
use super::workers::Workers;
use crate::metrics::Metrics;

/// Serves `router` on `listener` until `shutdown` fires, then drains (see the module docs).
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    metrics: Metrics,
    health: Health,
    mut shutdown: Shutdown,
) {
    let workers = match Workers::start(limits.threads) {
        Ok(w) => w,
        Err(e) => {
            tracing::error!(error = %e, "cannot start the serving threads");
            return;
        }
    };
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let (drain, draining) = watch::channel(false);
    loop {
        let permit = tokio::select! {
            p = Arc::clone(&permits).acquire_owned() => p.expect("the semaphore is never closed"),
            _ = shutdown.wait() => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    tracing::debug!(error = %e, "accept failed");
                    continue;
                }
            },
            _ = shutdown.wait() => break,
        };
        let _ = stream.set_nodelay(true);
        let (router, metrics, draining) = (router.clone(), metrics.clone(), draining.clone());
        workers.serve(async move {
            metrics.connections.inc();
            conn::serve(stream, peer, router, limits, metrics.clone(), draining).await;
            metrics.connections.dec();
            drop(permit);
        });
    }
    health.set_ready(false);
    drop(listener);
    let _ = drain.send(true);
    drain_connections(&permits, &limits).await;
}

/// Waits until every connection has closed, or `shutdown_grace` has passed.
async fn drain_connections(permits: &Semaphore, limits: &Limits) {
    let open = limits.max_connections - permits.available_permits();
    tracing::info!(open, "stopped accepting; waiting for requests in flight");
    let all = u32::try_from(limits.max_connections).unwrap_or(u32::MAX);
    match tokio::time::timeout(limits.shutdown_grace, permits.acquire_many(all)).await {
        Ok(_) => tracing::info!("every connection closed"),
        Err(_) => tracing::warn!(
            open = limits.max_connections - permits.available_permits(),
            "shutdown grace over; closing the remaining connections"
        ),
    }
}
