//! What the spec knows about each route, for the errors poem reports without it: which methods
//! a path allows (the `Allow` header of a 405) and the name and location of each parameter (the
//! `loc` of a 422), the template a concrete path matches (the `route` label of metrics), and
//! the media types an operation that documents a 406 answers with (the edge's negotiation),
//! which operations take an upload rather than JSON (the edge's body limit), and which routes end
//! in a text variable (a value with a `/` in it is that variable's to refuse, not a missing route).
//!
//! poem tags an error with the pattern of the route that matched (`/users/:param0`; poem-openapi
//! renames path variables to `paramN`). The table is keyed by that pattern's shape, built once
//! from the spec at start-up.

use crate::deprecation::{self, Deprecated};
use poem::http::Method;
use serde_json::Value;
use std::{collections::HashMap, sync::Arc};

/// Methods and parameters of every route, by path shape (`/users/{}`).
#[derive(Debug, Default)]
pub struct RouteTable {
    routes: HashMap<String, RouteInfo>,
    /// Every spec path, fixed segments first.
    templates: Vec<Template>,
}

/// One spec path, ready to match concrete paths against.
#[derive(Debug)]
pub struct Template {
    /// The path split at `/`, `None` for a variable.
    segments: Vec<Option<String>>,
    /// The path itself (`/users/{id}`).
    path: Arc<str>,
    /// Its deprecated operations, by method.
    deprecated: Vec<(Method, &'static Deprecated)>,
    /// Whether it has a HEAD operation of its own (else poem answers HEAD with its GET).
    serves_head: bool,
    /// Method → the media types its operation answers with, where the edge negotiates them.
    produces: Vec<(Method, Vec<String>)>,
    /// The methods whose operations take a body that is not JSON (an upload).
    uploads: Vec<Method>,
    /// Whether its last segment is a variable of a string type.
    ends_in_text: bool,
}

impl Template {
    /// The spec path (`/users/{id}`).
    pub fn path(&self) -> &Arc<str> {
        &self.path
    }

    /// The deprecation of its `method` operation (HEAD: GET's, unless it has its own).
    pub fn deprecation(&self, method: &Method) -> Option<&'static Deprecated> {
        let of = |wanted: &Method| {
            self.deprecated
                .iter()
                .find(|(m, _)| m == wanted)
                .map(|(_, d)| *d)
        };
        of(method).or_else(|| {
            (*method == Method::HEAD)
                .then(|| of(&Method::GET))
                .flatten()
        })
    }

    /// Whether it has a HEAD operation of its own (else poem answers HEAD with its GET).
    pub fn serves_head(&self) -> bool {
        self.serves_head
    }

    /// The media types its `method` operation answers with, when the edge negotiates them (the
    /// operation documents a 406); HEAD is GET's unless it has its own.
    pub fn produces(&self, method: &Method) -> Option<&[String]> {
        let of = |wanted: &Method| {
            self.produces
                .iter()
                .find(|(m, _)| m == wanted)
                .map(|(_, media)| media.as_slice())
        };
        of(method).or_else(|| {
            (*method == Method::HEAD)
                .then(|| of(&Method::GET))
                .flatten()
        })
    }

    /// Whether its `method` operation takes an upload (a body in a media type other than JSON),
    /// which the edge holds to the upload limit rather than the JSON one.
    pub fn takes_upload(&self, method: &Method) -> bool {
        self.uploads.contains(method)
    }
}

