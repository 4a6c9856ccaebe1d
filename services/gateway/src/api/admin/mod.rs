//! The admin API under `/admin/v1/`: policies, models, providers and keys, with roles
//! (`viewer` reads, `policy_admin` also edits policies, `super_admin` everything). Every
//! state-changing call emits exactly one audit record, whether it succeeded (SUCCESS), was
//! refused for its token or role (DENIED) or failed (FAILED), with two exceptions that
//! write nothing: an edit call while the audit stream cannot record (a full spool, in
//! fail-open mode too), answered 503 before its token is even checked, so no edit goes
//! unaudited and no refusal record is lost (counted in
//! `docket_gateway_admin_refused_total{reason="unavailable"}` and logged); and refusals
//! beyond a source address's budget (429, see [`limiter`]).
//! Path ids are checked against [`id`]'s grammar before anything else.

mod edit;
pub mod id;
pub mod limiter;

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use docket_records::{Actor, Audit, Micros, Outcome as AuditOutcome, Resource, event_id};
use tower_http::request_id::RequestId;

use super::error::ApiError;
use super::extract::{bearer, read_body};
use crate::App;
use crate::config::{Admin, Role};
use crate::names::{ACTOR_USER, ANONYMOUS, error_type, path, resource, verb};
use crate::publish::Item;
use crate::secret;
use edit::Done;
use id::Id;

/// One admin operation.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Op {
    ListPolicies,
    GetPolicy(String),
    CreatePolicy,
    UpdatePolicy(String),
    DeletePolicy(String),
    SetPolicy(String, bool),
    ListModels,
    SetModel(String, bool),
    ListProviders,
    UpdateProvider(String),
    ListKeys,
    CreateKey,
    RevokeKey(String),
}

impl Op {
    /// `(resource kind, verb)` of state-changing operations; `None` for reads.
    fn action(&self) -> Option<(&'static str, &'static str)> {
        Some(match self {
            Op::CreatePolicy => (resource::POLICY, verb::CREATE),
            Op::UpdatePolicy(_) => (resource::POLICY, verb::UPDATE),
            Op::DeletePolicy(_) => (resource::POLICY, verb::DELETE),
            Op::SetPolicy(_, true) => (resource::POLICY, verb::ENABLE),
            Op::SetPolicy(_, false) => (resource::POLICY, verb::DISABLE),
            Op::SetModel(_, true) => (resource::MODEL, verb::ENABLE),
            Op::SetModel(_, false) => (resource::MODEL, verb::DISABLE),
            Op::UpdateProvider(_) => (resource::PROVIDER, verb::UPDATE),
            Op::CreateKey => (resource::KEY, verb::CREATE),
            Op::RevokeKey(_) => (resource::KEY, verb::REVOKE),
            Op::ListPolicies
            | Op::GetPolicy(_)
            | Op::ListModels
            | Op::ListProviders
            | Op::ListKeys => return None,
        })
    }

    /// The id in the path, if any.
    fn target(&self) -> Option<&str> {
        match self {
            Op::GetPolicy(id)
            | Op::UpdatePolicy(id)
            | Op::DeletePolicy(id)
            | Op::SetPolicy(id, _)
            | Op::SetModel(id, _)
            | Op::UpdateProvider(id)
            | Op::RevokeKey(id) => Some(id),
            _ => None,
        }
    }

    /// `<resource>.<verb>` of an edit, `read` otherwise: for log lines.
    fn label(&self) -> String {
        self.action().map_or_else(
            || "read".to_owned(),
            |(kind, verb)| format!("{kind}.{verb}"),
        )
    }

    fn required_role(&self) -> Role {
        match self.action() {
            None => Role::Viewer,
            Some((kind, _)) if kind == resource::POLICY => Role::PolicyAdmin,
            Some(_) => Role::SuperAdmin,
        }
    }
}

/// Every admin route, each named once.
pub fn routes() -> Router<Arc<App>> {
    Router::new()
        .route(path::ADMIN_POLICIES, get(list_policies).post(create_policy))
        .route(
            path::ADMIN_POLICY,
            get(get_policy).put(update_policy).delete(delete_policy),
        )
        .route(path::ADMIN_POLICY_ENABLE, post(enable_policy))
        .route(path::ADMIN_POLICY_DISABLE, post(disable_policy))
        .route(path::ADMIN_MODELS, get(list_models))
        .route(path::ADMIN_MODEL_ENABLE, post(enable_model))
        .route(path::ADMIN_MODEL_DISABLE, post(disable_model))
        .route(path::ADMIN_PROVIDERS, get(list_providers))
        .route(path::ADMIN_PROVIDER, put(update_provider))
        .route(path::ADMIN_KEYS, get(list_keys).post(create_key))
        .route(path::ADMIN_KEY_REVOKE, post(revoke_key))
}

