//! W3C trace context: the incoming `traceparent` is honoured (its trace id becomes the
//! correlation id); otherwise a fresh trace id is made. Each response gets a new span id.

use rand::RngExt;

/// The trace of one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceContext {
    /// 32 lowercase hex digits; the correlation id.
    pub trace_id: String,
    /// 16 lowercase hex digits: the gateway's span.
    pub span_id: String,
    /// Trace flags from the caller (`01` sampled when new).
    pub flags: String,
}

impl TraceContext {
    /// The caller's trace when `traceparent` is valid, else a new one.
    pub fn from_header(traceparent: Option<&str>) -> Self {
        let span_id = random_hex(8);
        match traceparent.and_then(parse) {
            Some((trace_id, flags)) => Self {
                trace_id,
                span_id,
                flags,
            },
            None => Self {
                trace_id: random_hex(16),
                span_id,
                flags: "01".to_owned(),
            },
        }
    }

    /// The `traceparent` header value naming the gateway's span.
    pub fn traceparent(&self) -> String {
        format!("00-{}-{}-{}", self.trace_id, self.span_id, self.flags)
    }
}

/// Length of a version-00 `traceparent`: `vv-<32>-<16>-ff`.
const V00_LEN: usize = 55;

/// Trace id and flags of a valid `traceparent`, as W3C Trace Context (level 1, section 3.2)
/// says: version `00` is exactly four fields; a higher version (`ff` is invalid) is read
/// by position, its first 55 characters as in `00`, followed by the end or a `-` and
/// fields this version does not know, and only the sampled bit of its flags is kept.
fn parse(value: &str) -> Option<(String, String)> {
    let value = value.trim();
    let version = value.get(..2)?;
    if !is_hex(version, 2) || version == "ff" {
        return None;
    }
    let future = version != "00";
    let head = value.get(..V00_LEN)?;
    let rest = &value[V00_LEN..];
    if (!future && !rest.is_empty()) || (future && !(rest.is_empty() || rest.starts_with('-'))) {
        return None;
    }
    let parts: Vec<&str> = head.split('-').collect();
    let [_, trace, parent, flags] = parts.as_slice() else {
        return None;
    };
    let ok = is_hex(trace, 32)
        && is_hex(parent, 16)
        && is_hex(flags, 2)
        && trace.bytes().any(|b| b != b'0')
        && parent.bytes().any(|b| b != b'0');
    if !ok {
        return None;
    }
    let flags = if future {
        let sampled = u8::from_str_radix(flags, 16).ok()? & 1;
        format!("{sampled:02x}")
    } else {
        (*flags).to_owned()
    };
    Some(((*trace).to_owned(), flags))
}

fn is_hex(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

fn random_hex(bytes: usize) -> String {
    let mut rng = rand::rng();
    let raw: Vec<u8> = (0..bytes).map(|_| rng.random()).collect();
    hex::encode(raw)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn honours_a_valid_traceparent() {
        let t = TraceContext::from_header(Some(
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        ));
        assert_eq!(t.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_ne!(t.span_id, "00f067aa0ba902b7");
        assert!(
            t.traceparent()
                .starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-")
        );
    }

    #[test]
    fn reads_future_versions_by_position() {
        let trace = "4bf92f3577b34da6a3ce929d0e0e4736";
        for (header, flags) in [
            (
                "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                "01",
            ),
            (
                "cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-09-what-the-future-holds",
                "01",
            ),
            (
                "02-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-fe",
                "00",
            ),
        ] {
            let t = TraceContext::from_header(Some(header));
            assert_eq!(
                (t.trace_id.as_str(), t.flags.as_str()),
                (trace, flags),
                "{header}"
            );
            assert!(t.traceparent().starts_with("00-"), "we speak version 00");
        }
    }

    #[test]
    fn replaces_invalid_ones() {
        for bad in [
            "garbage",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x",
            "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "0é-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        ] {
            let t = TraceContext::from_header(Some(bad));
            assert!(is_hex(&t.trace_id, 32));
            assert!(!bad.contains(&t.trace_id));
        }
    }
}
