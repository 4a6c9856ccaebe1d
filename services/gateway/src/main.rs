//! `docket-gateway`: runs the gateway from its configuration until SIGTERM.
//! `docket-gateway hash` reads a secret from stdin and prints the SHA-256 digest that the
//! configuration file stores for API keys and admin tokens; `--help` lists every variable it
//! reads.

use std::io::Read;
use std::process::ExitCode;

use anyhow::Context;
use docket_gateway::GatewayConfig;
use docket_telemetry::Shutdown;

const HASH_COMMAND: &str = "hash";

/// mimalloc instead of the system allocator: a request allocates and frees many small
/// values (JSON, paths, the record), and glibc's malloc and free took about a seventh of the
/// gateway's CPU at 10,000 requests/s (see docs/benchmarks.md#gateway).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<ExitCode> {
    if std::env::args().nth(1).as_deref() == Some(HASH_COMMAND) {
        let mut secret = String::new();
        std::io::stdin()
            .read_to_string(&mut secret)
            .context("reading the secret from stdin")?;
        println!(
            "{}",
            docket_gateway::secret::digest(secret.trim_end_matches(['\r', '\n']))
        );
        return Ok(ExitCode::SUCCESS);
    }
    if let Some(code) =
        docket_gateway::HELP.answer(std::env::args().skip(1), env!("CARGO_PKG_VERSION"))
    {
        return Ok(code);
    }
    if let Err(e) = docket_telemetry::init_logging(&docket_config::Vars::from_env()) {
        eprintln!("docket-gateway: error: {e}");
        return Ok(ExitCode::FAILURE);
    }
    let config = GatewayConfig::from_env().context("invalid gateway configuration")?;
    tracing::info!(
        instance = %config.instance,
        listen = %config.listen,
        decisions = %config.decisions_topic,
        audit = %config.audit_topic,
        on_spool_full = ?config.spool.on_full,
        "docket-gateway starting"
    );
    docket_gateway::run(config, Shutdown::on_signals())
        .await
        .context("docket-gateway stopped")?;
    Ok(ExitCode::SUCCESS)
}
