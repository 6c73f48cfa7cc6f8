//! The served OpenAPI document: poem-openapi's, completed with what its derive macros have no
//! way to say.
//!
//! Three things: an open operation says so with `security: []` (poem-openapi leaves `security`
//! out, which linters and generators read as "not stated"), every schema carries an example
//! ([`examples`]; poem-openapi's own needs a hand-built value of each Rust type), and every
//! problem response carries an example of the problem a client gets there, so that the docs
//! UIs and generated clients show realistic requests and errors. Everything else (every status, schema and header) comes from the
//! operations' response enums as poem-openapi documents them.

use crate::{
    errors,
    problem::Problem,
    problem_types::{self, ProblemType},
};
use domain::Error;
use poem::http::StatusCode;
use poem_openapi::types::ToJSON;
use serde_json::{Map, Value, json};

/// The reference every problem response's schema is.
const PROBLEM_REF: &str = "#/components/schemas/Problem";

#[cfg(test)]
mod evolution;
pub mod examples;
pub mod openapi31;
pub mod yaml;

/// The OpenAPI 3.0 document of `source` (the completed document): all of it but `webhooks`,
/// which 3.0 has no member for (poem-openapi writes one anyway) and only the 3.1 document
/// carries, and the schemas only they name (the events' payloads).
pub fn v3_0(source: &Value) -> Value {
    let mut doc = source.clone();
    if let Some(doc) = doc.as_object_mut() {
        doc.remove("webhooks");
    }
    let used = schemas_used(&doc);
    if let Some(schemas) = doc
        .pointer_mut("/components/schemas")
        .and_then(Value::as_object_mut)
    {
        schemas.retain(|name, _| used.contains(name));
    }
    doc
}

/// The names of the component schemas that `doc`'s paths name, directly or through others.
fn schemas_used(doc: &Value) -> std::collections::BTreeSet<String> {
    const PREFIX: &str = "#/components/schemas/";
    fn refs(value: &Value, found: &mut Vec<String>) {
        match value {
            Value::Object(members) => {
                if let Some(Value::String(target)) = members.get("$ref")
                    && let Some(name) = target.strip_prefix(PREFIX)
                {
                    found.push(name.to_owned());
                }
                members.values().for_each(|v| refs(v, found));
            }
            Value::Array(items) => items.iter().for_each(|v| refs(v, found)),
            _ => {}
        }
    }
    let mut pending = Vec::new();
    refs(doc.get("paths").unwrap_or(&Value::Null), &mut pending);
    let mut used = std::collections::BTreeSet::new();
    while let Some(name) = pending.pop() {
        if used.insert(name.clone())
            && let Some(schema) = doc.pointer(&format!("/components/schemas/{name}"))
        {
            refs(schema, &mut pending);
        }
    }
    used
}

/// The OpenAPI 3.1 document of `source`: see [`openapi31`].
pub fn v3_1(source: &Value) -> Value {
    openapi31::upgrade(source)
}

