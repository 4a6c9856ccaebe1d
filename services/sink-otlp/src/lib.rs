//! Docket's OTLP sink: exports decisions and audit events as OpenTelemetry log records over
//! OTLP/HTTP (protobuf, gzip), each carrying the trace id of its request, so a record can move
//! from a direct destination to an OpenTelemetry pipeline without changing a field. The
//! delivery engine (`docket-delivery`) does the consuming, batching, retries and offsets.

pub mod body;
pub mod check;
pub mod config;
pub mod encode;
pub mod send;
pub mod wire;

use docket_config::{Help, Var, Vars};
use docket_delivery::{Handles, Shutdown};
use docket_kafka::KafkaSettings;
pub use docket_sink_http::RunError;

use crate::config::{Config, SINK_NAME};
use crate::send::{HOP, OtlpSink};

/// Runs the sink configured by `vars` until `shutdown` fires or a fatal error stops it.
pub async fn run(vars: &Vars, shutdown: Shutdown) -> Result<(), RunError> {
    let config = Config::from_vars(vars)?;
    let settings = KafkaSettings::from_config(vars)?;
    let client =
        docket_sink_http::client(&config.otlp.client, HOP).map_err(RunError::client(HOP))?;
    let url = config.otlp.logs_url.clone();
    let gzip = config.otlp.gzip;
    let sink = OtlpSink::new(client, config.otlp);
    check::receiver(&sink, &url, gzip).await?;
    tracing::info!(%url, group = %config.engine.group_id, "starting the OTLP sink");
    let handles = Handles::new(SINK_NAME);
    docket_delivery::run(config.engine, &settings, sink, shutdown, handles).await?;
    Ok(())
}

/// What `docket-sink-otlp --help` prints.
pub const HELP: Help<'static> = Help {
    binary: "docket-sink-otlp",
    about: "exports Docket's decisions and audit events as OpenTelemetry logs over OTLP/HTTP",
    sections: &[
        ("OTLP", config::VARS),
        ("Delivery engine", docket_delivery::VARS),
        ("Kafka", docket_kafka::VARS),
    ],
};

/// Every variable the binary reads.
pub fn all_vars() -> impl Iterator<Item = &'static Var> {
    HELP.sections.iter().flat_map(|(_, vars)| vars.iter())
}
