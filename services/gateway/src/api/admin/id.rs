//! The one id grammar of policies, keys, models and providers: 1 to 64 ASCII characters,
//! letters, digits, `.`, `_`, `:` and `-`, starting with a letter or a digit
//! (`^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$`). Such an id needs no escaping in a URL path, a
//! Kafka key or a log line, and cannot hide text (no spaces, controls or bidirectional
//! marks). Path ids are percent-decoded once (by the router) and checked before anything
//! is authenticated or audited, so a refused id never reaches an audit record.

use std::sync::Arc;

use axum::extract::{FromRequestParts, Path};
use axum::http::request::Parts;

use crate::App;
use crate::api::error::ApiError;

/// Longest id.
pub const MAX_LEN: usize = 64;

/// What an invalid id is told, without repeating it.
pub const GRAMMAR: &str =
    "ids are 1 to 64 characters of A-Z a-z 0-9 . _ : - starting with a letter or digit";

/// Whether `id` follows the grammar.
pub fn valid(id: &str) -> bool {
    let mut bytes = id.bytes();
    let first_ok = bytes.next().is_some_and(|b| b.is_ascii_alphanumeric());
    first_ok
        && id.len() <= MAX_LEN
        && bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'))
}

/// A valid id from the request path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Id(pub String);

impl FromRequestParts<Arc<App>> for Id {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &Arc<App>) -> Result<Self, ApiError> {
        let id = Path::<String>::from_request_parts(parts, app).await.ok();
        match id {
            Some(Path(id)) if valid(&id) => Ok(Id(id)),
            _ => {
                app.metrics
                    .admin_refused
                    .with_label_values(&["invalid_id"])
                    .inc();
                Err(ApiError::invalid(format!(
                    "the id in the path is not valid: {GRAMMAR}"
                )))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_plain_ids_and_refuses_hostile_ones() {
        for ok in [
            "pii",
            "key-alice",
            "gpt-4o",
            "llama3:8b",
            "a",
            "A.b_c-1",
            &"x".repeat(64),
        ] {
            assert!(valid(ok), "{ok}");
        }
        for bad in [
            "",
            "-lead",
            ".hidden",
            "has space",
            "q?x",
            "frag#x",
            "new\nline",
            "nul\0",
            "slash/x",
            "rtl\u{202e}gpj.exe",
            "zero\u{200b}width",
            "ｆｕｌｌ",
            "é",
            &"x".repeat(65),
            &"y".repeat(100_000),
        ] {
            assert!(!valid(bad), "{bad:?}");
        }
    }
}
