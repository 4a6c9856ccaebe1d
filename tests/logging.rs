//! The one log set-up, seen from outside a real service binary (the joiner, against the
//! running stack): with `DOCKET_LOG_FORMAT=json` every stderr line is a JSON object with level,
//! target and message, through start, SIGTERM and a failing start; an unknown format stops the
//! binary at once with one line naming the variable.

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Instant;

use serde_json::Value;
use support::*;

const FORMAT: &str = "DOCKET_LOG_FORMAT";
const JOINER: &str = "docket-joiner";

/// A joiner process whose stderr lines arrive on a channel; killed when dropped.
struct Logged {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Logged {
    fn start(env: &[(&str, String)]) -> Self {
        let mut child = Command::new(binary(JOINER, JOINER))
            .env_remove("RUST_LOG")
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the joiner starts");
        let stderr = child.stderr.take().expect("stderr is piped");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        Self {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// Collects lines until one contains `text`, failing after [`DEADLINE`].
    fn wait_for_line(&mut self, text: &str) {
        let end = Instant::now() + DEADLINE;
        while !self.seen.iter().any(|l| l.contains(text)) {
            let left = end.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => self.seen.push(line),
                Err(_) => panic!("no line with {text:?} in {:#?}", self.seen),
            }
        }
    }

    /// Sends SIGTERM.
    fn terminate(&self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
    }

    /// Every line until stderr closes (the process exited), and its exit code.
    fn finish(mut self) -> (Vec<String>, Option<i32>) {
        let end = Instant::now() + DEADLINE;
        loop {
            let left = end.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => self.seen.push(line),
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    panic!("the joiner did not exit: {:#?}", self.seen)
                }
            }
        }
        let status = self.child.wait().expect("the joiner can be awaited");
        (std::mem::take(&mut self.seen), status.code())
    }
}

impl Drop for Logged {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Each line parsed as a JSON object with a level, a target and a message.
fn json_objects(lines: &[String]) -> Vec<serde_json::Map<String, Value>> {
    assert!(!lines.is_empty(), "no log lines at all");
    lines
        .iter()
        .map(|line| {
            let object = match serde_json::from_str(line) {
                Ok(Value::Object(o)) => o,
                _ => panic!("not a JSON object: {line:?}"),
            };
            for field in ["level", "target", "message"] {
                assert!(
                    object.get(field).is_some_and(Value::is_string),
                    "no {field} in {line}"
                );
            }
            object
        })
        .collect()
}

/// The variables of a joiner on private topics and a free metrics port.
async fn joiner_env() -> Vec<(&'static str, String)> {
    let id = short_id();
    let mut env = vec![
        ("DOCKET_JOINER_INSTANCE", format!("logging-{id}")),
        ("DOCKET_JOINER_GROUP", format!("test-logging-{id}")),
        (
            "DOCKET_JOINER_METRICS_ADDR",
            format!("127.0.0.1:{}", free_port()),
        ),
        (FORMAT, "json".to_owned()),
    ];
    for (var, base) in [
        ("DOCKET_JOINER_DECISIONS_TOPIC", "decisions"),
        ("DOCKET_JOINER_AUDIT_TOPIC", "audit"),
        ("DOCKET_JOINER_ENRICHED_TOPIC", "enriched"),
        ("DOCKET_JOINER_PENDING_TOPIC", "pending"),
        ("DOCKET_JOINER_DLQ_TOPIC", "dlq"),
    ] {
        env.push((var, unique_topic(base).await));
    }
    env
}

#[tokio::test]
async fn json_logs_are_one_object_per_line_from_start_to_sigterm() {
    let mut joiner = Logged::start(&joiner_env().await);
    joiner.wait_for_line("metrics and health endpoint up");
    joiner.terminate();
    let (lines, code) = joiner.finish();
    let objects = json_objects(&lines);
    assert_eq!(code, Some(0), "{lines:#?}");
    assert!(
        objects.iter().any(|o| o["level"] == "INFO"),
        "no INFO line in {lines:#?}"
    );
    assert!(lines.iter().all(|l| !l.contains('\u{1b}')), "colour codes");
}

#[tokio::test]
async fn a_failing_start_stays_json() {
    let mut env = joiner_env().await;
    env.push(("DOCKET_JOINER_GRACE", "5".to_owned()));
    let (lines, code) = Logged::start(&env).finish();
    let objects = json_objects(&lines);
    assert_eq!(code, Some(1), "{lines:#?}");
    let error = objects.iter().find(|o| o["level"] == "ERROR");
    let message = error
        .and_then(|o| o["message"].as_str())
        .unwrap_or_default();
    assert!(message.contains("DOCKET_JOINER_GRACE"), "{lines:#?}");
}

#[tokio::test]
async fn an_unknown_format_stops_the_binary_with_one_line_naming_the_variable() {
    for bad in ["yaml", "JSON", "json\u{202e}x", &"j".repeat(10_000)] {
        let mut env = vec![(FORMAT, bad.to_owned())];
        // Should the check fail open, the joiner would run: on a port of its own, and the
        // deadline below ends the test instead of a hang.
        let port = free_port();
        env.push(("DOCKET_JOINER_METRICS_ADDR", format!("127.0.0.1:{port}")));
        let (lines, code) = Logged::start(&env).finish();
        let stderr = lines.join("\n");
        assert_eq!(code, Some(1), "{stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(
            stderr.starts_with(&format!("{JOINER}: error: {FORMAT}: ")),
            "{stderr}"
        );
        assert!(
            !stderr.contains('\u{202e}'),
            "control characters are escaped"
        );
        assert!(stderr.len() < 200, "the value is not echoed at length");
    }
}
