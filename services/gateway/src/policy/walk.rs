//! Every piece of text in a request or response that policies must see: each string value
//! anywhere in the JSON (message `content` as a string, as parts or as an object, `name`,
//! `tool_calls[].function.arguments`, `tools[].function.description` and `parameters`,
//! `user`, `metadata`, ...), each object key, and each integer long enough to be a card
//! number, skipping only structural values (`model`, `role`, `type`, ids, `finish_reason`).
//!
//! Paths name the text for records (`messages[0].content`) without ever copying a value from
//! the request: an object key outside the OpenAI vocabulary is shown as `{#n}`, its position.

use serde_json::{Map, Value};

/// Keys whose string values are structure, not text.
const STRUCTURAL: [&str; 10] = [
    "model",
    "role",
    "type",
    "object",
    "id",
    "tool_call_id",
    "finish_reason",
    "system_fingerprint",
    "detail",
    "format",
];

/// Keys of the OpenAI chat request and response that may appear verbatim in a path.
const VOCABULARY: [&str; 36] = [
    "messages",
    "content",
    "text",
    "name",
    "tool_calls",
    "function",
    "arguments",
    "function_call",
    "tools",
    "description",
    "parameters",
    "properties",
    "items",
    "enum",
    "default",
    "examples",
    "title",
    "user",
    "metadata",
    "choices",
    "message",
    "refusal",
    "image_url",
    "url",
    "input_audio",
    "data",
    "audio",
    "transcript",
    "file",
    "file_data",
    "filename",
    "stop",
    "response_format",
    "json_schema",
    "schema",
    "tool_choice",
];

/// Integers with at least this many digits are looked at (the shortest card number).
const MIN_NUMBER_DIGITS: usize = 13;

/// Calls `f` with the path and a mutable copy of every text of `body`; a text `f` changed
/// replaces the original (an integer becomes a string).
pub fn for_each_text(body: &mut Value, f: &mut impl FnMut(&str, &mut String)) {
    walk(body, &mut String::new(), f);
}

fn walk(value: &mut Value, path: &mut String, f: &mut impl FnMut(&str, &mut String)) {
    match value {
        Value::String(s) => f(path, s),
        Value::Number(n) => {
            let mut text = n.to_string();
            if text.len() >= MIN_NUMBER_DIGITS && !text.contains(['.', 'e', 'E']) {
                let before = text.clone();
                f(path, &mut text);
                if text != before {
                    *value = Value::String(text);
                }
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                let len = path.len();
                path.push_str(&format!("[{i}]"));
                walk(item, path, f);
                path.truncate(len);
            }
        }
        Value::Object(map) => walk_object(map, path, f),
        Value::Bool(_) | Value::Null => {}
    }
}

fn walk_object(
    map: &mut Map<String, Value>,
    path: &mut String,
    f: &mut impl FnMut(&str, &mut String),
) {
    let mut renamed = Vec::new();
    for (i, (key, item)) in map.iter_mut().enumerate() {
        let len = path.len();
        if !path.is_empty() {
            path.push('.');
        }
        match VOCABULARY
            .iter()
            .chain(STRUCTURAL.iter())
            .find(|k| *k == key)
        {
            Some(known) => path.push_str(known),
            None => path.push_str(&format!("{{#{i}}}")),
        }
        let structural = STRUCTURAL.contains(&key.as_str()) && item.is_string();
        if !structural {
            walk(item, path, f);
        }
        let mut new_key = key.clone();
        path.push_str("{key}");
        f(path, &mut new_key);
        if new_key != *key {
            renamed.push((key.clone(), new_key));
        }
        path.truncate(len);
    }
    for (old, new) in renamed {
        if let Some(v) = map.remove(&old) {
            map.insert(new, v);
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn paths(mut body: Value) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for_each_text(&mut body, &mut |p, t| {
            if !p.ends_with("{key}") {
                out.push((p.to_owned(), t.clone()));
            }
        });
        out
    }

    #[test]
    fn every_text_field_is_visited_and_structure_is_not() {
        let body = json!({
            "model": "m",
            "user": "u-text",
            "messages": [
                {"role": "user", "name": "n-text", "content": [
                    {"type": "text", "text": "part-text"},
                    {"type": "image_url", "image_url": {"url": "url-text"}}
                ]},
                {"role": "assistant", "content": {"odd": "object-text"},
                 "tool_calls": [{"id": "c1", "type": "function",
                                 "function": {"name": "f", "arguments": "args-text"}}]}
            ],
            "tools": [{"type": "function", "function": {"name": "f", "description": "desc-text",
                       "parameters": {"type": "object", "properties": {"q": {"description": "param-text"}}}}}],
            "metadata": {"k": 4111111111111111u64}
        });
        let seen = paths(body);
        let texts: Vec<&str> = seen.iter().map(|(_, t)| t.as_str()).collect();
        for t in [
            "u-text",
            "n-text",
            "part-text",
            "url-text",
            "object-text",
            "args-text",
            "desc-text",
            "param-text",
            "4111111111111111",
        ] {
            assert!(texts.contains(&t), "{t} not visited: {seen:?}");
        }
        for t in ["m", "user", "text", "c1", "function", "object"] {
            assert!(!texts.contains(&t), "{t} is structure: {seen:?}");
        }
        let paths: Vec<&str> = seen.iter().map(|(p, _)| p.as_str()).collect();
        assert!(paths.contains(&"messages[0].content[0].text"));
        assert!(paths.contains(&"messages[1].tool_calls[0].function.arguments"));
        assert!(paths.contains(&"messages[1].content.{#0}"), "{paths:?}");
    }

    #[test]
    fn changed_keys_and_numbers_are_replaced() {
        let mut body = json!({"metadata": {"secret-key": 4111111111111111u64, "n": 7}});
        for_each_text(&mut body, &mut |_, t| {
            if t.contains("secret") || t.contains("4111") {
                *t = "X".into();
            }
        });
        assert_eq!(body, json!({"metadata": {"X": "X", "n": 7}}));
    }
}
