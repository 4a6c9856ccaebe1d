//! Policies: their stored form, compilation into matchers, and evaluation in a fixed order
//! (see [`engine`]).

pub mod cards;
pub mod engine;
#[cfg(test)]
mod generated;
pub mod guardrail;
pub mod normalize;
pub mod redaction;
pub mod routing;
pub mod walk;

use docket_records::{PolicyKind, PolicyRef, Stage};
use serde::{Deserialize, Serialize};
use thiserror::Error;

pub use engine::{CompiledSet, Outcome, RequestContext};

/// A policy as stored and as the admin API shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Policy {
    /// Stable id.
    pub id: String,
    /// Human-readable name.
    pub name: String,
    /// Bumped by every edit.
    #[serde(default = "first_version")]
    pub version: i64,
    /// Disabled policies are kept but never evaluated.
    #[serde(default = "enabled")]
    pub enabled: bool,
    /// Stages it runs at; empty means the kind's default stages.
    #[serde(default)]
    pub stages: Vec<StageName>,
    /// What it does.
    #[serde(flatten)]
    pub rules: Rules,
}

fn first_version() -> i64 {
    1
}

fn enabled() -> bool {
    true
}

/// A stage as written in policies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StageName {
    /// Before the upstream call.
    Request,
    /// On the upstream's answer.
    Response,
}

/// The kind of a policy and its rules.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "spec", rename_all = "snake_case")]
pub enum Rules {
    /// Denies matching requests.
    Guardrail(guardrail::GuardrailSpec),
    /// Masks sensitive content.
    Redaction(redaction::RedactionSpec),
    /// Rewrites model, provider and parameters.
    Routing(routing::RoutingSpec),
}

/// A policy that cannot be compiled.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("policy {policy}: {field}: {reason}")]
pub struct PolicyError {
    /// Policy id.
    pub policy: String,
    /// The offending field.
    pub field: String,
    /// What is wrong.
    pub reason: String,
}

impl Policy {
    /// The record kind.
    pub fn kind(&self) -> PolicyKind {
        match self.rules {
            Rules::Guardrail(_) => PolicyKind::Guardrail,
            Rules::Redaction(_) => PolicyKind::Redaction,
            Rules::Routing(_) => PolicyKind::Routing,
        }
    }

    /// The reference carried by decisions.
    pub fn reference(&self) -> PolicyRef {
        PolicyRef {
            id: self.id.clone(),
            name: self.name.clone(),
            kind: self.kind(),
            version: self.version,
        }
    }

    /// Whether it runs at `stage` (its own stages, or the kind's defaults).
    pub fn runs_at(&self, stage: Stage) -> bool {
        let wanted = match stage {
            Stage::Request => StageName::Request,
            Stage::Response => StageName::Response,
        };
        if self.stages.is_empty() {
            return match self.rules {
                Rules::Redaction(_) => true,
                Rules::Guardrail(_) | Rules::Routing(_) => stage == Stage::Request,
            };
        }
        self.stages.contains(&wanted)
    }

    /// Checks names and rules (compiling them) without keeping the result.
    pub fn validate(&self) -> Result<(), PolicyError> {
        let fail = |field: &str, reason: &str| PolicyError {
            policy: self.id.clone(),
            field: field.to_owned(),
            reason: reason.to_owned(),
        };
        if self.id.trim().is_empty() || self.id.contains('/') {
            return Err(fail("id", "must be non-empty and contain no '/'"));
        }
        if self.name.trim().is_empty() {
            return Err(fail("name", "must not be empty"));
        }
        if matches!(self.rules, Rules::Routing(_)) && self.stages.contains(&StageName::Response) {
            return Err(fail("stages", "routing runs at the request stage only"));
        }
        engine::CompiledPolicy::compile(self).map(|_| ())
    }
}

/// Matches a value against an optional allow-list (empty means everything).
pub(crate) fn in_scope(list: &[String], value: Option<&str>) -> bool {
    list.is_empty() || value.is_some_and(|v| list.iter().any(|x| x == v))
}

/// Caller and model conditions shared by guardrails and routing.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Scope {
    /// Requested models it applies to (empty: all).
    #[serde(default)]
    pub models: Vec<String>,
    /// Teams it applies to (empty: all).
    #[serde(default)]
    pub teams: Vec<String>,
    /// Users it applies to (empty: all).
    #[serde(default)]
    pub users: Vec<String>,
    /// API key ids it applies to (empty: all).
    #[serde(default)]
    pub api_keys: Vec<String>,
}

impl Scope {
    /// Whether the request falls within these conditions.
    pub fn covers(&self, ctx: &RequestContext<'_>) -> bool {
        in_scope(&self.models, Some(ctx.model))
            && in_scope(&self.teams, ctx.team)
            && in_scope(&self.users, ctx.user)
            && in_scope(&self.api_keys, Some(ctx.api_key_id))
    }
}
