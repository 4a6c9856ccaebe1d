//! The one error answer of the gateway: chat, admin and routing refusals all render as an
//! OpenAI-style body `{"error": {"type", "message", "correlation_id", ...}}` with their status.
//! The correlation id comes from the request's scope (see [`super::context`]), so an error can
//! be built anywhere in the request's task, extractors included.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use crate::names::error_type;

tokio::task_local! {
    /// The correlation id of the request being served on this task.
    pub static CORRELATION_ID: String;
}

/// The correlation id of the current request, empty outside a request.
pub fn correlation_id() -> String {
    CORRELATION_ID.try_with(Clone::clone).unwrap_or_default()
}

/// A refusal or failure, rendered as an OpenAI-style error body.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// `error.type`.
    pub kind: &'static str,
    /// `error.message`: never a copy of request values.
    pub message: String,
    /// Further fields of `error` (e.g. `policy_id`).
    pub extra: Map<String, Value>,
}

impl ApiError {
    /// An error of `kind` with `status`.
    pub fn new(status: StatusCode, kind: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            kind,
            message: message.into(),
            extra: Map::new(),
        }
    }

    /// 400 `invalid_request_error`.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            error_type::INVALID_REQUEST,
            message,
        )
    }

    /// 404 `not_found`.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, error_type::NOT_FOUND, message)
    }

    /// 503 `service_unavailable`.
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            error_type::UNAVAILABLE,
            message,
        )
    }

    /// Adds a field to the `error` object.
    pub fn with(mut self, field: &str, value: Value) -> Self {
        self.extra.insert(field.to_owned(), value);
        self
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut error = self.extra;
        error.insert("type".to_owned(), json!(self.kind));
        error.insert("message".to_owned(), json!(self.message));
        error.insert("correlation_id".to_owned(), json!(correlation_id()));
        (self.status, Json(json!({ "error": error }))).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn renders_the_openai_shape_with_the_scoped_correlation_id() {
        let response = CORRELATION_ID
            .scope("abc".to_owned(), async {
                ApiError::not_found("no such route")
                    .with("policy_id", json!("p"))
                    .into_response()
            })
            .await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
        let bytes = axum::body::to_bytes(response.into_body(), 1024)
            .await
            .unwrap();
        let body: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(
            body,
            json!({"error": {"type": "not_found", "message": "no such route",
                             "correlation_id": "abc", "policy_id": "p"}})
        );
    }
}
