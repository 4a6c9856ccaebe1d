//! One client connection: HTTP/1.1 served by hyper over a socket whose reads are watched, so a
//! slow or idle client is closed. Three clocks bound a connection: the header-read timeout
//! (from the first byte of a request head, or from the connect, until the head is complete),
//! the idle timeout (from the end of an answer until the next request starts) and, inside
//! the handlers, the body-read timeout (see [`super::extract`]). A draining server asks each
//! connection to finish its request in flight and close.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tower::ServiceExt;

pub use crate::config::HttpLimits as Limits;
use crate::metrics::Metrics;

/// Serves one connection until it ends, times out, or finishes draining.
pub async fn serve(
    stream: TcpStream,
    peer: SocketAddr,
    router: Router,
    limits: Limits,
    metrics: Metrics,
    mut draining: watch::Receiver<bool>,
) {
    let activity = Arc::new(Activity::new());
    let io = TokioIo::new(Watched {
        inner: stream,
        activity: Arc::clone(&activity),
    });
    let busy = Arc::clone(&activity);
    let service = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
        req.extensions_mut().insert(ConnectInfo(peer));
        let guard = busy.begin();
        let call = router.clone().oneshot(req);
        async move {
            let response = call.await;
            drop(guard);
            response
        }
    });
    let conn = http1::Builder::new()
        .header_read_timeout(None)
        .serve_connection(io, service);
    let mut conn = std::pin::pin!(conn);
    let mut tick = tokio::time::interval(tick_of(&limits));
    let mut closing = *draining.borrow();
    if closing {
        conn.as_mut().graceful_shutdown();
    }
    loop {
        tokio::select! {
            ended = conn.as_mut() => {
                if let Err(e) = ended {
                    tracing::debug!(error = %e, "connection ended with an error");
                }
                return;
            }
            _ = draining.changed(), if !closing => {
                closing = true;
                conn.as_mut().graceful_shutdown();
            }
            _ = tick.tick() => if let Some(reason) = activity.expired(&limits) {
                metrics.connections_closed.with_label_values(&[reason]).inc();
                tracing::debug!(%peer, reason, "connection closed");
                return;
            }
        }
    }
}

/// How often a connection checks its clocks.
fn tick_of(limits: &Limits) -> Duration {
    let shortest = limits.header_read_timeout.min(limits.idle_timeout);
    (shortest / 4).clamp(Duration::from_millis(10), Duration::from_secs(1))
}

/// What a connection is doing, in milliseconds since it was accepted.
#[derive(Debug)]
struct Activity {
    start: Instant,
    /// Requests being handled.
    busy: AtomicUsize,
    /// When the last answer was produced (0: at connect).
    idle_since: AtomicU64,
    /// One more than when the current request head started arriving; 0 while none is.
    head_since: AtomicU64,
}

impl Activity {
    fn new() -> Self {
        Self {
            start: Instant::now(),
            busy: AtomicUsize::new(0),
            idle_since: AtomicU64::new(0),
            // The first request's head is due from the connect on.
            head_since: AtomicU64::new(1),
        }
    }

    fn now(&self) -> u64 {
        self.start.elapsed().as_millis() as u64
    }

    /// Bytes arrived: when no request is being handled, a request head has started.
    fn read(&self) {
        if self.busy.load(Ordering::SeqCst) == 0 {
            let _ = self.head_since.compare_exchange(
                0,
                self.now() + 1,
                Ordering::SeqCst,
                Ordering::SeqCst,
            );
        }
    }

    fn begin(self: &Arc<Self>) -> Busy {
        self.busy.fetch_add(1, Ordering::SeqCst);
        self.head_since.store(0, Ordering::SeqCst);
        Busy(Arc::clone(self))
    }

    /// Which clock ran out, if any.
    fn expired(&self, limits: &Limits) -> Option<&'static str> {
        self.expired_at(limits, self.now())
    }

    /// Which clock had run out at `now` (milliseconds since the connect).
    fn expired_at(&self, limits: &Limits, now: u64) -> Option<&'static str> {
        if self.busy.load(Ordering::SeqCst) > 0 {
            return None;
        }
        let head = self.head_since.load(Ordering::SeqCst);
        if head > 0 {
            let waited = Duration::from_millis(now.saturating_sub(head - 1));
            return (waited > limits.header_read_timeout).then_some("header_timeout");
        }
        let idle =
            Duration::from_millis(now.saturating_sub(self.idle_since.load(Ordering::SeqCst)));
        (idle > limits.idle_timeout).then_some("idle_timeout")
    }
}

/// Marks a request in flight until dropped.
struct Busy(Arc<Activity>);

impl Drop for Busy {
    fn drop(&mut self) {
        let now = self.0.now();
        self.0.idle_since.store(now, Ordering::SeqCst);
        self.0.busy.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A socket that reports its reads to the connection's [`Activity`].
struct Watched {
    inner: TcpStream,
    activity: Arc<Activity>,
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.activity.read();
        }
        polled
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> Limits {
        Limits {
            header_read_timeout: Duration::from_millis(50),
            body_read_timeout: Duration::from_secs(1),
            idle_timeout: Duration::from_millis(200),
            max_connections: 1,
            threads: 1,
            shutdown_grace: Duration::from_secs(1),
        }
    }

    #[test]
    fn a_silent_new_connection_runs_out_of_header_time() {
        let a = Activity::new();
        assert_eq!(a.expired_at(&limits(), 50), None);
        assert_eq!(a.expired_at(&limits(), 52), Some("header_timeout"));
    }

    #[test]
    fn a_request_in_flight_never_expires_and_idleness_counts_from_its_answer() {
        let a = Arc::new(Activity::new());
        let busy = a.begin();
        assert_eq!(a.expired_at(&limits(), 10_000), None, "busy");
        drop(busy);
        a.idle_since.store(1_000, Ordering::SeqCst);
        assert_eq!(a.expired_at(&limits(), 1_150), None, "idle under the limit");
        assert_eq!(a.expired_at(&limits(), 1_201), Some("idle_timeout"));
        a.head_since.store(1_101, Ordering::SeqCst);
        assert_eq!(a.expired_at(&limits(), 1_140), None, "a head is arriving");
        assert_eq!(a.expired_at(&limits(), 1_160), Some("header_timeout"));
    }
}
