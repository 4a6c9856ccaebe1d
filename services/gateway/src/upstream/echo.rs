//! The built-in `echo` provider: answers without network, deterministically, with the last
//! user message (its text parts joined by spaces when it is in content-parts form; cut to
//! `max_tokens` words when set), in the OpenAI response shape.

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
        .map(text_of)
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

/// The text of a message's content: the string, or the text parts joined by spaces.
fn text_of(content: &Value) -> String {
    match content {
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts
            .iter()
            .filter(|p| p.get("type").and_then(Value::as_str) == Some("text"))
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join(" "),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn echoes_the_text_parts_of_content_parts() {
        let a = answer(&json!({"model":"m","messages":[{"role":"user","content":[
            {"type":"text","text":"look at"},
            {"type":"image_url","image_url":{"url":"data:,"}},
            {"type":"text","text":"this"}]}]}));
        assert_eq!(a["choices"][0]["message"]["content"], "echo: look at this");
    }

    #[test]
    fn echoes_the_last_user_message_within_max_tokens() {
        let a = answer(&json!({"model":"m","max_tokens":2,"messages":[
            {"role":"user","content":"first"},{"role":"user","content":"one two three"}]}));
        assert_eq!(a["choices"][0]["message"]["content"], "echo: one two");
        assert_eq!(a["choices"][0]["finish_reason"], "length");
        assert_eq!(a["model"], "m");
    }
}
