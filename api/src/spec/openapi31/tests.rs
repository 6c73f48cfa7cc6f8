//! Each conversion rule on its own, the walk reaching every place a schema can be, and the
//! served document converted and brought back unchanged.

use super::{downgrade::downgrade, *};
use serde_json::json;

fn schema_after(rule: fn(&mut Map<String, Value>), schema: Value) -> Value {
    let mut schema = schema.as_object().cloned().unwrap_or_default();
    rule(&mut schema);
    Value::Object(schema)
}

#[test]
fn nullable_becomes_null_among_the_types() {
    assert_eq!(
        schema_after(
            nullable,
            json!({"type": "string", "nullable": true, "maxLength": 3})
        ),
        json!({"type": ["string", "null"], "maxLength": 3})
    );
}

#[test]
fn a_nullable_enum_takes_null_among_its_values() {
    assert_eq!(
        schema_after(
            nullable,
            json!({"type": "string", "enum": ["a", "b"], "nullable": true})
        ),
        json!({"type": ["string", "null"], "enum": ["a", "b", null]})
    );
}

#[test]
fn a_nullable_schema_without_a_type_becomes_any_of_itself_and_null() {
    let reference = json!({"allOf": [{"$ref": "#/components/schemas/User"}], "nullable": true});
    assert_eq!(
        schema_after(nullable, reference),
        json!({"anyOf": [{"allOf": [{"$ref": "#/components/schemas/User"}]}, {"type": "null"}]})
    );
}

#[test]
fn nullable_false_is_dropped_and_the_type_kept() {
    assert_eq!(
        schema_after(nullable, json!({"type": "integer", "nullable": false})),
        json!({"type": "integer"})
    );
}

#[test]
fn a_schemas_example_becomes_its_examples() {
    assert_eq!(
        schema_after(examples, json!({"type": "integer", "example": 7})),
        json!({"type": "integer", "examples": [7]})
    );
    assert_eq!(
        schema_after(examples, json!({"type": "integer"})),
        json!({"type": "integer"})
    );
}

