//! OpenAI-compatible providers: `POST {base_url}/chat/completions` with the provider's key
//! and the request's W3C `traceparent`.

use serde_json::Value;

use super::UpstreamError;
use crate::names::header::TRACEPARENT;
use crate::store::Provider;

const COMPLETIONS: &str = "/chat/completions";

/// Calls the provider and returns its JSON answer.
pub async fn complete(
    client: &reqwest::Client,
    provider: &Provider,
    body: &Value,
    traceparent: &str,
) -> Result<Value, UpstreamError> {
    let call = |reason: String| UpstreamError::Call {
        provider: provider.name.clone(),
        reason,
    };
    let base = provider
        .base_url
        .as_deref()
        .ok_or_else(|| UpstreamError::Config {
            provider: provider.name.clone(),
            reason: "no base_url".to_owned(),
        })?;
    let url = format!("{}{COMPLETIONS}", base.trim_end_matches('/'));
    let mut request = client
        .post(url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header(TRACEPARENT, traceparent)
        .body(serde_json::to_vec(body).expect("JSON serializes"));
    if let Some(var) = &provider.api_key_env
        && let Ok(key) = std::env::var(var)
    {
        request = request.bearer_auth(key);
    }
    let response = request
        .send()
        .await
        .map_err(|e| call(e.without_url().to_string()))?;
    let status = response.status();
    let bytes = response.bytes().await.map_err(|e| call(e.to_string()))?;
    if !status.is_success() {
        return Err(call(format!("answered {status}")));
    }
    serde_json::from_slice(&bytes).map_err(|e| call(format!("answer is not JSON: {e}")))
}
