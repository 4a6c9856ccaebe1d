//! Upstream providers: the built-in deterministic `echo` and OpenAI-compatible HTTP APIs.

pub mod echo;
mod openai;

use std::time::Duration;

use serde_json::Value;
use thiserror::Error;

use crate::store::{Provider, ProviderKind};

/// An upstream call that failed.
#[derive(Debug, Error)]
pub enum UpstreamError {
    /// The provider is misconfigured.
    #[error("provider {provider}: {reason}")]
    Config {
        /// Provider name.
        provider: String,
        /// What is missing.
        reason: String,
    },
    /// The call failed or timed out.
    #[error("provider {provider}: {reason}")]
    Call {
        /// Provider name.
        provider: String,
        /// What happened.
        reason: String,
    },
}

/// Calls providers; one HTTP client shared by all of them.
#[derive(Debug, Clone)]
pub struct Upstreams {
    client: reqwest::Client,
}

impl Upstreams {
    /// A caller with `timeout` per call.
    pub fn new(timeout: Duration) -> Result<Self, reqwest::Error> {
        Ok(Self {
            client: reqwest::Client::builder().timeout(timeout).build()?,
        })
    }

    /// Sends `body` (with its `model` already set to the upstream model) to `provider`,
    /// with the W3C `traceparent` naming the gateway's span.
    pub async fn complete(
        &self,
        provider: &Provider,
        body: &Value,
        traceparent: &str,
    ) -> Result<Value, UpstreamError> {
        match provider.kind {
            ProviderKind::Echo => Ok(echo::answer(body)),
            ProviderKind::Openai => {
                openai::complete(&self.client, provider, body, traceparent).await
            }
        }
    }
}

/// Checks a provider's base URL: `http` or `https`, a host, and nothing that could carry a
/// credential (user information, a query or a fragment). The message never repeats the URL.
pub fn check_base_url(url: &str) -> Result<(), String> {
    let parsed = reqwest::Url::parse(url)
        .map_err(|_| "base_url: expected an http:// or https:// URL".to_owned())?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
        return Err("base_url: expected an http:// or https:// URL with a host".to_owned());
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err("base_url: credentials are not allowed in the URL; use api_key_env".to_owned());
    }
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return Err(
            "base_url: a query or fragment is not allowed; use api_key_env for keys".to_owned(),
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls_carry_no_credentials() {
        assert!(check_base_url("https://api.example.com/v1").is_ok());
        assert!(check_base_url("http://127.0.0.1:9/v1").is_ok());
        for bad in [
            "https://user:sk-secret@api.example.com/v1",
            "https://sk-secret@api.example.com/v1",
            "https://api.example.com/v1?api_key=sk-secret",
            "https://api.example.com/v1#sk-secret",
            "ftp://api.example.com/",
            "file:///etc/passwd",
            "not a url sk-secret",
        ] {
            let e = check_base_url(bad).expect_err(bad);
            assert!(!e.contains("sk-secret"), "{e}");
        }
    }
}
