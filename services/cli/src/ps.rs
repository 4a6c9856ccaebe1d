//! `docket ps`: one table of what runs where: the stack's services (do they answer) and
//! Docket's (pid, address, log).

use crate::error::CliError;
use crate::local::Local;
use crate::services::SERVICES;
use crate::{process, stack, ui};

/// The table.
pub async fn render(local: &Local) -> Result<String, CliError> {
    let env = local.stack_exports()?;
    let mut rows = vec![vec![
        "SERVICE".into(),
        "STATE".into(),
        "PID".into(),
        "ADDRESS".into(),
        "LOG".into(),
    ]];
    for p in stack::probe(&env).await {
        let state = if p.serving { "serving" } else { "unreachable" };
        rows.push(vec![
            p.name.into(),
            state.into(),
            "-".into(),
            p.address,
            "dev/stack logs".into(),
        ]);
    }
    for service in SERVICES {
        let (state, pid) = match process::running(local, service) {
            Some(pid) => ("running", pid.to_string()),
            None if service.exists(local) => ("stopped", "-".into()),
            None => ("not in this checkout", "-".into()),
        };
        rows.push(vec![
            service.name.into(),
            state.into(),
            pid,
            format!("http://{}", service.addr(local)),
            process::log_file(local, service).display().to_string(),
        ]);
    }
    Ok(ui::table(&rows))
}
