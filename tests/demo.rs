//! The README's run command works: `dev/demo` builds what it needs, runs `docket up` and
//! `docket demo`, and ends with the demo's decision and audit event found, every field
//! matching, in every running destination. It runs in a state folder, namespace and port
//! block of its own on the shared stack, stopped afterwards.

#[path = "support/cli.rs"]
mod cli;
mod support;

use std::path::Path;
use std::process::Command;

#[test]
fn the_run_command_drives_the_gateway_and_verifies_every_destination() {
    let run = cli::Run::new();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = Command::new(root.join("dev/demo"))
        .args(["--rounds", "3"])
        .current_dir(root)
        .env("DOCKET_STACK_HOME", &run.home)
        .env("DOCKET_LOCAL_NAMESPACE", &run.namespace)
        .env("DOCKET_LOCAL_PORT_BASE", run.port_base.to_string())
        .env("DOCKET_OTELCOL_OUT", cli::collector_out())
        .output()
        .expect("dev/demo runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "dev/demo failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for service in ["gateway", "joiner", "sink-s3"] {
        assert!(
            stdout
                .lines()
                .any(|l| l.starts_with(service) && l.contains("running")),
            "{service} not running:\n{stdout}"
        );
    }
    for kind in ["allow", "deny", "redact", "route"] {
        assert!(
            stdout
                .lines()
                .any(|l| l.starts_with(kind) && l.ends_with(" 3     3")),
            "{kind} not answered as expected:\n{stdout}"
        );
    }
    assert!(
        stdout.contains("midway: policy no-exfil edited"),
        "{stdout}"
    );
    cli::assert_verified(&stdout);
}
