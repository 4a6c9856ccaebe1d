//! The state the admin API manages, besides policies: models, providers and API keys.

use serde::{Deserialize, Serialize};

/// A model callers may ask for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Model {
    /// Name callers use in `model`.
    pub name: String,
    /// Provider that serves it.
    pub provider: String,
    /// Model name sent upstream (defaults to `name`).
    #[serde(default)]
    pub upstream_model: Option<String>,
    /// Disabled models are refused.
    #[serde(default = "yes")]
    pub enabled: bool,
}

/// An upstream provider.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Provider {
    /// Name models refer to.
    pub name: String,
    /// `echo` (built in, no network) or `openai` (OpenAI-compatible, by base URL).
    pub kind: ProviderKind,
    /// Base URL of an OpenAI-compatible API (e.g. `https://api.example.com/v1`).
    #[serde(default)]
    pub base_url: Option<String>,
    /// Name of the environment variable holding its API key (the key itself is never stored).
    #[serde(default)]
    pub api_key_env: Option<String>,
}

/// Kinds of upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProviderKind {
    /// Deterministic answers without network.
    Echo,
    /// An OpenAI-compatible HTTP API.
    Openai,
}

/// An API key; only the digest of its secret is kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiKey {
    /// Public id, recorded in decisions.
    pub id: String,
    /// Lowercase hex SHA-256 of the secret.
    pub secret_sha256: String,
    /// User behind the key.
    #[serde(default)]
    pub user: Option<String>,
    /// Team owning the key.
    #[serde(default)]
    pub team: Option<String>,
    /// Models it may use (`*`: all).
    #[serde(default)]
    pub models: Vec<String>,
    /// Revoked keys are refused.
    #[serde(default)]
    pub revoked: bool,
}

/// What `models: ["*"]` means.
pub const ANY_MODEL: &str = "*";

impl ApiKey {
    /// Whether the key may ask for `model`.
    pub fn allows(&self, model: &str) -> bool {
        self.models.iter().any(|m| m == model || m == ANY_MODEL)
    }
}

fn yes() -> bool {
    true
}
