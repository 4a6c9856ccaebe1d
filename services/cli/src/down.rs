//! `docket down [SERVICE...]`: stops the Docket services `up` started (by their pid files),
//! in reverse order; the stack only with `--stack`, and then only what `dev/stack up` of this state
//! folder started, so a stack shared with others keeps running.

use std::process::Command;
use std::time::{Duration, Instant};

use crate::error::CliError;
use crate::kafka::Kafka;
use crate::local::Local;
use crate::process;
use crate::services::SERVICES;

/// Runs `docket down`: the named services only, or every one.
pub fn run(local: &Local, only: &[String], with_stack: bool) -> Result<(), CliError> {
    if let Some(unknown) = only
        .iter()
        .find(|n| !SERVICES.iter().any(|s| s.name == n.as_str()))
    {
        let names: Vec<&str> = SERVICES.iter().map(|s| s.name).collect();
        return Err(CliError::Usage(format!(
            "unknown service {unknown:?}; one of: {}",
            names.join(", ")
        )));
    }
    let chosen = SERVICES
        .iter()
        .rev()
        .filter(|s| only.is_empty() || only.iter().any(|n| n == s.name));
    let mut left_groups = Vec::new();
    for service in chosen {
        if process::stop(local, service)? {
            println!("stopped {}", service.name);
            left_groups.extend(service.sink.map(|sink| local.names.sink_group(sink)));
        }
    }
    for group in &left_groups {
        wait_until_left(local, group)?;
    }
    if with_stack {
        let script = local.stack_script();
        let status = Command::new(&script)
            .arg("down")
            .status()
            .map_err(CliError::io(format!("running {} down", script.display())))?;
        if !status.success() {
            return Err(CliError::Unexpected("dev/stack down failed".into()));
        }
    }
    Ok(())
}

/// How long a stopped sink's membership may take to leave its group.
const LEAVE_TIMEOUT: Duration = Duration::from_secs(60);

/// Waits until `group` has no live member, so a `replay` right after `down` is not refused
/// (a consumer that exits without leaving stays a member until its session times out).
fn wait_until_left(local: &Local, group: &str) -> Result<(), CliError> {
    let kafka = Kafka::new(&local.kafka()?)?;
    let spinner = crate::ui::spinner(&format!("waiting for {group} to lose its members"));
    let start = Instant::now();
    tokio::task::block_in_place(|| {
        while !kafka.members(group)?.1.is_empty() {
            if start.elapsed() > LEAVE_TIMEOUT {
                return Err(CliError::Unexpected(format!(
                    "{group} still has members {} after its sink stopped",
                    crate::ui::human(LEAVE_TIMEOUT)
                )));
            }
            std::thread::sleep(Duration::from_millis(250));
        }
        spinner.finish_and_clear();
        Ok(())
    })
}
