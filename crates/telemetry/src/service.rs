//! What every service binary's `main` does: answer `--help` and `--version` from its declared
//! variables and the log set-up's, fix the C allocator's mapping threshold, set up logging,
//! run with the environment until SIGTERM or Ctrl-C, and turn a failure into one line naming
//! every cause, and exit status 1.

use std::error::Error as StdError;
use std::future::Future;
use std::process::ExitCode;

use docket_config::{Help, Vars};

use crate::logging::{LOG_VARS, LogFormat, init_logging};
use crate::shutdown::Shutdown;

/// Runs a service: `run` gets the environment and the shutdown signal. `--help` lists the
/// log set-up's variables after the service's own.
pub async fn service_main<F, Fut, E>(help: &Help<'_>, version: &str, run: F) -> ExitCode
where
    F: FnOnce(Vars, Shutdown) -> Fut,
    Fut: Future<Output = Result<(), E>>,
    E: Into<Box<dyn StdError + Send + Sync>>,
{
    crate::memory::return_large_blocks();
    let sections: Vec<_> = help
        .sections
        .iter()
        .copied()
        .chain([("Logging", LOG_VARS)])
        .collect();
    let help = Help {
        sections: &sections,
        ..*help
    };
    if let Some(code) = help.answer(std::env::args().skip(1), version) {
        return code;
    }
    let vars = Vars::from_env();
    let format = match init_logging(&vars) {
        Ok(format) => format,
        Err(e) => {
            eprintln!("{}: error: {e}", help.binary);
            return ExitCode::FAILURE;
        }
    };
    match run(vars, Shutdown::on_signals()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let line = one_line(e.into().as_ref());
            tracing::error!("{} stopped: {line}", help.binary);
            // JSON logs stay JSON: the error event above already carries the line.
            if format == LogFormat::Text {
                eprintln!("{}: error: {line}", help.binary);
            }
            ExitCode::FAILURE
        }
    }
}

/// The error and its causes, joined by `: `, leaving out a cause its parent already quotes.
fn one_line(error: &(dyn StdError + 'static)) -> String {
    let mut line = error.to_string();
    let mut cause = error.source();
    while let Some(c) = cause {
        let text = c.to_string();
        if !line.ends_with(&text) {
            line = format!("{line}: {text}");
        }
        cause = c.source();
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("cannot start")]
    struct Outer(#[source] std::num::ParseIntError);

    #[derive(Debug, thiserror::Error)]
    #[error("bad value: {0}")]
    struct Quoting(#[source] std::num::ParseIntError);

    #[test]
    fn the_line_names_every_cause_once() {
        let cause = "x".parse::<u8>().unwrap_err();
        assert_eq!(
            one_line(&Outer(cause.clone())),
            "cannot start: invalid digit found in string"
        );
        assert_eq!(
            one_line(&Quoting(cause)),
            "bad value: invalid digit found in string"
        );
    }
}
