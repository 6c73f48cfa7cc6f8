//! The gate on the real history of the spec, and on fixture pairs: each kind of breaking change
//! caught, compatible changes passing, a raised major version letting a break through.

use super::*;
use serde_json::json;

#[test]
fn the_served_documents_are_the_newest_released_version() {
    for dialect in Dialect::ALL {
        let versions = released_in(dialect);
        let (newest, spec) = versions.last().expect("a released version");
        assert_eq!(newest.to_string(), crate::API_VERSION, "{dialect:?}");
        assert!(
            *spec == dialect.served(),
            "the served {dialect:?} document changed since {newest} was released: raise \
             API_VERSION (minor for a compatible change, major for a breaking one) and release \
             it (README, \"How the API evolves\")"
        );
    }
}

#[test]
fn the_served_documents_break_no_client_of_the_last_released_version_unless_its_major_was_raised() {
    // Run before the one above fails on an unreleased change: says whether it breaks, and how.
    let served_version = Version::parse(crate::API_VERSION).expect("API_VERSION is x.y.z");
    for dialect in Dialect::ALL {
        let served = dialect.served();
        let versions = released_in(dialect);
        // What clients have: the newest release other than the served document itself.
        let last = versions
            .iter()
            .rev()
            .find(|(version, spec)| *version < served_version || *spec != served);
        let Some((last_version, last)) = last else {
            // The first release in this dialect has nothing before it.
            assert_eq!(
                dialect,
                Dialect::V3_1,
                "no 3.0 version before {served_version}"
            );
            continue;
        };
        if let Err(why) = dialect.compatible((*last_version, last), (served_version, &served)) {
            panic!("the served {dialect:?} document, {why}");
        }
    }
}

#[test]
fn every_released_version_breaks_no_client_of_the_one_before_unless_its_major_was_raised() {
    for dialect in Dialect::ALL {
        let versions = released_in(dialect);
        assert!(!versions.is_empty(), "{dialect:?}");
        for pair in versions.windows(2) {
            let [(old_version, old), (new_version, new)] = pair else {
                unreachable!("windows of two")
            };
            assert!(new_version > old_version);
            if let Err(why) = dialect.compatible((*old_version, old), (*new_version, new)) {
                panic!("{dialect:?}: {why}");
            }
        }
    }
    assert!(released().len() >= 3);
}

#[test]
fn every_release_since_the_first_in_3_1_is_kept_in_both_versions_of_openapi() {
    let three_one = released_in(Dialect::V3_1);
    let (first, _) = three_one.first().expect("a 3.1 release");
    let three_oh: Vec<Version> = released()
        .into_iter()
        .map(|(version, _)| version)
        .filter(|version| version >= first)
        .collect();
    let kept: Vec<Version> = three_one.iter().map(|(version, _)| *version).collect();
    assert_eq!(kept, three_oh);
    for (version, doc) in three_one {
        assert_eq!(doc["openapi"], "3.1.0", "{version}");
    }
}

#[test]
fn a_break_in_a_3_1_document_is_caught_as_in_3_0() {
    let old = crate::spec::openapi31::upgrade(&base());
    let mut new = old.clone();
    new["components"]["schemas"]["User"]["properties"]["id"] = json!({"type": ["string", "null"]});
    let refused = Dialect::V3_1.compatible((version("1.0.0"), &old), (version("1.1.0"), &new));
    let why = refused.expect_err("a type changed");
    assert!(why.contains("type"), "{why}");
    assert_eq!(
        Dialect::V3_1.compatible((version("1.0.0"), &old), (version("1.1.0"), &old)),
        Ok(())
    );
}

#[test]
fn the_changelog_has_one_entry_per_released_version_newest_first() {
    let headings: Vec<String> = crate::deprecation::CHANGES
        .lines()
        .filter_map(|line| line.strip_prefix("## "))
        .map(|heading| {
            heading
                .split_whitespace()
                .next()
                .unwrap_or_default()
                .to_owned()
        })
        .collect();
    let mut versions: Vec<String> = released().iter().map(|(v, _)| v.to_string()).collect();
    versions.reverse();
    assert_eq!(headings, versions);
}

#[test]
fn versions_are_three_canonical_numbers() {
    assert_eq!(
        Version::parse("1.2.0").map(|v| v.to_string()),
        Some("1.2.0".into())
    );
    for bad in ["1.2", "1.2.0.0", "01.2.0", "1.x.0", "", "1..0"] {
        assert_eq!(Version::parse(bad), None, "{bad}");
    }
    assert!(Version::parse("1.10.0") > Version::parse("1.9.3"));
}

