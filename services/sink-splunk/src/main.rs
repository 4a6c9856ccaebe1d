//! `docket-sink-splunk`: reads its settings from the environment, runs the Splunk HEC sink until
//! SIGTERM, and exits non-zero with a one-line reason when it must stop; `--help` lists
//! every variable it reads.

use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    let version = env!("CARGO_PKG_VERSION");
    docket_telemetry::service_main(
        &docket_sink_splunk::HELP,
        version,
        |vars, shutdown| async move { docket_sink_splunk::run(&vars, shutdown).await },
    )
    .await
}
