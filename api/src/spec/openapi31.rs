//! The OpenAPI 3.1 document, converted from the 3.0 one the service's operations write.
//!
//! poem-openapi writes OpenAPI 3.0 (3.1 is its open issue 914). Generators that read only 3.0
//! (progenitor) get that document; tools built on JSON Schema 2020-12 get this one, the same
//! API converted rule by rule, each rule a function of its own:
//!
//! - [`version`]: `openapi: 3.1.0`;
//! - [`nullable`]: `nullable: true` becomes `"null"` in `type` (and in `enum`, which would
//!   otherwise refuse it); a schema without a `type` becomes `anyOf` of itself and
//!   `{type: "null"}`;
//! - [`examples`]: a schema's `example` becomes `examples: [example]` (media types, parameters
//!   and headers keep `example`, which 3.1 keeps there);
//! - [`exclusive_bounds`]: a boolean `exclusiveMinimum` / `exclusiveMaximum` becomes the bound
//!   itself, a number;
//! - [`binary_body`]: a body of bytes (`type: string, format: binary` as a media type's schema)
//!   says its media type in `contentMediaType` instead;
//! - [`content_keywords`]: the `x-contentMediaType` and `x-contentSchema` of a string that
//!   carries another document (a Server-Sent Event's `data`), which 3.0 has no keyword for,
//!   become 3.1's `contentMediaType` and `contentSchema`;
//! - `webhooks` stays where the 3.0 document cannot have it ([`super::v3_0`] removes it).
//!
//! Everything else is the same in both versions and passes unchanged.

use serde_json::{Map, Value, json};

/// The 3.1 document of the API `doc` (the completed 3.0 source) describes.
pub fn upgrade(doc: &Value) -> Value {
    let mut doc = doc.clone();
    walk_document(&mut doc, &mut Upgrade);
    version(&mut doc);
    doc
}

/// What the walk does to each schema and media type on the way to 3.1.
struct Upgrade;

impl Rules for Upgrade {
    fn schema(&mut self, schema: &mut Map<String, Value>) {
        examples(schema);
        exclusive_bounds(schema);
        content_keywords(schema);
        nullable(schema);
    }

    fn media(&mut self, media_type: &str, media: &mut Map<String, Value>) {
        binary_body(media_type, media);
    }
}

/// The rule for the document itself: it says it is 3.1.0.
pub(crate) fn version(doc: &mut Value) {
    if let Some(doc) = doc.as_object_mut() {
        doc.insert("openapi".to_owned(), json!("3.1.0"));
    }
}

/// `nullable: true` as 3.1 says it: `null` is one of the schema's types.
pub(crate) fn nullable(schema: &mut Map<String, Value>) {
    match schema.remove("nullable") {
        Some(Value::Bool(true)) => {}
        Some(_) | None => return,
    }
    if let Some(Value::Array(values)) = schema.get_mut("enum")
        && !values.contains(&Value::Null)
    {
        values.push(Value::Null);
    }
    match schema.get_mut("type") {
        Some(Value::String(kind)) => {
            let kind = std::mem::take(kind);
            schema.insert("type".to_owned(), json!([kind, "null"]));
        }
        Some(Value::Array(kinds)) => {
            if !kinds.contains(&json!("null")) {
                kinds.push(json!("null"));
            }
        }
        _ => {
            let inner = std::mem::take(schema);
            schema.insert(
                "anyOf".to_owned(),
                json!([Value::Object(inner), {"type": "null"}]),
            );
        }
    }
}

/// A schema's one `example` as JSON Schema's `examples` array.
pub(crate) fn examples(schema: &mut Map<String, Value>) {
    let Some(example) = schema.remove("example") else {
        return;
    };
    match schema.get_mut("examples") {
        Some(Value::Array(all)) => all.insert(0, example),
        _ => {
            schema.insert("examples".to_owned(), json!([example]));
        }
    }
}

/// 3.0's boolean `exclusiveMinimum` / `exclusiveMaximum` beside `minimum` / `maximum` as 3.1's
/// numeric ones.
pub(crate) fn exclusive_bounds(schema: &mut Map<String, Value>) {
    for (exclusive, inclusive) in [
        ("exclusiveMinimum", "minimum"),
        ("exclusiveMaximum", "maximum"),
    ] {
        match schema.get(exclusive) {
            Some(Value::Bool(true)) => match schema.remove(inclusive) {
                Some(bound) => {
                    schema.insert(exclusive.to_owned(), bound);
                }
                // An exclusive flag with no bound bounds nothing.
                None => {
                    schema.remove(exclusive);
                }
            },
            Some(Value::Bool(false)) => {
                schema.remove(exclusive);
            }
            _ => {}
        }
    }
}

/// A body of bytes names its media type (`contentMediaType`) instead of 3.0's
/// `format: binary`.
pub(crate) fn binary_body(media_type: &str, media: &mut Map<String, Value>) {
    let Some(schema) = media.get_mut("schema").and_then(Value::as_object_mut) else {
        return;
    };
    let binary = schema.get("type") == Some(&json!("string"))
        && schema.get("format") == Some(&json!("binary"));
    if !binary {
        return;
    }
    schema.remove("format");
    let essence = media_type.split(';').next().unwrap_or_default().trim();
    let named = if essence.contains('*') {
        "application/octet-stream"
    } else {
        essence
    };
    schema.insert("contentMediaType".to_owned(), json!(named));
}

