//! Every name the gateway shares with the outside: environment variables, HTTP headers and
//! paths, error types, audit actions and resource kinds.

/// Environment variable names (the last configuration layer); declared with their defaults
/// and help in [`crate::config::vars`].
pub mod env {
    use crate::config::vars;

    /// See [`vars::CONFIG_FILE`].
    pub const CONFIG_FILE: &str = vars::CONFIG_FILE.name;
    /// See [`vars::LISTEN`].
    pub const LISTEN: &str = vars::LISTEN.name;
    /// See [`vars::INSTANCE`].
    pub const INSTANCE: &str = vars::INSTANCE.name;
    /// See [`vars::DECISIONS_TOPIC`].
    pub const DECISIONS_TOPIC: &str = vars::DECISIONS_TOPIC.name;
    /// See [`vars::AUDIT_TOPIC`].
    pub const AUDIT_TOPIC: &str = vars::AUDIT_TOPIC.name;
    /// See [`vars::STATE_DIR`].
    pub const STATE_DIR: &str = vars::STATE_DIR.name;
    /// See [`vars::SPOOL_MAX_BYTES`].
    pub const SPOOL_MAX_BYTES: &str = vars::SPOOL_MAX_BYTES.name;
    /// See [`vars::ON_SPOOL_FULL`].
    pub const ON_SPOOL_FULL: &str = vars::ON_SPOOL_FULL.name;
    /// See [`vars::MAX_BODY_BYTES`].
    pub const MAX_BODY_BYTES: &str = vars::MAX_BODY_BYTES.name;
    /// See [`vars::DELIVERY_TIMEOUT`].
    pub const DELIVERY_TIMEOUT: &str = vars::DELIVERY_TIMEOUT.name;
    /// See [`vars::UPSTREAM_TIMEOUT`].
    pub const UPSTREAM_TIMEOUT: &str = vars::UPSTREAM_TIMEOUT.name;
    /// See [`vars::HEADER_READ_TIMEOUT`].
    pub const HEADER_READ_TIMEOUT: &str = vars::HEADER_READ_TIMEOUT.name;
    /// See [`vars::BODY_READ_TIMEOUT`].
    pub const BODY_READ_TIMEOUT: &str = vars::BODY_READ_TIMEOUT.name;
    /// See [`vars::IDLE_TIMEOUT`].
    pub const IDLE_TIMEOUT: &str = vars::IDLE_TIMEOUT.name;
    /// See [`vars::MAX_CONNECTIONS`].
    pub const MAX_CONNECTIONS: &str = vars::MAX_CONNECTIONS.name;
    /// See [`vars::THREADS`].
    pub const THREADS: &str = vars::THREADS.name;
    /// See [`vars::SHUTDOWN_GRACE`].
    pub const SHUTDOWN_GRACE: &str = vars::SHUTDOWN_GRACE.name;
    /// See [`vars::PROVIDER_KEY_PREFIX`].
    pub const PROVIDER_KEY_PREFIX: &str = vars::PROVIDER_KEY_PREFIX.name;
    /// See [`vars::ADMIN_REFUSALS_PER_MINUTE`].
    pub const ADMIN_REFUSALS_PER_MINUTE: &str = vars::ADMIN_REFUSALS_PER_MINUTE.name;
}

/// HTTP headers.
pub mod header {
    /// The request's correlation id (its W3C trace id).
    pub const CORRELATION_ID: &str = "x-correlation-id";
    /// W3C trace context.
    pub const TRACEPARENT: &str = "traceparent";
    /// Id of an admin API request (the audit record's `request_id`).
    pub const REQUEST_ID: &str = "x-request-id";
    /// The scheme of the `Authorization` header (matched without regard to case).
    pub const BEARER_SCHEME: &str = "Bearer";
}

