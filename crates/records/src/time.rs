//! The record timestamp: microseconds since the Unix epoch, Avro `timestamp-micros`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// A point in time as Avro `timestamp-micros`: microseconds since the Unix epoch, UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Micros(pub i64);

impl Micros {
    /// The current time, truncated to microseconds.
    pub fn now() -> Self {
        Self::from(SystemTime::now())
    }

    /// Whole milliseconds since the Unix epoch (Kafka's record timestamp unit).
    pub fn as_millis(self) -> i64 {
        self.0.div_euclid(1_000)
    }

    /// Milliseconds from `earlier` to `self` (negative when `earlier` is later).
    pub fn millis_since(self, earlier: Micros) -> i64 {
        (self.0 - earlier.0).div_euclid(1_000)
    }
}

impl From<SystemTime> for Micros {
    fn from(t: SystemTime) -> Self {
        match t.duration_since(UNIX_EPOCH) {
            Ok(d) => Micros(i64::try_from(d.as_micros()).unwrap_or(i64::MAX)),
            Err(e) => Micros(-i64::try_from(e.duration().as_micros()).unwrap_or(i64::MAX)),
        }
    }
}

impl From<Micros> for SystemTime {
    fn from(m: Micros) -> Self {
        let magnitude = Duration::from_micros(m.0.unsigned_abs());
        if m.0 >= 0 {
            UNIX_EPOCH + magnitude
        } else {
            UNIX_EPOCH - magnitude
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn system_time_round_trips_at_microsecond_precision() {
        for micros in [0, 1, 1_700_000_000_123_456, -5_000_001] {
            let m = Micros(micros);
            assert_eq!(Micros::from(SystemTime::from(m)), m);
        }
    }

    #[test]
    fn millis_round_towards_negative_infinity() {
        assert_eq!(Micros(1_999).as_millis(), 1);
        assert_eq!(Micros(-1).as_millis(), -1);
        assert_eq!(Micros(10_000).millis_since(Micros(2_500)), 7);
    }
}
