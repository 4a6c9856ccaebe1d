//! `docket-joiner`: reads its configuration from the environment and runs until SIGTERM;
//! `--help` lists every variable it reads.

use std::process::ExitCode;

use anyhow::Context;
use docket_joiner::JoinerConfig;
use docket_telemetry::Shutdown;

#[tokio::main]
async fn main() -> anyhow::Result<ExitCode> {
    if let Some(code) =
        docket_joiner::HELP.answer(std::env::args().skip(1), env!("CARGO_PKG_VERSION"))
    {
        return Ok(code);
    }
    docket_telemetry::init_logging();
    let config = JoinerConfig::from_env().context("invalid joiner configuration")?;
    tracing::info!(
        instance = %config.instance,
        group = %config.group,
        decisions = %config.topics.decisions,
        enriched = %config.topics.enriched,
        grace = ?config.grace,
        "docket-joiner starting"
    );
    docket_joiner::run(config, Shutdown::on_signals())
        .await
        .context("docket-joiner stopped")?;
    Ok(ExitCode::SUCCESS)
}
