//! `docket-joiner`: reads its configuration from the environment and runs until SIGTERM;
//! `--help` lists every variable it reads.

use std::process::ExitCode;

use docket_config::Vars;
use docket_joiner::JoinerConfig;
use docket_telemetry::Shutdown;

/// mimalloc instead of the system allocator: every joined record allocates and frees its
/// decoded decision. With records handed to the producer as they are made, the drain went from
/// 174.6k–181.3k to 199.2k–200.9k records/s at 97–122 MiB (docs/joiner.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    docket_telemetry::service_main(&docket_joiner::HELP, env!("CARGO_PKG_VERSION"), run).await
}

async fn run(
    vars: Vars,
    shutdown: Shutdown,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let config = JoinerConfig::from_config(&vars)?;
    tracing::info!(
        instance = %config.instance,
        group = %config.group,
        decisions = %config.topics.decisions,
        enriched = %config.topics.enriched,
        grace = ?config.grace,
        "docket-joiner starting"
    );
    docket_joiner::run(config, shutdown).await?;
    Ok(())
}
