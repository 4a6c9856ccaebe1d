//! The start-up check: `GET /api/v1/validate` with the API key tells apart an unreachable
//! endpoint, a TLS/transport mismatch and a refused key before anything is consumed.

use docket_sink_http::{Probe, ProbeError};

use crate::config::{DatadogConfig, VALIDATE_PATH};
use crate::send::{API_KEY_HEADER, detail};

/// The hop named by the check.
pub const HOP: &str = "Datadog API key validation";

/// Checks the key against the site's validation endpoint.
pub async fn api_key(client: &reqwest::Client, config: &DatadogConfig) -> Result<(), ProbeError> {
    let url = config
        .api_url
        .join(VALIDATE_PATH)
        .expect("a path joins onto a base URL");
    let probe = Probe::new(HOP, &url);
    let mut response = client
        .get(url)
        .header(API_KEY_HEADER, config.api_key.expose())
        .send()
        .await
        .map_err(|e| probe.failure(e))?;
    let status = response.status();
    let body = detail(&mut response).await;
    probe.answer(status, &body.replace(config.api_key.expose(), "[redacted]"))
}
