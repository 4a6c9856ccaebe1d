//! The joiner: consumes gateway decisions in the `docket-joiner` group, joins each to the
//! policy edit that preceded it (from the audit topic, which every instance reads whole), and
//! writes enriched decisions exactly once, in Kafka transactions that carry the consumed
//! offsets.

mod audit;
mod commit;
pub mod config;
mod context;
mod error;
mod handle;
mod metrics;
mod output;
pub mod pending;
pub mod rule;
mod run;
pub mod table;

pub use config::JoinerConfig;

/// What `docket-joiner --help` prints: every variable the joiner reads.
pub const HELP: docket_config::Help<'static> = docket_config::Help {
    binary: "docket-joiner",
    about: "joins each gateway decision to the policy edit that preceded it, exactly once",
    sections: &[("Joiner", config::VARS), ("Kafka", docket_kafka::VARS)],
};
pub use error::JoinerError;
pub use run::run;
