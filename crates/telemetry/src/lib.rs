//! What every Docket service shares for operations: the `/metrics`, `/healthz` and `/readyz`
//! endpoint, the one shutdown signal (SIGTERM or Ctrl-C), and log set-up.

mod endpoint;
mod shutdown;

pub use endpoint::{Endpoint, EndpointError, Health, serve};
pub use shutdown::{Shutdown, Trigger, init_logging};
