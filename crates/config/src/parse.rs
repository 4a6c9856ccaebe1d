//! The value parsers behind the typed readers: flags, sizes and durations in Docket's one
//! unit convention. Each returns a reason fit for a [`crate::ConfigError`].

use std::time::Duration;

/// `true` or `false` (also `1`/`0`, `yes`/`no`, any case).
pub fn parse_flag(text: &str) -> Result<bool, String> {
    match text.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" => Ok(true),
        "false" | "0" | "no" => Ok(false),
        _ => Err(format!("'{text}' is not true or false")),
    }
}

/// Bytes: a plain count (`1048576`) or a number with a unit (`16MiB`, `512KiB`, `1MB`).
pub fn parse_size(text: &str) -> Result<u64, String> {
    text.trim()
        .parse::<bytesize::ByteSize>()
        .map(|b| b.as_u64())
        .map_err(|_| format!("'{text}' is not a size like 16MiB, 512KiB or 1048576"))
}

/// A humantime duration: `250ms`, `5s`, `10m`, `2h`, `30d`, `1h 30m`. A bare number has no
/// unit and is refused, so a value meant as milliseconds is never read as seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text.trim())
        .map_err(|e| format!("'{text}' is not a duration like 5s, 250ms, 30d ({e})"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_need_a_unit() {
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_duration("30d"), Ok(Duration::from_secs(30 * 86_400)));
        assert!(parse_duration("5").is_err());
        assert!(parse_duration("five s").is_err());
        assert!(parse_duration("-5s").is_err());
    }

    #[test]
    fn sizes_take_binary_and_decimal_units_or_plain_bytes() {
        assert_eq!(parse_size("16MiB"), Ok(16 * 1024 * 1024));
        assert_eq!(parse_size("512KiB"), Ok(512 * 1024));
        assert_eq!(parse_size("1048576"), Ok(1_048_576));
        assert_eq!(parse_size("1MB"), Ok(1_000_000));
        assert!(parse_size("lots").is_err());
        assert!(parse_size("-1").is_err());
    }

    #[test]
    fn flags_are_true_or_false() {
        assert_eq!(parse_flag("true"), Ok(true));
        assert_eq!(parse_flag("FALSE"), Ok(false));
        assert!(parse_flag("maybe").is_err());
    }
}
