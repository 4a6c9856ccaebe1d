//! The admin API under `/admin/v1/`: policies, models, providers and keys, with roles
//! (`viewer` reads, `policy_admin` also edits policies, `super_admin` everything). Every
//! state-changing call emits an audit record, whether it succeeded, was refused or failed.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use docket_records::{Actor, Audit, Micros, Outcome as AuditOutcome, Resource, samples};
use hyper::body::Incoming;
use hyper::header::HeaderValue;
use hyper::{Method, Request, Response, StatusCode};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Body, bearer, error, json_response, read_body};
use crate::App;
use crate::config::{Admin, Role};
use crate::names::{ACTOR_USER, ANONYMOUS, error_type, header, path, resource, verb};
use crate::policy::Policy;
use crate::publish::Item;
use crate::secret;
use crate::store::{ApiKey, EditError, State};
use crate::trace::TraceContext;

/// One admin operation, parsed from method and path.
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
    fn parse(method: &Method, rest: &str) -> Option<Self> {
        let parts: Vec<&str> = rest.trim_end_matches('/').split('/').collect();
        let id = |i: usize| parts.get(i).map(|s| (*s).to_owned());
        let op = match (method, parts.as_slice()) {
            (&Method::GET, ["policies"]) => Op::ListPolicies,
            (&Method::POST, ["policies"]) => Op::CreatePolicy,
            (&Method::GET, ["policies", _]) => Op::GetPolicy(id(1)?),
            (&Method::PUT, ["policies", _]) => Op::UpdatePolicy(id(1)?),
            (&Method::DELETE, ["policies", _]) => Op::DeletePolicy(id(1)?),
            (&Method::POST, ["policies", _, "enable"]) => Op::SetPolicy(id(1)?, true),
            (&Method::POST, ["policies", _, "disable"]) => Op::SetPolicy(id(1)?, false),
            (&Method::GET, ["models"]) => Op::ListModels,
            (&Method::POST, ["models", _, "enable"]) => Op::SetModel(id(1)?, true),
            (&Method::POST, ["models", _, "disable"]) => Op::SetModel(id(1)?, false),
            (&Method::GET, ["providers"]) => Op::ListProviders,
            (&Method::PUT, ["providers", _]) => Op::UpdateProvider(id(1)?),
            (&Method::GET, ["keys"]) => Op::ListKeys,
            (&Method::POST, ["keys"]) => Op::CreateKey,
            (&Method::POST, ["keys", _, "revoke"]) => Op::RevokeKey(id(1)?),
            _ => return None,
        };
        Some(op)
    }

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

    fn required_role(&self) -> Role {
        match self.action() {
            None => Role::Viewer,
            Some((kind, _)) if kind == resource::POLICY => Role::PolicyAdmin,
            Some(_) => Role::SuperAdmin,
        }
    }
}

/// What a successful or failed operation reports, for the answer and the audit record.
struct Done {
    status: StatusCode,
    body: Value,
    resource_id: Option<String>,
    name: Option<String>,
    details: BTreeMap<String, String>,
    policy_version: Option<i64>,
}

impl Done {
    fn read(body: Value) -> Self {
        Self {
            status: StatusCode::OK,
            body,
            resource_id: None,
            name: None,
            details: BTreeMap::new(),
            policy_version: None,
        }
    }
}

/// A failed operation.
struct Failure {
    status: StatusCode,
    kind: &'static str,
    message: String,
}

impl From<EditError> for Failure {
    fn from(e: EditError) -> Self {
        let (status, kind) = match &e {
            EditError::NotFound(_) => (StatusCode::NOT_FOUND, error_type::NOT_FOUND),
            EditError::Conflict(_) => (StatusCode::CONFLICT, error_type::CONFLICT),
            EditError::Invalid(_) => (StatusCode::BAD_REQUEST, error_type::INVALID_REQUEST),
            EditError::Store(_) => (StatusCode::INTERNAL_SERVER_ERROR, error_type::UNAVAILABLE),
        };
        Self {
            status,
            kind,
            message: e.to_string(),
        }
    }
}

fn invalid(message: impl Into<String>) -> Failure {
    Failure {
        status: StatusCode::BAD_REQUEST,
        kind: error_type::INVALID_REQUEST,
        message: message.into(),
    }
}

/// The audit context of one call.
struct Call<'a> {
    app: &'a App,
    request_id: String,
    source_ip: String,
    op: Op,
}

