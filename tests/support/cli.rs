//! Running the `docket` command line in tests: a private state folder, namespace and port
//! block per run (on the shared stack: no second Kafka), the binaries it starts built
//! first, and `docket down` when the run is dropped.

#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Command, Output};

use crate::support::*;

/// The sample configuration's caller key and admin token (local use only).
pub const API_KEY: &str = "sk-docket-local-caller";
/// See [`API_KEY`].
pub const ADMIN_TOKEN: &str = "docket-local-admin";

/// One isolated local run.
pub struct Run {
    pub home: PathBuf,
    pub namespace: String,
    pub port_base: u16,
    docket: PathBuf,
}

/// What one `docket` invocation did.
pub struct Done {
    pub ok: bool,
    pub stdout: String,
    pub stderr: String,
}

impl Done {
    /// Panics with both streams unless it succeeded.
    pub fn expect_ok(self, what: &str) -> Self {
        assert!(self.ok, "{what} failed:\n{}\n{}", self.stdout, self.stderr);
        self
    }
}

impl Run {
    /// A fresh run; builds `docket` and the service binaries it starts.
    pub fn new() -> Self {
        let docket = binary("docket-cli", "docket");
        build_services(&docket);
        let namespace = format!("t{}", &short_id()[..10]);
        Self {
            home: std::env::temp_dir().join(format!("docket-cli-{namespace}")),
            port_base: free_block(6),
            docket,
            namespace,
        }
    }

    /// The gateway's base URL.
    pub fn gateway(&self) -> String {
        format!("http://127.0.0.1:{}", self.port_base)
    }

    /// Runs `docket args` with the run's settings and `extra` variables.
    pub fn docket_with(&self, args: &[&str], extra: &[(&str, &str)]) -> Done {
        let out: Output = Command::new(&self.docket)
            .args(args)
            .env("DOCKET_STACK_HOME", &self.home)
            .env("DOCKET_LOCAL_NAMESPACE", &self.namespace)
            .env("DOCKET_LOCAL_PORT_BASE", self.port_base.to_string())
            .env("DOCKET_OTELCOL_OUT", collector_out())
            .envs(extra.iter().copied())
            .output()
            .expect("docket runs");
        Done {
            ok: out.status.success(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Runs `docket args`.
    pub fn docket(&self, args: &[&str]) -> Done {
        self.docket_with(args, &[])
    }

    /// A topic's name in the run's namespace.
    pub fn topic(&self, base: &str) -> String {
        format!("{base}.{}", self.namespace)
    }

    /// A group's name in the run's namespace.
    pub fn group(&self, base: &str) -> String {
        format!("{base}-{}", self.namespace)
    }

    /// The pid of service `name` from its pid file, if any.
    pub fn pid(&self, name: &str) -> Option<u32> {
        let file = format!("run/docket-{name}-{}.pid", self.namespace);
        std::fs::read_to_string(self.home.join(file))
            .ok()?
            .trim()
            .parse()
            .ok()
    }
}

impl Drop for Run {
    fn drop(&mut self) {
        // --stack stops only stack services this run's state folder started (none when the
        // shared stack was serving).
        let _ = self.docket(&["down", "--stack"]);
        let _ = std::fs::remove_dir_all(&self.home);
    }
}

/// Where the shared stack's collector writes what its receivers got (the private state
/// folder of a run is not the collector's).
pub fn collector_out() -> PathBuf {
    std::env::var_os("DOCKET_OTELCOL_OUT").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".stack/otelcol"),
        PathBuf::from,
    )
}

/// The verify table's lines of destinations: each must show both records arrived with every
/// field matching; answers the destinations seen.
pub fn assert_verified(stdout: &str) -> Vec<String> {
    let mut seen = Vec::new();
    for line in stdout.lines() {
        let name = line.split_whitespace().next().unwrap_or_default();
        if ["s3", "splunk", "datadog", "otlp"].contains(&name)
            && (line.contains(" decision ") || line.contains(" audit "))
        {
            assert!(
                line.contains(" after ") && !line.contains("WRONG"),
                "{line}"
            );
            seen.push(name.to_owned());
        }
    }
    assert!(
        seen.iter().filter(|n| *n == "s3").count() == 2,
        "no S3 lines:\n{stdout}"
    );
    seen
}

/// Whether process `pid` is alive (and not a zombie).
pub fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| s.rsplit_once(')').map(|(_, t)| t.trim_start().to_owned()))
        .is_some_and(|t| !t.starts_with('Z'))
}

/// Builds the binaries of the services `docket up` starts in this checkout (those `docket ps`
/// lists as present; each binary is named like its package).
fn build_services(docket: &std::path::Path) {
    let ps = Command::new(docket)
        .arg("ps")
        .output()
        .expect("docket ps runs");
    let table = String::from_utf8_lossy(&ps.stdout).into_owned();
    for line in table.lines().skip(1) {
        let name = line.split_whitespace().next().unwrap_or_default();
        if line.contains("dev/stack logs") || line.contains("not in this checkout") {
            continue;
        }
        let package = format!("docket-{name}");
        binary(&package, &package);
    }
}

/// The first port of `n` consecutive free loopback ports.
fn free_block(n: u16) -> u16 {
    loop {
        let base = free_port();
        if base < 60000
            && (1..n).all(|i| std::net::TcpListener::bind(("127.0.0.1", base + i)).is_ok())
        {
            return base;
        }
    }
}
