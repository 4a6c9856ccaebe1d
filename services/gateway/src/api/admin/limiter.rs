//! Refused admin calls per source address: each address may cause at most `per_minute`
//! audit records with refused (401) calls in a fixed one-minute window; beyond that the
//! calls are answered 429 and leave only a counter, so a flood of bad tokens cannot fill
//! the spool or push real records out. The table is bounded: when it holds
//! [`MAX_ADDRESSES`] addresses, windows that have ended are forgotten, and if all are
//! current the newcomer is refused without being remembered.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Most addresses remembered at once.
pub const MAX_ADDRESSES: usize = 65_536;
const WINDOW: Duration = Duration::from_secs(60);

/// Counts refusals per address.
#[derive(Debug)]
pub struct Limiter {
    per_minute: u32,
    windows: Mutex<HashMap<IpAddr, (Instant, u32)>>,
}

impl Limiter {
    /// At most `per_minute` refusals per address and minute.
    pub fn new(per_minute: u32) -> Self {
        Self {
            per_minute,
            windows: Mutex::new(HashMap::new()),
        }
    }

    /// Counts one refusal from `ip`; whether it may still be audited.
    pub fn allow(&self, ip: IpAddr) -> bool {
        self.allow_at(ip, Instant::now())
    }

    fn allow_at(&self, ip: IpAddr, now: Instant) -> bool {
        let mut windows = self.windows.lock().expect("limiter lock");
        if windows.len() >= MAX_ADDRESSES && !windows.contains_key(&ip) {
            windows.retain(|_, (start, _)| now.duration_since(*start) < WINDOW);
            if windows.len() >= MAX_ADDRESSES {
                return false;
            }
        }
        let (start, count) = windows.entry(ip).or_insert((now, 0));
        if now.duration_since(*start) >= WINDOW {
            (*start, *count) = (now, 0);
        }
        *count = count.saturating_add(1);
        *count <= self.per_minute
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_address_gets_its_budget_per_window() {
        let limiter = Limiter::new(2);
        let (a, b): (IpAddr, IpAddr) = ("127.0.0.2".parse().unwrap(), "::1".parse().unwrap());
        let t0 = Instant::now();
        assert!(limiter.allow_at(a, t0));
        assert!(limiter.allow_at(a, t0));
        assert!(!limiter.allow_at(a, t0), "third in the window");
        assert!(
            limiter.allow_at(b, t0),
            "another address has its own budget"
        );
        assert!(limiter.allow_at(a, t0 + WINDOW), "a new window");
    }
}
