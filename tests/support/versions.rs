//! Newer versions of the decision schema, for the tests of schema evolution: a schema with one
//! field more, and a decision written as a value of it.

#![allow(dead_code)]

use std::sync::LazyLock;

use apache_avro::types::Value;
use docket_records::{Decision, Record, RecordSchema};
use serde_json::{Value as Json, json};

/// The decision schema with one more field, appended at the end.
pub fn with_extra_field(field: Json) -> RecordSchema {
    let mut schema: Json = serde_json::from_str(Decision::schema().json()).unwrap();
    schema["fields"].as_array_mut().unwrap().push(field);
    RecordSchema::parse(&schema.to_string()).expect("valid schema")
}

/// v2: a new optional field with a default, the compatible kind of change.
pub static V2: LazyLock<RecordSchema> = LazyLock::new(|| {
    with_extra_field(json!({
        "name": "risk_score", "type": ["null", "double"], "default": null,
        "doc": "Risk score of the request, 0 to 1."
    }))
});

/// `decision` as a v2 value carrying `risk_score`.
pub fn v2_value(decision: &Decision, risk: f64) -> Value {
    let v1 = apache_avro::to_value(decision)
        .unwrap()
        .resolve(Decision::schema().parsed())
        .unwrap();
    let Value::Record(mut fields) = v1 else {
        panic!("a decision is a record")
    };
    fields.push((
        "risk_score".to_owned(),
        Value::Union(1, Box::new(Value::Double(risk))),
    ));
    Value::Record(fields)
}
