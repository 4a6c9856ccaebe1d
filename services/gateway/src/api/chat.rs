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
use std::sync::Arc;
use std::time::Instant;

use axum::Json;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use docket_records::{
    Caller as RecordCaller, Decision, Micros, ModelRoute, Stage, Verdict, event_id,
};
use serde_json::{Value, json};

use super::error::ApiError;
use super::extract::{Caller, Payload, Recording, reject};
use super::{sse, validate};
use crate::App;
use crate::names::error_type;
use crate::policy::routing::Route;
use crate::policy::{Outcome, RequestContext};
use crate::publish::Item;
use crate::store::{ApiKey, Snapshot};
use crate::trace::TraceContext;

/// Records the duration of every chat request, refusals included.
pub async fn timed(State(app): State<Arc<App>>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let response = next.run(req).await;
    app.metrics
        .request_latency
        .observe(started.elapsed().as_secs_f64());
    response
}

/// Handles one chat request; the extractors have checked recording, key and body size.
pub async fn handle(
    State(app): State<Arc<App>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    axum::Extension(trace): axum::Extension<TraceContext>,
    _: Recording,
    Caller(key): Caller,
    Payload(bytes): Payload,
) -> Result<Response, ApiError> {
    let mut body = parse(&app, &bytes)?;
    let streaming = sse::requested(&mut body);
    let snapshot = app.store.snapshot();
    let requested = check_model(&app, &snapshot, &key, &body)?;
    let ctx = RequestContext {
        api_key_id: &key.id,
        user: key.user.as_deref(),
        team: key.team.as_deref(),
        model: &requested,
    };
    let mut route = Route {
        model: requested.clone(),
        provider: None,
        max_tokens: body.get("max_tokens").and_then(Value::as_u64),
    };
    let outcome = snapshot
        .policies
        .evaluate_request(&ctx, &mut body, &mut route);
    let provider = provider_of(&snapshot, &route, &requested);
    let denied = outcome.verdict == Verdict::Deny;
    let recorder = Recorder {
        app: &app,
        trace: &trace,
        revision: snapshot.policies.revision,
        caller: caller_of(&key, peer),
        model: ModelRoute {
            requested: requested.clone(),
            routed: (!denied).then(|| route.model.clone()),
            provider: (!denied).then(|| provider.clone()),
        },
    };
    recorder.record(Stage::Request, &outcome);
    if denied {
        return Err(deny(&app, &outcome));
    }
    let upstream = Upstream {
        route: &route,
        provider: &provider,
        trace: &trace,
    };
    let mut answer = call_upstream(&app, &snapshot, upstream, body).await?;
    let after = snapshot.policies.evaluate_response(&ctx, &mut answer);
    if after.verdict != Verdict::Allow {
        recorder.record(Stage::Response, &after);
    }
    if after.verdict == Verdict::Deny {
        return Err(deny(&app, &after));
    }
    count(&app, outcome.verdict.max(after.verdict));
    if streaming {
        return Ok(sse::response(&answer));
    }
    Ok(Json(answer).into_response())
}

fn provider_of(snapshot: &Snapshot, route: &Route, requested: &str) -> String {
    route
        .provider
        .clone()
        .or_else(|| {
            snapshot
                .models
                .get(&route.model)
                .map(|m| m.provider.clone())
        })
        .or_else(|| snapshot.models.get(requested).map(|m| m.provider.clone()))
        .unwrap_or_default()
}

/// The body as JSON in the OpenAI request shape.
fn parse(app: &App, bytes: &[u8]) -> Result<Value, ApiError> {
    let value: Value = serde_json::from_slice(bytes).map_err(|e| {
        let message = format!("the body is not valid JSON: {e}");
        reject(app, "malformed", ApiError::invalid(message))
    })?;
    validate::request(&value).map_err(|e| reject(app, "malformed", ApiError::invalid(e)))?;
    Ok(value)
}

fn check_model(
    app: &App,
    snapshot: &Snapshot,
    key: &ApiKey,
    body: &Value,
) -> Result<String, ApiError> {
    let requested = body["model"].as_str().unwrap_or_default().to_owned();
    let refuse = |reason, status, kind, message: String| {
        reject(app, reason, ApiError::new(status, kind, message))
    };
    let Some(model) = snapshot.models.get(&requested) else {
        let message = "the requested model does not exist".to_owned();
        return Err(refuse(
            "unknown_model",
            StatusCode::NOT_FOUND,
            error_type::MODEL_NOT_FOUND,
            message,
        ));
    };
    if !model.enabled {
        let message = format!("model '{requested}' is disabled");
        return Err(refuse(
            "model_disabled",
            StatusCode::FORBIDDEN,
            error_type::MODEL_NOT_ALLOWED,
            message,
        ));
    }
    if !key.allows(&requested) {
        let message = format!("this key may not use model '{requested}'");
        return Err(refuse(
            "model_not_allowed",
            StatusCode::FORBIDDEN,
            error_type::MODEL_NOT_ALLOWED,
            message,
        ));
    }
    Ok(requested)
}

/// Where a request goes upstream.
struct Upstream<'a> {
    route: &'a Route,
    provider: &'a str,
    trace: &'a TraceContext,
}

async fn call_upstream(
    app: &App,
    snapshot: &Snapshot,
    to: Upstream<'_>,
    mut body: Value,
) -> Result<Value, ApiError> {
    let Upstream {
        route,
        provider,
        trace,
    } = to;
    let upstream_error = |message: String| {
        let e = ApiError::new(StatusCode::BAD_GATEWAY, error_type::UPSTREAM, message);
        reject(app, "upstream", e)
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
    let traceparent = trace.traceparent();
    app.upstreams
        .complete(p, &body, &traceparent)
        .await
        .map_err(|e| {
            tracing::warn!(error = %e, "upstream call failed");
            upstream_error(e.to_string())
        })
}

/// What every decision of one request shares.
struct Recorder<'a> {
    app: &'a App,
    trace: &'a TraceContext,
    revision: i64,
    caller: RecordCaller,
    model: ModelRoute,
}

impl Recorder<'_> {
    /// Records the decision of `stage`.
    fn record(&self, stage: Stage, outcome: &Outcome) {
        let decision = Decision {
            event_id: event_id(),
            correlation_id: self.trace.trace_id.clone(),
            time: Micros::now(),
            gateway_instance: self.app.config.instance.clone(),
            stage,
            verdict: outcome.verdict,
            policy: outcome.policy.clone(),
            policy_set_version: self.revision,
            actions: outcome.actions.clone(),
            caller: self.caller.clone(),
            model: self.model.clone(),
        };
        tracing::info!(
            event_id = %decision.event_id,
            stage = ?stage,
            verdict = ?outcome.verdict,
            policy = outcome.policy.as_ref().map(|p| p.id.as_str()).unwrap_or("-"),
            "decision"
        );
        self.app.publisher.submit(Item::Decision(decision));
    }
}

fn caller_of(key: &ApiKey, peer: SocketAddr) -> RecordCaller {
    RecordCaller {
        api_key_id: key.id.clone(),
        user: key.user.clone(),
        team: key.team.clone(),
        source_ip: Some(peer.ip().to_string()),
    }
}

fn deny(app: &App, outcome: &Outcome) -> ApiError {
    count(app, Verdict::Deny);
    let policy_id = outcome.policy.as_ref().map(|p| p.id.clone());
    let message = outcome
        .denial
        .clone()
        .unwrap_or_else(|| "denied by policy".to_owned());
    ApiError::new(StatusCode::FORBIDDEN, error_type::POLICY_DENIED, message)
        .with("policy_id", json!(policy_id))
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
