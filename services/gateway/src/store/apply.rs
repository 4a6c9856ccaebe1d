//! Between the state and the state log: the records an edit writes (one per changed
//! resource, a tombstone per removed one) and how a record read back changes the state.
//! Versions come from the records, the policy set revision from their offsets, so every
//! replica applying the same log computes the same numbers.

use std::collections::BTreeMap;

use docket_records::GatewayState;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::State;
use super::log::Entry;
use crate::names::resource;

/// The state and the version of every non-policy resource (a policy carries its own).
#[derive(Debug, Default)]
pub struct Applied {
    /// The state.
    pub state: State,
    versions: BTreeMap<String, i64>,
}

impl From<State> for Applied {
    fn from(state: State) -> Self {
        Self {
            state,
            versions: BTreeMap::new(),
        }
    }
}

/// Whether a record key names a policy.
pub fn is_policy(key: &str) -> bool {
    key.split_once('/').map(|(k, _)| k) == Some(resource::POLICY)
}

impl Applied {
    /// Applies one record: replaces or removes the resource; a policy record's offset
    /// becomes the policy set revision.
    pub fn apply(&mut self, entry: &Entry) -> Result<(), String> {
        let (kind, id) = entry
            .key
            .split_once('/')
            .ok_or_else(|| "key is not <kind>/<id>".to_owned())?;
        let value = entry.value.as_ref();
        let s = &mut self.state;
        match kind {
            k if k == resource::POLICY => {
                let policy = value.map(parse::<crate::policy::Policy>).transpose()?;
                let policy = policy.map(|mut p| {
                    p.version = value.map_or(p.version, |v| v.version);
                    p
                });
                put(&mut s.policies, id, policy);
                s.revision = entry.offset;
            }
            k if k == resource::MODEL => put(&mut s.models, id, value.map(parse).transpose()?),
            k if k == resource::PROVIDER => {
                put(&mut s.providers, id, value.map(parse).transpose()?);
            }
            k if k == resource::KEY => put(&mut s.keys, id, value.map(parse).transpose()?),
            other => return Err(format!("unknown resource kind {other:?}")),
        }
        match value {
            Some(v) => self.versions.insert(entry.key.clone(), v.version),
            None => self.versions.remove(&entry.key),
        };
        Ok(())
    }

    /// The records that turn the current state into `next`.
    pub fn changes(&self, next: &State, request_id: &str) -> Vec<(String, Option<GatewayState>)> {
        let (old, mut out) = (&self.state, Vec::new());
        let policy_versions = |_: &str, p: &crate::policy::Policy| p.version;
        self.diff(
            resource::POLICY,
            &old.policies,
            &next.policies,
            request_id,
            policy_versions,
            &mut out,
        );
        let bump = |key: &str| self.versions.get(key).copied().unwrap_or(0) + 1;
        let (models, providers, keys) = (&next.models, &next.providers, &next.keys);
        self.diff(
            resource::MODEL,
            &old.models,
            models,
            request_id,
            |k, _| bump(k),
            &mut out,
        );
        self.diff(
            resource::PROVIDER,
            &old.providers,
            providers,
            request_id,
            |k, _| bump(k),
            &mut out,
        );
        self.diff(
            resource::KEY,
            &old.keys,
            keys,
            request_id,
            |k, _| bump(k),
            &mut out,
        );
        out
    }

    fn diff<T: Serialize + PartialEq>(
        &self,
        kind: &str,
        old: &BTreeMap<String, T>,
        new: &BTreeMap<String, T>,
        request_id: &str,
        version: impl Fn(&str, &T) -> i64,
        out: &mut Vec<(String, Option<GatewayState>)>,
    ) {
        for (id, value) in new {
            if old.get(id) == Some(value) {
                continue;
            }
            let key = GatewayState::key_of(kind, id);
            let record = GatewayState {
                kind: kind.to_owned(),
                id: id.clone(),
                version: version(&key, value),
                body: serde_json::to_string(value).expect("state serializes"),
                request_id: request_id.to_owned(),
            };
            out.push((key, Some(record)));
        }
        for id in old.keys().filter(|id| !new.contains_key(*id)) {
            out.push((GatewayState::key_of(kind, id), None));
        }
    }
}

fn parse<T: DeserializeOwned>(record: &GatewayState) -> Result<T, String> {
    serde_json::from_str(&record.body).map_err(|e| format!("body: {e}"))
}

fn put<T>(map: &mut BTreeMap<String, T>, id: &str, value: Option<T>) {
    match value {
        Some(v) => map.insert(id.to_owned(), v),
        None => map.remove(id),
    };
}
