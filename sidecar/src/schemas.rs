//! Component schemas of the OpenAPI document.
//!
//! Owns: the schema of every request and response body. Object schemas are inferred from the
//! serialized form of real model values (their defaults or a filled-in example), so field
//! names and JSON types come from the code itself; what serialization cannot show (the allowed
//! values of enumerations, nullability of absent options) is added by hand next to them.
//! Does not own: validation rules (the engine's model checks those and reports them as
//! problems).

use serde::Serialize;
use serde_json::{json, Map, Value};

/// `components.schemas`.
pub(crate) fn components() -> Value {
    let mut schemas = Map::new();
    schemas.insert(
        "Problem".into(),
        json!({
            "type": "object",
            "required": ["type", "status", "title", "detail", "errors"],
            "properties": {
                "type": {"type": "string"},
                "status": {"type": "integer"},
                "title": {"type": "string"},
                "detail": {"type": "string"},
                "errors": {"type": "array", "items": {
                    "type": "object",
                    "required": ["field", "rule", "message"],
                    "properties": {
                        "field": {"type": "string"},
                        "rule": {"type": "string"},
                        "message": {"type": "string"}
                    }
                }}
            }
        }),
    );
    schemas.insert(
        "OpenApiDocument".into(),
        json!({"type": "object", "description": "An OpenAPI 3.0 document."}),
    );
    // Until the admin service is wired in, the model's schemas are open objects.
    for route in crate::routes::ROUTES {
        for payload in [route.request, route.response] {
            if let crate::routes::Payload::Json(name) | crate::routes::Payload::JsonList(name) =
                payload
            {
                schemas
                    .entry(name.to_owned())
                    .or_insert_with(|| json!({"type": "object"}));
            }
        }
    }
    Value::Object(schemas)
}

/// The schema of a serialized value: objects list their properties (all required), arrays
/// take the schema of their first item, `null` admits anything (an absent option).
pub(crate) fn infer(value: &Value) -> Value {
    match value {
        Value::Null => json!({"nullable": true}),
        Value::Bool(_) => json!({"type": "boolean"}),
        Value::Number(n) if n.is_f64() => json!({"type": "number"}),
        Value::Number(_) => json!({"type": "integer"}),
        Value::String(_) => json!({"type": "string"}),
        Value::Array(items) => json!({
            "type": "array",
            "items": items.first().map(infer).unwrap_or_else(|| json!({}))
        }),
        Value::Object(fields) => {
            let properties: Map<String, Value> =
                fields.iter().map(|(k, v)| (k.clone(), infer(v))).collect();
            let required: Vec<&String> = fields
                .iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, _)| k)
                .collect();
            json!({"type": "object", "properties": properties, "required": required})
        }
    }
}

/// The schema of `value` as serialized.
#[allow(dead_code)]
pub(crate) fn of<T: Serialize>(value: &T) -> Value {
    infer(&serde_json::to_value(value).unwrap_or(Value::Null))
}

/// A patch schema: the full type's properties, none required.
#[allow(dead_code)]
pub(crate) fn patch_of(full: &Value) -> Value {
    let mut patch = full.clone();
    if let Value::Object(map) = &mut patch {
        map.remove("required");
        if let Some(Value::Object(props)) = map.get_mut("properties") {
            for v in props.values_mut() {
                *v = patch_of(v);
            }
        }
    }
    patch
}
