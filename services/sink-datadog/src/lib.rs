//! Docket's Datadog logs sink: exports decisions and audit events as Datadog log entries
//! (reserved attributes, tags, a one-line summary, the whole record under `docket`) in gzip
//! batches inside the intake's limits. Entries the intake refuses are found by halving the
//! batch and dead-lettered; a refused key stops the sink before anything is committed. The
//! delivery engine (`docket-delivery`) does the consuming, batching, retries and offsets.

pub mod check;
pub mod config;
pub mod encode;
pub mod send;

use docket_config::{Help, Var, Vars};
use docket_delivery::{Handles, Shutdown};
use docket_kafka::KafkaSettings;
pub use docket_sink_http::RunError;

use crate::config::{Config, SINK_NAME};
use crate::send::{DatadogSink, HOP};

/// Runs the sink configured by `vars` until `shutdown` fires or a fatal error stops it.
pub async fn run(vars: &Vars, shutdown: Shutdown) -> Result<(), RunError> {
    let config = Config::from_vars(vars)?;
    let settings = KafkaSettings::from_config(vars)?;
    let client =
        docket_sink_http::client(&config.datadog.client, HOP).map_err(RunError::client(HOP))?;
    if config.datadog.validate {
        check::api_key(&client, &config.datadog).await?;
    }
    tracing::info!(intake = %config.datadog.intake_url, group = %config.engine.group_id, "starting the Datadog sink");
    let sink = DatadogSink::new(client, config.datadog);
    let handles = Handles::new(SINK_NAME);
    docket_delivery::run(config.engine, &settings, sink, shutdown, handles).await?;
    Ok(())
}

/// What `docket-sink-datadog --help` prints.
pub const HELP: Help<'static> = Help {
    binary: "docket-sink-datadog",
    about: "exports Docket's decisions and audit events to Datadog Logs",
    sections: &[
        ("Datadog", config::VARS),
        ("Delivery engine", docket_delivery::VARS),
        ("Kafka", docket_kafka::VARS),
    ],
};

/// Every variable the binary reads.
pub fn all_vars() -> impl Iterator<Item = &'static Var> {
    HELP.sections.iter().flat_map(|(_, vars)| vars.iter())
}
