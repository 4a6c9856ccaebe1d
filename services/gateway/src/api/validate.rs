//! The OpenAI chat request shape, checked before any policy runs. What passes is the raw
//! JSON value the policy engine walks and the upstream receives: fields this check does
//! not know pass through untouched, fields it knows must have their documented types.
//! Messages need a known role and content that is a string, an array of content parts or
//! (for assistant messages carrying `tool_calls`) null. Error messages name the field by
//! its path (`messages[2].content`), never repeat its value.

use serde_json::{Map, Value};

/// Roles a message may have.
const ROLES: [&str; 6] = [
    "system",
    "developer",
    "user",
    "assistant",
    "tool",
    "function",
];

/// Why a request does not have the OpenAI shape.
pub type ShapeError = String;

/// Checks `body`; the message of an error names the offending field.
pub fn request(body: &Value) -> Result<(), ShapeError> {
    let obj = body.as_object().ok_or("the body must be a JSON object")?;
    match obj.get("model").and_then(Value::as_str) {
        Some(m) if !m.is_empty() => {}
        _ => return Err("'model' must be a non-empty string".to_owned()),
    }
    let messages = obj
        .get("messages")
        .and_then(Value::as_array)
        .filter(|m| !m.is_empty())
        .ok_or("'messages' must be a non-empty array")?;
    for (i, m) in messages.iter().enumerate() {
        message(m).map_err(|e| format!("messages[{i}]{e}"))?;
    }
    options(obj)?;
    if let Some(tools) = obj.get("tools") {
        tool_list(tools)?;
    }
    Ok(())
}

fn message(m: &Value) -> Result<(), ShapeError> {
    let m = m.as_object().ok_or(" must be an object")?;
    let role = m.get("role").and_then(Value::as_str);
    let Some(role) = role.filter(|r| ROLES.contains(r)) else {
        return Err(format!(".role must be one of {}", ROLES.join(", ")));
    };
    let content = m.get("content").unwrap_or(&Value::Null);
    match content {
        Value::String(_) => {}
        Value::Array(parts) => {
            for (i, p) in parts.iter().enumerate() {
                part(p).map_err(|e| format!(".content[{i}]{e}"))?;
            }
        }
        Value::Null if role == "assistant" && has_calls(m) => {}
        _ => return Err(".content must be a string or an array of content parts".to_owned()),
    }
    optional_str(m, "name").map_err(|e| format!(".{e}"))?;
    if role == "tool" && m.get("tool_call_id").and_then(Value::as_str).is_none() {
        return Err(".tool_call_id must be a string in a tool message".to_owned());
    }
    if let Some(calls) = m.get("tool_calls") {
        tool_calls(calls).map_err(|e| format!(".tool_calls{e}"))?;
    }
    Ok(())
}

fn has_calls(m: &Map<String, Value>) -> bool {
    m.get("tool_calls").is_some_and(Value::is_array) || m.get("function_call").is_some()
}

/// One content part: `text`, `image_url`, `input_audio`, `file` or `refusal`.
fn part(p: &Value) -> Result<(), ShapeError> {
    let p = p.as_object().ok_or(" must be an object")?;
    let needs = |field: &str, is: fn(&Value) -> bool, what: &str| {
        if p.get(field).is_some_and(is) {
            Ok(())
        } else {
            Err(format!(".{field} must be {what}"))
        }
    };
    match p.get("type").and_then(Value::as_str) {
        Some("text") => needs("text", Value::is_string, "a string"),
        Some("refusal") => needs("refusal", Value::is_string, "a string"),
        Some("image_url") => needs("image_url", Value::is_object, "an object"),
        Some("input_audio") => needs("input_audio", Value::is_object, "an object"),
        Some("file") => needs("file", Value::is_object, "an object"),
        _ => Err(".type must be text, image_url, input_audio, file or refusal".to_owned()),
    }
}

fn tool_calls(calls: &Value) -> Result<(), ShapeError> {
    let calls = calls.as_array().ok_or(" must be an array")?;
    for (i, c) in calls.iter().enumerate() {
        let function = c
            .get("function")
            .and_then(Value::as_object)
            .ok_or_else(|| format!("[{i}].function must be an object"))?;
        for field in ["name", "arguments"] {
            if !function.get(field).is_some_and(Value::is_string) {
                return Err(format!("[{i}].function.{field} must be a string"));
            }
        }
    }
    Ok(())
}

fn tool_list(tools: &Value) -> Result<(), ShapeError> {
    let tools = tools.as_array().ok_or("'tools' must be an array")?;
    for (i, t) in tools.iter().enumerate() {
        let function = t
            .get("function")
            .and_then(Value::as_object)
            .ok_or_else(|| format!("tools[{i}].function must be an object"))?;
        if !function.get("name").is_some_and(Value::is_string) {
            return Err(format!("tools[{i}].function.name must be a string"));
        }
        optional_str(function, "description").map_err(|e| format!("tools[{i}].function.{e}"))?;
    }
    Ok(())
}

