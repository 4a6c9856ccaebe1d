//! The one log set-up of every service: stderr, filtered by `RUST_LOG`, as plain text or as
//! one JSON object per line (`DOCKET_LOG_FORMAT`), colour codes only on a terminal.

use std::io::IsTerminal;

use docket_config::{ConfigError, Var, Vars};
use tracing_subscriber::EnvFilter;

/// How log lines are written.
pub const LOG_FORMAT: Var = Var::new(
    "DOCKET_LOG_FORMAT",
    "text (for people) or json (one object per line: timestamp, level, message, target, fields)",
)
.default("text");

/// Every variable the log set-up reads (`RUST_LOG` is tracing's own filter syntax).
pub const LOG_VARS: &[Var] = &[LOG_FORMAT];

/// The shape of a log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line, for collectors.
    Json,
}

impl LogFormat {
    /// From [`LOG_FORMAT`]: `text` (default) or `json`; anything else names the variable.
    pub fn from_vars(vars: &Vars) -> Result<Self, ConfigError> {
        vars.parsed_or_default(&LOG_FORMAT, |v| match v.trim() {
            "text" => Ok(Self::Text),
            "json" => Ok(Self::Json),
            other => Err(format!("{:?} is not text or json", shown(other))),
        })
    }
}

/// At most the first 32 characters of a refused value, for the error line.
fn shown(value: &str) -> String {
    value.chars().take(32).collect()
}

/// Logs to stderr in the format `vars` asks for, filtered by `RUST_LOG` (default `info`);
/// colour codes only when stderr is a terminal, so log files and collectors get plain text.
/// Returns the format chosen; an invalid one is refused before anything is logged.
pub fn init_logging(vars: &Vars) -> Result<LogFormat, ConfigError> {
    let format = LogFormat::from_vars(vars)?;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder
            .with_ansi(std::io::stderr().is_terminal())
            .try_init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_ansi(false)
            .try_init(),
    };
    Ok(format)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_format_is_text_by_default_or_json() {
        assert_eq!(LogFormat::from_vars(&Vars::default()), Ok(LogFormat::Text));
        let json = Vars::from(&[(LOG_FORMAT.name, " json ")][..]);
        assert_eq!(LogFormat::from_vars(&json), Ok(LogFormat::Json));
    }

    #[test]
    fn an_unknown_format_names_the_variable() {
        for bad in ["JSON", "yaml", "text\u{202e}"] {
            let vars = Vars::from(&[(LOG_FORMAT.name, bad)][..]);
            let err = LogFormat::from_vars(&vars).unwrap_err();
            assert_eq!(err.field, LOG_FORMAT.name, "{bad}");
        }
    }

    #[test]
    fn every_variable_is_in_one_docs_table() {
        let docs = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs");
        docket_config::check_documented(&docs, LOG_VARS).unwrap();
    }
}
