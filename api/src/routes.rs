//! What the spec knows about each route, for the errors poem reports without it: which methods
//! a path allows (the `Allow` header of a 405) and the name and location of each parameter (the
//! `loc` of a 422), and the template a concrete path matches (the `route` label of metrics).
//!
//! poem tags an error with the pattern of the route that matched (`/users/:param0`; poem-openapi
//! renames path variables to `paramN`). The table is keyed by that pattern's shape, built once
//! from the spec at start-up.

use poem::http::Method;
use serde_json::Value;
use std::{collections::HashMap, sync::Arc};

/// Methods and parameters of every route, by path shape (`/users/{}`).
#[derive(Debug, Default)]
pub struct RouteTable {
    routes: HashMap<String, RouteInfo>,
    /// Each spec path split into segments (`None` for a variable), with the path itself.
    templates: Vec<(Vec<Option<String>>, Arc<str>)>,
}

#[derive(Debug, Default)]
struct RouteInfo {
    methods: Vec<Method>,
    /// Path variable names, in path order.
    path_params: Vec<String>,
    /// (method, parameter name) → location (`query`, `header`, ...).
    locations: HashMap<(Method, String), String>,
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
                    }
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
                (segments, Arc::from(path))
            })
            .collect();
        // Fixed segments win over variables (`/users/me` before `/users/{id}`, were there one).
        table
            .templates
            .sort_by_key(|(segments, _)| segments.iter().filter(|s| s.is_none()).count());
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

    /// The template (`/users/{id}`) of the spec path that `path` (`/users/7`) matches.
    pub fn template_of(&self, path: &str) -> Option<&Arc<str>> {
        // Every request passes here (metrics): compare segment by segment, allocating nothing.
        let count = path.split('/').count();
        let matches = |segments: &[Option<String>]| {
            segments.len() == count
                && segments
                    .iter()
                    .zip(path.split('/'))
                    .all(|(segment, part)| match segment {
                        None => !part.is_empty(),
                        Some(fixed) => fixed == part,
                    })
        };
        self.templates
            .iter()
            .find(|(segments, _)| matches(segments))
            .map(|(_, template)| template)
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
        let spec = json!({"paths": {
            "/users": {"get": {"parameters": [{"name": "limit", "in": "query"}]}, "post": {}},
            "/users/{id}": {"get": {}, "put": {}, "delete": {}},
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
        let template = |path| table.template_of(path).map(|t| t.to_string());
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
}
