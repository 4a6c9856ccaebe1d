//! `docket`, the operator's command line: the local run (`up`, `down`, `ps`, `demo`),
//! `verify`, `find`, `status`, `replay` and `doctor`. One module per subcommand; `main` only
//! parses and reports.

pub mod demo;
pub mod destination;
pub mod doctor;
pub mod doctor_http;
pub mod down;
pub mod error;
pub mod find;
pub mod gateway;
pub mod kafka;
pub mod local;
pub mod process;
pub mod ps;
pub mod replay;
pub mod s3;
pub mod services;
pub mod stack;
pub mod status;
pub mod ui;
pub mod up;
pub mod verify;

use clap::{Parser, Subcommand};

pub use error::CliError;
use local::Local;

/// Docket's operator command line.
#[derive(Debug, Parser)]
#[command(name = "docket", version, about, long_about = None)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Cmd,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Cmd {
    /// Start the local run: the stack if it is not serving, then the gateway, the joiner and
    /// every sink of this checkout that is not running; prints what runs where.
    Up,
    /// Stop the Docket services `up` started (the stack too with --stack).
    Down {
        /// Only these services (gateway, joiner, sink-s3, ...); all when none is named.
        services: Vec<String>,
        /// Also stop the stack services this state folder's `dev/stack up` started.
        #[arg(long)]
        stack: bool,
    },
    /// Show what runs where.
    Ps,
    /// Drive a mixed workload through the gateway (allowed, denied, redacted, routed), edit
    /// a policy midway, then run `verify`.
    Demo {
        /// Rounds of four requests.
        #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=10_000))]
        rounds: u32,
        /// How `verify` runs at the end.
        #[command(flatten)]
        verify: verify::VerifyArgs,
    },
    /// Send a request a guardrail denies and toggle a model; wait for both records in every
    /// enabled destination and check their fields. Non-zero exit on any miss.
    Verify(verify::VerifyArgs),
    /// Show the decisions of one request and their joined policy change, from the
    /// enriched topic.
    Find(find::FindArgs),
    /// Per consumer group (the joiner and each sink): members, lag per partition, the time of
    /// the last committed record, dead-letter topic size.
    Status {
        /// Text or JSON.
        #[arg(long, value_enum, default_value_t)]
        output: ui::Output,
    },
    /// Move one sink's group to a time, earliest, latest or the offsets of a file, so it
    /// delivers that range again; refused while the sink runs.
    Replay(replay::ReplayArgs),
    /// Check each hop to a destination (name resolution, TCP, transport, credential), and
    /// Kafka and the registry; names the failing hop.
    Doctor {
        /// The sink whose destination is checked (s3, splunk, datadog, otlp).
        sink: String,
    },
}

/// Runs one command.
pub async fn run(cli: Cli) -> Result<(), CliError> {
    let local = Local::from_env()?;
    match cli.command {
        Cmd::Up => up::run(&local).await,
        Cmd::Down { services, stack } => down::run(&local, &services, stack),
        Cmd::Demo { rounds, verify } => demo::run(&local, rounds, verify).await,
        Cmd::Verify(args) => verify::run(&local, args).await,
        Cmd::Find(args) => find::run(&local, args).await,
        Cmd::Status { output } => status::run(&local, output).await,
        Cmd::Replay(args) => replay::run(&local, args).await,
        Cmd::Doctor { sink } => doctor::run(&local, &sink).await,
        Cmd::Ps => {
            print!("{}", ps::render(&local).await?);
            Ok(())
        }
    }
}