#[derive(Debug, Default)]
struct RouteInfo {
    methods: Vec<Method>,
    /// Path variable names, in path order.
    path_params: Vec<String>,
    /// (method, parameter name) → location (`query`, `header`, ...).
    locations: HashMap<(Method, String), String>,
    /// Method → the media types (without parameters) of its success bodies, for the operations
    /// that answer 406 when `Accept` takes none of them.
    produces: HashMap<Method, Vec<String>>,
    /// Its deprecated operations, by method.
    deprecated: Vec<(Method, &'static Deprecated)>,
    /// The methods whose operations take a body that is not JSON.
    uploads: Vec<Method>,
    /// The path variables whose schema is a string, by name.
    text_params: Vec<String>,
}

/// Every method the API serves, in the order `Allow` lists them.
pub const METHOD_ORDER: [Method; 7] = [
    Method::GET,
    Method::HEAD,
    Method::POST,
    Method::PUT,
    Method::PATCH,
    Method::DELETE,
    Method::OPTIONS,
];

impl RouteTable {
    /// Reads every path, method and parameter of an OpenAPI document, plus `extra_get_paths`
    /// (routes served outside the spec, such as the spec itself).
    pub fn from_spec(spec: &Value, extra_get_paths: &[&str]) -> Self {
        let mut table = Self::default();
        let paths = spec.get("paths").and_then(Value::as_object);
        for (path, item) in paths.into_iter().flatten() {
            let info = table.routes.entry(shape(path)).or_default();
            info.path_params = path
                .split('/')
                .filter_map(|s| s.strip_prefix('{')?.strip_suffix('}'))
                .map(str::to_owned)
                .collect();
            for (method, operation) in item.as_object().into_iter().flatten() {
                let Ok(method) = Method::from_bytes(method.to_ascii_uppercase().as_bytes()) else {
                    continue;
                };
                let parameters = operation.get("parameters").and_then(Value::as_array);
                for parameter in parameters.into_iter().flatten() {
                    let name = parameter.get("name").and_then(Value::as_str);
                    let location = parameter.get("in").and_then(Value::as_str);
                    if let (Some(name), Some(location)) = (name, location) {
                        info.locations
                            .insert((method.clone(), name.to_owned()), location.to_owned());
                        let text =
                            parameter.pointer("/schema/type") == Some(&Value::from("string"));
                        if location == "path" && text && !info.text_params.iter().any(|p| p == name)
                        {
                            info.text_params.push(name.to_owned());
                        }
                    }
                }
                if takes_upload(operation) {
                    info.uploads.push(method.clone());
                }
                if let Some(media) = negotiated(operation) {
                    info.produces.insert(method.clone(), media);
                }
                let id = operation.get("operationId").and_then(Value::as_str);
                if let Some(deprecated) = id.and_then(deprecation::of) {
                    info.deprecated.push((method.clone(), deprecated));
                }
                info.methods.push(method);
            }
        }
        for path in extra_get_paths {
            table
                .routes
                .entry(shape(path))
                .or_default()
                .methods
                .push(Method::GET);
        }
        let all_paths = paths.into_iter().flat_map(|p| p.keys().map(String::as_str));
        table.templates = all_paths
            .chain(extra_get_paths.iter().copied())
            .map(|path| {
                let segments = path
                    .split('/')
                    .map(|s| (!s.starts_with('{')).then(|| s.to_owned()))
                    .collect();
                let info = table.routes.get(&shape(path));
                let last = path.rsplit('/').next().unwrap_or_default();
                let last_variable = last.strip_prefix('{').and_then(|v| v.strip_suffix('}'));
                Template {
                    segments,
                    path: Arc::from(path),
                    deprecated: info.map(|i| i.deprecated.clone()).unwrap_or_default(),
                    serves_head: info.is_some_and(|i| i.methods.contains(&Method::HEAD)),
                    produces: info
                        .map(|i| i.produces.clone().into_iter().collect())
                        .unwrap_or_default(),
                    uploads: info.map(|i| i.uploads.clone()).unwrap_or_default(),
                    ends_in_text: last_variable.zip(info).is_some_and(|(variable, info)| {
                        info.text_params.iter().any(|p| p == variable)
                    }),
                }
            })
            .collect();
        // Fixed segments win over variables (`/users/me` before `/users/{id}`, were there one).
        table
            .templates
            .sort_by_key(|t| t.segments.iter().filter(|s| s.is_none()).count());
        table
    }

    /// The `Allow` header value for the route with `pattern`: its methods, plus HEAD wherever GET
    /// is allowed (poem answers HEAD with the GET handler).
    pub fn allow(&self, pattern: &str) -> Option<String> {
        let info = self.routes.get(&shape(pattern))?;
        let allowed = |m: &Method| {
            info.methods.contains(m) || (*m == Method::HEAD && info.methods.contains(&Method::GET))
        };
        let names: Vec<&str> = METHOD_ORDER
            .iter()
            .filter(|m| allowed(m))
            .map(Method::as_str)
            .collect();
        Some(names.join(", "))
    }

