//! Why an HTTP sink stopped: one error type for every sink whose start is settings, a client,
//! a start-up check and the delivery engine.

use docket_delivery::{ConfigError, EngineError};
use thiserror::Error;

use crate::{BuildError, ProbeError};

/// Why the sink stopped.
#[derive(Debug, Error)]
pub enum RunError {
    /// A setting is invalid.
    #[error("invalid setting {0}")]
    Config(#[from] ConfigError),
    /// The HTTP client for `hop` cannot be built (CA file, TLS settings).
    #[error("{hop}: {source}")]
    Client {
        /// The destination the client is for.
        hop: &'static str,
        /// Why.
        #[source]
        source: BuildError,
    },
    /// The start-up check failed: unreachable, transport mismatch or credentials refused.
    #[error("start-up check failed: {0}")]
    Check(#[from] ProbeError),
    /// The engine stopped.
    #[error(transparent)]
    Engine(#[from] EngineError),
}

impl RunError {
    /// A client for `hop` that cannot be built.
    pub fn client(hop: &'static str) -> impl FnOnce(BuildError) -> Self {
        move |source| Self::Client { hop, source }
    }
}
