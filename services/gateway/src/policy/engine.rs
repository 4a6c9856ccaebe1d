//! The evaluation order. At each stage the enabled policies run by kind, then by id:
//! guardrails first (a deny stops evaluation: nothing else runs and nothing is sent
//! upstream), then redactions (masking every text of the request or response, see
//! [`walk`]), then routing (request stage only).
//! The verdict is the strongest action taken; the driving policy is the first that took it.

use std::collections::BTreeMap;

use docket_records::{PolicyAction, PolicyRef, Stage, Verdict};
use serde_json::Value;

use super::guardrail::Guardrail;
use super::redaction::{Counts, Redaction};
use super::routing::Route;
use super::{Policy, PolicyError, Rules, walk};

/// Who asked for what: the conditions policies match on.
#[derive(Debug, Clone, Copy)]
pub struct RequestContext<'a> {
    /// Id of the caller's API key.
    pub api_key_id: &'a str,
    /// User behind the key.
    pub user: Option<&'a str>,
    /// Team owning the key.
    pub team: Option<&'a str>,
    /// Model the caller asked for.
    pub model: &'a str,
}

/// What one stage's evaluation decided.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// The strongest action taken (`Allow` when none acted).
    pub verdict: Verdict,
    /// The policy that drove the verdict.
    pub policy: Option<PolicyRef>,
    /// Every policy that acted, in evaluation order.
    pub actions: Vec<PolicyAction>,
    /// The deny's message, when denied.
    pub denial: Option<String>,
}

impl Outcome {
    fn from_actions(
        actions: Vec<PolicyAction>,
        refs: &[PolicyRef],
        denial: Option<String>,
    ) -> Self {
        let verdict = actions
            .iter()
            .map(|a| a.verdict)
            .max()
            .unwrap_or(Verdict::Allow);
        let policy = actions
            .iter()
            .position(|a| a.verdict == verdict)
            .map(|i| refs[i].clone());
        Self {
            verdict,
            policy,
            actions,
            denial,
        }
    }
}

/// A policy ready to run.
#[derive(Debug)]
pub struct CompiledPolicy {
    policy: Policy,
    matcher: Matcher,
}

#[derive(Debug)]
enum Matcher {
    Guardrail(Guardrail),
    Redaction(Redaction),
    Routing,
}

impl CompiledPolicy {
    /// Compiles one policy.
    pub fn compile(policy: &Policy) -> Result<Self, PolicyError> {
        let matcher = match &policy.rules {
            Rules::Guardrail(s) => Matcher::Guardrail(Guardrail::compile(&policy.id, s)?),
            Rules::Redaction(s) => Matcher::Redaction(Redaction::compile(&policy.id, s)?),
            Rules::Routing(_) => Matcher::Routing,
        };
        Ok(Self {
            policy: policy.clone(),
            matcher,
        })
    }

    fn rank(&self) -> u8 {
        match self.matcher {
            Matcher::Guardrail(_) => 0,
            Matcher::Redaction(_) => 1,
            Matcher::Routing => 2,
        }
    }
}

/// The enabled policies in evaluation order, with the revision they form.
#[derive(Debug, Default)]
pub struct CompiledSet {
    /// Revision of the policy set.
    pub revision: i64,
    policies: Vec<CompiledPolicy>,
}

