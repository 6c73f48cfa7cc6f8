//! The conversion undone: a 3.1 document as the 3.0 one it was made from.
//!
//! The breaking-change gate compares specs with Oxide's `drift`, which reads 3.0 only; a
//! released 3.1 document is compared with the served one after both are brought back to 3.0
//! this way, so that a change of the conversion itself (a member no longer nullable, a bound
//! lost) is judged as any change of the contract is. Each rule undoes one rule of
//! [`super`], and a test holds the round trip of the served document to the identity.

use super::{CONTENT_MEDIA_TYPE, CONTENT_SCHEMA, Rules, walk_document};
use serde_json::{Map, Value, json};

/// The 3.0 document that [`super::upgrade`] turns into `doc`.
pub(crate) fn downgrade(doc: &Value) -> Value {
    let mut doc = doc.clone();
    walk_document(&mut doc, &mut Downgrade);
    if let Some(doc) = doc.as_object_mut() {
        doc.insert("openapi".to_owned(), json!("3.0.0"));
    }
    doc
}

struct Downgrade;

impl Rules for Downgrade {
    fn schema(&mut self, schema: &mut Map<String, Value>) {
        nullable(schema);
        for keyword in [CONTENT_MEDIA_TYPE, CONTENT_SCHEMA] {
            if let Some(value) = schema.remove(keyword) {
                schema.insert(format!("x-{keyword}"), value);
            }
        }
        for (exclusive, inclusive) in [
            ("exclusiveMinimum", "minimum"),
            ("exclusiveMaximum", "maximum"),
        ] {
            if let Some(bound) = schema.get(exclusive).filter(|b| b.is_number()).cloned() {
                schema.insert(inclusive.to_owned(), bound);
                schema.insert(exclusive.to_owned(), json!(true));
            }
        }
        if let Some(Value::Array(all)) = schema.get("examples")
            && let [one] = all.as_slice()
        {
            let one = one.clone();
            schema.remove("examples");
            schema.insert("example".to_owned(), one);
        }
    }

    fn media(&mut self, _media_type: &str, media: &mut Map<String, Value>) {
        let Some(schema) = media.get_mut("schema").and_then(Value::as_object_mut) else {
            return;
        };
        if schema.get("type") == Some(&json!("string"))
            && !schema.contains_key(CONTENT_SCHEMA)
            && schema.remove(CONTENT_MEDIA_TYPE).is_some()
        {
            schema.insert("format".to_owned(), json!("binary"));
        }
    }
}

/// `"null"` among the types (or an `anyOf` with a `{type: "null"}` branch) as `nullable`.
fn nullable(schema: &mut Map<String, Value>) {
    if let Some(Value::Array(kinds)) = schema.get_mut("type")
        && kinds.contains(&json!("null"))
    {
        kinds.retain(|kind| kind != "null");
        let rest = match kinds.as_slice() {
            [one] => one.clone(),
            _ => Value::Array(kinds.clone()),
        };
        schema.insert("type".to_owned(), rest);
        if let Some(Value::Array(values)) = schema.get_mut("enum") {
            values.retain(|value| !value.is_null());
        }
        schema.insert("nullable".to_owned(), json!(true));
        return;
    }
    let null = json!({"type": "null"});
    let wrapped = match schema.get("anyOf") {
        Some(Value::Array(branches)) if schema.len() == 1 && branches.len() == 2 => branches
            .iter()
            .position(|branch| *branch == null)
            .and_then(|at| branches[1 - at].as_object().cloned()),
        _ => None,
    };
    if let Some(mut inner) = wrapped {
        inner.insert("nullable".to_owned(), json!(true));
        *schema = inner;
    }
}
