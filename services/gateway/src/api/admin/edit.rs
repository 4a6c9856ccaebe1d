//! What each admin operation does to the state, and what it reports: the answer's body and
//! the audit record's resource, name and details. A failure carries the answer for the
//! administrator and a fixed reason for the audit record: request values never reach an
//! audit record's details, since they may be secrets pasted in the wrong field.

use std::collections::BTreeMap;

use axum::http::StatusCode;
use serde::{Deserialize, Deserializer};
use serde_json::{Value, json};

use super::Op;
use super::id::{self, GRAMMAR};
use crate::App;
use crate::api::error::ApiError;
use crate::names::error_type;
use crate::policy::Policy;
use crate::secret;
use crate::store::{ANY_MODEL, ApiKey, EditError, Provider, ProviderKind, State};

/// What a successful operation reports, for the answer and the audit record.
pub struct Done {
    pub status: StatusCode,
    pub body: Value,
    pub resource_id: Option<String>,
    pub name: Option<String>,
    pub details: BTreeMap<String, String>,
    pub policy_version: Option<i64>,
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

/// A failed operation: the answer, and the audit record's fixed reason.
pub struct Failure {
    pub error: ApiError,
    pub reason: &'static str,
}

impl From<EditError> for Failure {
    fn from(e: EditError) -> Self {
        let (status, kind, reason) = match &e {
            EditError::NotFound(_) => (StatusCode::NOT_FOUND, error_type::NOT_FOUND, "not found"),
            EditError::Conflict(_) => {
                (StatusCode::CONFLICT, error_type::CONFLICT, "already exists")
            }
            EditError::Invalid(_) => (
                StatusCode::BAD_REQUEST,
                error_type::INVALID_REQUEST,
                "invalid value",
            ),
            EditError::Stale { .. } => (
                StatusCode::CONFLICT,
                error_type::CONFLICT,
                "version mismatch",
            ),
            EditError::Store(_) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                error_type::UNAVAILABLE,
                "state could not be saved",
            ),
            EditError::Unavailable(_) => (
                StatusCode::SERVICE_UNAVAILABLE,
                error_type::UNAVAILABLE,
                "state log unavailable",
            ),
        };
        Self {
            error: ApiError::new(status, kind, e.to_string()),
            reason,
        }
    }
}

fn invalid(reason: &'static str, message: impl Into<String>) -> Failure {
    Failure {
        error: ApiError::invalid(message),
        reason,
    }
}

/// Parses a JSON body; the message names the position, never the content.
fn parse<T: for<'de> Deserialize<'de>>(body: &[u8], what: &str) -> Result<T, Failure> {
    serde_json::from_slice(body).map_err(|e| {
        let message = format!(
            "the body is not a valid {what} (JSON {:?} error at line {}, column {})",
            e.classify(),
            e.line(),
            e.column()
        );
        invalid("invalid body", message.to_lowercase())
    })
}

fn check_id(id: &str) -> Result<(), Failure> {
    if id::valid(id) {
        return Ok(());
    }
    Err(invalid(
        "invalid id",
        format!("the id is not valid: {GRAMMAR}"),
    ))
}

/// What an edit carries besides its body: the request id (recorded with the state change)
/// and the version `If-Match` expects, if given.
pub struct Edit<'a> {
    pub request_id: &'a str,
    pub expect: Option<i64>,
}

/// Runs `op` against the state.
pub async fn execute(app: &App, op: &Op, body: &[u8], edit: &Edit<'_>) -> Result<Done, Failure> {
    let store = &app.store;
    match op {
        Op::ListPolicies => Ok(Done::read(store.read(|s| {
            json!({"policies": s.policies.values().collect::<Vec<_>>(), "policy_set_version": s.revision})
        }))),
        Op::GetPolicy(id) => store
            .read(|s| s.policies.get(id).map(|p| json!(p)))
            .map(Done::read)
            .ok_or_else(|| EditError::NotFound(format!("policy {id}")).into()),
        Op::CreatePolicy => write_policy(app, None, body, edit).await,
        Op::UpdatePolicy(id) => write_policy(app, Some(id), body, edit).await,
        Op::DeletePolicy(id) => change_policy(app, id, edit, delete_policy).await,
        Op::SetPolicy(id, on) => {
            change_policy(app, id, edit, |s, id| set_policy(s, id, *on)).await
        }
        Op::ListModels => Ok(Done::read(
            store.read(|s| json!({"models": s.models.values().collect::<Vec<_>>()})),
        )),
        Op::SetModel(name, on) => set_model(app, name, *on, edit.request_id).await,
        Op::ListProviders => Ok(Done::read(
            store.read(|s| json!({"providers": s.providers.values().collect::<Vec<_>>()})),
        )),
        Op::UpdateProvider(name) => update_provider(app, name, body, edit.request_id).await,
        Op::ListKeys => Ok(Done::read(store.read(|s| {
            json!({"keys": s.keys.values().map(key_view).collect::<Vec<_>>()})
        }))),
        Op::CreateKey => create_key(app, body, edit.request_id).await,
        Op::RevokeKey(id) => revoke_key(app, id, edit.request_id).await,
    }
}