/// The generation options: counts are non-negative integers, flags booleans.
fn options(obj: &Map<String, Value>) -> Result<(), ShapeError> {
    for field in ["max_tokens", "max_completion_tokens", "n", "seed"] {
        let ok = match obj.get(field) {
            None | Some(Value::Null) => true,
            Some(v) if field == "seed" => v.is_i64() || v.is_u64(),
            Some(v) => v.is_u64(),
        };
        if !ok {
            return Err(format!("'{field}' must be a non-negative integer"));
        }
    }
    for field in ["stream", "logprobs", "parallel_tool_calls"] {
        if obj
            .get(field)
            .is_some_and(|v| !v.is_boolean() && !v.is_null())
        {
            return Err(format!("'{field}' must be true or false"));
        }
    }
    for field in [
        "temperature",
        "top_p",
        "presence_penalty",
        "frequency_penalty",
    ] {
        if obj
            .get(field)
            .is_some_and(|v| !v.is_number() && !v.is_null())
        {
            return Err(format!("'{field}' must be a number"));
        }
    }
    optional_str(obj, "user")?;
    if obj
        .get("stop")
        .is_some_and(|v| !(v.is_null() || v.is_string() || all_strings(v)))
    {
        return Err("'stop' must be a string or an array of strings".to_owned());
    }
    Ok(())
}

fn all_strings(v: &Value) -> bool {
    v.as_array().is_some_and(|a| a.iter().all(Value::is_string))
}

fn optional_str(obj: &Map<String, Value>, field: &str) -> Result<(), ShapeError> {
    match obj.get(field) {
        None | Some(Value::Null | Value::String(_)) => Ok(()),
        Some(_) => Err(format!("{field} must be a string")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn with(field: &str, value: Value) -> Value {
        let mut body = json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]});
        body[field] = value;
        body
    }

    fn message_with(m: Value) -> Value {
        json!({"model": "m", "messages": [m]})
    }

    #[test]
    fn the_documented_shapes_pass() {
        let ok = [
            with("max_tokens", json!(0)),
            with("stream", json!(true)),
            with("stop", json!(["a", "b"])),
            with("extra_field_we_do_not_know", json!({"x": [1]})),
            message_with(json!({"role": "user", "content": [
                {"type": "text", "text": "hi"},
                {"type": "image_url", "image_url": {"url": "data:,"}}]})),
            message_with(json!({"role": "assistant", "content": null, "tool_calls": [
                {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]})),
            message_with(json!({"role": "tool", "tool_call_id": "c1", "content": "42"})),
            with(
                "tools",
                json!([{"type": "function", "function": {"name": "f", "description": "d"}}]),
            ),
        ];
        for body in ok {
            assert_eq!(request(&body), Ok(()), "{body}");
        }
    }

    #[test]
    fn wrong_types_are_refused_naming_the_field_not_the_value() {
        let secret = "sk-live-secret";
        let bad = [
            (
                message_with(json!({"role": "user", "content": 5})),
                "messages[0].content",
            ),
            (
                message_with(json!({"role": "user", "content": {"text": secret}})),
                "messages[0].content",
            ),
            (
                message_with(json!({"role": "user", "content": null})),
                "messages[0].content",
            ),
            (
                message_with(json!({"role": secret, "content": "x"})),
                "messages[0].role",
            ),
            (json!({"model": "m", "messages": [1, 2, 3]}), "messages[0]"),
            (with("max_tokens", json!("x")), "max_tokens"),
            (with("max_tokens", json!(-1)), "max_tokens"),
            (with("max_tokens", json!(1.5)), "max_tokens"),
            (with("stream", json!("yes")), "stream"),
            (with("user", json!(7)), "user"),
            (
                message_with(json!({"role": "user", "content": [{"type": "text", "text": 1}]})),
                "messages[0].content[0].text",
            ),
            (
                message_with(json!({"role": "user", "content": [{"type": secret}]})),
                "messages[0].content[0].type",
            ),
            (
                message_with(json!({"role": "user", "content": "x", "name": 3})),
                "messages[0].name",
            ),
            (
                message_with(
                    json!({"role": "assistant", "content": "x", "tool_calls": [{"function": {"name": "f", "arguments": {}}}]}),
                ),
                "messages[0].tool_calls[0].function.arguments",
            ),
            (
                with(
                    "tools",
                    json!([{"function": {"name": "f", "description": 1}}]),
                ),
                "tools[0].function.description",
            ),
            (json!([1]), "object"),
        ];
        for (body, field) in bad {
            let e = request(&body).expect_err(&body.to_string());
            assert!(e.contains(field), "{e} should name {field}");
            assert!(!e.contains(secret), "{e}");
        }
    }
}