/// Handles one admin call.
pub async fn handle(
    app: &App,
    peer: SocketAddr,
    trace: &TraceContext,
    req: Request<Incoming>,
) -> Response<Body> {
    let rest = req
        .uri()
        .path()
        .strip_prefix(path::ADMIN_PREFIX)
        .unwrap_or_default()
        .to_owned();
    let Some(op) = Op::parse(req.method(), &rest) else {
        return error(
            StatusCode::NOT_FOUND,
            error_type::NOT_FOUND,
            "no such admin route",
            &trace.trace_id,
        );
    };
    let call = Call {
        app,
        request_id: samples::event_id(),
        source_ip: peer.ip().to_string(),
        op,
    };
    let admin = authenticate(app, req.headers());
    let mut response = call.run(admin, req, &trace.trace_id).await;
    if let Ok(v) = HeaderValue::from_str(&call.request_id) {
        response.headers_mut().insert(header::REQUEST_ID, v);
    }
    response
}

fn authenticate<'a>(app: &'a App, headers: &hyper::HeaderMap) -> Option<&'a Admin> {
    let token = bearer(headers)?;
    app.config
        .admins
        .iter()
        .find(|a| secret::matches(token, &a.token_sha256))
}

impl Call<'_> {
    async fn run(
        &self,
        admin: Option<&Admin>,
        req: Request<Incoming>,
        cid: &str,
    ) -> Response<Body> {
        let Some(admin) = admin else {
            self.audit(
                None,
                AuditOutcome::Denied,
                None,
                reason("missing or invalid admin token"),
                None,
            );
            return error(
                StatusCode::UNAUTHORIZED,
                error_type::INVALID_API_KEY,
                "a valid admin token is required",
                cid,
            );
        };
        if admin.role < self.op.required_role() {
            self.audit(
                Some(admin),
                AuditOutcome::Denied,
                None,
                reason(&format!("role {} may not do this", admin.role.as_str())),
                None,
            );
            let message = format!(
                "role {} may not do this; {} is required",
                admin.role.as_str(),
                self.op.required_role().as_str()
            );
            return error(StatusCode::FORBIDDEN, error_type::FORBIDDEN, &message, cid);
        }
        if self.op.action().is_some() && !self.app.publisher.accepting() {
            return error(
                StatusCode::SERVICE_UNAVAILABLE,
                error_type::UNAVAILABLE,
                "audit events cannot be recorded right now; retry later",
                cid,
            );
        }
        let body = match read_body(req, self.app.config.max_body_bytes).await {
            Ok(b) => b,
            Err(_) => {
                self.audit(
                    Some(admin),
                    AuditOutcome::Failed,
                    None,
                    reason("unreadable or oversized body"),
                    None,
                );
                return error(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    error_type::TOO_LARGE,
                    "the body could not be read or is too large",
                    cid,
                );
            }
        };
        match self.execute(&body) {
            Ok(done) => {
                self.audit(
                    Some(admin),
                    AuditOutcome::Success,
                    done.name.clone(),
                    done.details.clone(),
                    Some(&done),
                );
                json_response(done.status, &done.body)
            }
            Err(f) => {
                self.audit(
                    Some(admin),
                    AuditOutcome::Failed,
                    None,
                    reason(&f.message),
                    None,
                );
                error(f.status, f.kind, &f.message, cid)
            }
        }
    }

    fn execute(&self, body: &[u8]) -> Result<Done, Failure> {
        let store = &self.app.store;
        match &self.op {
            Op::ListPolicies => Ok(Done::read(store.read(|s| json!({"policies": s.policies.values().collect::<Vec<_>>(), "policy_set_version": s.revision})))),
            Op::GetPolicy(id) => store
                .read(|s| s.policies.get(id).map(|p| json!(p)))
                .map(Done::read)
                .ok_or_else(|| EditError::NotFound(format!("policy {id}")).into()),
            Op::CreatePolicy => self.write_policy(None, body),
            Op::UpdatePolicy(id) => self.write_policy(Some(id), body),
            Op::DeletePolicy(id) => self.change_policy(id, |s, id| {
                let old = s.policies.remove(id).ok_or_else(|| EditError::NotFound(format!("policy {id}")))?;
                Ok((old.version + 1, old))
            }),
            Op::SetPolicy(id, on) => self.change_policy(id, |s, id| {
                let p = s.policies.get_mut(id).ok_or_else(|| EditError::NotFound(format!("policy {id}")))?;
                p.enabled = *on;
                p.version += 1;
                Ok((p.version, p.clone()))
            }),
            Op::ListModels => Ok(Done::read(store.read(|s| json!({"models": s.models.values().collect::<Vec<_>>()})))),
            Op::SetModel(name, on) => {
                store.edit(|s| {
                    let m = s.models.get_mut(name).ok_or_else(|| EditError::NotFound(format!("model {name}")))?;
                    m.enabled = *on;
                    Ok(())
                })?;
                Ok(changed(name, Some(name.clone()), json!({"name": name, "enabled": on}), [("enabled", on.to_string())]))
            }
            Op::ListProviders => Ok(Done::read(store.read(|s| json!({"providers": s.providers.values().collect::<Vec<_>>()})))),
            Op::UpdateProvider(name) => self.update_provider(name, body),
            Op::ListKeys => Ok(Done::read(store.read(|s| json!({"keys": s.keys.values().map(key_view).collect::<Vec<_>>()})))),
            Op::CreateKey => self.create_key(body),
            Op::RevokeKey(id) => {
                store.edit(|s| {
                    let k = s.keys.get_mut(id).ok_or_else(|| EditError::NotFound(format!("key {id}")))?;
                    k.revoked = true;
                    Ok(())
                })?;
                Ok(changed(id, None, json!({"id": id, "revoked": true}), [("revoked", "true".to_owned())]))
            }
        }
    }

    /// Creates (`id` is `None`) or replaces a policy; the new version is the old one plus one.
    fn write_policy(&self, id: Option<&String>, body: &[u8]) -> Result<Done, Failure> {
        let mut value: Value = serde_json::from_slice(body)
            .map_err(|e| invalid(format!("the body is not valid JSON: {e}")))?;
        if let (Some(id), Some(obj)) = (id, value.as_object_mut()) {
            obj.insert("id".to_owned(), json!(id));
        }
        let mut policy: Policy = serde_json::from_value(value)
            .map_err(|e| invalid(format!("not a valid policy: {e}")))?;
        policy.validate().map_err(|e| invalid(e.to_string()))?;
        let pid = policy.id.clone();
        let creating = id.is_none();
        let (version, revision, previous) = self.app.store.edit(|s| {
            let previous = s.policies.get(&pid).map(|p| p.version);
            match (creating, previous) {
                (true, Some(_)) => return Err(EditError::Conflict(format!("policy {pid}"))),
                (false, None) => return Err(EditError::NotFound(format!("policy {pid}"))),
                _ => {}
            }
            policy.version = previous.map_or(1, |v| v + 1);
            s.revision += 1;
            s.policies.insert(pid.clone(), policy.clone());
            Ok((policy.version, s.revision, previous))
        })?;
        let mut done = policy_done(&policy, version, revision);
        if let Some(p) = previous {
            done.details
                .insert("previous_version".to_owned(), p.to_string());
        }
        if creating {
            done.status = StatusCode::CREATED;
        }
        Ok(done)
    }

    /// Applies a version-bumping change to an existing policy.
    fn change_policy(
        &self,
        id: &str,
        f: impl FnOnce(&mut State, &str) -> Result<(i64, Policy), EditError>,
    ) -> Result<Done, Failure> {
        let (version, revision, policy) = self.app.store.edit(|s| {
            let (version, policy) = f(s, id)?;
            s.revision += 1;
            Ok((version, s.revision, policy))
        })?;
        let mut done = policy_done(&policy, version, revision);
        if let Some(obj) = done.body.as_object_mut() {
            obj.insert("version".to_owned(), json!(version));
        }
        Ok(done)
    }

    fn update_provider(&self, name: &str, body: &[u8]) -> Result<Done, Failure> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Change {
            base_url: Option<String>,
            api_key_env: Option<String>,
        }
        let change: Change = serde_json::from_slice(body)
            .map_err(|e| invalid(format!("not a valid provider change: {e}")))?;
        if change
            .base_url
            .as_deref()
            .is_some_and(|u| !u.starts_with("http://") && !u.starts_with("https://"))
        {
            return Err(invalid("base_url: expected an http:// or https:// URL"));
        }
        let provider = self.app.store.edit(|s| {
            let p = s
                .providers
                .get_mut(name)
                .ok_or_else(|| EditError::NotFound(format!("provider {name}")))?;
            if change.base_url.is_some() {
                p.base_url = change.base_url.clone();
            }
            if change.api_key_env.is_some() {
                p.api_key_env = change.api_key_env.clone();
            }
            Ok(p.clone())
        })?;
        let details = [
            ("base_url", provider.base_url.clone().unwrap_or_default()),
            (
                "api_key_env",
                provider.api_key_env.clone().unwrap_or_default(),
            ),
        ];
        Ok(changed(
            name,
            Some(name.to_owned()),
            json!(provider),
            details,
        ))
    }

    fn create_key(&self, body: &[u8]) -> Result<Done, Failure> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct NewKey {
            id: Option<String>,
            user: Option<String>,
            team: Option<String>,
            #[serde(default)]
            models: Vec<String>,
        }
        let new: NewKey =
            serde_json::from_slice(body).map_err(|e| invalid(format!("not a valid key: {e}")))?;
        let id = new
            .id
            .unwrap_or_else(|| format!("key-{}", &uuid::Uuid::now_v7().simple().to_string()[20..]));
        let secret = secret::generate();
        let key = ApiKey {
            id: id.clone(),
            secret_sha256: secret::digest(&secret),
            user: new.user,
            team: new.team,
            models: new.models,
            revoked: false,
        };
        self.app.store.edit(|s| {
            if s.keys.contains_key(&id) {
                return Err(EditError::Conflict(format!("key {id}")));
            }
            s.keys.insert(id.clone(), key.clone());
            Ok(())
        })?;
        let mut body = key_view(&key);
        body["secret"] = json!(secret);
        let details = [
            ("user", key.user.clone().unwrap_or_default()),
            ("team", key.team.clone().unwrap_or_default()),
            ("models", key.models.join(",")),
        ];
        let mut done = changed(&id, key.user.clone(), body, details);
        done.status = StatusCode::CREATED;
        Ok(done)
    }

    fn audit(
        &self,
        admin: Option<&Admin>,
        outcome: AuditOutcome,
        name: Option<String>,
        details: BTreeMap<String, String>,
        done: Option<&Done>,
    ) {
        let Some((kind, verb)) = self.op.action() else {
            return;
        };
        let action = format!("{kind}.{verb}");
        let resource_id = done
            .and_then(|d| d.resource_id.clone())
            .or_else(|| self.op.target().map(str::to_owned))
            .unwrap_or_else(|| "unknown".to_owned());
        let record = Audit {
            event_id: samples::event_id(),
            request_id: self.request_id.clone(),
            time: Micros::now(),
            actor: Actor {
                id: admin.map_or(ANONYMOUS, |a| a.id.as_str()).to_owned(),
                kind: ACTOR_USER.to_owned(),
                role: admin.map_or(ANONYMOUS, |a| a.role.as_str()).to_owned(),
                source_ip: Some(self.source_ip.clone()),
            },
            action: action.clone(),
            resource: Resource {
                kind: kind.to_owned(),
                id: resource_id,
                name,
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
        tracing::info!(event_id = %record.event_id, request_id = %self.request_id, action = %action, outcome = %outcome_label, actor = %record.actor.id, "audit");
        self.app.publisher.submit(Item::Audit(record));
    }
}

fn reason(text: &str) -> BTreeMap<String, String> {
    BTreeMap::from([("reason".to_owned(), text.to_owned())])
}

fn changed<const N: usize>(
    id: &str,
    name: Option<String>,
    body: Value,
    details: [(&str, String); N],
) -> Done {
    Done {
        status: StatusCode::OK,
        body,
        resource_id: Some(id.to_owned()),
        name,
        details: details
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect(),
        policy_version: None,
    }
}

fn policy_done(policy: &Policy, version: i64, revision: i64) -> Done {
    let details = [
        ("kind", format!("{:?}", policy.kind()).to_lowercase()),
        ("enabled", policy.enabled.to_string()),
        ("policy_set_version", revision.to_string()),
    ];
    let mut done = changed(
        &policy.id,
        Some(policy.name.clone()),
        json!({"policy": policy, "policy_set_version": revision}),
        details,
    );
    done.policy_version = Some(version);
    done
}

/// A key as listed: never its digest or secret.
fn key_view(k: &ApiKey) -> Value {
    json!({"id": k.id, "user": k.user, "team": k.team, "models": k.models, "revoked": k.revoked})
}
