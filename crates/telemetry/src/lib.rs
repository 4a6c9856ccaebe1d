//! What every Docket service shares for operations: the `/metrics`, `/healthz` and `/readyz`
//! endpoint, the one shutdown signal (SIGTERM or Ctrl-C), the one log set-up (text or JSON
//! lines, [`init_logging`]), the one way to wait out an unavailable dependency (backoff with
//! full jitter, cut short by shutdown), and what every binary's `main` does
//! ([`service_main`]).

mod endpoint;
mod logging;
mod memory;
mod retry;
mod service;
mod shutdown;

pub use endpoint::{Endpoint, EndpointError, Health, METRICS_CONTENT_TYPE, metrics_text, serve};
pub use logging::{LOG_FORMAT, LOG_VARS, LogFormat, init_logging};
pub use retry::{Backoff, Interrupted, wait_out};
pub use service::service_main;
pub use shutdown::{Shutdown, Trigger};