type Answer = Result<Response, ApiError>;

async fn list_policies(call: Call, body: Body) -> Answer {
    call.run(Op::ListPolicies, body).await
}
async fn create_policy(call: Call, body: Body) -> Answer {
    call.run(Op::CreatePolicy, body).await
}
async fn get_policy(Id(id): Id, call: Call, body: Body) -> Answer {
    call.run(Op::GetPolicy(id), body).await
}
async fn update_policy(Id(id): Id, call: Call, body: Body) -> Answer {
    call.run(Op::UpdatePolicy(id), body).await
}
async fn delete_policy(Id(id): Id, call: Call, body: Body) -> Answer {
    call.run(Op::DeletePolicy(id), body).await
}
async fn enable_policy(Id(id): Id, call: Call, body: Body) -> Answer {
    call.run(Op::SetPolicy(id, true), body).await
}
async fn disable_policy(Id(id): Id, call: Call, body: Body) -> Answer {
    call.run(Op::SetPolicy(id, false), body).await
}
async fn list_models(call: Call, body: Body) -> Answer {
    call.run(Op::ListModels, body).await
}
async fn enable_model(Id(id): Id, call: Call, body: Body) -> Answer {
    call.run(Op::SetModel(id, true), body).await
}
async fn disable_model(Id(id): Id, call: Call, body: Body) -> Answer {
    call.run(Op::SetModel(id, false), body).await
}
async fn list_providers(call: Call, body: Body) -> Answer {
    call.run(Op::ListProviders, body).await
}
async fn update_provider(Id(id): Id, call: Call, body: Body) -> Answer {
    call.run(Op::UpdateProvider(id), body).await
}
async fn list_keys(call: Call, body: Body) -> Answer {
    call.run(Op::ListKeys, body).await
}
async fn create_key(call: Call, body: Body) -> Answer {
    call.run(Op::CreateKey, body).await
}
async fn revoke_key(Id(id): Id, call: Call, body: Body) -> Answer {
    call.run(Op::RevokeKey(id), body).await
}

/// One admin call: who made it, from where, under which request id.
pub struct Call {
    app: Arc<App>,
    request_id: String,
    source: IpAddr,
    admin: Option<Admin>,
    headers: HeaderMap,
}

impl FromRequestParts<Arc<App>> for Call {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        app: &Arc<App>,
    ) -> Result<Self, Self::Rejection> {
        let request_id = parts
            .extensions
            .get::<RequestId>()
            .and_then(|r| r.header_value().to_str().ok())
            .map_or_else(event_id, str::to_owned);
        let source = parts
            .extensions
            .get::<ConnectInfo<std::net::SocketAddr>>()
            .map_or(IpAddr::from([0, 0, 0, 0]), |c| c.0.ip());
        let admin = bearer(&parts.headers).and_then(|token| {
            app.config
                .admins
                .iter()
                .find(|a| secret::matches(token, &a.token_sha256))
                .cloned()
        });
        Ok(Call {
            app: Arc::clone(app),
            request_id,
            source,
            admin,
            headers: parts.headers.clone(),
        })
    }
}

impl Call {
    async fn run(self, op: Op, body: Body) -> Answer {
        if op.action().is_some() && !self.app.publisher.has_room() {
            self.refused("unavailable", &op);
            return Err(ApiError::unavailable(
                "audit events cannot be recorded right now; retry later",
            ));
        }
        let admin = self.authorize(&op)?;
        let (max, timeout) = (
            self.app.config.max_body_bytes,
            self.app.config.http.body_read_timeout,
        );
        let bytes = read_body(&self.headers, body, max, timeout)
            .await
            .inspect_err(|e| self.failed(&op, admin, e.reason()))?;
        let expect =
            if_match(&self.headers).inspect_err(|_| self.failed(&op, admin, "invalid If-Match"))?;
        let edit = edit::Edit {
            request_id: &self.request_id,
            expect,
        };
        match edit::execute(&self.app, &op, &bytes, &edit).await {
            Ok(done) => {
                let details = done.details.clone();
                self.audit(
                    &op,
                    Some(admin),
                    AuditOutcome::Success,
                    Some(&done),
                    details,
                );
                Ok((done.status, axum::Json(done.body)).into_response())
            }
            Err(f) => {
                self.failed(&op, admin, f.reason);
                Err(f.error)
            }
        }
    }