/// `If-Match`: the policy must be at the expected version.
fn check_version(id: &str, current: i64, expect: Option<i64>) -> Result<(), EditError> {
    match expect {
        Some(expected) if expected != current => Err(EditError::Stale {
            what: format!("policy {id}"),
            expected,
            current,
        }),
        _ => Ok(()),
    }
}

/// Creates (`id` is `None`) or replaces a policy; the new version is the old one plus one.
async fn write_policy(
    app: &App,
    id: Option<&String>,
    body: &[u8],
    edit: &Edit<'_>,
) -> Result<Done, Failure> {
    let mut value: Value = parse(body, "policy")?;
    if let (Some(id), Some(obj)) = (id, value.as_object_mut()) {
        obj.insert("id".to_owned(), json!(id));
    }
    let mut policy: Policy = serde_json::from_value(value).map_err(|_| {
        invalid(
            "invalid policy",
            "not a valid policy: check the fields and their types",
        )
    })?;
    check_id(&policy.id)?;
    policy
        .validate()
        .map_err(|e| invalid("invalid policy", e.to_string()))?;
    let pid = policy.id.clone();
    let creating = id.is_none();
    let ((version, previous), revision) = app
        .store
        .edit(edit.request_id, |s| {
            let previous = s.policies.get(&pid).map(|p| p.version);
            match (creating, previous) {
                (true, Some(_)) => return Err(EditError::Conflict(format!("policy {pid}"))),
                (false, None) => return Err(EditError::NotFound(format!("policy {pid}"))),
                (false, Some(current)) => check_version(&pid, current, edit.expect)?,
                (true, None) => {}
            }
            policy.version = previous.map_or(1, |v| v + 1);
            s.revision += 1;
            s.policies.insert(pid.clone(), policy.clone());
            Ok((policy.version, previous))
        })
        .await?;
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

fn delete_policy(s: &mut State, id: &str) -> Result<(i64, Policy), EditError> {
    let old = s
        .policies
        .remove(id)
        .ok_or_else(|| EditError::NotFound(format!("policy {id}")))?;
    Ok((old.version + 1, old))
}

fn set_policy(s: &mut State, id: &str, on: bool) -> Result<(i64, Policy), EditError> {
    let p = s
        .policies
        .get_mut(id)
        .ok_or_else(|| EditError::NotFound(format!("policy {id}")))?;
    p.enabled = on;
    p.version += 1;
    Ok((p.version, p.clone()))
}

/// Applies a version-bumping change to an existing policy.
async fn change_policy(
    app: &App,
    id: &str,
    edit: &Edit<'_>,
    mut f: impl FnMut(&mut State, &str) -> Result<(i64, Policy), EditError>,
) -> Result<Done, Failure> {
    let ((version, policy), revision) = app
        .store
        .edit(edit.request_id, |s| {
            if let Some(current) = s.policies.get(id).map(|p| p.version) {
                check_version(id, current, edit.expect)?;
            }
            let (version, policy) = f(s, id)?;
            s.revision += 1;
            Ok((version, policy))
        })
        .await?;
    let mut done = policy_done(&policy, version, revision);
    if let Some(obj) = done.body.as_object_mut() {
        obj.insert("version".to_owned(), json!(version));
    }
    Ok(done)
}

async fn set_model(app: &App, name: &str, on: bool, request_id: &str) -> Result<Done, Failure> {
    app.store
        .edit(request_id, |s| {
            let m = s
                .models
                .get_mut(name)
                .ok_or_else(|| EditError::NotFound(format!("model {name}")))?;
            m.enabled = on;
            Ok(())
        })
        .await?;
    let body = json!({"name": name, "enabled": on});
    Ok(changed(
        name,
        Some(name.to_owned()),
        body,
        [("enabled", on.to_string())],
    ))
}

/// `Some(v)` for a present field, `null` included: with `#[serde(default)]`, an absent field
/// is `None`, `null` is `Some(None)` (clear it) and a value is `Some(Some(v))`.
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

/// A provider change: absent fields stay, `null` clears.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProviderChange {
    #[serde(default, deserialize_with = "present")]
    base_url: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    api_key_env: Option<Option<String>>,
}

