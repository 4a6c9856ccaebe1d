//! The Avro schemas of Docket's records, loaded from the `.avsc` files in `schemas/`.
//!
//! `enriched_decision.avsc` names `docket.Decision` instead of repeating it; the full schema is
//! composed here by inlining `decision.avsc`, so the registry sees one self-contained schema.

use std::sync::LazyLock;

use apache_avro::Schema;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value as Json;

use crate::error::SchemaError;

const DECISION_AVSC: &str = include_str!("../../../schemas/decision.avsc");
const AUDIT_AVSC: &str = include_str!("../../../schemas/audit.avsc");
const ENRICHED_AVSC: &str = include_str!("../../../schemas/enriched_decision.avsc");
const GATEWAY_STATE_AVSC: &str = include_str!("../../../schemas/gateway_state.avsc");

/// A record type with a fixed Avro schema; the schema is the reader schema when decoding and
/// the writer schema when encoding.
pub trait Record: Serialize + DeserializeOwned + Send + Sync + 'static {
    /// The record's schema.
    fn schema() -> &'static RecordSchema;

    /// Reads a body written with the record's own schema by hand, when the type has such a
    /// reader (`None`: the generic decoding reads it). The error says what is wrong and where.
    fn read_own(_body: &[u8]) -> Option<Result<Self, String>> {
        None
    }

    /// Appends the record's body in its own schema to `out` by hand, when the type has such a
    /// writer (`false`, nothing written: the generic writer writes it).
    fn write_own(&self, _out: &mut Vec<u8>) -> bool {
        false
    }
}

/// A parsed, self-contained Avro schema with the JSON text registered for it.
#[derive(Debug)]
pub struct RecordSchema {
    parsed: Schema,
    json: String,
    full_name: String,
}

impl RecordSchema {
    /// Parses a self-contained schema from its JSON text.
    pub fn parse(json: &str) -> Result<Self, SchemaError> {
        let parsed = Schema::parse_str(json).map_err(|e| SchemaError::Invalid(e.to_string()))?;
        let full_name = match &parsed {
            Schema::Record(r) => r.name.fullname(None),
            other => return Err(SchemaError::NotARecord(format!("{:?}", other.name()))),
        };
        Ok(Self {
            parsed,
            json: parsed_json_text(json)?,
            full_name,
        })
    }

    /// The parsed schema.
    pub fn parsed(&self) -> &Schema {
        &self.parsed
    }

    /// The JSON text as registered (compact, with docs and defaults kept).
    pub fn json(&self) -> &str {
        &self.json
    }

    /// Full name of the record, e.g. `docket.Decision`.
    pub fn full_name(&self) -> &str {
        &self.full_name
    }
}

fn parsed_json_text(json: &str) -> Result<String, SchemaError> {
    let value: Json =
        serde_json::from_str(json).map_err(|e| SchemaError::Invalid(e.to_string()))?;
    Ok(value.to_string())
}

/// Replaces every field type that names `name` with the schema `with`, in a record schema.
fn inline_named_type(schema: &mut Json, name: &str, with: &Json) {
    let Some(fields) = schema.get_mut("fields").and_then(Json::as_array_mut) else {
        return;
    };
    for field in fields {
        if field.get("type").and_then(Json::as_str) == Some(name) {
            field["type"] = with.clone();
        }
    }
}

/// Composes the enriched-decision schema: its `decision` field names `docket.Decision`.
fn compose_enriched() -> Result<String, SchemaError> {
    let decision: Json =
        serde_json::from_str(DECISION_AVSC).map_err(|e| SchemaError::Invalid(e.to_string()))?;
    let mut enriched: Json =
        serde_json::from_str(ENRICHED_AVSC).map_err(|e| SchemaError::Invalid(e.to_string()))?;
    inline_named_type(&mut enriched, "docket.Decision", &decision);
    Ok(enriched.to_string())
}

fn load(json: Result<String, SchemaError>, file: &str) -> RecordSchema {
    json.and_then(|j| RecordSchema::parse(&j))
        .unwrap_or_else(|e| {
            panic!("schemas/{file} is shipped with the crate and must be valid: {e}")
        })
}

static DECISION: LazyLock<RecordSchema> =
    LazyLock::new(|| load(Ok(DECISION_AVSC.to_owned()), "decision.avsc"));
static AUDIT: LazyLock<RecordSchema> =
    LazyLock::new(|| load(Ok(AUDIT_AVSC.to_owned()), "audit.avsc"));
static ENRICHED: LazyLock<RecordSchema> =
    LazyLock::new(|| load(compose_enriched(), "enriched_decision.avsc"));
static GATEWAY_STATE: LazyLock<RecordSchema> =
    LazyLock::new(|| load(Ok(GATEWAY_STATE_AVSC.to_owned()), "gateway_state.avsc"));

/// Schema of [`crate::Decision`].
pub(crate) fn decision() -> &'static RecordSchema {
    &DECISION
}

/// Schema of [`crate::Audit`].
pub(crate) fn audit() -> &'static RecordSchema {
    &AUDIT
}

/// Schema of [`crate::EnrichedDecision`].
pub(crate) fn enriched_decision() -> &'static RecordSchema {
    &ENRICHED
}

/// Schema of [`crate::GatewayState`].
pub(crate) fn gateway_state() -> &'static RecordSchema {
    &GATEWAY_STATE
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all() -> [&'static RecordSchema; 3] {
        [decision(), audit(), enriched_decision()]
    }

    #[test]
    fn shipped_schemas_parse_with_their_names() {
        let names: Vec<_> = all().iter().map(|s| s.full_name().to_owned()).collect();
        assert_eq!(
            names,
            ["docket.Decision", "docket.Audit", "docket.EnrichedDecision"]
        );
    }

    #[test]
    fn enriched_schema_is_self_contained() {
        assert!(
            !enriched_decision()
                .json()
                .contains("\"type\":\"docket.Decision\"")
        );
        assert!(enriched_decision().json().contains("\"name\":\"Decision\""));
    }

    /// Every field, at every depth, documents itself.
    #[test]
    fn every_field_has_a_doc() {
        fn walk(v: &Json, path: &str, missing: &mut Vec<String>) {
            match v {
                Json::Object(map) => {
                    if let Some(fields) = map.get("fields").and_then(Json::as_array) {
                        for f in fields {
                            let name = f.get("name").and_then(Json::as_str).unwrap_or("?");
                            if f.get("doc")
                                .and_then(Json::as_str)
                                .is_none_or(str::is_empty)
                            {
                                missing.push(format!("{path}.{name}"));
                            }
                        }
                    }
                    for (k, child) in map {
                        walk(child, &format!("{path}/{k}"), missing);
                    }
                }
                Json::Array(items) => items.iter().for_each(|c| walk(c, path, missing)),
                _ => {}
            }
        }
        let mut missing = Vec::new();
        for s in all() {
            walk(
                &serde_json::from_str(s.json()).unwrap(),
                s.full_name(),
                &mut missing,
            );
        }
        assert!(missing.is_empty(), "fields without doc: {missing:?}");
    }
}