    /// Audits `op` by `admin` as FAILED for `why` (one of the fixed reasons).
    fn failed(&self, op: &Op, admin: &Admin, why: &str) {
        self.audit(op, Some(admin), AuditOutcome::Failed, None, reason(why));
    }

    /// The admin allowed to run `op`; a refusal is audited (edits) or counted (reads).
    fn authorize(&self, op: &Op) -> Result<&Admin, ApiError> {
        let Some(admin) = &self.admin else {
            return Err(self.unauthenticated(op));
        };
        let required = op.required_role();
        if admin.role < required {
            let why = format!("role {} may not do this", admin.role.as_str());
            self.audit(op, Some(admin), AuditOutcome::Denied, None, reason(&why));
            let message = format!("{why}; {} is required", required.as_str());
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                error_type::FORBIDDEN,
                message,
            ));
        }
        Ok(admin)
    }

    /// A call without a valid token: audited (edits) or counted and logged (reads), within
    /// the source address's budget; beyond it, 429 and a counter only.
    fn unauthenticated(&self, op: &Op) -> ApiError {
        if !self.app.admin_refusals.allow(self.source) {
            self.refused("rate_limited", op);
            return ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                error_type::RATE_LIMITED,
                "too many refused admin calls from this address; retry later",
            );
        }
        if op.action().is_some() {
            let why = reason("missing or invalid admin token");
            self.audit(op, None, AuditOutcome::Denied, None, why);
        } else {
            self.refused("unauthenticated_read", op);
        }
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            error_type::INVALID_API_KEY,
            "a valid admin token is required",
        )
    }

    /// Counts and logs a refusal that leaves no audit record.
    fn refused(&self, why: &'static str, op: &Op) {
        self.app
            .metrics
            .admin_refused
            .with_label_values(&[why])
            .inc();
        tracing::warn!(
            reason = why,
            source = %self.source,
            request_id = %self.request_id,
            operation = %op.label(),
            actor = self.admin.as_ref().map_or(ANONYMOUS, |a| a.id.as_str()),
            "admin call refused without an audit record"
        );
    }

    fn audit(
        &self,
        op: &Op,
        admin: Option<&Admin>,
        outcome: AuditOutcome,
        done: Option<&Done>,
        details: BTreeMap<String, String>,
    ) {
        let Some((kind, verb)) = op.action() else {
            return;
        };
        let action = format!("{kind}.{verb}");
        let resource_id = done
            .and_then(|d| d.resource_id.clone())
            .or_else(|| op.target().map(str::to_owned))
            .unwrap_or_else(|| "unknown".to_owned());
        let record = Audit {
            event_id: event_id(),
            request_id: self.request_id.clone(),
            time: Micros::now(),
            actor: Actor {
                id: admin.map_or(ANONYMOUS, |a| a.id.as_str()).to_owned(),
                kind: ACTOR_USER.to_owned(),
                role: admin.map_or(ANONYMOUS, |a| a.role.as_str()).to_owned(),
                source_ip: Some(self.source.to_string()),
            },
            action: action.clone(),
            resource: Resource {
                kind: kind.to_owned(),
                id: resource_id,
                name: done.and_then(|d| d.name.clone()),
            },
            outcome,
            details,
            policy_version: done.and_then(|d| d.policy_version),
        };
        let outcome_label = format!("{outcome:?}").to_lowercase();
        self.app
            .metrics
            .audits
            .with_label_values(&[&action, &outcome_label])
            .inc();
        tracing::info!(
            event_id = %record.event_id,
            request_id = %self.request_id,
            action = %action,
            outcome = %outcome_label,
            actor = %record.actor.id,
            "audit"
        );
        self.app.publisher.submit(Item::Audit(record));
    }
}

/// The policy version `If-Match` expects: a number, quoted or not (an entity tag); absent or
/// `*` expects nothing.
fn if_match(headers: &HeaderMap) -> Result<Option<i64>, ApiError> {
    let Some(value) = headers.get(axum::http::header::IF_MATCH) else {
        return Ok(None);
    };
    let text = value.to_str().unwrap_or_default().trim();
    if text == "*" {
        return Ok(None);
    }
    let tag = text.strip_prefix("W/").unwrap_or(text);
    let tag = tag
        .strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .unwrap_or(tag);
    match tag.parse::<i64>() {
        Ok(v) if v > 0 && tag.bytes().all(|b| b.is_ascii_digit()) => Ok(Some(v)),
        _ => Err(ApiError::invalid(
            "If-Match: expected the policy version the edit applies to, e.g. \"3\"",
        )),
    }
}

fn reason(text: &str) -> BTreeMap<String, String> {
    BTreeMap::from([("reason".to_owned(), text.to_owned())])
}