/// The 3.0 document's `x-` twins of 3.1's `contentMediaType` and `contentSchema` as those
/// keywords.
pub(crate) fn content_keywords(schema: &mut Map<String, Value>) {
    for keyword in [CONTENT_MEDIA_TYPE, CONTENT_SCHEMA] {
        if let Some(value) = schema.remove(&format!("x-{keyword}")) {
            schema.insert(keyword.to_owned(), value);
        }
    }
}

/// JSON Schema's keyword for the media type of a string's content.
pub const CONTENT_MEDIA_TYPE: &str = "contentMediaType";
/// JSON Schema's keyword for the schema of a string's decoded content.
pub const CONTENT_SCHEMA: &str = "contentSchema";

/// What a conversion does to each Schema Object and each Media Type Object it meets.
pub(crate) trait Rules {
    /// Converts one schema; those it contains have been converted already.
    fn schema(&mut self, schema: &mut Map<String, Value>);
    /// Converts one media type (`media_type` is its key) before its schema is walked.
    fn media(&mut self, media_type: &str, media: &mut Map<String, Value>);
}

const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// Applies `rules` to every schema and media type of `doc`: under paths, webhooks and
/// components.
pub(crate) fn walk_document(doc: &mut Value, rules: &mut dyn Rules) {
    for member in ["paths", "webhooks"] {
        for item in values_mut(doc.get_mut(member)) {
            walk_path_item(item, rules);
        }
    }
    let Some(components) = doc.get_mut("components") else {
        return;
    };
    for schema in values_mut(components.get_mut("schemas")) {
        walk_schema(schema, rules);
    }
    for kind in ["parameters", "headers"] {
        for parameter in values_mut(components.get_mut(kind)) {
            walk_parameter(parameter, rules);
        }
    }
    for response in values_mut(components.get_mut("responses")) {
        walk_response(response, rules);
    }
    for body in values_mut(components.get_mut("requestBodies")) {
        walk_content(body.get_mut("content"), rules);
    }
    for item in values_mut(components.get_mut("pathItems")) {
        walk_path_item(item, rules);
    }
}

/// The values of an object (an empty walk for anything else).
fn values_mut(value: Option<&mut Value>) -> impl Iterator<Item = &mut Value> {
    value
        .and_then(Value::as_object_mut)
        .into_iter()
        .flat_map(|map| map.values_mut())
}

/// The items of an array (an empty walk for anything else).
fn items_mut(value: Option<&mut Value>) -> impl Iterator<Item = &mut Value> {
    value
        .and_then(Value::as_array_mut)
        .into_iter()
        .flat_map(|items| items.iter_mut())
}

fn walk_path_item(item: &mut Value, rules: &mut dyn Rules) {
    for parameter in items_mut(item.get_mut("parameters")) {
        walk_parameter(parameter, rules);
    }
    for method in METHODS {
        let Some(operation) = item.get_mut(method) else {
            continue;
        };
        for parameter in items_mut(operation.get_mut("parameters")) {
            walk_parameter(parameter, rules);
        }
        if let Some(body) = operation.get_mut("requestBody") {
            walk_content(body.get_mut("content"), rules);
        }
        for response in values_mut(operation.get_mut("responses")) {
            walk_response(response, rules);
        }
        for callback in values_mut(operation.get_mut("callbacks")) {
            for item in values_mut(Some(callback)) {
                walk_path_item(item, rules);
            }
        }
    }
}

fn walk_parameter(parameter: &mut Value, rules: &mut dyn Rules) {
    if let Some(schema) = parameter.get_mut("schema") {
        walk_schema(schema, rules);
    }
    walk_content(parameter.get_mut("content"), rules);
}

fn walk_response(response: &mut Value, rules: &mut dyn Rules) {
    for header in values_mut(response.get_mut("headers")) {
        walk_parameter(header, rules);
    }
    walk_content(response.get_mut("content"), rules);
}

fn walk_content(content: Option<&mut Value>, rules: &mut dyn Rules) {
    let Some(content) = content.and_then(Value::as_object_mut) else {
        return;
    };
    for (media_type, media) in content.iter_mut() {
        let Some(media) = media.as_object_mut() else {
            continue;
        };
        rules.media(media_type, media);
        if let Some(schema) = media.get_mut("schema") {
            walk_schema(schema, rules);
        }
    }
}

/// Members whose value is one schema.
const ONE_SCHEMA: [&str; 8] = [
    "additionalProperties",
    "items",
    "not",
    "contentSchema",
    "x-contentSchema",
    "if",
    "then",
    "else",
];
/// Members whose value is an array of schemas.
const SCHEMA_LISTS: [&str; 4] = ["allOf", "anyOf", "oneOf", "prefixItems"];
/// Members whose value maps names to schemas.
const SCHEMA_MAPS: [&str; 4] = [
    "properties",
    "patternProperties",
    "dependentSchemas",
    "$defs",
];

/// Converts the schemas `schema` contains, then `schema` itself.
fn walk_schema(schema: &mut Value, rules: &mut dyn Rules) {
    let Some(map) = schema.as_object_mut() else {
        return;
    };
    for member in ONE_SCHEMA {
        match map.get_mut(member) {
            Some(Value::Array(items)) => items.iter_mut().for_each(|s| walk_schema(s, rules)),
            Some(inner) => walk_schema(inner, rules),
            None => {}
        }
    }
    for member in SCHEMA_LISTS {
        for inner in items_mut(map.get_mut(member)) {
            walk_schema(inner, rules);
        }
    }
    for member in SCHEMA_MAPS {
        for inner in values_mut(map.get_mut(member)) {
            walk_schema(inner, rules);
        }
    }
    rules.schema(map);
}

#[cfg(test)]
pub(crate) mod downgrade;
#[cfg(test)]
mod tests;
