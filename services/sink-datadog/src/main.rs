//! `docket-sink-datadog`: reads its settings from the environment, runs the Datadog sink until
//! SIGTERM, and exits non-zero with a one-line reason when it must stop; `--help` lists
//! every variable it reads.

use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    let version = env!("CARGO_PKG_VERSION");
    docket_telemetry::service_main(
        &docket_sink_datadog::HELP,
        version,
        |vars, shutdown| async move { docket_sink_datadog::run(&vars, shutdown).await },
    )
    .await
}
