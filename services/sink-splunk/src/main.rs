//! `docket-sink-splunk`: reads its settings from the environment, runs the Splunk HEC sink
//! until SIGTERM, and exits non-zero with a one-line reason when it must stop; `--help` lists
//! every variable it reads.

use std::process::ExitCode;

use docket_config::Vars;
use docket_delivery::Shutdown;
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> ExitCode {
    if let Some(code) =
        docket_sink_splunk::HELP.answer(std::env::args().skip(1), env!("CARGO_PKG_VERSION"))
    {
        return code;
    }
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .with_writer(std::io::stderr)
        .init();
    match docket_sink_splunk::run(&Vars::from_env(), Shutdown::on_signals()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let e = anyhow::Error::from(e);
            tracing::error!("docket-sink-splunk stopped: {e:#}");
            eprintln!("docket-sink-splunk: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
