//! `docket-sink-otlp`: reads its settings from the environment, runs the OTLP sink until
//! SIGTERM, and exits non-zero with a one-line reason when it must stop; `--help` lists
//! every variable it reads.

use std::process::ExitCode;

/// mimalloc instead of the system allocator: every record is decoded into and encoded from
/// many small values, and glibc's malloc and free took about a fifth of the sink's CPU
/// (see docs/benchmarks.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    let version = env!("CARGO_PKG_VERSION");
    docket_telemetry::service_main(
        &docket_sink_otlp::HELP,
        version,
        |vars, shutdown| async move { docket_sink_otlp::run(&vars, shutdown).await },
    )
    .await
}
