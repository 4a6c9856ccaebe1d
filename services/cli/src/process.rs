//! Docket's service processes of the local run: started detached with their log in the
//! stack's log folder and a pid file, found again by that pid file (checked against the
//! process's name, so a reused pid is not mistaken for ours), stopped with SIGTERM.

use std::fs::OpenOptions;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::error::CliError;
use crate::local::Local;
use crate::services::Service;

/// How long a service gets to exit after SIGTERM before SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(30);
const POLL: Duration = Duration::from_millis(100);

/// The pid file of `service`.
pub fn pid_file(local: &Local, service: &Service) -> PathBuf {
    local
        .run_dir()
        .join(format!("{}.pid", stem(local, service)))
}

/// The log file of `service`.
pub fn log_file(local: &Local, service: &Service) -> PathBuf {
    local.logs().join(format!("{}.log", stem(local, service)))
}

/// `docket-<service>`, with `-<namespace>` when there is one, so runs in several namespaces
/// can share a state folder.
fn stem(local: &Local, service: &Service) -> String {
    match local.names.namespace() {
        "" => format!("docket-{}", service.name),
        ns => format!("docket-{}-{ns}", service.name),
    }
}

/// The pid of `service` if its pid file names a live process of its binary.
pub fn running(local: &Local, service: &Service) -> Option<u32> {
    let pid: u32 = std::fs::read_to_string(pid_file(local, service))
        .ok()?
        .trim()
        .parse()
        .ok()?;
    alive(pid, service.binary).then_some(pid)
}

/// Whether `pid` is a live (not zombie) process whose name starts like `binary` (the kernel
/// keeps 15 characters of it).
fn alive(pid: u32, binary: &str) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    // "pid (comm) state ...": comm may hold spaces, so split at the last ')'.
    let Some((head, tail)) = stat.rsplit_once(')') else {
        return false;
    };
    let comm = head.split_once('(').map_or("", |(_, c)| c);
    let state = tail.trim_start().chars().next();
    let short = &binary[..binary.len().min(15)];
    comm == short && state != Some('Z')
}

/// Starts `service`'s binary (found next to this executable) with `env`, detached in its
/// own process group, output appended to its log, and writes its pid file.
pub fn spawn(
    local: &Local,
    service: &Service,
    env: &[(String, String)],
) -> Result<Child, CliError> {
    let binary = binary_path(service)?;
    std::fs::create_dir_all(local.logs()).map_err(CliError::io("creating the log folder"))?;
    std::fs::create_dir_all(local.run_dir()).map_err(CliError::io("creating the pid folder"))?;
    let log_path = log_file(local, service);
    let log = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .map_err(CliError::io(format!("opening {}", log_path.display())))?;
    let err = log
        .try_clone()
        .map_err(CliError::io("duplicating the log handle"))?;
    let child = Command::new(&binary)
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .current_dir(&local.state)
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(err)
        .process_group(0)
        .spawn()
        .map_err(CliError::io(format!("starting {}", binary.display())))?;
    std::fs::write(pid_file(local, service), child.id().to_string())
        .map_err(CliError::io("writing the pid file"))?;
    Ok(child)
}

/// The service's binary: next to `docket` (cargo puts every workspace binary there).
fn binary_path(service: &Service) -> Result<PathBuf, CliError> {
    let exe = std::env::current_exe().map_err(CliError::io("locating the docket binary"))?;
    let path = exe.with_file_name(service.binary);
    if path.is_file() {
        Ok(path)
    } else {
        Err(CliError::Usage(format!(
            "{} is not built next to {}; run: cargo build --bins -p {}",
            service.binary,
            exe.display(),
            service.binary
        )))
    }
}

/// Stops `service` if it runs (SIGTERM, then SIGKILL after a grace period) and removes its
/// pid file; answers whether it was running.
pub fn stop(local: &Local, service: &Service) -> Result<bool, CliError> {
    let Some(pid) = running(local, service) else {
        let _ = std::fs::remove_file(pid_file(local, service));
        return Ok(false);
    };
    let target = Pid::from_raw(pid as i32);
    let _ = kill(target, Signal::SIGTERM);
    let start = Instant::now();
    while alive(pid, service.binary) {
        if start.elapsed() > STOP_GRACE {
            let _ = kill(target, Signal::SIGKILL);
        }
        std::thread::sleep(POLL);
    }
    let _ = std::fs::remove_file(pid_file(local, service));
    Ok(true)
}
