//! Docket's Splunk HEC sink: every decision and audit event as a HEC event with indexed
//! fields (correlation id, event id, verdict, policy, caller, Kafka provenance), sent in gzip
//! batches on the delivery engine (`docket-delivery`), which commits a partition's offsets only
//! after HEC accepted the batch, or, with indexer acknowledgement on, after the indexer
//! confirmed it.

pub mod ack;
pub mod config;
pub mod encode;
pub mod health;
pub mod send;

use docket_config::{Help, Vars};
use docket_delivery::{EngineError, Handles, Shutdown};
use docket_kafka::KafkaSettings;
use docket_sink_http::{BuildError, ProbeError};
use thiserror::Error;

use crate::ack::{AckMetrics, Acks};
use crate::config::{Config, Invalid, SINK_NAME};
use crate::send::HecSink;

/// Why the sink stopped.
#[derive(Debug, Error)]
pub enum RunError {
    /// A setting is invalid.
    #[error("invalid setting {0}")]
    Config(#[from] Invalid),
    /// The Kafka settings are invalid.
    #[error("invalid Kafka setting {0}")]
    Kafka(#[from] docket_kafka::SettingsError),
    /// The HTTP client cannot be built (CA file).
    #[error("Splunk HEC client")]
    Client(#[from] BuildError),
    /// The start-up check failed.
    #[error("start-up check: {0}")]
    StartUp(#[from] ProbeError),
    /// The ack metrics cannot be registered.
    #[error("ack metrics")]
    Metrics(#[from] prometheus::Error),
    /// The engine stopped.
    #[error(transparent)]
    Engine(#[from] EngineError),
}

/// What `docket-sink-splunk --help` prints.
pub const HELP: Help<'static> = Help {
    binary: "docket-sink-splunk",
    about: "exports Docket's decisions and audit events to Splunk's HTTP Event Collector",
    sections: &[
        ("Splunk HEC", config::VARS),
        ("Delivery engine", docket_delivery::VARS),
        ("Kafka", docket_kafka::VARS),
    ],
};

/// Runs the sink configured by `vars` until `shutdown` fires or a fatal error stops it.
pub async fn run(vars: &Vars, shutdown: Shutdown) -> Result<(), RunError> {
    let config = Config::from_config(vars)?;
    let settings = KafkaSettings::from_config(vars)?;
    let client = docket_sink_http::client(&config.hec.client, send::HOP)?;
    health::check(&client, &config.hec).await?;
    let handles = Handles::new(SINK_NAME);
    let acks = match config.hec.ack {
        Some(ack) => Some(Acks::new(
            client.clone(),
            &config.hec.url,
            config.hec.token.clone(),
            config.hec.channel.clone(),
            ack,
            AckMetrics::new(&handles.metrics.registry())?,
        )),
        None => None,
    };
    tracing::info!(url = %config.hec.url, channel = %config.hec.channel, ack = acks.is_some(), group = %config.engine.group_id, "starting the Splunk HEC sink");
    let sink = HecSink::new(client, config.hec, acks);
    docket_delivery::run(config.engine, &settings, sink, shutdown, handles).await?;
    Ok(())
}

/// `path` on `base`'s scheme, host and port.
pub(crate) fn endpoint(base: &reqwest::Url, path: &str) -> reqwest::Url {
    let mut url = base.clone();
    url.set_path(path);
    url
}
