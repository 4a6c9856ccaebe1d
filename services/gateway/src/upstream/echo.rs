//! The built-in `echo` provider: answers without network, deterministically, with the last
//! user message (cut to `max_tokens` words when set), in the OpenAI response shape.

use serde_json::{Value, json};

/// Prefix of the echoed content.
const PREFIX: &str = "echo: ";

/// The answer to `body`.
pub fn answer(body: &Value) -> Value {
    let model = body
        .get("model")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let last = body
        .get("messages")
        .and_then(Value::as_array)
        .and_then(|m| {
            m.iter()
                .rev()
                .find(|m| m.get("role").and_then(Value::as_str) == Some("user"))
        })
        .and_then(|m| m.get("content"))
        .and_then(Value::as_str)
        .unwrap_or_default();
    let mut words: Vec<&str> = last.split_whitespace().collect();
    let limit = body
        .get("max_tokens")
        .and_then(Value::as_u64)
        .map(|n| n as usize);
    let finish = match limit {
        Some(n) if words.len() > n => {
            words.truncate(n);
            "length"
        }
        _ => "stop",
    };
    let content = format!("{PREFIX}{}", words.join(" "));
    let tokens = words.len();
    json!({
        "id": "chatcmpl-echo",
        "object": "chat.completion",
        "created": 0,
        "model": model,
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": content},
            "finish_reason": finish
        }],
        "usage": {"prompt_tokens": tokens, "completion_tokens": tokens, "total_tokens": 2 * tokens}
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn echoes_the_last_user_message_within_max_tokens() {
        let a = answer(&json!({"model":"m","max_tokens":2,"messages":[
            {"role":"user","content":"first"},{"role":"user","content":"one two three"}]}));
        assert_eq!(a["choices"][0]["message"]["content"], "echo: one two");
        assert_eq!(a["choices"][0]["finish_reason"], "length");
        assert_eq!(a["model"], "m");
    }
}
