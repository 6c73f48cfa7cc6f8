//! Properties of body parsing and merge-patch application, over generated input: no input
//! panics or gets a status outside 400/415/422, a patch is refused exactly when one of its
//! members is, and an accepted patch changes exactly the members it names.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test

use super::*;
use crate::users::{UserIn, UserPatchIn};
use chrono::{TimeZone, Utc};
use domain::{
    Email,
    users::{Bio, PasswordHash, User, UserId, UserName},
};
use poem_openapi::ApiExtractor;
use proptest::prelude::*;
use serde_json::json;
use std::collections::BTreeSet;

/// Reads `bytes`, sent as `content_type`, as a `T` body: the parsed value, or the refusal's
/// status and the `loc`s its `errors` name.
fn read<T: RequestModel>(
    content_type: &str,
    bytes: Vec<u8>,
) -> Result<T::Parsed, (u16, BTreeSet<String>)> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    runtime.block_on(async {
        let (req, body) = Request::builder()
            .uri_str("/users/7")
            .content_type(content_type)
            .body(bytes)
            .split();
        let mut body = body;
        match JsonBody::<T>::from_request(&req, &mut body, Default::default()).await {
            Ok(JsonBody(parsed)) => Ok(parsed),
            Err(err) => {
                let resp = err.into_response();
                let status = resp.status().as_u16();
                let text = resp.into_body().into_string().await.unwrap();
                let problem: Value = serde_json::from_str(&text).unwrap();
                let locs = problem["errors"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|e| e["loc"].to_string())
                    .collect();
                Err((status, locs))
            }
        }
    })
}

/// A member value of one kind, and whether the patch model takes it for name, e-mail or
/// password (`valid_for`), and for the bio.
#[derive(Debug, Clone)]
enum Member {
    Absent,
    Null,
    Good(&'static str),
    BadText(String),
    Number(i64),
    Flag(bool),
    List,
    Nested,
}

fn member(good: &'static str, bad: BoxedStrategy<String>) -> impl Strategy<Value = Member> {
    prop_oneof![
        3 => Just(Member::Absent),
        1 => Just(Member::Null),
        3 => Just(Member::Good(good)),
        2 => bad.prop_map(Member::BadText),
        1 => any::<i64>().prop_map(Member::Number),
        1 => any::<bool>().prop_map(Member::Flag),
        1 => Just(Member::List),
        1 => Just(Member::Nested),
    ]
}

impl Member {
    fn json(&self) -> Option<Value> {
        Some(match self {
            Member::Absent => return None,
            Member::Null => Value::Null,
            Member::Good(text) => json!(text),
            Member::BadText(text) => json!(text),
            Member::Number(n) => json!(n),
            Member::Flag(b) => json!(b),
            Member::List => json!(["x"]),
            Member::Nested => json!({"x": {"y": 1}}),
        })
    }

