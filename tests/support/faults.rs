//! A TCP proxy for fault injection: it passes bytes between clients and a server, and on
//! request stops passing the server's answers on while still passing the clients' requests.
//! That is a network that delivers requests but loses their responses: the server acts on
//! what it receives while its clients hear nothing and time out, which no real server can be
//! asked to do. It knows nothing of the protocol it carries; written for these tests.
//!
//! It runs on its own thread and runtime, so it keeps serving while a test blocks (for
//! example on `dev/stack start`).

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// A running proxy; stops with its last handle.
pub struct Proxy {
    port: u16,
    held: Arc<watch::Sender<bool>>,
    _stop: std::sync::mpsc::Sender<()>,
}

impl Proxy {
    /// Listens on a free loopback port and forwards every connection to `target`, which need
    /// not listen yet: a connection made before it does is closed at once.
    pub fn start(target: SocketAddr) -> Self {
        let listener = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind");
        listener.set_nonblocking(true).expect("non-blocking");
        let port = listener.local_addr().expect("address").port();
        let held = Arc::new(watch::channel(false).0);
        let (stop_tx, stop_rx) = std::sync::mpsc::channel::<()>();
        let answers = held.subscribe();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                let listener = TcpListener::from_std(listener).expect("listener");
                let accepting = tokio::spawn(accept(listener, target, answers));
                // Ends when the `Proxy` is dropped.
                let _ = tokio::task::spawn_blocking(move || stop_rx.recv()).await;
                accepting.abort();
            });
        });
        Self {
            port,
            held,
            _stop: stop_tx,
        }
    }

    /// The port clients connect to.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Whether the server's answers are held back (`true`) or passed on again (`false`).
    /// Answers held back are passed on, late, when released, unless the client hung up.
    pub fn hold_answers(&self, hold: bool) {
        self.held.send_replace(hold);
    }
}

async fn accept(listener: TcpListener, target: SocketAddr, held: watch::Receiver<bool>) {
    while let Ok((client, _)) = listener.accept().await {
        let held = held.clone();
        tokio::spawn(async move {
            let Ok(server) = TcpStream::connect(target).await else {
                return;
            };
            let (client_read, client_write) = client.into_split();
            let (server_read, server_write) = server.into_split();
            let requests = tokio::spawn(pass(client_read, server_write, None));
            pass(server_read, client_write, Some(held)).await;
            requests.abort();
        });
    }
}

/// Copies `from` to `to` until either side closes; with `held`, each chunk waits while it
/// is `true`.
async fn pass(
    mut from: OwnedReadHalf,
    mut to: OwnedWriteHalf,
    mut held: Option<watch::Receiver<bool>>,
) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if let Some(held) = held.as_mut()
            && held.wait_for(|h| !*h).await.is_err()
        {
            return;
        }
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}
