//! The threads that serve connections: one single-threaded runtime per thread, each
//! connection handed to the thread serving the fewest. A connection and everything its
//! requests do stay on one thread, so no request wakes another thread and none is moved
//! between threads; on a shared multi-threaded runtime that scheduling cost about a fifth of
//! the gateway's CPU per request (see docs/benchmarks.md#gateway).

use std::future::Future;
use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::runtime::{Builder, Handle};
use tokio::sync::oneshot;

/// One serving thread.
struct Worker {
    handle: Handle,
    /// Connections it serves now.
    open: Arc<AtomicUsize>,
    _stop: oneshot::Sender<()>,
}

/// The serving threads; they stop (dropping whatever they still run) when this is dropped.
pub struct Workers {
    workers: Vec<Worker>,
}

impl Workers {
    /// Starts `threads` serving threads (at least one).
    pub fn start(threads: usize) -> io::Result<Self> {
        let workers = (0..threads.max(1))
            .map(Self::worker)
            .collect::<io::Result<_>>()?;
        Ok(Self { workers })
    }

    fn worker(i: usize) -> io::Result<Worker> {
        let runtime = Builder::new_current_thread().enable_all().build()?;
        let handle = runtime.handle().clone();
        let (stop, stopped) = oneshot::channel::<()>();
        std::thread::Builder::new()
            .name(format!("docket-http-{i}"))
            .spawn(move || {
                runtime.block_on(async {
                    let _ = stopped.await;
                });
            })?;
        Ok(Worker {
            handle,
            open: Arc::new(AtomicUsize::new(0)),
            _stop: stop,
        })
    }

    /// Runs one connection's `serve` on the thread serving the fewest connections.
    pub fn serve<F>(&self, serve: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let worker = self
            .workers
            .iter()
            .min_by_key(|w| w.open.load(Ordering::Relaxed))
            .expect("at least one worker");
        let open = Arc::clone(&worker.open);
        open.fetch_add(1, Ordering::Relaxed);
        worker.handle.spawn(async move {
            serve.await;
            open.fetch_sub(1, Ordering::Relaxed);
        });
    }
}
