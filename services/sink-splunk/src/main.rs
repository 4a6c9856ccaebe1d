//! `docket-sink-splunk`: reads its settings from the environment, runs the Splunk HEC sink
//! until SIGTERM, and exits non-zero with a one-line reason when it must stop.

use std::process::ExitCode;

use docket_delivery::Shutdown;
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .with_writer(std::io::stderr)
        .init();
    let vars = std::env::vars().collect();
    match docket_sink_splunk::run(&vars, Shutdown::on_signals()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let e = anyhow::Error::from(e);
            tracing::error!("docket-sink-splunk stopped: {e:#}");
            eprintln!("docket-sink-splunk: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