impl CompiledSet {
    /// Compiles the enabled ones of `policies`.
    pub fn compile<'a>(
        revision: i64,
        policies: impl IntoIterator<Item = &'a Policy>,
    ) -> Result<Self, PolicyError> {
        let mut compiled = policies
            .into_iter()
            .filter(|p| p.enabled)
            .map(CompiledPolicy::compile)
            .collect::<Result<Vec<_>, _>>()?;
        compiled.sort_by(|a, b| (a.rank(), &a.policy.id).cmp(&(b.rank(), &b.policy.id)));
        Ok(Self {
            revision,
            policies: compiled,
        })
    }

    /// Runs the request stage over `body` (an OpenAI chat request), rewriting `route`.
    pub fn evaluate_request(
        &self,
        ctx: &RequestContext<'_>,
        body: &mut Value,
        route: &mut Route,
    ) -> Outcome {
        self.evaluate(Stage::Request, ctx, body, Some(route))
    }

    /// Runs the response stage over `body` (an OpenAI chat response).
    pub fn evaluate_response(&self, ctx: &RequestContext<'_>, body: &mut Value) -> Outcome {
        self.evaluate(Stage::Response, ctx, body, None)
    }

    fn evaluate(
        &self,
        stage: Stage,
        ctx: &RequestContext<'_>,
        body: &mut Value,
        mut route: Option<&mut Route>,
    ) -> Outcome {
        let mut actions = Vec::new();
        let mut refs = Vec::new();
        for cp in self.policies.iter().filter(|p| p.policy.runs_at(stage)) {
            let reference = cp.policy.reference();
            match (&cp.matcher, &cp.policy.rules) {
                (Matcher::Guardrail(g), _) => {
                    if !g.spec.scope.covers(ctx) {
                        continue;
                    }
                    if let Some(hit) = g.check(&texts(body)) {
                        let reason = g
                            .spec
                            .reason
                            .clone()
                            .unwrap_or_else(|| format!("denied by policy {}", cp.policy.name));
                        actions.push(action(
                            &reference,
                            Verdict::Deny,
                            Some(hit.rule_id),
                            hit.target,
                            Some(reason.clone()),
                        ));
                        refs.push(reference);
                        return Outcome::from_actions(actions, &refs, Some(reason));
                    }
                }
                (Matcher::Redaction(r), _) => {
                    let (counts, targets) = redact(body, r);
                    if !counts.is_empty() {
                        let mut a = action(
                            &reference,
                            Verdict::Redact,
                            None,
                            Some(targets.join(",")),
                            None,
                        );
                        a.redacted_count = counts.values().sum();
                        a.entity_types = counts.keys().cloned().collect();
                        actions.push(a);
                        refs.push(reference);
                    }
                }
                (Matcher::Routing, Rules::Routing(spec)) => {
                    let Some(route) = route.as_deref_mut() else {
                        continue;
                    };
                    if !spec.scope.covers(ctx) {
                        continue;
                    }
                    for rw in spec.apply(route) {
                        actions.push(action(
                            &reference,
                            Verdict::Modify,
                            Some(rw.rule_id.to_owned()),
                            Some(rw.target.to_owned()),
                            spec.reason.clone(),
                        ));
                        refs.push(reference.clone());
                    }
                }
                (Matcher::Routing, _) => {}
            }
        }
        Outcome::from_actions(actions, &refs, None)
    }
}

fn action(
    p: &PolicyRef,
    verdict: Verdict,
    rule_id: Option<String>,
    target: Option<String>,
    reason: Option<String>,
) -> PolicyAction {
    PolicyAction {
        policy_id: p.id.clone(),
        policy_version: p.version,
        verdict,
        rule_id,
        target,
        reason,
        redacted_count: 0,
        entity_types: Vec::new(),
    }
}

/// The paths and texts a stage looks at: every text of the request or response (see
/// [`walk`]), so what goes upstream and what comes back pass the same policies.
fn texts(body: &mut Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    walk::for_each_text(body, &mut |path, text| {
        out.push((path.to_owned(), text.clone()))
    });
    out
}