#[test]
fn boolean_exclusive_bounds_become_numeric() {
    assert_eq!(
        schema_after(
            exclusive_bounds,
            json!({"type": "number", "minimum": 0, "exclusiveMinimum": true, "maximum": 10, "exclusiveMaximum": true})
        ),
        json!({"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 10})
    );
    assert_eq!(
        schema_after(
            exclusive_bounds,
            json!({"type": "number", "minimum": 1, "exclusiveMinimum": false})
        ),
        json!({"type": "number", "minimum": 1})
    );
}

#[test]
fn a_binary_body_names_its_media_type() {
    let mut media = json!({"schema": {"type": "string", "format": "binary"}});
    binary_body(
        "application/jsonl; charset=utf-8",
        media.as_object_mut().unwrap(),
    );
    assert_eq!(
        media,
        json!({"schema": {"type": "string", "contentMediaType": "application/jsonl"}})
    );
    let mut any = json!({"schema": {"type": "string", "format": "binary"}});
    binary_body("*/*", any.as_object_mut().unwrap());
    assert_eq!(
        any["schema"]["contentMediaType"],
        "application/octet-stream"
    );
    // Text is no body of bytes.
    let mut text = json!({"schema": {"type": "string"}});
    binary_body("text/csv", text.as_object_mut().unwrap());
    assert_eq!(text, json!({"schema": {"type": "string"}}));
}

#[test]
fn the_x_twins_of_content_keywords_become_the_keywords() {
    let data = json!({
        "type": "string",
        "x-contentMediaType": "application/json",
        "x-contentSchema": {"$ref": "#/components/schemas/NotificationOut"},
    });
    assert_eq!(
        schema_after(content_keywords, data),
        json!({
            "type": "string",
            "contentMediaType": "application/json",
            "contentSchema": {"$ref": "#/components/schemas/NotificationOut"},
        })
    );
}

#[test]
fn the_walk_reaches_every_place_a_schema_can_be() {
    let nullable_string = json!({"type": "string", "nullable": true});
    let converted = json!({"type": ["string", "null"]});
    let operation = json!({
        "parameters": [{"name": "q", "in": "query", "schema": nullable_string}],
        "requestBody": {"content": {"application/json": {"schema": {
            "type": "object",
            "properties": {"a": nullable_string},
            "additionalProperties": nullable_string,
        }}}},
        "responses": {"200": {
            "headers": {"X-A": {"schema": nullable_string}},
            "content": {"application/json": {"schema": {
                "type": "array",
                "items": {"anyOf": [nullable_string, {"oneOf": [nullable_string]}]},
            }}},
        }},
    });
    let doc = json!({
        "openapi": "3.0.0",
        "paths": {"/a": {"parameters": [{"name": "p", "in": "path", "schema": nullable_string}], "get": operation}},
        "webhooks": {"hook": {"post": operation}},
        "components": {
            "schemas": {"S": {"allOf": [nullable_string], "not": nullable_string}},
            "parameters": {"P": {"schema": nullable_string}},
            "headers": {"H": {"schema": nullable_string}},
        },
    });
    let up = upgrade(&doc);
    let text = serde_json::to_string(&up).unwrap();
    assert!(!text.contains("nullable"), "a nullable left: {text}");
    assert_eq!(up["openapi"], "3.1.0");
    for pointer in [
        "/paths/~1a/parameters/0/schema",
        "/paths/~1a/get/parameters/0/schema",
        "/paths/~1a/get/requestBody/content/application~1json/schema/properties/a",
        "/paths/~1a/get/requestBody/content/application~1json/schema/additionalProperties",
        "/paths/~1a/get/responses/200/headers/X-A/schema",
        "/paths/~1a/get/responses/200/content/application~1json/schema/items/anyOf/0",
        "/paths/~1a/get/responses/200/content/application~1json/schema/items/anyOf/1/oneOf/0",
        "/webhooks/hook/post/parameters/0/schema",
        "/components/schemas/S/allOf/0",
        "/components/schemas/S/not",
        "/components/parameters/P/schema",
        "/components/headers/H/schema",
    ] {
        assert_eq!(up.pointer(pointer), Some(&converted), "{pointer}");
    }
    assert_eq!(downgrade(&up), doc, "the round trip");
}

#[test]
fn media_type_and_parameter_examples_stay_as_they_are() {
    let doc = json!({
        "openapi": "3.0.0",
        "paths": {"/a": {"get": {
            "parameters": [{"name": "q", "in": "query", "example": "x", "schema": {"type": "string"}}],
            "responses": {"404": {"content": {"application/problem+json": {
                "schema": {"$ref": "#/components/schemas/Problem"},
                "example": {"status": 404},
            }}}},
        }}},
    });
    let up = upgrade(&doc);
    let operation = &up["paths"]["/a"]["get"];
    assert_eq!(operation["parameters"][0]["example"], "x");
    assert_eq!(
        operation["responses"]["404"]["content"]["application/problem+json"]["example"],
        json!({"status": 404})
    );
}

/// Collects what a 3.1 document must no longer say.
#[derive(Default)]
struct Leftovers(Vec<String>);

impl Rules for Leftovers {
    fn schema(&mut self, schema: &mut Map<String, Value>) {
        for key in [
            "nullable",
            "example",
            "x-contentMediaType",
            "x-contentSchema",
        ] {
            if schema.contains_key(key) {
                self.0.push(format!("`{key}` in {schema:?}"));
            }
        }
        for key in ["exclusiveMinimum", "exclusiveMaximum"] {
            if schema.get(key).is_some_and(Value::is_boolean) {
                self.0.push(format!("boolean `{key}` in {schema:?}"));
            }
        }
    }

    fn media(&mut self, media_type: &str, media: &mut Map<String, Value>) {
        if media.get("schema").and_then(|s| s.get("format")) == Some(&json!("binary")) {
            self.0
                .push(format!("`format: binary` body under {media_type}"));
        }
    }
}

#[test]
fn the_served_document_converts_completely_and_back() {
    let source = crate::spec_source();
    let mut three_one = upgrade(&source);
    let mut left = Leftovers::default();
    walk_document(&mut three_one, &mut left);
    assert_eq!(left.0, Vec::<String>::new(), "3.0 left in the 3.1 document");
    let mut before = source.clone();
    let mut found = Leftovers::default();
    walk_document(&mut before, &mut found);
    assert!(!found.0.is_empty(), "the source has something to convert");
    assert_eq!(downgrade(&three_one), source);
}

#[test]
fn webhooks_stay_in_the_3_1_document_and_leave_the_3_0_one() {
    let source = json!({
        "openapi": "3.0.0",
        "paths": {},
        "webhooks": {"notification.sent": {"post": {"responses": {"200": {"description": "ok"}}}}},
    });
    assert!(crate::spec::v3_0(&source).get("webhooks").is_none());
    assert_eq!(
        crate::spec::v3_1(&source)["webhooks"],
        source["webhooks"],
        "nothing in it to convert"
    );
    assert!(crate::spec_value().get("webhooks").is_none());
}
