//! `docket down [SERVICE...]`: stops the Docket services `up` started (by their pid files),
//! in reverse order; the stack only with `--stack`, and then only what `dev/stack up` of this state
//! folder started, so a stack shared with others keeps running.

use std::process::Command;

use crate::error::CliError;
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
    for service in chosen {
        if process::stop(local, service)? {
            println!("stopped {}", service.name);
        }
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
