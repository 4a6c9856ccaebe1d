//! The object key scheme: `<prefix>/<stream>/dt=YYYY-MM-DD/hour=HH/<topic>+<partition>+<first
//! offset, 20 digits>.ndjson.gz`, from the first record's time (UTC) and offset, so the same
//! records always land under the same key.

use docket_delivery::Stream;
use docket_records::Micros;

/// Object name suffix.
pub const SUFFIX: &str = ".ndjson.gz";

/// The key of the object whose first record is `offset` of `topic`/`partition`, written at
/// record time `time`.
pub fn object_key(
    prefix: &str,
    stream: Stream,
    topic: &str,
    partition: i32,
    offset: i64,
    time: Micros,
) -> String {
    let secs = time.0.div_euclid(1_000_000);
    let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
    let hour = secs.rem_euclid(86_400) / 3_600;
    let head = if prefix.is_empty() {
        String::new()
    } else {
        format!("{}/", prefix.trim_end_matches('/'))
    };
    format!(
        "{head}{}/dt={y:04}-{m:02}-{d:02}/hour={hour:02}/{topic}+{partition}+{offset:020}{SUFFIX}",
        stream.name()
    )
}

/// Year, month, day of a day count since 1970-01-01 (proleptic Gregorian calendar).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_names_stream_date_hour_topic_partition_and_padded_offset() {
        // 2026-11-19T05:06:40.123456Z
        let t = Micros(1_795_064_800_123_456);
        assert_eq!(
            object_key(
                "exports/",
                Stream::Decision,
                "docket.decisions.enriched.v1",
                3,
                42,
                t
            ),
            "exports/decisions/dt=2026-11-19/hour=05/docket.decisions.enriched.v1+3+00000000000000000042.ndjson.gz"
        );
        assert_eq!(
            object_key("", Stream::Audit, "a", 0, 0, Micros(0)),
            "audit/dt=1970-01-01/hour=00/a+0+00000000000000000000.ndjson.gz"
        );
    }

    #[test]
    fn calendar_handles_leap_days_and_times_before_the_epoch() {
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
        assert_eq!(civil_from_days(19_782), (2024, 2, 29));
    }
}
