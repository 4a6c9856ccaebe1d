//! Extractors of the chat route, in the order they run: [`Recording`] (the gateway can
//! record decisions), [`Caller`] (a valid, unrevoked API key) and [`Payload`] (the body,
//! within the size limit and the body-read timeout). Each refusal is counted in
//! `docket_gateway_rejected_total{reason}` and logged. [`bearer`] and [`read_body`] are
//! shared with the admin API, which must authenticate before it reads a body.

use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header::{AUTHORIZATION, CONTENT_LENGTH};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};

use super::error::ApiError;
use crate::App;
use crate::names::{error_type, header};
use crate::secret;
use crate::store::ApiKey;

/// The bearer token of `Authorization`; the scheme is matched without regard to case
/// (RFC 9110 §11.1), so `bearer` and `BEARER` work too.
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim_start().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case(header::BEARER_SCHEME) && !token.is_empty()).then_some(token)
}

/// Why a body could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyError {
    /// Larger than allowed.
    TooLarge,
    /// Not complete within the body-read timeout.
    Timeout,
    /// The connection failed.
    Read,
}

impl BodyError {
    /// The `rejected_total` reason.
    pub fn reason(self) -> &'static str {
        match self {
            BodyError::TooLarge => "too_large",
            BodyError::Timeout => "body_timeout",
            BodyError::Read => "unreadable",
        }
    }
}

impl From<BodyError> for ApiError {
    fn from(e: BodyError) -> Self {
        match e {
            BodyError::TooLarge => ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                error_type::TOO_LARGE,
                "the request body is larger than allowed",
            ),
            BodyError::Timeout => ApiError::new(
                StatusCode::REQUEST_TIMEOUT,
                error_type::TIMEOUT,
                "the request body did not arrive in time",
            ),
            BodyError::Read => ApiError::invalid("the request body could not be read"),
        }
    }
}

/// Reads the whole body: at most `max` bytes (a larger declared length is refused before
/// reading), complete within `timeout`.
pub async fn read_body(
    headers: &HeaderMap,
    body: Body,
    max: usize,
    timeout: Duration,
) -> Result<Bytes, BodyError> {
    let declared = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > max as u64) {
        return Err(BodyError::TooLarge);
    }
    match tokio::time::timeout(timeout, axum::body::to_bytes(body, max)).await {
        Err(_) => Err(BodyError::Timeout),
        Ok(Ok(bytes)) => Ok(bytes),
        Ok(Err(e)) if is_length_limit(&e) => Err(BodyError::TooLarge),
        Ok(Err(_)) => Err(BodyError::Read),
    }
}

fn is_length_limit(e: &axum::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(s) = source {
        if s.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        source = s.source();
    }
    false
}

/// Counts and logs a chat refusal.
pub fn reject(app: &App, reason: &'static str, error: impl Into<ApiError>) -> ApiError {
    let error = error.into();
    app.metrics.rejected.with_label_values(&[reason]).inc();
    tracing::info!(reason, status = error.status.as_u16(), "request rejected");
    error
}

/// The gateway can record decisions: refused with 503 while a full spool holds it closed.
#[derive(Debug, Clone, Copy)]
pub struct Recording;

impl FromRequestParts<Arc<App>> for Recording {
    type Rejection = ApiError;

    async fn from_request_parts(_: &mut Parts, app: &Arc<App>) -> Result<Self, ApiError> {
        if app.publisher.accepting() {
            return Ok(Recording);
        }
        Err(reject(
            app,
            "spool_full",
            ApiError::unavailable("decisions cannot be recorded right now; retry later"),
        ))
    }
}

/// The caller's valid, unrevoked API key.
#[derive(Debug, Clone)]
pub struct Caller(pub ApiKey);

impl FromRequestParts<Arc<App>> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &Arc<App>) -> Result<Self, ApiError> {
        let unauthorized = |reason, message: &str| {
            let e = ApiError::new(
                StatusCode::UNAUTHORIZED,
                error_type::INVALID_API_KEY,
                message,
            );
            reject(app, reason, e)
        };
        let presented = bearer(&parts.headers).ok_or_else(|| {
            unauthorized(
                "missing_key",
                "an API key is required: Authorization: Bearer <key>",
            )
        })?;
        let snapshot = app.store.snapshot();
        let key = snapshot
            .keys
            .iter()
            .find(|k| secret::matches(presented, &k.secret_sha256))
            .ok_or_else(|| unauthorized("invalid_key", "the API key is not valid"))?;
        if key.revoked {
            return Err(unauthorized("revoked_key", "the API key has been revoked"));
        }
        Ok(Caller(key.clone()))
    }
}

/// The request body, read within the configured size and time limits.
#[derive(Debug, Clone)]
pub struct Payload(pub Bytes);

impl FromRequest<Arc<App>> for Payload {
    type Rejection = ApiError;

    async fn from_request(req: Request, app: &Arc<App>) -> Result<Self, ApiError> {
        let (parts, body) = req.into_parts();
        let limits = &app.config.http;
        read_body(
            &parts.headers,
            body,
            app.config.max_body_bytes,
            limits.body_read_timeout,
        )
        .await
        .map(Payload)
        .map_err(|e| reject(app, e.reason(), e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn auth(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(AUTHORIZATION, HeaderValue::from_str(value).unwrap());
        h
    }

    #[test]
    fn the_bearer_scheme_is_case_insensitive_and_the_token_required() {
        assert_eq!(bearer(&auth("Bearer sk-1")), Some("sk-1"));
        assert_eq!(bearer(&auth("bearer sk-1")), Some("sk-1"));
        assert_eq!(bearer(&auth("BEARER  sk-1 ")), Some("sk-1"));
        assert_eq!(bearer(&auth("Basic sk-1")), None);
        assert_eq!(bearer(&auth("Bearer ")), None);
        assert_eq!(bearer(&auth("Bearersk-1")), None);
        assert_eq!(bearer(&HeaderMap::new()), None);
    }
}
