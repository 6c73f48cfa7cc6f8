//! What the spec knows about each route, for the errors poem reports without it: which methods
//! a path allows (the `Allow` header of a 405) and the name and location of each parameter (the
//! `loc` of a 422).
//!
//! poem tags an error with the pattern of the route that matched (`/users/:param0`; poem-openapi
//! renames path variables to `paramN`). The table is keyed by that pattern's shape, built once
//! from the spec at start-up.

use poem::http::Method;
use serde_json::Value;
use std::collections::HashMap;

/// Methods and parameters of every route, by path shape (`/users/{}`).
#[derive(Debug, Default)]
pub struct RouteTable {
    routes: HashMap<String, RouteInfo>,
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
