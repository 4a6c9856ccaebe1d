//! The gateway's real HTTP API as `demo` and `verify` use it: chat requests with the caller
//! key and admin calls with the admin token; every answer keeps its status, correlation id,
//! request id and JSON body.

use reqwest::Method;
use serde_json::{Value, json};

use crate::error::CliError;
use crate::local::Local;

/// A gateway client.
pub struct Gateway {
    base: String,
    client: reqwest::Client,
    api_key: String,
    admin_token: String,
}

/// One answer.
#[derive(Debug, Clone)]
pub struct Answer {
    /// HTTP status.
    pub status: u16,
    /// `x-correlation-id`.
    pub correlation_id: String,
    /// `x-request-id` (admin calls).
    pub request_id: Option<String>,
    /// The JSON body (null when it is not JSON).
    pub body: Value,
}

impl Gateway {
    /// The local run's gateway.
    pub fn new(local: &Local) -> Self {
        Self {
            base: local.gateway_url(),
            client: reqwest::Client::new(),
            api_key: local.api_key.clone(),
            admin_token: local.admin_token.clone(),
        }
    }

    /// One user message to `model`.
    pub async fn chat(&self, model: &str, text: &str) -> Result<Answer, CliError> {
        let body = json!({"model": model, "messages": [{"role": "user", "content": text}]});
        let req = self
            .client
            .post(format!("{}/v1/chat/completions", self.base))
            .bearer_auth(&self.api_key)
            .json(&body);
        self.send(req, "chat request").await
    }

    /// An admin call: `method` on `/admin/v1/{path}`.
    pub async fn admin(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Answer, CliError> {
        let mut req = self
            .client
            .request(method, format!("{}/admin/v1/{path}", self.base))
            .bearer_auth(&self.admin_token);
        if let Some(b) = body {
            req = req.json(b);
        }
        let answer = self.send(req, &format!("admin call {path}")).await?;
        if answer.status >= 300 {
            return Err(CliError::Unexpected(format!(
                "the gateway refused admin call {path} ({}): {}",
                answer.status, answer.body
            )));
        }
        Ok(answer)
    }

    async fn send(&self, req: reqwest::RequestBuilder, what: &str) -> Result<Answer, CliError> {
        let r = req.send().await.map_err(CliError::http(format!(
            "{what} to the gateway at {} (is `docket up` running?)",
            self.base
        )))?;
        let header = |name: &str| {
            r.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let correlation_id = header("x-correlation-id").unwrap_or_default();
        let request_id = header("x-request-id");
        let status = r.status().as_u16();
        let bytes = r
            .bytes()
            .await
            .map_err(CliError::http(format!("reading the {what}'s answer")))?;
        Ok(Answer {
            status,
            correlation_id,
            request_id,
            body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        })
    }

    /// Replaces policy `id` with its current definition (or `edit` of it), bumping its
    /// version; answers the new version and the call's request id.
    pub async fn touch_policy(
        &self,
        id: &str,
        edit: impl FnOnce(&mut Value),
    ) -> Result<(i64, String), CliError> {
        let current = self
            .admin(Method::GET, &format!("policies/{id}"), None)
            .await?;
        let mut policy = current.body.get("policy").cloned().unwrap_or(current.body);
        if let Some(obj) = policy.as_object_mut() {
            obj.remove("version");
        }
        edit(&mut policy);
        let done = self
            .admin(Method::PUT, &format!("policies/{id}"), Some(&policy))
            .await?;
        let version = done.body["policy"]["version"]
            .as_i64()
            .or_else(|| done.body["version"].as_i64())
            .ok_or_else(|| {
                CliError::Unexpected(format!(
                    "no version in the policy edit's answer: {}",
                    done.body
                ))
            })?;
        Ok((version, done.request_id.unwrap_or_default()))
    }
}
