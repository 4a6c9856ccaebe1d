//! `POST /v1/chat/completions`: authenticate the key, read and check the request, evaluate
//! the request-stage policies (recording the decision), call the upstream unless denied,
//! evaluate the response-stage policies (recording a decision when one acted), answer.
//!
//! Refusals before policy evaluation (spool full in fail-closed mode, missing or revoked
//! key, oversized or malformed body, unknown, disabled or not-allowed model) are
//! counted in `docket_gateway_rejected_total{reason}` and logged with the correlation id, but
//! produce no decision record: no policy was evaluated, and the caller or model they would
//! name is unknown or unauthenticated.
//!
//! `stream: true` is served by [`super::sse`]: the upstream answer is taken whole, the
//! response-stage policies run on it, and only then is it streamed, so redaction holds.

use std::net::SocketAddr;
use std::time::Instant;

use docket_records::{Caller, Decision, Micros, ModelRoute, Stage, Verdict, samples};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use serde_json::{Value, json};

use super::{Body, BodyError, bearer, error, json_response, read_body, sse};
use crate::App;
use crate::names::error_type;
use crate::policy::routing::Route;
use crate::policy::{Outcome, RequestContext};
use crate::publish::Item;
use crate::secret;
use crate::store::{ApiKey, Snapshot};
use crate::trace::TraceContext;

/// Handles one chat request and records its duration.
pub async fn handle(
    app: &App,
    peer: SocketAddr,
    trace: &TraceContext,
    req: Request<Incoming>,
) -> Response<Body> {
    let started = Instant::now();
    let response = match serve(app, peer, trace, req).await {
        Ok(r) => r,
        Err(rejection) => rejection.answer(app, &trace.trace_id),
    };
    app.metrics
        .request_latency
        .observe(started.elapsed().as_secs_f64());
    response
}

/// A refusal before policy evaluation.
struct Rejection {
    reason: &'static str,
    status: StatusCode,
    kind: &'static str,
    message: String,
}

impl Rejection {
    fn new(
        reason: &'static str,
        status: StatusCode,
        kind: &'static str,
        message: impl Into<String>,
    ) -> Self {
        Self {
            reason,
            status,
            kind,
            message: message.into(),
        }
    }

    fn answer(self, app: &App, correlation_id: &str) -> Response<Body> {
        app.metrics.rejected.with_label_values(&[self.reason]).inc();
        tracing::info!(
            reason = self.reason,
            status = self.status.as_u16(),
            "request rejected"
        );
        error(self.status, self.kind, &self.message, correlation_id)
    }
}

async fn serve(
    app: &App,
    peer: SocketAddr,
    trace: &TraceContext,
    req: Request<Incoming>,
) -> Result<Response<Body>, Rejection> {
    if !app.publisher.accepting() {
        return Err(Rejection::new(
            "spool_full",
            StatusCode::SERVICE_UNAVAILABLE,
            error_type::UNAVAILABLE,
            "decisions cannot be recorded right now; retry later",
        ));
    }
    let snapshot = app.store.snapshot();
    let key = authenticate(&snapshot, req.headers())?.clone();
    let mut body = parse(read_body(req, app.config.max_body_bytes).await)?;
    let streaming = sse::requested(&mut body);
    let requested = check_model(&snapshot, &key, &body)?;
    let ctx = RequestContext {
        api_key_id: &key.id,
        user: key.user.as_deref(),
        team: key.team.as_deref(),
        model: &requested,
    };
    let caller = Caller {
        api_key_id: key.id.clone(),
        user: key.user.clone(),
        team: key.team.clone(),
        source_ip: Some(peer.ip().to_string()),
    };
    let mut route = Route {
        model: requested.clone(),
        provider: None,
        max_tokens: body.get("max_tokens").and_then(Value::as_u64),
    };
    let outcome = snapshot
        .policies
        .evaluate_request(&ctx, &mut body, &mut route);
    let provider = route
        .provider
        .clone()
        .or_else(|| {
            snapshot
                .models
                .get(&route.model)
                .map(|m| m.provider.clone())
        })
        .or_else(|| snapshot.models.get(&requested).map(|m| m.provider.clone()))
        .unwrap_or_default();
    let denied = outcome.verdict == Verdict::Deny;
    let model = ModelRoute {
        requested: requested.clone(),
        routed: (!denied).then(|| route.model.clone()),
        provider: (!denied).then(|| provider.clone()),
    };
    record(
        app,
        trace,
        Stage::Request,
        &outcome,
        snapshot.policies.revision,
        &caller,
        &model,
    );
    if denied {
        return Ok(deny(app, &outcome, &trace.trace_id));
    }
    let mut answer = match call_upstream(app, &snapshot, &route, &provider, body).await {
        Ok(a) => a,
        Err(r) => return Ok(r.answer(app, &trace.trace_id)),
    };
    let after = snapshot.policies.evaluate_response(&ctx, &mut answer);
    if after.verdict != Verdict::Allow {
        record(
            app,
            trace,
            Stage::Response,
            &after,
            snapshot.policies.revision,
            &caller,
            &model,
        );
    }
    if after.verdict == Verdict::Deny {
        return Ok(deny(app, &after, &trace.trace_id));
    }
    count(app, outcome.verdict.max(after.verdict));
    if streaming {
        return Ok(sse::response(&answer));
    }
    Ok(json_response(StatusCode::OK, &answer))
}

