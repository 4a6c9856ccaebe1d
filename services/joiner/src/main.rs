//! `docket-joiner`: reads its configuration from the environment and runs until SIGTERM.

use anyhow::Context;
use docket_joiner::JoinerConfig;
use docket_telemetry::Shutdown;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
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
        .context("docket-joiner stopped")
}