/// A small spec: listing users (an enum member and a bounded query parameter) and creating one.
fn base() -> Value {
    json!({
        "openapi": "3.0.0",
        "info": {"title": "t", "version": "1.0.0"},
        "paths": {
            "/users": {
                "get": {
                    "operationId": "users_list",
                    "parameters": [{
                        "name": "limit", "in": "query", "required": false,
                        "schema": {"type": "integer", "minimum": 1, "maximum": 100},
                    }],
                    "responses": {
                        "200": {"description": "the users", "content": {"application/json": {
                            "schema": {"type": "array", "items": {"$ref": "#/components/schemas/User"}},
                        }}},
                        "404": {"description": "none"},
                    },
                },
                "post": {
                    "operationId": "users_create",
                    "requestBody": {"required": true, "content": {"application/json": {
                        "schema": {"$ref": "#/components/schemas/UserIn"},
                    }}},
                    "responses": {"201": {"description": "created", "content": {"application/json": {
                        "schema": {"$ref": "#/components/schemas/User"},
                    }}}},
                },
            },
        },
        "components": {"schemas": {
            "User": {
                "type": "object",
                "required": ["id", "name", "role"],
                "properties": {
                    "id": {"type": "integer"},
                    "name": {"type": "string"},
                    "role": {"type": "string", "enum": ["admin", "member"]},
                },
            },
            "UserIn": {
                "type": "object",
                "required": ["name"],
                "properties": {
                    "name": {"type": "string", "maxLength": 100},
                    "bio": {"type": "string"},
                },
            },
        }},
    })
}

/// `base()` changed by `change`.
fn changed(change: impl FnOnce(&mut Value)) -> Value {
    let mut spec = base();
    change(&mut spec);
    spec
}

fn version(text: &str) -> Version {
    Version::parse(text).expect("a version")
}

fn remove(value: &mut Value, pointer: &str, key: &str) {
    value
        .pointer_mut(pointer)
        .and_then(Value::as_object_mut)
        .unwrap_or_else(|| panic!("{pointer}"))
        .remove(key);
}

#[test]
fn each_kind_of_breaking_change_is_caught_with_where_and_why() {
    let schemas = "/components/schemas";
    let breaks: Vec<(&str, Value)> = vec![
        (
            "an operation removed",
            changed(|s| remove(s, "/paths/~1users", "post")),
        ),
        (
            "a status removed",
            changed(|s| remove(s, "/paths/~1users/get/responses", "404")),
        ),
        (
            "a response member removed",
            changed(|s| {
                remove(s, &format!("{schemas}/User/properties"), "name");
                s["components"]["schemas"]["User"]["required"] = json!(["id", "role"]);
            }),
        ),
        (
            "an enum value removed",
            changed(|s| {
                s["components"]["schemas"]["User"]["properties"]["role"]["enum"] = json!(["admin"]);
            }),
        ),
        (
            "a request member made required",
            changed(|s| {
                s["components"]["schemas"]["UserIn"]["required"] = json!(["name", "bio"]);
            }),
        ),
        (
            "a bound tightened",
            changed(|s| {
                s["components"]["schemas"]["UserIn"]["properties"]["name"]["maxLength"] = json!(50);
            }),
        ),
        (
            "a parameter's bound tightened",
            changed(|s| {
                s["paths"]["/users"]["get"]["parameters"][0]["schema"]["maximum"] = json!(10);
            }),
        ),
        (
            "a type changed",
            changed(|s| {
                s["components"]["schemas"]["User"]["properties"]["id"] = json!({"type": "string"});
            }),
        ),
    ];
    for (what, new) in breaks {
        let refused = gate((version("1.0.0"), &base()), (version("1.1.0"), &new));
        let why = refused.expect_err(what);
        assert!(why.contains("#/"), "{what}: the JSON path is named: {why}");
        eprintln!("{what}:\n{why}");
        // The same change with a new major version passes.
        assert_eq!(
            gate((version("1.4.2"), &base()), (version("2.0.0"), &new)),
            Ok(()),
            "{what}"
        );
    }
}

#[test]
fn compatible_changes_pass_and_the_version_must_still_be_raised() {
    let compatible: Vec<(&str, Value)> = vec![
        (
            "a new optional request member",
            changed(|s| {
                s["components"]["schemas"]["UserIn"]["properties"]["nickname"] =
                    json!({"type": "string"});
            }),
        ),
        (
            "a new operation",
            changed(|s| {
                s["paths"]["/users/{id}"] = json!({"get": {
                    "operationId": "users_get",
                    "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "integer"}}],
                    "responses": {"200": {"description": "the user"}},
                }});
            }),
        ),
        (
            "a description",
            changed(|s| {
                s["paths"]["/users"]["get"]["responses"]["200"]["description"] =
                    json!("every user");
            }),
        ),
        (
            "a bound loosened",
            changed(|s| {
                s["components"]["schemas"]["UserIn"]["properties"]["name"]["maxLength"] =
                    json!(200);
            }),
        ),
        (
            "an operation deprecated",
            changed(|s| {
                s["paths"]["/users"]["get"]["deprecated"] = json!(true);
            }),
        ),
    ];
    for (what, new) in compatible {
        assert_eq!(
            gate((version("1.0.0"), &base()), (version("1.1.0"), &new)),
            Ok(()),
            "{what}"
        );
    }
    let same = base();
    assert!(gate((version("1.1.0"), &base()), (version("1.1.0"), &same)).is_err());
    assert!(gate((version("1.1.0"), &base()), (version("1.0.9"), &same)).is_err());
}
