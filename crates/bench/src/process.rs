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
    /// CPU time the child used (user and system, all its threads): on a shared machine a
    /// steadier figure than the rate.
    pub cpu: Duration,
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
        let cpu = cpu_time(pid);
        self.stop().await;
        Finished {
            elapsed,
            peak_rss_kib,
            cpu,
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

/// CPU time process `pid` used so far (`utime` + `stime` of `/proc/<pid>/stat`); zero when
/// unreadable.
pub fn cpu_time(pid: u32) -> Duration {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return Duration::ZERO;
    };
    // Fields after the command name (which may hold spaces) start at its closing parenthesis;
    // utime and stime are fields 14 and 15 of the whole line, 12 and 13 after it.
    let Some((_, rest)) = stat.rsplit_once(')') else {
        return Duration::ZERO;
    };
    let ticks: u64 = rest
        .split_whitespace()
        .skip(11)
        .take(2)
        .filter_map(|f| f.parse::<u64>().ok())
        .sum();
    Duration::from_secs_f64(ticks as f64 / CLOCK_TICKS_PER_SEC)
}

/// `sysconf(_SC_CLK_TCK)`: 100 on every Linux architecture Docket builds for.
const CLOCK_TICKS_PER_SEC: f64 = 100.0;
