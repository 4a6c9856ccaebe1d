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

    /// Sends `body` (with its `model` already set to the upstream model) to `provider`.
    pub async fn complete(
        &self,
        provider: &Provider,
        body: &Value,
    ) -> Result<Value, UpstreamError> {
        match provider.kind {
            ProviderKind::Echo => Ok(echo::answer(body)),
            ProviderKind::Openai => openai::complete(&self.client, provider, body).await,
        }
    }
}
