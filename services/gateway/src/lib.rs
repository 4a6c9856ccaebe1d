//! The Docket gateway: an OpenAI-compatible proxy (`POST /v1/chat/completions`) with an
//! inline policy engine (guardrails, redaction, routing), an admin API whose every
//! state-changing call is audited, and publishing of decision and audit records to Kafka
//! that never blocks the request path and loses nothing when Kafka is away (on-disk spool).

pub mod api;
pub mod config;
pub mod metrics;
pub mod names;
pub mod policy;
pub mod publish;
pub mod secret;
pub mod store;
pub mod trace;
pub mod upstream;

use std::sync::Arc;

use docket_telemetry::{Health, Shutdown};
use thiserror::Error;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

pub use config::GatewayConfig;

/// What `docket-gateway --help` prints: every variable it reads, with its default.
pub const HELP: docket_config::Help<'static> = docket_config::Help {
    binary: "docket-gateway",
    about: "OpenAI-compatible gateway with inline policies, an audited admin API and lossless \
            publishing of decisions (`docket-gateway hash` digests a secret read from stdin)",
    sections: &[
        ("Gateway", config::vars::VARS),
        ("Kafka", docket_kafka::VARS),
        ("Logging", docket_telemetry::LOG_VARS),
    ],
};
use metrics::Metrics;
use publish::Publisher;
use store::Store;
use upstream::Upstreams;

/// Everything a request handler needs.
#[derive(Debug)]
pub struct App {
    /// Validated configuration.
    pub config: GatewayConfig,
    /// Persistent state.
    pub store: Store,
    /// Record publishing.
    pub publisher: Publisher,
    /// Upstream providers.
    pub upstreams: Upstreams,
    /// Metrics.
    pub metrics: Metrics,
    /// Readiness.
    pub health: Health,
    /// Refused admin calls per source address.
    pub admin_refusals: api::admin::limiter::Limiter,
}

/// The gateway could not start or stopped with an error.
#[derive(Debug, Error)]
pub enum GatewayError {
    /// The state could not be loaded.
    #[error("state: {0}")]
    Store(#[from] store::StoreError),
    /// Publishing could not start.
    #[error("publishing: {0}")]
    Publish(#[from] publish::PublishError),
    /// The HTTP client could not be built.
    #[error("upstream client: {0}")]
    Upstream(#[from] reqwest::Error),
    /// The listener could not bind.
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        /// Address.
        addr: std::net::SocketAddr,
        /// Error.
        #[source]
        source: std::io::Error,
    },
}

/// Runs the gateway until `shutdown` fires; then `/readyz` answers 503, the listener closes,
/// requests in flight finish (within the shutdown grace), and only then is the publisher
/// closed, so every answered request's records are sent or spooled; last, the log is synced
/// and its cursor saved ([`Publisher::flush`]), so a power cut after exit loses nothing
/// answered, even if the publishing task ended early.
pub async fn run(config: GatewayConfig, shutdown: Shutdown) -> Result<(), GatewayError> {
    let metrics = Metrics::new();
    let store = match &config.state_topic {
        Some(topic) => Store::open_log(&config.kafka, topic, config.seed.clone()).await?,
        None => Store::open(&config.state_dir, config.seed.clone())?,
    };
    let (close, closed) = oneshot::channel();
    let (publisher, publishing) = publish::start(&config, metrics.clone(), closed)?;
    let upstreams = Upstreams::new(config.upstream_timeout)?;
    let listener =
        TcpListener::bind(config.listen)
            .await
            .map_err(|source| GatewayError::Listen {
                addr: config.listen,
                source,
            })?;
    let health = Health::default();
    let admin_refusals = api::admin::limiter::Limiter::new(config.admin_refusals_per_minute);
    let app = Arc::new(App {
        admin_refusals,
        config,
        store,
        publisher,
        upstreams,
        metrics,
        health: health.clone(),
    });
    health.set_ready(true);
    tracing::info!(addr = %app.config.listen, "docket-gateway serving");
    let publisher = app.publisher.clone();
    api::serve(listener, app, shutdown).await;
    let _ = close.send(());
    let _ = publishing.await;
    publisher
        .flush()
        .await
        .map_err(publish::PublishError::from)?;
    Ok(())
}