    /// The spec path (`/users/{id}`) that `path` (`/users/7`) matches.
    pub fn route(&self, path: &str) -> Option<&Template> {
        // Every request passes here once (the edge keeps the answer): compare segment by
        // segment, allocating nothing.
        let count = path.split('/').count();
        let matches = |segments: &[Option<String>]| {
            segments.len() == count
                && segments
                    .iter()
                    .zip(path.split('/'))
                    .all(|(segment, part)| fits(segment, part))
        };
        self.templates
            .iter()
            .find(|template| matches(&template.segments))
    }

    /// `path` with the slashes past the end of a route that ends in a text variable encoded
    /// (`/files/a/b` → `/files/a%2Fb`), when `path` has more segments than that route: so that the
    /// variable's own type refuses a value with a `/` in it, as it refuses any other it cannot
    /// take, where the router would answer that no route matches.
    pub fn spilled(&self, path: &str) -> Option<String> {
        let parts: Vec<&str> = path.split('/').collect();
        let template = self.templates.iter().find(|template| {
            let fixed = template.segments.len() - 1;
            template.ends_in_text
                && parts.len() > template.segments.len()
                && template.segments[..fixed]
                    .iter()
                    .zip(&parts)
                    .all(|(segment, part)| fits(segment, part))
        })?;
        let fixed = template.segments.len() - 1;
        Some(format!(
            "{}/{}",
            parts[..fixed].join("/"),
            parts[fixed..].join("%2F")
        ))
    }

    /// The name of the `index`-th path variable of the route with `pattern`.
    pub fn path_param(&self, pattern: &str, index: usize) -> Option<&str> {
        let info = self.routes.get(&shape(pattern))?;
        info.path_params.get(index).map(String::as_str)
    }

