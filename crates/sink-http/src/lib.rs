//! What Docket's HTTP sinks (Splunk HEC, Datadog, OTLP) and the CLI's `doctor` share, so each
//! sink is only its own encoding and answer codes:
//!
//! - [`client`]: a reqwest client over rustls with TLS verification on, an optional CA file, an
//!   explicit `insecure` switch that logs a warning, and timeouts ([`ClientOptions`]);
//! - [`retry_after`]: the `Retry-After` header in seconds or as an HTTP date, capped at
//!   [`MAX_RETRY_AFTER`] so a receiver cannot park a sink;
//! - [`Level`]: a record's log level, one mapping for every log destination;
//! - [`transport_error`] and [`status_error`]: failures mapped onto the delivery engine's
//!   [`SendError`](docket_delivery::SendError) (timeouts, connection errors, 408, 429 and 5xx
//!   retry; 401 and 403 are a refused credential);
//! - [`BodyWriter`]: a request body written piece by piece, then compressed at once; [`gzip`]:
//!   a body that is one buffer already (libdeflate, one level for every sink);
//!   [`body_prefix`]: at most so many bytes of an answer;
//! - [`Probe`] and [`ProbeError`]: a start-up check that tells apart an unreachable endpoint, a
//!   TLS/transport mismatch and a refused credential, each a one-line error naming the hop;
//! - [`RunError`]: why a sink stopped (settings, client, start-up check, engine);
//! - [`Secret`]: a token whose `Debug` and `Display` never show it.

mod body;
mod client;
mod failure;
mod level;
mod probe;
mod run;
mod secret;

pub use body::{BodyWriter, GZIP_LEVEL, gzip};
pub use client::{BuildError, ClientOptions, client};
pub use failure::{MAX_RETRY_AFTER, body_prefix, retry_after, status_error, transport_error};
pub use level::Level;
pub use probe::{Probe, ProbeError};
pub use run::RunError;
pub use secret::{Secret, SecretError};