/// HTTP paths.
pub mod path {
    /// The chat completions endpoint.
    pub const CHAT: &str = "/v1/chat/completions";
    /// Prefix of the admin API.
    pub const ADMIN_PREFIX: &str = "/admin/v1/";
    /// Policies: list (GET), create (POST).
    pub const ADMIN_POLICIES: &str = "/admin/v1/policies";
    /// One policy: read (GET), replace (PUT), delete (DELETE).
    pub const ADMIN_POLICY: &str = "/admin/v1/policies/{id}";
    /// Enable a policy (POST).
    pub const ADMIN_POLICY_ENABLE: &str = "/admin/v1/policies/{id}/enable";
    /// Disable a policy (POST).
    pub const ADMIN_POLICY_DISABLE: &str = "/admin/v1/policies/{id}/disable";
    /// Models: list (GET).
    pub const ADMIN_MODELS: &str = "/admin/v1/models";
    /// Enable a model (POST).
    pub const ADMIN_MODEL_ENABLE: &str = "/admin/v1/models/{id}/enable";
    /// Disable a model (POST).
    pub const ADMIN_MODEL_DISABLE: &str = "/admin/v1/models/{id}/disable";
    /// Providers: list (GET).
    pub const ADMIN_PROVIDERS: &str = "/admin/v1/providers";
    /// One provider: change (PUT).
    pub const ADMIN_PROVIDER: &str = "/admin/v1/providers/{id}";
    /// Keys: list (GET), create (POST).
    pub const ADMIN_KEYS: &str = "/admin/v1/keys";
    /// Revoke a key (POST).
    pub const ADMIN_KEY_REVOKE: &str = "/admin/v1/keys/{id}/revoke";
    /// Prometheus metrics.
    pub const METRICS: &str = "/metrics";
    /// Liveness.
    pub const HEALTH: &str = "/healthz";
    /// Readiness.
    pub const READY: &str = "/readyz";
}

/// `error.type` values of JSON error answers.
pub mod error_type {
    /// A policy denied the request.
    pub const POLICY_DENIED: &str = "policy_denied";
    /// Missing, unknown or revoked API key, or a bad admin token.
    pub const INVALID_API_KEY: &str = "invalid_api_key";
    /// The caller's role does not allow the call.
    pub const FORBIDDEN: &str = "forbidden";
    /// The body is not a valid request.
    pub const INVALID_REQUEST: &str = "invalid_request_error";
    /// The body is larger than allowed.
    pub const TOO_LARGE: &str = "request_too_large";
    /// The model is not configured.
    pub const MODEL_NOT_FOUND: &str = "model_not_found";
    /// The model is disabled or not allowed for the key.
    pub const MODEL_NOT_ALLOWED: &str = "model_not_allowed";
    /// The upstream failed.
    pub const UPSTREAM: &str = "upstream_error";
    /// The gateway cannot record decisions (spool full, fail-closed).
    pub const UNAVAILABLE: &str = "service_unavailable";
    /// No such route or resource.
    pub const NOT_FOUND: &str = "not_found";
    /// The resource exists already.
    pub const CONFLICT: &str = "conflict";
    /// The method is not allowed on this path (see `Allow`).
    pub const METHOD_NOT_ALLOWED: &str = "method_not_allowed";
    /// The request did not arrive in time.
    pub const TIMEOUT: &str = "request_timeout";
    /// Too many refused calls from this address.
    pub const RATE_LIMITED: &str = "rate_limit_exceeded";
}

/// Resource kinds of the admin API and the audit stream.
pub mod resource {
    /// A policy.
    pub const POLICY: &str = "policy";
    /// A model.
    pub const MODEL: &str = "model";
    /// An upstream provider.
    pub const PROVIDER: &str = "provider";
    /// An API key.
    pub const KEY: &str = "key";
}

/// Verbs of audit actions (`<resource>.<verb>`).
pub mod verb {
    /// Created.
    pub const CREATE: &str = "create";
    /// Replaced or changed.
    pub const UPDATE: &str = "update";
    /// Deleted.
    pub const DELETE: &str = "delete";
    /// Enabled.
    pub const ENABLE: &str = "enable";
    /// Disabled.
    pub const DISABLE: &str = "disable";
    /// Revoked.
    pub const REVOKE: &str = "revoke";
}

/// Redaction entity types as recorded in decisions.
pub mod entity {
    /// An e-mail address.
    pub const EMAIL: &str = "email";
    /// A payment card number passing the Luhn check.
    pub const CARD_NUMBER: &str = "card_number";
    /// A phone number.
    pub const PHONE: &str = "phone";
    /// A secret that looks like an API key.
    pub const API_KEY: &str = "api_key";
}

/// Name of the built-in deterministic provider.
pub const ECHO_PROVIDER: &str = "echo";
/// Actor type of administrators.
pub const ACTOR_USER: &str = "user";
/// Actor id and role recorded when a call carries no valid admin token.
pub const ANONYMOUS: &str = "anonymous";