    /// Where parameter `name` of the operation `method pattern` is sent (`query`, `header`, ...).
    pub fn location(&self, pattern: &str, method: &Method, name: &str) -> Option<&str> {
        let info = self.routes.get(&shape(pattern))?;
        let key = (method.clone(), name.to_owned());
        info.locations.get(&key).map(String::as_str)
    }
}

/// The media types of an operation's success bodies, when it documents a 406.
fn negotiated(operation: &Value) -> Option<Vec<String>> {
    let responses = operation.get("responses")?.as_object()?;
    responses.get("406")?;
    let mut media = Vec::new();
    for (status, response) in responses {
        if !status.starts_with('2') {
            continue;
        }
        let content = response.get("content").and_then(Value::as_object);
        for key in content.into_iter().flat_map(|c| c.keys()) {
            let essence = key
                .split(';')
                .next()
                .unwrap_or(key)
                .trim()
                .to_ascii_lowercase();
            if !media.contains(&essence) {
                media.push(essence);
            }
        }
    }
    (!media.is_empty()).then_some(media)
}

/// Whether a path's `part` fits a template's `segment`: equal to a fixed one, or any text but
/// none for a variable.
fn fits(segment: &Option<String>, part: &str) -> bool {
    match segment {
        None => !part.is_empty(),
        Some(fixed) => fixed == part,
    }
}

/// Whether an operation's request body comes in a media type other than JSON.
fn takes_upload(operation: &Value) -> bool {
    let content = operation
        .pointer("/requestBody/content")
        .and_then(Value::as_object);
    content.into_iter().flat_map(|c| c.keys()).any(|media| {
        let essence = media.split(';').next().unwrap_or(media).trim();
        essence != "application/json" && !essence.ends_with("+json")
    })
}

/// A path with every variable replaced by `{}`: `/users/:param0` and `/users/{id}` are both
/// `/users/{}`.
fn shape(path: &str) -> String {
    path.split('/')
        .map(|segment| {
            if segment.starts_with(':') || segment.starts_with('{') {
                "{}"
            } else {
                segment
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn table() -> RouteTable {
        let negotiated = json!({"responses": {
            "200": {"content": {"application/json; charset=utf-8": {}}},
            "201": {"content": {"text/csv": {}, "application/json": {}}},
            "406": {},
        }});
        let spec = json!({"paths": {
            "/users": {"get": {"parameters": [{"name": "limit", "in": "query"}]}, "post": {}},
            "/users/{id}": {"get": negotiated, "put": {}, "delete": {"responses": {"204": {}, "406": {}}}},
            "/files/{name}": {
                "get": {
                    "parameters": [{"name": "name", "in": "path", "schema": {"type": "string"}}],
                    "responses": {"200": {"content": {"application/octet-stream": {}}}},
                },
                "put": {"requestBody": {"content": {"application/octet-stream": {}}}},
            },
            "/tags/{id}": {"post": {
                "parameters": [{"name": "id", "in": "path", "schema": {"type": "integer"}}],
                "requestBody": {"content": {"application/merge-patch+json": {}}},
            }},
        }});
        RouteTable::from_spec(&spec, &["/openapi.json"])
    }

    #[test]
    fn allow_lists_methods_in_conventional_order_with_head_for_get() {
        let table = table();
        assert_eq!(
            table.allow("/users/:param0").as_deref(),
            Some("GET, HEAD, PUT, DELETE")
        );
        assert_eq!(table.allow("/users").as_deref(), Some("GET, HEAD, POST"));
        assert_eq!(table.allow("/openapi.json").as_deref(), Some("GET, HEAD"));
        assert_eq!(table.allow("/nope"), None);
    }

    #[test]
    fn concrete_paths_map_to_their_spec_template() {
        let table = table();
        let template = |path| table.route(path).map(|t| t.path().to_string());
        assert_eq!(template("/users/7").as_deref(), Some("/users/{id}"));
        assert_eq!(template("/users").as_deref(), Some("/users"));
        assert_eq!(template("/openapi.json").as_deref(), Some("/openapi.json"));
        assert_eq!(template("/users/"), None);
        assert_eq!(template("/users/7/x"), None);
        assert_eq!(template("/nope"), None);
    }

    #[test]
    fn parameters_are_found_by_pattern_shape() {
        let table = table();
        assert_eq!(table.path_param("/users/:param0", 0), Some("id"));
        assert_eq!(table.path_param("/users/:param0", 1), None);
        assert_eq!(
            table.location("/users", &Method::GET, "limit"),
            Some("query")
        );
        assert_eq!(table.location("/users", &Method::POST, "limit"), None);
    }

    #[test]
    fn negotiated_media_types_are_those_of_success_bodies_of_operations_with_a_406() {
        let table = table();
        let json = ["application/json".to_owned(), "text/csv".to_owned()];
        let produces = |path: &str, method: &Method| {
            table.route(path).and_then(|route| route.produces(method))
        };
        assert_eq!(produces("/users/7", &Method::GET), Some(&json[..]));
        assert_eq!(produces("/users/7", &Method::HEAD), Some(&json[..]));
        assert_eq!(produces("/users/7", &Method::PUT), None);
        assert_eq!(produces("/users/7", &Method::DELETE), None);
        assert_eq!(produces("/files/a.txt", &Method::GET), None);
        assert_eq!(produces("/nope", &Method::GET), None);
    }

    #[test]
    fn operations_with_a_body_other_than_json_take_uploads() {
        let table = table();
        let uploads = |path: &str, method: &Method| {
            table
                .route(path)
                .is_some_and(|route| route.takes_upload(method))
        };
        assert!(uploads("/files/a.txt", &Method::PUT));
        assert!(!uploads("/files/a.txt", &Method::GET));
        assert!(!uploads("/tags/7", &Method::POST), "+json is JSON");
        assert!(!uploads("/users", &Method::POST));
    }

    #[test]
    fn a_path_past_a_route_ending_in_text_is_that_text_with_its_slashes_encoded() {
        let table = table();
        assert_eq!(table.spilled("/files/a/b").as_deref(), Some("/files/a%2Fb"));
        assert_eq!(
            table.spilled("/files/../../etc").as_deref(),
            Some("/files/..%2F..%2Fetc")
        );
        assert_eq!(table.spilled("/files/a/").as_deref(), Some("/files/a%2F"));
        assert_eq!(table.spilled("/files/a"), None, "that one routes");
        assert_eq!(table.spilled("/users/7/x"), None, "an integer variable");
        assert_eq!(table.spilled("/tags/7/x"), None, "an integer variable");
        assert_eq!(table.spilled("/nope/a/b"), None);
    }
}