    /// Whether a merge patch accepts this value for a member that `nullable` or not.
    fn accepted(&self, nullable: bool) -> bool {
        match self {
            Member::Absent | Member::Good(_) => true,
            Member::Null => nullable,
            _ => false,
        }
    }
}

fn stored() -> User {
    User {
        id: UserId::parse(7).unwrap(),
        name: UserName::parse("Ann").unwrap(),
        email: Email::parse("ann@example.com").unwrap(),
        bio: Some(Bio::parse("hello").unwrap()),
        password_hash: PasswordHash::from_phc("old-hash".to_owned()),
        is_admin: false,
        created_at: Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap(),
        updated_at: Utc.with_ymd_and_hms(2026, 1, 2, 0, 0, 0).unwrap(),
    }
}

/// A JSON value nested `depth` levels of arrays and objects deep, with strings full of brackets.
fn nested(depth: usize, seed: u8) -> Value {
    (0..depth).fold(json!("[{\"]}"), |inner, level| {
        if (level + usize::from(seed)) % 2 == 0 {
            json!([inner, "]]"])
        } else {
            json!({"{": inner})
        }
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn arbitrary_bytes_are_refused_with_a_problem_or_parsed(
        bytes in proptest::collection::vec(any::<u8>(), 0..300),
        media in prop_oneof![
            Just("application/json"),
            Just("application/merge-patch+json"),
            Just("text/plain"),
        ],
    ) {
        for outcome in [
            read::<UserIn>(media, bytes.clone()).map(drop),
            read::<UserPatchIn>(media, bytes.clone()).map(drop),
        ] {
            if let Err((status, _)) = outcome {
                prop_assert!([400, 415, 422].contains(&status), "status {}", status);
            }
        }
    }

    #[test]
    fn a_patch_is_refused_exactly_when_a_member_is_and_names_each(
        name in member("Bea", "(|.{101,120})".prop_map(|s: String| s).boxed()),
        email in member("bea@example.com", "[a-z]{1,10}".boxed()),
        password in member("a new password", ".{0,7}".boxed()),
        bio in member("new bio", ".{2001,2010}".boxed()),
        extra in proptest::option::of("[a-z_]{1,12}"),
    ) {
        let mut object = serde_json::Map::new();
        for (key, value) in [("name", &name), ("email", &email), ("password", &password), ("bio", &bio)] {
            if let Some(json) = value.json() {
                object.insert(key.to_owned(), json);
            }
        }
        if let Some(extra) = extra {
            // Members the model does not know are ignored, as RFC 7396 leaves them to the target.
            object.entry(extra).or_insert(json!(1));
        }
        let members = [("name", &name, false), ("email", &email, false), ("password", &password, false), ("bio", &bio, true)];
        let refused: BTreeSet<String> = members
            .iter()
            .filter(|(_, value, nullable)| !value.accepted(*nullable))
            .map(|(key, _, _)| json!(["body", key]).to_string())
            .collect();
        let bytes = serde_json::to_vec(&Value::Object(object)).unwrap();
        match read::<UserPatchIn>("application/merge-patch+json", bytes) {
            Ok(patch) => {
                prop_assert!(refused.is_empty(), "accepted despite {:?}", refused);
                let before = stored();
                let changes_password = patch.changes_password();
                prop_assert_eq!(changes_password, matches!(password, Member::Good(_)));
                let new_hash = changes_password.then(|| PasswordHash::from_phc("new-hash".to_owned()));
                let after = patch.apply(&before, new_hash, Utc::now());
                let expect = |value: &Member, old: &str| match value {
                    Member::Good(text) => text.to_string(),
                    _ => old.to_owned(),
                };
                prop_assert_eq!(after.name.as_str(), expect(&name, before.name.as_str()));
                prop_assert_eq!(after.email.as_str(), expect(&email, before.email.as_str()));
                let bio_after = after.bio.as_ref().map(Bio::as_str);
                match bio {
                    Member::Null => prop_assert_eq!(bio_after, None),
                    Member::Good(text) => prop_assert_eq!(bio_after, Some(text)),
                    _ => prop_assert_eq!(bio_after, Some("hello")),
                }
                let hash_after = after.password_hash.as_phc();
                prop_assert_eq!(hash_after, if changes_password { "new-hash" } else { "old-hash" });
                prop_assert_eq!(after.created_at, before.created_at);
                prop_assert_eq!(after.id, before.id);
            }
            Err((status, locs)) => {
                prop_assert_eq!(status, 422);
                prop_assert_eq!(locs, refused);
            }
        }
    }

    #[test]
    fn the_depth_check_counts_brackets_outside_strings_only(depth in 0usize..40, seed in 0u8..2) {
        let text = serde_json::to_vec(&nested(depth, seed)).unwrap();
        prop_assert_eq!(nested_deeper_than(&text, MAX_DEPTH), depth > MAX_DEPTH);
        prop_assert!(!nested_deeper_than(&text, depth));
        if depth > 0 {
            prop_assert!(nested_deeper_than(&text, depth - 1));
        }
    }
}

#[test]
fn a_body_nested_past_the_limit_is_422_and_not_parsed() {
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let refused = read::<UserIn>("application/json", deep.into_bytes());
    assert_eq!(
        refused.err(),
        Some((422, BTreeSet::from([json!(["body"]).to_string()])))
    );
}

/// Whether the example of schema `name` is a body that `T` accepts.
fn example_accepted<T: RequestModel>(name: &str) -> bool {
    let example = crate::spec::examples::of(name).unwrap_or_default();
    read::<T>("application/json", example.to_string().into_bytes()).is_ok()
}

#[test]
fn every_request_body_example_is_one_its_operation_accepts() {
    let checked = [
        ("UserIn", example_accepted::<UserIn>("UserIn")),
        (
            "UserPatchIn",
            example_accepted::<UserPatchIn>("UserPatchIn"),
        ),
        (
            "TokenIn",
            example_accepted::<crate::auth::TokenIn>("TokenIn"),
        ),
        (
            "AccountIn",
            example_accepted::<crate::accounts::AccountIn>("AccountIn"),
        ),
        (
            "AmountIn",
            example_accepted::<crate::accounts::AmountIn>("AmountIn"),
        ),
        (
            "TransferIn",
            example_accepted::<crate::transfers::TransferIn>("TransferIn"),
        ),
        (
            "NotificationIn",
            example_accepted::<crate::notifications::NotificationIn>("NotificationIn"),
        ),
        (
            "WebhookIn",
            example_accepted::<crate::webhooks::WebhookIn>("WebhookIn"),
        ),
        (
            "WebhookPatchIn",
            example_accepted::<crate::webhooks::WebhookPatchIn>("WebhookPatchIn"),
        ),
    ];
    for (name, accepted) in checked {
        assert!(
            accepted,
            "the example of {name} is refused by its own parser"
        );
    }
    // Every JSON request body of the spec is among those checked.
    let spec = crate::spec_value();
    let checked: BTreeSet<&str> = checked.iter().map(|(name, _)| *name).collect();
    for (path, item) in spec["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let schema = &operation["requestBody"]["content"]["application/json"]["schema"];
            if let Some(reference) = schema["$ref"].as_str() {
                let name = reference.rsplit('/').next().unwrap();
                assert!(
                    checked.contains(name),
                    "{method} {path}: {name} is not checked"
                );
            }
        }
    }
}

#[test]
fn every_schema_has_an_example_with_its_required_members_and_no_others() {
    let spec = crate::spec_value();
    for (name, schema) in spec["components"]["schemas"].as_object().unwrap() {
        let example = &schema["example"];
        assert!(!example.is_null(), "{name} has no example");
        let Some(members) = example.as_object() else {
            let allowed = schema["enum"].as_array().unwrap();
            assert!(
                allowed.contains(example),
                "{name}: {example} is not one of its values"
            );
            continue;
        };
        let properties = schema["properties"].as_object().unwrap();
        for member in members.keys() {
            assert!(
                properties.contains_key(member),
                "{name}: {member} is no property"
            );
        }
        for required in schema["required"].as_array().into_iter().flatten() {
            let required = required.as_str().unwrap();
            assert!(
                members.contains_key(required),
                "{name}: {required} is missing"
            );
        }
    }
}
