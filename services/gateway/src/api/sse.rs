//! `stream: true`: the upstream is called without streaming, the response-stage policies run on
//! the whole answer, and the result is then sent as OpenAI server-sent events (one chunk per
//! choice, then `[DONE]`). Buffering is the price of response-stage redaction: text a policy
//! would mask is never sent before the policy has seen all of it.

use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

const STREAM_FIELD: &str = "stream";
const STREAM_OPTIONS_FIELD: &str = "stream_options";
const EVENT_STREAM: &str = "text/event-stream";
const DONE: &str = "data: [DONE]\n\n";

/// Whether the caller asked for a stream; removes the request's stream fields either way, so
/// the upstream answers in one piece.
pub fn requested(body: &mut Value) -> bool {
    let Some(obj) = body.as_object_mut() else {
        return false;
    };
    obj.remove(STREAM_OPTIONS_FIELD);
    obj.remove(STREAM_FIELD).and_then(|v| v.as_bool()) == Some(true)
}

/// The (already policy-checked) answer as server-sent events.
pub fn response(answer: &Value) -> Response {
    let headers = [(CONTENT_TYPE, EVENT_STREAM), (CACHE_CONTROL, "no-cache")];
    (headers, events(answer)).into_response()
}

/// The events of `answer`: one chunk per choice, then `[DONE]`.
fn events(answer: &Value) -> String {
    let mut out = String::new();
    let choices = answer
        .get("choices")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for (i, choice) in choices.iter().enumerate() {
        let chunk = json!({
            "id": answer.get("id"),
            "object": "chat.completion.chunk",
            "created": answer.get("created"),
            "model": answer.get("model"),
            "choices": [{
                "index": choice.get("index").cloned().unwrap_or(json!(i)),
                "delta": choice.get("message"),
                "finish_reason": choice.get("finish_reason"),
            }],
        });
        out.push_str(&format!("data: {chunk}\n\n"));
    }
    out.push_str(DONE);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_every_choice_then_done() {
        let mut req =
            json!({"model": "m", "stream": true, "stream_options": {"include_usage": true}});
        assert!(requested(&mut req));
        assert_eq!(req, json!({"model": "m"}));
        let answer = json!({"id": "x", "model": "m", "choices": [
            {"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"},
            {"index": 1, "message": {"role": "assistant", "content": "ho"}, "finish_reason": "length"}]});
        let r = response(&answer);
        assert_eq!(r.headers()[CONTENT_TYPE], EVENT_STREAM);
        let text = events(&answer);
        let events: Vec<&str> = text.split("\n\n").filter(|e| !e.is_empty()).collect();
        assert_eq!(events.len(), 3, "{text}");
        assert_eq!(events[2], "data: [DONE]");
        for (i, (content, finish)) in [("hi", "stop"), ("ho", "length")].iter().enumerate() {
            let chunk: Value =
                serde_json::from_str(events[i].strip_prefix("data: ").unwrap()).unwrap();
            assert_eq!(chunk["object"], "chat.completion.chunk");
            assert_eq!(chunk["choices"][0]["index"], i);
            assert_eq!(chunk["choices"][0]["delta"]["content"], *content);
            assert_eq!(chunk["choices"][0]["finish_reason"], *finish);
        }
    }
}
