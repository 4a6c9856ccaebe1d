//! Docket's configuration kit: every binary declares the environment variables it reads
//! ([`Var`]: name, default, one line of help), reads them through typed readers on [`Vars`]
//! (text, optional, required, numbers, flags, sizes, durations), reports one error type that
//! names the variable ([`ConfigError`]), and prints them all with `--help` ([`Help`]).
//!
//! One unit convention: durations are humantime (`250ms`, `5s`, `30d`), sizes are bytes with
//! an optional binary or decimal unit (`16MiB`, `512KiB`, `1000`). A variable renamed to the
//! convention keeps its old name (`..._MS`, `..._SECS`) for one release: it is still read,
//! with a logged warning naming the new one.
//!
//! Why not clap's `env` support: clap reads the process environment only, while the services
//! take their variables as a map so that tests and embedding programs configure them without
//! touching the process environment (setting it is `unsafe` in edition 2024, and the workspace
//! forbids `unsafe`); and the variables come in families (`DOCKET_KAFKA_PROP_<NAME>`), old
//! names and defaults that depend on other variables, which clap's flags do not model. A
//! binary's `--help` prints the same information clap would: every variable, its default and
//! its help, from the same declarations the readers use.

mod docs;
mod error;
mod help;
mod parse;
mod var;

pub use docs::check_documented;
pub use error::ConfigError;
pub use help::Help;
pub use parse::{parse_duration, parse_flag, parse_size};
pub use var::{Default, OldName, Var, Vars};
