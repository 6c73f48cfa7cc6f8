//! The served OpenAPI document: poem-openapi's, completed with what its derive macros have no
//! way to say.
//!
//! Three things: an open operation says so with `security: []` (poem-openapi leaves `security`
//! out, which linters and generators read as "not stated"), every schema carries an example
//! ([`examples`]; poem-openapi's own needs a hand-built value of each Rust type), and every
//! problem response carries an example of the problem a client gets there, so that the docs
//! UIs and generated clients show realistic requests and errors. Everything else (every status, schema and header) comes from the
//! operations' response enums as poem-openapi documents them.

use crate::{errors, problem::Problem};
use domain::Error;
use poem::http::StatusCode;
use poem_openapi::types::ToJSON;
use serde_json::{Map, Value, json};

/// The reference every problem response's schema is.
const PROBLEM_REF: &str = "#/components/schemas/Problem";

pub mod examples;

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
    let schemas = doc
        .pointer("/components/schemas")
        .cloned()
        .unwrap_or_default();
    let paths = doc.get_mut("paths").and_then(Value::as_object_mut);
    for (path, item) in paths.into_iter().flatten() {
        let Some(item) = item.as_object_mut() else {
            continue;
        };
        for operation in item.values_mut().filter_map(Value::as_object_mut) {
            operation
                .entry("security")
                .or_insert_with(|| Value::Array(Vec::new()));
            add_problem_examples(path, operation, &schemas);
        }
    }
    doc
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
        _ => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            Problem::new(status, instance).with_detail(first_sentence(detail))
        }
    };
    problem.to_json().unwrap_or_else(|| json!({}))
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
