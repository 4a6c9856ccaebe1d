//! `docket up`: the stack (started only if it is not serving), the run's topics and bucket,
//! then every Docket service of this checkout that is not running yet, each waited for on
//! its `/readyz`; ends with the table of what runs where.

use std::collections::BTreeMap;
use std::process::Child;
use std::time::{Duration, Instant};

use crate::error::CliError;
use crate::local::Local;
use crate::process;
use crate::services::{SERVICES, Service};
use crate::{ps, stack, ui};

/// How long a service gets to answer `/readyz`.
const READY_TIMEOUT: Duration = Duration::from_secs(120);
const POLL: Duration = Duration::from_millis(200);

/// Runs `docket up`.
pub async fn run(local: &Local) -> Result<(), CliError> {
    let env = local.stack_exports()?;
    stack::ensure(local, &env).await?;
    stack::ensure_topics(local).await?;
    stack::ensure_bucket(local, &env).await?;
    for service in SERVICES.iter().filter(|s| s.exists(local)) {
        if process::running(local, service).is_none() {
            start(local, service, &env).await?;
        }
    }
    print!("{}", ps::render(local).await?);
    Ok(())
}

/// Starts one service and waits until it is ready.
async fn start(
    local: &Local,
    service: &Service,
    env: &BTreeMap<String, String>,
) -> Result<(), CliError> {
    let addr = service.addr(local);
    if tokio::net::TcpStream::connect(&addr).await.is_ok() {
        return Err(CliError::Refused(format!(
            "port {addr} (for {}) is taken by another process; set DOCKET_LOCAL_PORT_BASE to a free block",
            service.name
        )));
    }
    let vars = (service.env)(local, env, &addr);
    let spinner = ui::spinner(&format!("starting {}", service.name));
    let mut child = process::spawn(local, service, &vars)?;
    let ready = wait_ready(local, service, &mut child).await;
    spinner.finish_and_clear();
    if ready.is_err() {
        let _ = process::stop(local, service);
    }
    ready
}

/// Polls `/readyz` until it answers 200, the process exits, or the time is up.
async fn wait_ready(local: &Local, service: &Service, child: &mut Child) -> Result<(), CliError> {
    let url = format!("http://{}/readyz", service.addr(local));
    let client = reqwest::Client::new();
    let start = Instant::now();
    let failed = |reason: String| CliError::Start {
        service: service.name.to_owned(),
        reason,
        log: process::log_file(local, service),
    };
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(failed(format!("exited during start-up ({status})")));
        }
        if let Ok(r) = client.get(&url).timeout(POLL * 5).send().await
            && r.status().is_success()
        {
            return Ok(());
        }
        if start.elapsed() > READY_TIMEOUT {
            return Err(failed(format!(
                "not ready after {}",
                ui::human(READY_TIMEOUT)
            )));
        }
        tokio::time::sleep(POLL).await;
    }
}