/// The completed document, from poem-openapi's JSON rendering of it.
pub fn complete(generated: &str) -> Value {
    let mut doc: Value = serde_json::from_str(generated).unwrap_or_default();
    let components = doc
        .pointer_mut("/components/schemas")
        .and_then(Value::as_object_mut);
    for (name, schema) in components.into_iter().flatten() {
        if let (Some(example), Some(schema)) = (examples::of(name), schema.as_object_mut()) {
            schema.insert("example".to_owned(), example);
        }
    }
    if let Some(webhooks) = doc.get_mut("webhooks").and_then(Value::as_object_mut) {
        webhooks.values_mut().for_each(as_received);
    }
    if let Some(kind) = doc.pointer_mut("/components/schemas/Problem/properties/type") {
        kind["description"] = Value::String(problem_types::catalogue_markdown());
    }
    let schemas = doc
        .pointer("/components/schemas")
        .cloned()
        .unwrap_or_default();
    let paths = doc.get_mut("paths").and_then(Value::as_object_mut);
    for (path, item) in paths.into_iter().flatten() {
        let Some(item) = item.as_object_mut() else {
            continue;
        };
        for (method, operation) in item.iter_mut() {
            let Some(operation) = operation.as_object_mut() else {
                continue;
            };
            operation
                .entry("security")
                .or_insert_with(|| Value::Array(Vec::new()));
            add_entity_tags(method == "get" || method == "head", operation);
            add_problem_examples(path, operation, &schemas);
            document_event_streams(operation);
            let id = operation.get("operationId").and_then(Value::as_str);
            if id.is_some_and(|id| crate::files::MOVING_BYTES.contains(&id)) {
                let unavailable = operation
                    .get_mut("responses")
                    .and_then(|r| r.get_mut("503"));
                if let Some(Value::String(text)) =
                    unavailable.and_then(|r| r.get_mut("description"))
                {
                    text.push_str(crate::files::STORE_OUTAGE);
                }
            }
            let id = operation.get("operationId").and_then(Value::as_str);
            if let Some(deprecated) = id.and_then(crate::deprecation::of) {
                deprecated.document(operation);
            }
        }
    }
    doc
}

/// A webhook as a receiver sees it: its body under the media type the sender sends it as,
/// `application/json` (poem-openapi's `Json` says `application/json; charset=utf-8`, which a
/// receiver routing on the bare type would not match), and no security scheme of this API (the
/// receiver checks `webhook-signature` instead).
fn as_received(webhook: &mut Value) {
    let operations = webhook
        .as_object_mut()
        .into_iter()
        .flat_map(|item| item.values_mut())
        .filter_map(Value::as_object_mut);
    for operation in operations {
        operation.insert("security".to_owned(), Value::Array(Vec::new()));
        let content = operation
            .get_mut("requestBody")
            .and_then(|body| body.get_mut("content"))
            .and_then(Value::as_object_mut);
        if let Some(content) = content
            && let Some(media) = content.remove("application/json; charset=utf-8")
        {
            content.insert("application/json".to_owned(), media);
        }
    }
}

/// Says of each event stream an operation answers with what its events' data is as sent: a
/// string of JSON ([`crate::streams::document_data`]).
fn document_event_streams(operation: &mut Map<String, Value>) {
    let responses = operation
        .get_mut("responses")
        .and_then(Value::as_object_mut)
        .into_iter()
        .flat_map(|responses| responses.values_mut());
    for response in responses {
        let streams = response
            .get_mut("content")
            .and_then(Value::as_object_mut)
            .into_iter()
            .flat_map(|content| content.iter_mut())
            .filter(|(media, _)| media.starts_with("text/event-stream"));
        for (_, media) in streams {
            if let Some(schema) = media.get_mut("schema") {
                crate::streams::document_data(schema);
            }
        }
    }
}