fn authenticate<'s>(
    snapshot: &'s Snapshot,
    headers: &hyper::HeaderMap,
) -> Result<&'s ApiKey, Rejection> {
    let unauthorized = |reason, message: &str| {
        Rejection::new(
            reason,
            StatusCode::UNAUTHORIZED,
            error_type::INVALID_API_KEY,
            message,
        )
    };
    let presented = bearer(headers).ok_or_else(|| {
        unauthorized(
            "missing_key",
            "an API key is required: Authorization: Bearer <key>",
        )
    })?;
    let key = snapshot
        .keys
        .iter()
        .find(|k| secret::matches(presented, &k.secret_sha256))
        .ok_or_else(|| unauthorized("invalid_key", "the API key is not valid"))?;
    if key.revoked {
        return Err(unauthorized("revoked_key", "the API key has been revoked"));
    }
    Ok(key)
}

fn parse(body: Result<hyper::body::Bytes, BodyError>) -> Result<Value, Rejection> {
    let bytes = body.map_err(|e| match e {
        BodyError::TooLarge => Rejection::new(
            "too_large",
            StatusCode::PAYLOAD_TOO_LARGE,
            error_type::TOO_LARGE,
            "the request body is larger than allowed",
        ),
        BodyError::Read => Rejection::new(
            "unreadable",
            StatusCode::BAD_REQUEST,
            error_type::INVALID_REQUEST,
            "the request body could not be read",
        ),
    })?;
    let invalid = |message: String| {
        Rejection::new(
            "malformed",
            StatusCode::BAD_REQUEST,
            error_type::INVALID_REQUEST,
            message,
        )
    };
    let value: Value = serde_json::from_slice(&bytes)
        .map_err(|e| invalid(format!("the body is not valid JSON: {e}")))?;
    if value
        .get("model")
        .and_then(Value::as_str)
        .is_none_or(str::is_empty)
    {
        return Err(invalid("'model' must be a non-empty string".to_owned()));
    }
    if value
        .get("messages")
        .and_then(Value::as_array)
        .is_none_or(Vec::is_empty)
    {
        return Err(invalid("'messages' must be a non-empty array".to_owned()));
    }
    Ok(value)
}

fn check_model(snapshot: &Snapshot, key: &ApiKey, body: &Value) -> Result<String, Rejection> {
    let requested = body["model"].as_str().unwrap_or_default().to_owned();
    let model = snapshot.models.get(&requested).ok_or_else(|| {
        Rejection::new(
            "unknown_model",
            StatusCode::NOT_FOUND,
            error_type::MODEL_NOT_FOUND,
            format!("model '{requested}' does not exist"),
        )
    })?;
    if !model.enabled {
        return Err(Rejection::new(
            "model_disabled",
            StatusCode::FORBIDDEN,
            error_type::MODEL_NOT_ALLOWED,
            format!("model '{requested}' is disabled"),
        ));
    }
    if !key.allows(&requested) {
        return Err(Rejection::new(
            "model_not_allowed",
            StatusCode::FORBIDDEN,
            error_type::MODEL_NOT_ALLOWED,
            format!("this key may not use model '{requested}'"),
        ));
    }
    Ok(requested)
}

async fn call_upstream(
    app: &App,
    snapshot: &Snapshot,
    route: &Route,
    provider: &str,
    mut body: Value,
) -> Result<Value, Rejection> {
    let upstream_error = |message: String| {
        Rejection::new(
            "upstream",
            StatusCode::BAD_GATEWAY,
            error_type::UPSTREAM,
            message,
        )
    };
    let upstream_model = snapshot
        .models
        .get(&route.model)
        .and_then(|m| m.upstream_model.clone())
        .unwrap_or_else(|| route.model.clone());
    body["model"] = Value::String(upstream_model);
    if let Some(cap) = route.max_tokens {
        body["max_tokens"] = json!(cap);
    }
    let p = snapshot
        .providers
        .get(provider)
        .ok_or_else(|| upstream_error(format!("provider '{provider}' is not configured")))?;
    app.upstreams.complete(p, &body).await.map_err(|e| {
        tracing::warn!(error = %e, "upstream call failed");
        upstream_error(e.to_string())
    })
}

fn record(
    app: &App,
    trace: &TraceContext,
    stage: Stage,
    outcome: &Outcome,
    revision: i64,
    caller: &Caller,
    model: &ModelRoute,
) {
    let decision = Decision {
        event_id: samples::event_id(),
        correlation_id: trace.trace_id.clone(),
        time: Micros::now(),
        gateway_instance: app.config.instance.clone(),
        stage,
        verdict: outcome.verdict,
        policy: outcome.policy.clone(),
        policy_set_version: revision,
        actions: outcome.actions.clone(),
        caller: caller.clone(),
        model: model.clone(),
    };
    tracing::info!(
        event_id = %decision.event_id,
        stage = ?stage,
        verdict = ?outcome.verdict,
        policy = outcome.policy.as_ref().map(|p| p.id.as_str()).unwrap_or("-"),
        "decision"
    );
    app.publisher.submit(Item::Decision(decision));
}

fn deny(app: &App, outcome: &Outcome, correlation_id: &str) -> Response<Body> {
    count(app, Verdict::Deny);
    let policy_id = outcome.policy.as_ref().map(|p| p.id.clone());
    json_response(
        StatusCode::FORBIDDEN,
        &json!({"error": {
            "type": error_type::POLICY_DENIED,
            "message": outcome.denial.clone().unwrap_or_else(|| "denied by policy".to_owned()),
            "policy_id": policy_id,
            "correlation_id": correlation_id,
        }}),
    )
}

fn count(app: &App, verdict: Verdict) {
    let label = match verdict {
        Verdict::Allow => "allow",
        Verdict::Modify => "modify",
        Verdict::Redact => "redact",
        Verdict::Deny => "deny",
    };
    app.metrics.requests.with_label_values(&[label]).inc();
}
