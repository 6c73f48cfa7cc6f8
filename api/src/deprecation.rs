//! Deprecation on the wire: an operation that a newer one replaces keeps working until its
//! sunset, says so in the spec (`deprecated: true`, and the headers below documented on each of
//! its responses), and says so on every answer: `Deprecation` (RFC 9745: since when),
//! `Sunset` (RFC 8594: when it may stop answering) and `Link` to its successor and to the
//! changelog that explains it.
//!
//! [`DEPRECATED`] is the one place an operation is marked; a member of a schema is marked where
//! it is declared, with `#[oai(deprecated)]`, which the spec shows as `deprecated: true`.

use chrono::{DateTime, NaiveDate, Utc};
use poem::http::{HeaderMap, HeaderName, HeaderValue};
use serde_json::{Value, json};

/// Where the changelog of the API is served: what a deprecation's `Link` points to.
pub const CHANGES_PATH: &str = "/api-changes";

/// The changelog of the API, as it is served at [`CHANGES_PATH`].
pub const CHANGES: &str = include_str!("../../docs/API-CHANGES.md");

/// An operation that a newer one replaces.
#[derive(Debug, Clone, Copy)]
pub struct Deprecated {
    /// The operation's id.
    pub operation_id: &'static str,
    /// The day it was deprecated (UTC).
    pub since: &'static str,
    /// The day after which it may stop answering (UTC, at the day's end), if one is set.
    pub sunset: Option<&'static str>,
    /// The path of the operation that replaces it.
    pub successor: &'static str,
    /// Why, for the spec.
    pub why: &'static str,
}

/// Every deprecated operation.
pub const DEPRECATED: &[Deprecated] = &[Deprecated {
    operation_id: "health_get",
    since: "2026-12-07",
    sunset: Some("2027-06-30"),
    successor: "/livez",
    why: "Liveness is `GET /livez` now, the name Kubernetes gives it (which deprecated `/healthz` \
          for the same reason): `/healthz` suggested a check of dependencies it never made.",
}];

/// The deprecation of the operation `operation_id`, if it is deprecated.
pub fn of(operation_id: &str) -> Option<&'static Deprecated> {
    DEPRECATED.iter().find(|d| d.operation_id == operation_id)
}

const DEPRECATION: HeaderName = HeaderName::from_static("deprecation");
const SUNSET: HeaderName = HeaderName::from_static("sunset");

impl Deprecated {
    /// When it was deprecated: the start of its day.
    fn since_at(&self) -> Option<DateTime<Utc>> {
        let day = NaiveDate::parse_from_str(self.since, "%Y-%m-%d").ok()?;
        Some(day.and_hms_opt(0, 0, 0)?.and_utc())
    }

    /// When it may stop answering: the end of its sunset day.
    fn sunset_at(&self) -> Option<DateTime<Utc>> {
        let day = NaiveDate::parse_from_str(self.sunset?, "%Y-%m-%d").ok()?;
        Some(day.and_hms_opt(23, 59, 59)?.and_utc())
    }

    /// `Deprecation`: a structured-field date, `@` and seconds since the epoch (RFC 9745).
    pub fn deprecation_value(&self) -> Option<String> {
        self.since_at().map(|at| format!("@{}", at.timestamp()))
    }

    /// `Sunset`: an HTTP date (RFC 8594).
    pub fn sunset_value(&self) -> Option<String> {
        self.sunset_at()
            .map(|at| at.format("%a, %d %b %Y %H:%M:%S GMT").to_string())
    }

    /// `Link`: the successor and the changelog.
    pub fn link_value(&self) -> String {
        format!(
            "<{}>; rel=\"successor-version\", <{CHANGES_PATH}>; rel=\"deprecation\"; type=\"text/markdown\"",
            self.successor
        )
    }

    /// Adds the deprecation's headers to an answer of the operation.
    pub fn mark(&self, headers: &mut HeaderMap) {
        let values = [
            (DEPRECATION, self.deprecation_value()),
            (SUNSET, self.sunset_value()),
            (poem::http::header::LINK, Some(self.link_value())),
        ];
        for (name, value) in values {
            if let Some(value) = value.and_then(|v| HeaderValue::from_str(&v).ok()) {
                headers.insert(name, value);
            }
        }
    }

    /// What the spec says of the operation: `deprecated: true`, why and until when in its
    /// description, and the headers on each of its responses.
    pub fn document(&self, operation: &mut serde_json::Map<String, Value>) {
        operation.insert("deprecated".to_owned(), Value::Bool(true));
        let until = self.sunset.map_or(String::new(), |day| {
            format!(", and may stop answering after {day}")
        });
        let note = format!(
            "**Deprecated** since {}{until}: use `GET {}` instead. {}",
            self.since, self.successor, self.why
        );
        let description = operation
            .get("description")
            .and_then(Value::as_str)
            .map_or(note.clone(), |text| format!("{note}\n\n{text}"));
        operation.insert("description".to_owned(), Value::String(description));
        let headers = self.documented_headers();
        let responses = operation
            .get_mut("responses")
            .and_then(Value::as_object_mut);
        for response in responses.into_iter().flat_map(|r| r.values_mut()) {
            let Some(response) = response.as_object_mut() else {
                continue;
            };
            let documented = response.entry("headers").or_insert_with(|| json!({}));
            if let Some(documented) = documented.as_object_mut() {
                for (name, header) in headers.as_object().into_iter().flatten() {
                    documented.insert(name.clone(), header.clone());
                }
            }
        }
    }

    fn documented_headers(&self) -> Value {
        let mut headers = json!({
            "Deprecation": {
                "description": format!("RFC 9745: since when the operation is deprecated, as `@` and seconds since the epoch (`{}`).", self.deprecation_value().unwrap_or_default()),
                "required": true,
                "schema": {"type": "string"},
            },
            "Link": {
                "description": format!("The operation that replaces it (`rel=\"successor-version\"`, `{}`) and the changelog that explains it (`rel=\"deprecation\"`).", self.successor),
                "required": true,
                "schema": {"type": "string"},
            },
        });
        if let (Some(sunset), Some(headers)) = (self.sunset_value(), headers.as_object_mut()) {
            headers.insert(
                "Sunset".to_owned(),
                json!({
                    "description": format!("RFC 8594: after when the operation may stop answering (`{sunset}`)."),
                    "required": true,
                    "schema": {"type": "string"},
                }),
            );
        }
        headers
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_deprecation_has_valid_dates_a_sunset_after_it_and_a_successor_in_the_spec() {
        let spec = crate::spec_value();
        for deprecated in DEPRECATED {
            let since = deprecated.since_at().expect("a valid day");
            if deprecated.sunset.is_some() {
                assert!(deprecated.sunset_at().expect("a valid day") > since);
            }
            assert!(
                spec["paths"][deprecated.successor]["get"].is_object(),
                "{} names no operation",
                deprecated.successor
            );
        }
    }

    #[test]
    fn the_headers_say_since_when_until_when_and_what_replaces_it() {
        let deprecated = of("health_get").unwrap();
        let mut headers = HeaderMap::new();
        deprecated.mark(&mut headers);
        assert_eq!(headers["deprecation"], "@1796601600");
        assert_eq!(headers["sunset"], "Wed, 30 Jun 2027 23:59:59 GMT");
        assert_eq!(
            headers["link"],
            "</livez>; rel=\"successor-version\", </api-changes>; rel=\"deprecation\"; type=\"text/markdown\""
        );
    }
}