/// Documents what the edge does for every JSON representation ([`crate::conditional`],
/// [`crate::compression`]): the `ETag` of each JSON 200 and 201 and, on a GET,
/// `If-None-Match` and its 304; the coding of JSON and CSV 200s.
fn add_entity_tags(get: bool, operation: &mut Map<String, Value>) {
    let Some(responses) = operation
        .get_mut("responses")
        .and_then(Value::as_object_mut)
    else {
        return;
    };
    let mut tagged_ok = false;
    for (status, response) in responses.iter_mut() {
        let media = |essence: &str| {
            response
                .get("content")
                .and_then(Value::as_object)
                .is_some_and(|content| {
                    content
                        .keys()
                        .any(|media| media.split(';').next().map(str::trim) == Some(essence))
                })
        };
        let (json, csv) = (media("application/json"), media("text/csv"));
        let jsonl = media("application/jsonl");
        let Some(headers) = response
            .as_object_mut()
            .map(|response| response.entry("headers").or_insert_with(|| json!({})))
            .and_then(Value::as_object_mut)
        else {
            continue;
        };
        if status == "200" && (json || csv || jsonl) {
            headers.entry("Content-Encoding").or_insert_with(|| {
                json!({
                    "description": "`br`, `zstd` or `gzip` when `Accept-Encoding` asked for one and the body is at least 1 KiB (or streamed); absent otherwise.",
                    "required": false,
                    "schema": {"type": "string", "enum": ["br", "zstd", "gzip"]},
                })
            });
            headers.entry("Vary").or_insert_with(|| {
                json!({
                    "description": "`Accept-Encoding`: the body's coding depends on it.",
                    "required": true,
                    "schema": {"type": "string"},
                })
            });
        }
        // A 200 tagged by its operation (a file's) is answered 304 by the edge too.
        tagged_ok |=
            status == "200" && headers.keys().any(|name| name.eq_ignore_ascii_case("etag"));
        if json && (status == "200" || status == "201") {
            tagged_ok |= status == "200";
            headers.entry("ETag").or_insert_with(|| {
                json!({
                    "description": "The representation's strong entity tag: it changes whenever the representation does. Send it back in `If-None-Match` (GET) or `If-Match` (writes).",
                    "required": true,
                    "schema": {"type": "string", "example": "\"3q2-7wAAZz0rM1Vj9vXlAg\""},
                })
            });
        }
        if headers.is_empty()
            && let Some(response) = response.as_object_mut()
        {
            response.remove("headers");
        }
    }
    if !(get && tagged_ok) {
        return;
    }
    responses.entry("304").or_insert_with(|| {
        json!({
            "description": "`If-None-Match` names the current `ETag`: the client's copy is current. No body.",
            "headers": {"ETag": {"required": true, "schema": {"type": "string"}}},
        })
    });
    let parameters = operation.entry("parameters").or_insert_with(|| json!([]));
    if let Some(parameters) = parameters.as_array_mut()
        && !parameters.iter().any(|p| p["name"] == "If-None-Match")
    {
        parameters.push(json!({
            "name": "If-None-Match",
            "in": "header",
            "description": "`ETag`s of copies the client holds; when one is current, the answer is 304 without a body.",
            "required": false,
            "deprecated": false,
            "explode": true,
            "schema": {"type": "string"},
        }));
    }
}

/// Sets the example of every problem response of `operation` (at the spec path `path`).
fn add_problem_examples(path: &str, operation: &mut Map<String, Value>, schemas: &Value) {
    let instance = example_path(path);
    let invalid = example_invalid_input(operation, schemas);
    let Some(responses) = operation
        .get_mut("responses")
        .and_then(Value::as_object_mut)
    else {
        return;
    };
    for (status, response) in responses.iter_mut() {
        let Ok(status) = status.parse::<u16>() else {
            continue;
        };
        let detail = response
            .get("description")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let content = response.get_mut("content").and_then(Value::as_object_mut);
        for media in content.into_iter().flat_map(|c| c.values_mut()) {
            let is_problem =
                media.pointer("/schema/$ref").and_then(Value::as_str) == Some(PROBLEM_REF);
            if let (true, Some(media)) = (is_problem, media.as_object_mut()) {
                let example = example_problem(status, &instance, &detail, &invalid);
                media.insert("example".to_owned(), example);
            }
        }
    }
}

/// The problem a client could get with `status` at `instance`, as the service would write it.
fn example_problem(status: u16, instance: &str, detail: &str, invalid: &[String; 2]) -> Value {
    let problem = match status {
        402 => {
            let refusal = Error::InsufficientFunds {
                balance: 1500,
                required: 2500,
            };
            errors::problem_for(refusal, instance).problem
        }
        422 => Problem::invalid(
            instance,
            vec![crate::problem::FieldError::new(
                &[&invalid[0], &invalid[1]],
                "value_error",
                "is not valid",
            )],
        ),
        500 => Problem::new(StatusCode::INTERNAL_SERVER_ERROR, instance),
        _ => match typical_type(status, instance) {
            Some(kind) => Problem::of(kind, instance).with_detail(first_sentence(detail)),
            None => {
                let status =
                    StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                Problem::new(status, instance).with_detail(first_sentence(detail))
            }
        },
    };
    problem.to_json().unwrap_or_else(|| json!({}))
}