fn redact(body: &mut Value, r: &Redaction) -> (Counts, Vec<String>) {
    let mut counts = BTreeMap::new();
    let mut targets = Vec::new();
    walk::for_each_text(body, &mut |path, text| {
        let before: i32 = counts.values().sum();
        r.apply(text, &mut counts);
        if counts.values().sum::<i32>() > before {
            targets.push(path.to_owned());
        }
    });
    (counts, targets)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::policy::guardrail::GuardrailSpec;
    use crate::policy::redaction::RedactionSpec;
    use crate::policy::routing::RoutingSpec;

    fn policy(id: &str, rules: Rules) -> Policy {
        Policy {
            id: id.into(),
            name: id.into(),
            version: 3,
            enabled: true,
            stages: vec![],
            rules,
        }
    }

    fn ctx() -> RequestContext<'static> {
        RequestContext {
            api_key_id: "k1",
            user: Some("u"),
            team: Some("t"),
            model: "m",
        }
    }

    fn route() -> Route {
        Route {
            model: "m".into(),
            provider: None,
            max_tokens: None,
        }
    }

    fn set() -> CompiledSet {
        let policies = [
            policy(
                "z-route",
                Rules::Routing(RoutingSpec {
                    max_tokens: Some(10),
                    ..Default::default()
                }),
            ),
            policy(
                "b-pii",
                Rules::Redaction(RedactionSpec {
                    entities: vec!["email".into()],
                    custom: vec![],
                }),
            ),
            policy(
                "a-deny",
                Rules::Guardrail(GuardrailSpec {
                    keywords: vec!["forbidden".into()],
                    ..Default::default()
                }),
            ),
        ];
        CompiledSet::compile(7, &policies).unwrap()
    }

    #[test]
    fn deny_stops_evaluation() {
        let mut body = json!({"messages":[{"role":"user","content":"forbidden a@b.io"}]});
        let out = set().evaluate_request(&ctx(), &mut body, &mut route());
        assert_eq!(out.verdict, Verdict::Deny);
        assert_eq!(out.actions.len(), 1);
        assert_eq!(out.policy.unwrap().id, "a-deny");
    }

    #[test]
    fn strongest_action_drives_and_all_are_listed() {
        let mut body = json!({"messages":[{"role":"user","content":"mail a@b.io"}]});
        let mut r = route();
        let out = set().evaluate_request(&ctx(), &mut body, &mut r);
        assert_eq!(out.verdict, Verdict::Redact);
        assert_eq!(out.policy.unwrap().id, "b-pii");
        assert_eq!(out.actions.len(), 2);
        assert_eq!(out.actions[0].entity_types, vec!["email"]);
        assert_eq!(
            out.actions[0].target.as_deref(),
            Some("messages[0].content")
        );
        assert_eq!(r.max_tokens, Some(10));
        assert!(!body.to_string().contains("a@b.io"));
    }

    #[test]
    fn responses_see_only_response_stage_policies() {
        let mut body =
            json!({"choices":[{"message":{"role":"assistant","content":"forbidden a@b.io"}}]});
        let out = set().evaluate_response(&ctx(), &mut body);
        assert_eq!(out.verdict, Verdict::Redact);
        assert_eq!(
            out.actions[0].target.as_deref(),
            Some("choices[0].message.content")
        );
    }

    /// Places `text` in one of the request's text fields.
    fn request_with(text: &str, field: usize) -> Value {
        let mut body = json!({
            "model": "m",
            "messages": [{"role": "user", "content": "hi"}],
        });
        match field {
            0 => body["messages"][0]["content"] = json!(text),
            1 => body["messages"][0]["content"] = json!([{"type": "text", "text": text}]),
            2 => body["messages"][0]["name"] = json!(text),
            3 => {
                body["messages"][0]["tool_calls"] = json!([{"id": "c", "type": "function", "function": {"name": "f", "arguments": text}}])
            }
            4 => {
                body["tools"] =
                    json!([{"type": "function", "function": {"name": "f", "description": text}}])
            }
            5 => body["user"] = json!(text),
            _ => body["messages"][0]["content"] = json!({"note": text}),
        }
        body
    }

    fn pii_set() -> CompiledSet {
        let policies = [policy(
            "pii",
            Rules::Redaction(RedactionSpec {
                entities: vec!["email".into(), "card_number".into()],
                custom: vec![],
            }),
        )];
        CompiledSet::compile(1, &policies).unwrap()
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(1_000))]

        #[test]
        fn nothing_hidden_in_any_field_goes_upstream_or_into_the_record(
            h in crate::policy::generated::hidden(),
            field in 0usize..7,
        ) {
            let mut body = request_with(&h.text, field);
            let out = pii_set().evaluate_request(&ctx(), &mut body, &mut route());
            proptest::prop_assert_eq!(out.verdict, Verdict::Redact);
            let upstream = body.to_string();
            proptest::prop_assert!(!h.secret.survives_in(&upstream), "{}", upstream);
            let record = format!("{:?}", out);
            proptest::prop_assert!(!h.secret.survives_in(&record), "{}", record);
        }
    }

    #[test]
    fn a_card_in_any_field_is_masked_and_the_path_names_it() {
        let card = "card 4111 1111 1111 1111 12/27";
        for field in 0..7 {
            let mut body = request_with(card, field);
            let out = pii_set().evaluate_request(&ctx(), &mut body, &mut route());
            assert_eq!(out.verdict, Verdict::Redact, "field {field}");
            assert!(!body.to_string().contains("4111"), "{body}");
        }
        let mut body = request_with(card, 3);
        let out = pii_set().evaluate_request(&ctx(), &mut body, &mut route());
        assert_eq!(
            out.actions[0].target.as_deref(),
            Some("messages[0].tool_calls[0].function.arguments")
        );
    }
}
