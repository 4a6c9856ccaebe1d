//! The start-up check: `GET /services/collector/health` proves the endpoint is reachable and
//! speaks the URL's transport, then one authenticated empty request proves the token (HEC
//! answers code 5, "No data", to a token it accepts). Each failure is its own one-line error:
//! unreachable, TLS/transport mismatch, or token refused.

use docket_sink_http::{Probe, ProbeError, body_prefix};
use reqwest::Client;
use reqwest::header::AUTHORIZATION;

use crate::config::HecConfig;
use crate::send::{Answer, CHANNEL, EVENT_PATH, HOP, MAX_ANSWER, authorization};

/// The health endpoint, relative to the base URL.
const HEALTH_PATH: &str = "/services/collector/health";
/// HEC's "No data" code: the token passed, the (empty) request had nothing to index.
const NO_DATA: i64 = 5;

/// Checks that HEC is reachable, speaks the URL's transport and accepts the token.
pub async fn check(client: &Client, config: &HecConfig) -> Result<(), ProbeError> {
    let probe = Probe::new(HOP, &config.url);
    let health = client
        .get(crate::endpoint(&config.url, HEALTH_PATH))
        .send()
        .await
        .map_err(|e| probe.failure(e))?;
    if !health.status().is_success() {
        // Some deployments hide the health endpoint or report busy; the token check decides.
        tracing::warn!(status = %health.status(), "HEC health endpoint did not answer healthy");
    }
    let answer = client
        .post(crate::endpoint(&config.url, EVENT_PATH))
        .header(AUTHORIZATION, authorization(config))
        .header(CHANNEL, &config.channel)
        .body("")
        .send()
        .await
        .map_err(|e| probe.failure(e))?;
    let status = answer.status();
    let body = body_prefix(answer, MAX_ANSWER).await.unwrap_or_default();
    let body = String::from_utf8_lossy(&body);
    match Answer::parse(body.as_bytes()).and_then(|a| a.code.map(|c| (c, a.text))) {
        Some((0 | NO_DATA, _)) => Ok(()),
        Some((1..=4, text)) => Err(ProbeError::credential(HOP, status, &text)),
        _ => probe.answer(status, &body),
    }
}
