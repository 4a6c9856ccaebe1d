//! The `docket` binary: parses the command line, runs it, and reports a failure as one line
//! (the error and its causes) with a non-zero exit.

use std::process::ExitCode;

use clap::Parser;

#[tokio::main]
async fn main() -> ExitCode {
    match docket_cli::run(docket_cli::Cli::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("docket: error: {}", chain(&e));
            ExitCode::FAILURE
        }
    }
}

/// The error and its sources, joined with ": ".
fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}
