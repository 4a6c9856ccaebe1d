//! The local stack script's contract: `up` is idempotent, `status` says what runs where and
//! since when, a taken port gives a one-line error naming the setting, and `down` stops only
//! what its own state directory started.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Command, Output};

fn stack() -> Command {
    Command::new(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("dev/stack"))
}

fn run(cmd: &mut Command) -> Output {
    cmd.output().expect("dev/stack runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A state directory of this test's own (tests run in parallel), so nothing the shared stack
/// or another test started is touched; removed when dropped.
struct ScratchState(PathBuf);

impl ScratchState {
    fn new(test: &str) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "docket-stack-test-{test}-{}",
            uuid::Uuid::now_v7().simple()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }
}

impl Drop for ScratchState {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn up_is_idempotent_and_status_reports_the_running_stack() {
    let out = run(stack().arg("up"));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("kafka already running"), "{stdout}");
    assert!(stdout.contains("registry already running"), "{stdout}");
    assert!(stdout.contains("s3 already running"), "{stdout}");

    let status = text(&run(stack().arg("status")).stdout);
    for service in ["kafka", "registry", "s3"] {
        let line = status
            .lines()
            .find(|l| l.starts_with(service))
            .expect("a line per service");
        assert!(
            line.contains("running") && line.contains("since") && line.contains("127.0.0.1:"),
            "{line}"
        );
    }
}

#[test]
fn a_taken_port_gives_one_line_naming_the_setting() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let scratch = ScratchState::new("taken-port");
    let out = run(stack()
        .arg("up")
        .env("DOCKET_STACK_HOME", &scratch.0)
        .env("DOCKET_KAFKA_PORT", &port));
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    let errors: Vec<&str> = stderr.lines().filter(|l| l.contains("error")).collect();
    assert_eq!(errors.len(), 1, "{stderr}");
    assert!(
        errors[0].contains(&port) && errors[0].contains("DOCKET_KAFKA_PORT"),
        "{stderr}"
    );
}

#[test]
fn down_stops_only_what_its_state_directory_started() {
    let running = || -> Vec<String> {
        let status = text(&run(stack().arg("status")).stdout);
        let names = status.lines().filter(|l| l.contains(" running "));
        names
            .filter_map(|l| l.split_whitespace().next())
            .map(str::to_owned)
            .collect()
    };
    let before = running();
    assert!(before.len() >= 3, "the shared stack is not up: {before:?}");
    let scratch = ScratchState::new("down");
    let out = run(stack().arg("down").env("DOCKET_STACK_HOME", &scratch.0));
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(running(), before, "the shared stack was touched");
}