/// The type an example problem with `status` at `instance` shows: the commonest cause of that
/// status there; `None` where the status stays `about:blank`.
fn typical_type(status: u16, instance: &str) -> Option<ProblemType> {
    use ProblemType as T;
    let resource = instance.split('/').nth(1).unwrap_or_default();
    let nested = instance.split('/').nth(3).unwrap_or_default();
    Some(match (status, resource) {
        (400, _) => T::MalformedBody,
        (401, "auth") => T::InvalidCredentials,
        (401, _) => T::Unauthorized,
        (403, _) => T::Forbidden,
        (404, "users") => T::UserNotFound,
        (404, "accounts") if nested == "transactions" && instance.split('/').count() > 4 => {
            T::TransactionNotFound
        }
        (404, "accounts" | "transfers") => T::AccountNotFound,
        (404, "notifications") => T::NotificationNotFound,
        (404, "files") => T::FileNotFound,
        (404, "webhooks") if nested == "deliveries" && instance.split('/').count() > 4 => {
            T::DeliveryNotFound
        }
        (404, "webhooks") => T::WebhookNotFound,
        (409, "webhooks") => T::WebhookDisabled,
        (408, _) => T::BodyTimeout,
        (409, "users") => T::EmailTaken,
        (409, _) => T::IdempotencyKeyInFlight,
        (412, _) => T::PreconditionFailed,
        (428, _) => T::PreconditionRequired,
        (429, _) => T::TooManyLogins,
        (503, "healthz" | "livez") => T::Overloaded,
        (503, _) => T::DatabaseUnavailable,
        (507, _) => T::StorageFull,
        _ => return None,
    })
}

/// The first sentence of a response's description, as a problem's `detail`.
fn first_sentence(description: &str) -> String {
    let sentence = description.split("; ").next().unwrap_or(description);
    let sentence = sentence.trim_end_matches('.');
    format!("{sentence}.")
}

/// Where the input a 422 example names is: the first required member of the body, else the
/// first parameter.
fn example_invalid_input(operation: &Map<String, Value>, schemas: &Value) -> [String; 2] {
    let body_schema = operation
        .get("requestBody")
        .and_then(|body| body.get("content"))
        .and_then(Value::as_object)
        .and_then(|content| content.values().next())
        .and_then(|media| media.pointer("/schema/$ref"))
        .and_then(Value::as_str)
        .and_then(|reference| reference.rsplit('/').next())
        .and_then(|name| schemas.get(name));
    if let Some(schema) = body_schema {
        let member = schema
            .pointer("/required/0")
            .and_then(Value::as_str)
            .or_else(|| {
                schema
                    .get("properties")?
                    .as_object()?
                    .keys()
                    .next()
                    .map(String::as_str)
            })
            .unwrap_or("body");
        return ["body".to_owned(), member.to_owned()];
    }
    let parameter = operation
        .get("parameters")
        .and_then(Value::as_array)
        .and_then(|parameters| parameters.first());
    let field = |name: &str, default: &str| {
        parameter
            .and_then(|p| p.get(name))
            .and_then(Value::as_str)
            .unwrap_or(default)
            .to_owned()
    };
    [field("in", "query"), field("name", "limit")]
}

/// `path` with each variable given an example value: `/users/{id}` is `/users/42`.
fn example_path(path: &str) -> String {
    path.split('/')
        .map(|segment| match segment {
            "{id}" => "42",
            "{tid}" => "7",
            "{name}" => "report.pdf",
            other => other,
        })
        .collect::<Vec<_>>()
        .join("/")
}
