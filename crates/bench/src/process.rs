//! The measured process: a Docket binary (or the Kafka Streams peer) run as a child, so its
//! peak RSS (`VmHWM` of `/proc/<pid>/status`) is its own and nothing of the benchmark's.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use docket_kafka::KafkaSettings;

use crate::committed::wait_committed;

/// A running child under measurement.
pub struct Measured {
    name: String,
    child: Child,
    started: Instant,
}

/// What a finished measurement found.
#[derive(Debug, Clone, Copy)]
pub struct Finished {
    /// From spawn to the group's commit of the topic's end.
    pub elapsed: Duration,
    /// Peak resident set, KiB.
    pub peak_rss_kib: u64,
}

impl Measured {
    /// Starts `command` (stdout discarded, stderr inherited, `RUST_LOG=warn` unless set).
    pub fn spawn(name: &str, mut command: Command) -> Self {
        if std::env::var_os("RUST_LOG").is_none() {
            command.env("RUST_LOG", "warn");
        }
        let started = Instant::now();
        let child = command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        Self {
            name: name.to_owned(),
            child,
            started,
        }
    }

    /// Waits until `group` committed `topic` to its end (ten minutes at most), then stops the
    /// child with SIGTERM and returns the time taken and its peak RSS.
    pub async fn until_committed(
        mut self,
        settings: &KafkaSettings,
        group: &str,
        topic: &str,
    ) -> Finished {
        let pid = self.child.id();
        let child = &mut self.child;
        wait_committed(settings, group, topic, Duration::from_secs(600), || {
            matches!(child.try_wait(), Ok(None))
        })
        .await;
        let elapsed = self.started.elapsed();
        let peak_rss_kib = peak_rss_kib(pid);
        self.stop().await;
        Finished {
            elapsed,
            peak_rss_kib,
        }
    }

    /// SIGTERM, then SIGKILL when the child has not exited after 30 s.
    async fn stop(mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(30);
        while matches!(self.child.try_wait(), Ok(None)) {
            if Instant::now() > deadline {
                eprintln!("{} ignored SIGTERM; killing it", self.name);
                let _ = self.child.kill();
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let _ = self.child.wait();
    }
}

/// Peak RSS of process `pid` so far, KiB (`VmHWM`); 0 when unreadable.
pub fn peak_rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}
