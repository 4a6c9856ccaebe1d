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

/// mimalloc's `mi_option_purge_delay` (`mimalloc.h` of version 2, which `libmimalloc-sys`
/// builds; the crate exposes no constant for it).
const MI_OPTION_PURGE_DELAY: std::ffi::c_int = 15;

#[allow(unsafe_code)]
unsafe extern "C" {
    /// mimalloc's option setter (`mimalloc.h`), linked in with the allocator.
    fn mi_option_set(option: std::ffi::c_int, value: std::ffi::c_long);
}

/// Freed memory goes back to the system at once instead of after mimalloc's 10 ms: the joiner
/// frees a round's worth of records at a time, and with the delay its peak RSS ranged from 115
/// to 136 MiB over one night's drains of a million decisions, without it from 105 to 116 MiB
/// at the same CPU per record (docs/joiner.md).
#[allow(unsafe_code)]
fn purge_freed_memory_at_once() {
    // SAFETY: sets one integer option, which mimalloc reads whenever it purges.
    unsafe { mi_option_set(MI_OPTION_PURGE_DELAY, 0) }
}

#[tokio::main]
async fn main() -> ExitCode {
    purge_freed_memory_at_once();
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