async fn update_provider(
    app: &App,
    name: &str,
    body: &[u8],
    request_id: &str,
) -> Result<Done, Failure> {
    let change: ProviderChange = parse(body, "provider change")?;
    if let Some(Some(url)) = &change.base_url {
        crate::upstream::check_base_url(url).map_err(|e| invalid("invalid base_url", e))?;
    }
    if let Some(Some(var)) = &change.api_key_env {
        check_key_env(var, &app.config.provider_key_prefix)?;
    }
    let (provider, _) = app
        .store
        .edit(request_id, |s| {
            let p = s
                .providers
                .get_mut(name)
                .ok_or_else(|| EditError::NotFound(format!("provider {name}")))?;
            apply(p, change.clone())?;
            Ok(p.clone())
        })
        .await?;
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

fn apply(p: &mut Provider, change: ProviderChange) -> Result<(), EditError> {
    if let Some(url) = change.base_url {
        p.base_url = url;
    }
    if let Some(var) = change.api_key_env {
        p.api_key_env = var;
    }
    if p.kind == ProviderKind::Openai && p.base_url.is_none() {
        return Err(EditError::Invalid(
            "base_url: an openai provider needs one".to_owned(),
        ));
    }
    Ok(())
}

/// `api_key_env` names a variable under the configured prefix, in the usual shell form.
fn check_key_env(var: &str, prefix: &str) -> Result<(), Failure> {
    let shell_name = !var.is_empty()
        && var.len() <= 128
        && var
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_');
    if shell_name && var.starts_with(prefix) && var.len() > prefix.len() {
        return Ok(());
    }
    Err(invalid(
        "invalid api_key_env",
        format!("api_key_env: expected a variable name of A-Z 0-9 _ starting with {prefix}"),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewKey {
    id: Option<String>,
    user: Option<String>,
    team: Option<String>,
    #[serde(default)]
    models: Vec<String>,
}

async fn create_key(app: &App, body: &[u8], request_id: &str) -> Result<Done, Failure> {
    let new: NewKey = parse(body, "key")?;
    let id = new
        .id
        .unwrap_or_else(|| format!("key-{}", &uuid::Uuid::now_v7().simple().to_string()[20..]));
    check_id(&id)?;
    if new.models.iter().any(|m| m != ANY_MODEL && !id::valid(m)) {
        return Err(invalid(
            "invalid models",
            format!("models: {GRAMMAR}, or *"),
        ));
    }
    let secret = secret::generate();
    let key = ApiKey {
        id: id.clone(),
        secret_sha256: secret::digest(&secret),
        user: new.user,
        team: new.team,
        models: new.models,
        revoked: false,
    };
    app.store
        .edit(request_id, |s| {
            if s.keys.contains_key(&id) {
                return Err(EditError::Conflict(format!("key {id}")));
            }
            s.keys.insert(id.clone(), key.clone());
            Ok(())
        })
        .await?;
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

async fn revoke_key(app: &App, id: &str, request_id: &str) -> Result<Done, Failure> {
    app.store
        .edit(request_id, |s| {
            let k = s
                .keys
                .get_mut(id)
                .ok_or_else(|| EditError::NotFound(format!("key {id}")))?;
            k.revoked = true;
            Ok(())
        })
        .await?;
    let body = json!({"id": id, "revoked": true});
    Ok(changed(id, None, body, [("revoked", "true".to_owned())]))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provider_changes_keep_absent_fields_and_clear_null_ones() {
        let c: ProviderChange = serde_json::from_str(r#"{"api_key_env": null}"#).unwrap();
        assert_eq!(c.base_url, None);
        assert_eq!(c.api_key_env, Some(None));
        let c: ProviderChange = serde_json::from_str(r#"{"base_url": "http://h/v1"}"#).unwrap();
        assert_eq!(c.base_url, Some(Some("http://h/v1".to_owned())));
    }

    #[test]
    fn key_variables_must_carry_the_prefix() {
        let prefix = "DOCKET_PROVIDER_KEY_";
        assert!(check_key_env("DOCKET_PROVIDER_KEY_OPENAI", prefix).is_ok());
        for bad in [
            "HOME",
            "DOCKET_PROVIDER_KEY_",
            "docket_provider_key_x",
            "DOCKET_PROVIDER_KEY_A=B",
            "AWS_SECRET_ACCESS_KEY",
        ] {
            assert!(check_key_env(bad, prefix).is_err(), "{bad}");
        }
    }

    #[test]
    fn parse_errors_never_repeat_the_body() {
        let secret = "sk-live-0123456789abcdef";
        let body = format!(r#"{{"models": "{secret}"}}"#);
        let Err(f) = parse::<NewKey>(body.as_bytes(), "key") else {
            panic!("a string is not a list of models");
        };
        assert!(!f.error.message.contains(secret), "{}", f.error.message);
        assert_eq!(f.reason, "invalid body");
    }
}
