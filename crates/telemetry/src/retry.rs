//! The one way to wait out an unavailable dependency: exponential backoff with full jitter
//! (each delay uniform between zero and a ceiling that doubles up to a maximum), never
//! shorter than a `Retry-After`, and every wait cut short by shutdown.

use std::fmt::Display;
use std::future::Future;
use std::time::Duration;

use rand::RngExt;

use crate::shutdown::Shutdown;

/// The delays of one retried operation.
#[derive(Debug, Clone)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    attempt: u32,
}

/// Shutdown was requested while waiting; nothing was completed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("interrupted by shutdown")]
pub struct Interrupted;

impl Backoff {
    /// A fresh sequence whose ceiling starts at `initial` and doubles up to `max`.
    pub fn new(initial: Duration, max: Duration) -> Self {
        Self {
            initial,
            max: max.max(initial),
            attempt: 0,
        }
    }

    /// The next delay: uniform in [0, ceiling] (full jitter), at least `retry_after`.
    pub fn next_delay(&mut self, retry_after: Option<Duration>) -> Duration {
        let ceiling = self.ceiling();
        self.attempt = self.attempt.saturating_add(1);
        let jittered = ceiling.mul_f64(rand::rng().random_range(0.0..=1.0));
        jittered.max(retry_after.unwrap_or_default())
    }

    /// The current attempt's ceiling.
    fn ceiling(&self) -> Duration {
        self.initial
            .saturating_mul(1u32 << self.attempt.min(20))
            .min(self.max)
    }

    /// Sleeps for the next delay unless shutdown comes first.
    pub async fn wait(
        &mut self,
        retry_after: Option<Duration>,
        shutdown: &Shutdown,
    ) -> Result<(), Interrupted> {
        let delay = self.next_delay(retry_after);
        let mut shutdown = shutdown.clone();
        tokio::select! {
            biased;
            _ = shutdown.wait() => Err(Interrupted),
            _ = tokio::time::sleep(delay) => Ok(()),
        }
    }
}

/// Runs `attempt` until it succeeds or fails for good (`Ok(result)`), waiting out every
/// failure `retryable` accepts with `backoff`, logging it (naming `what`) and calling
/// `on_retry`; `Err(Interrupted)` when shutdown comes during a wait (a wait that starts
/// after shutdown was requested ends at once).
pub async fn wait_out<T, E, Fut>(
    what: &str,
    backoff: &mut Backoff,
    shutdown: &Shutdown,
    mut attempt: impl FnMut() -> Fut,
    retryable: impl Fn(&E) -> bool,
    mut on_retry: impl FnMut(&E),
) -> Result<Result<T, E>, Interrupted>
where
    Fut: Future<Output = Result<T, E>>,
    E: Display,
{
    loop {
        match attempt().await {
            Err(e) if retryable(&e) => {
                tracing::warn!(error = %e, "{what} unavailable; retrying");
                on_retry(&e);
                backoff.wait(None, shutdown).await?;
            }
            other => return Ok(other),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_jitter_grows_to_the_cap_and_honours_retry_after() {
        let (initial, max) = (Duration::from_millis(100), Duration::from_secs(1));
        let mut b = Backoff::new(initial, max);
        let delays: Vec<Duration> = (0..400).map(|_| b.next_delay(None)).collect();
        assert!(delays[0] <= initial);
        assert!(delays.iter().all(|d| *d <= max));
        // Full jitter reaches below half the ceiling (equal jitter never does).
        assert!(delays[5..].iter().any(|d| *d < max / 2), "{delays:?}");
        assert_eq!(
            b.next_delay(Some(Duration::from_secs(5))),
            Duration::from_secs(5)
        );
    }

    #[tokio::test]
    async fn a_wait_ends_at_once_on_shutdown() {
        let (trigger, shutdown) = Shutdown::manual();
        let mut b = Backoff::new(Duration::from_secs(3600), Duration::from_secs(3600));
        let waiting =
            tokio::spawn(async move { b.wait(Some(Duration::from_secs(3600)), &shutdown).await });
        trigger.fire();
        let ended = tokio::time::timeout(Duration::from_secs(30), waiting).await;
        assert_eq!(
            ended.expect("the wait ended on shutdown").unwrap(),
            Err(Interrupted)
        );
    }

    #[tokio::test]
    async fn wait_out_retries_the_retryable_and_returns_the_rest() {
        let (_trigger, shutdown) = Shutdown::manual();
        let mut b = Backoff::new(Duration::from_millis(1), Duration::from_millis(2));
        let mut calls = 0;
        let mut retries = 0;
        let out = wait_out(
            "test",
            &mut b,
            &shutdown,
            || {
                calls += 1;
                let n = calls;
                async move { if n < 3 { Err("down") } else { Err("refused") } }
            },
            |e: &&str| *e == "down",
            |_| retries += 1,
        )
        .await;
        assert_eq!(out, Ok(Err::<(), _>("refused")));
        assert_eq!(retries, 2);
    }
}
