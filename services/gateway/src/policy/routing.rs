//! Routing: reroutes the model or provider and caps `max_tokens` for requests in scope.

use serde::{Deserialize, Serialize};

use super::Scope;

/// A routing policy as written.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoutingSpec {
    /// Caller and model conditions.
    #[serde(default, flatten)]
    pub scope: Scope,
    /// Model to call instead of the requested one.
    #[serde(default)]
    pub route_to: Option<String>,
    /// Provider to call instead of the model's own.
    #[serde(default)]
    pub provider: Option<String>,
    /// Largest `max_tokens` allowed.
    #[serde(default)]
    pub max_tokens: Option<u64>,
    /// Recorded with the action.
    #[serde(default)]
    pub reason: Option<String>,
}

/// One rewrite a routing policy made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rewrite {
    /// `route_to`, `provider` or `max_tokens`.
    pub rule_id: &'static str,
    /// The request field it changed.
    pub target: &'static str,
}

/// The routable parts of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// Model to call.
    pub model: String,
    /// Provider override, if any.
    pub provider: Option<String>,
    /// Requested `max_tokens`.
    pub max_tokens: Option<u64>,
}

impl RoutingSpec {
    /// Applies the rewrites to `route`, returning those that changed something.
    pub fn apply(&self, route: &mut Route) -> Vec<Rewrite> {
        let mut done = Vec::new();
        if let Some(to) = &self.route_to
            && *to != route.model
        {
            route.model = to.clone();
            done.push(Rewrite {
                rule_id: "route_to",
                target: "model",
            });
        }
        if let Some(p) = &self.provider
            && route.provider.as_ref() != Some(p)
        {
            route.provider = Some(p.clone());
            done.push(Rewrite {
                rule_id: "provider",
                target: "provider",
            });
        }
        if let Some(cap) = self.max_tokens
            && route.max_tokens.is_none_or(|m| m > cap)
        {
            route.max_tokens = Some(cap);
            done.push(Rewrite {
                rule_id: "max_tokens",
                target: "max_tokens",
            });
        }
        done
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rewrites_only_what_differs() {
        let spec = RoutingSpec {
            route_to: Some("small".into()),
            max_tokens: Some(100),
            ..Default::default()
        };
        let mut r = Route {
            model: "big".into(),
            provider: None,
            max_tokens: Some(50),
        };
        let done = spec.apply(&mut r);
        assert_eq!(done.len(), 1);
        assert_eq!(r.model, "small");
        assert_eq!(r.max_tokens, Some(50));
        r.max_tokens = None;
        assert_eq!(spec.apply(&mut r)[0].rule_id, "max_tokens");
        assert_eq!(r.max_tokens, Some(100));
    }
}
