//! The one configuration error: which variable (or field) is at fault, what is wrong, and the
//! underlying error where there is one.

use std::error::Error as StdError;
use std::sync::Arc;

use thiserror::Error;

/// A setting that cannot be used.
#[derive(Debug, Clone, Error)]
#[error("{field}: {reason}")]
pub struct ConfigError {
    /// The environment variable (or configuration field) at fault.
    pub field: String,
    /// What is wrong.
    pub reason: String,
    /// The underlying error, where there is one.
    #[source]
    pub source: Option<Arc<dyn StdError + Send + Sync>>,
}

impl ConfigError {
    /// An error about `field` with no underlying error.
    pub fn new(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            reason: reason.into(),
            source: None,
        }
    }

    /// An error about `field` caused by `source`.
    pub fn with_source(
        field: impl Into<String>,
        reason: impl Into<String>,
        source: impl StdError + Send + Sync + 'static,
    ) -> Self {
        Self {
            source: Some(Arc::new(source)),
            ..Self::new(field, reason)
        }
    }

    /// The variable at fault (same as `field`).
    pub fn variable(&self) -> &str {
        &self.field
    }
}

/// Two errors are equal when they name the same field for the same reason.
impl PartialEq for ConfigError {
    fn eq(&self, other: &Self) -> bool {
        self.field == other.field && self.reason == other.reason
    }
}

impl Eq for ConfigError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_message_names_the_variable_and_the_source_is_kept() {
        let cause = "x".parse::<u32>().unwrap_err();
        let e = ConfigError::with_source("DOCKET_X", "expected a number", cause);
        assert_eq!(e.to_string(), "DOCKET_X: expected a number");
        assert!(e.source().is_some());
        assert_eq!(e.variable(), "DOCKET_X");
    }
}
