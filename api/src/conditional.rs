//! Conditional requests (RFC 9110 §13) and entity tags (§8.8.3).
//!
//! A JSON representation's strong `ETag` is a digest of its bytes: the same bytes, the same tag,
//! whichever instance serves them, and any change to what a client sees changes it. The edge
//! tags every JSON 200 and 201 and answers a GET whose `If-None-Match` names the tag with 304.
//! A write's `If-Match` / `If-None-Match` becomes a [`Condition`] that the domain checks inside
//! the write's transaction, against the tag of the resource as storage holds it then, computed
//! by [`tag_of`], the same function that tagged what the client read.

use crate::compression;
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use domain::precondition::Condition;
use poem::{
    Body, Response,
    http::{HeaderValue, StatusCode, header},
};
use poem_openapi::types::ToJSON;
use sha2::{Digest, Sha256};

/// The opaque tag (without quotes) of a representation whose bytes are `bytes`: 128 bits of
/// its SHA-256, base64url.
pub fn tag_of_bytes(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    URL_SAFE_NO_PAD.encode(&digest[..16])
}

/// The opaque tag of `value`'s JSON representation, exactly as a response would carry it.
pub fn tag_of<T: ToJSON>(value: &T) -> String {
    tag_of_bytes(value.to_json_string().as_bytes())
}

/// A strong entity tag as a header value: the tag in quotes.
pub fn quoted(tag: &str) -> String {
    format!("\"{tag}\"")
}

/// The condition a write's `If-Match` and `If-None-Match` state (RFC 9110 §13.1.1, §13.1.2).
///
/// `If-Match` compares strongly: a weak tag never matches, and neither does a tag this service
/// never issued. A tag a compressed response carried names the same state as the identity one.
/// `If-None-Match` is read only without `If-Match`, as §13.2.2 orders them.
pub fn condition(if_match: Option<&str>, if_none_match: Option<&str>) -> Condition {
    // An empty field lists nothing to compare with: it is read as absent, as most servers do.
    let if_match = if_match.filter(|value| !value.trim().is_empty());
    let if_none_match = if_none_match.filter(|value| !value.trim().is_empty());
    if let Some(if_match) = if_match {
        if is_star(if_match) {
            return Condition::Exists;
        }
        let tags = entity_tags(if_match)
            .filter(|tag| !tag.starts_with("W/"))
            .filter_map(unquoted)
            .collect();
        return Condition::Matches(tags);
    }
    match if_none_match {
        Some(value) if is_star(value) => Condition::Absent,
        Some(value) => Condition::NoneOf(entity_tags(value).filter_map(weak_unquoted).collect()),
        None => Condition::None,
    }
}

/// Whether a GET's or HEAD's `If-None-Match` (absent: `None`) names the representation tagged
/// `etag`, so that the client's copy is current: the one test behind every 304.
pub fn names_current(if_none_match: Option<&str>, etag: &str) -> bool {
    if_none_match.is_some_and(|header| none_match(header, etag))
}

/// Whether `If-None-Match` (`header`) names the representation tagged `etag` (a quoted tag):
/// weak comparison, as §13.1.2 asks of GET and HEAD.
fn none_match(header: &str, etag: &str) -> bool {
    if is_star(header) {
        return true;
    }
    let Some(current) = weak_unquoted(etag) else {
        return false;
    };
    entity_tags(header)
        .filter_map(weak_unquoted)
        .any(|tag| tag == current)
}

/// Whether an `If-Range` header lets a `Range` apply (RFC 9110 §13.1.5): absent, or the current
/// tag `etag`, compared strongly.
pub fn if_range_holds(header: Option<&str>, etag: &str) -> bool {
    header.is_none_or(|tag| tag.trim() == etag)
}

fn is_star(value: &str) -> bool {
    value.trim() == "*"
}

/// The members of an entity-tag list, trimmed.
fn entity_tags(value: &str) -> impl Iterator<Item = &str> {
    value
        .split(',')
        .map(str::trim)
        .filter(|tag| !tag.is_empty())
}

/// A strong tag's text without quotes or a coding suffix.
fn unquoted(tag: &str) -> Option<String> {
    let tag = compression::strip_coding(tag);
    let inner = tag.strip_prefix('"')?.strip_suffix('"')?;
    Some(inner.to_owned())
}

/// Any tag's text without `W/`, quotes or a coding suffix.
fn weak_unquoted(tag: &str) -> Option<String> {
    unquoted(tag.strip_prefix("W/").unwrap_or(tag))
}

/// Gives a JSON 200 or 201 that has no `ETag` yet the tag of its body. Such bodies are whole in
/// memory (poem-openapi serialises JSON before it answers), so reading them costs a copy.
pub async fn tag_json(resp: &mut Response) {
    let status = resp.status();
    // JSON itself: not JSON Lines, a stream that is never read whole.
    let json = resp.content_type().is_some_and(|media| {
        media
            .split(';')
            .next()
            .is_some_and(|essence| essence.trim().eq_ignore_ascii_case("application/json"))
    });
    if !(status == StatusCode::OK || status == StatusCode::CREATED)
        || !json
        || resp.headers().contains_key(header::ETAG)
    {
        return;
    }
    let Ok(bytes) = resp.take_body().into_bytes().await else {
        return;
    };
    if let Ok(value) = HeaderValue::from_str(&quoted(&tag_of_bytes(&bytes))) {
        resp.headers_mut().insert(header::ETAG, value);
    }
    resp.set_body(Body::from_bytes(bytes));
}

/// The 304 for a GET or HEAD of `resp` (a 200) whose `If-None-Match` names its `ETag`: no
/// body, the headers a 200 would have carried that describe the representation (RFC 9110
/// §15.4.5).
pub fn not_modified(resp: &Response, if_none_match: Option<&str>) -> Option<Response> {
    if_none_match?;
    let etag = resp.headers().get(header::ETAG)?.to_str().ok()?;
    if resp.status() != StatusCode::OK || !names_current(if_none_match, etag) {
        return None;
    }
    let mut not_modified = Response::builder()
        .status(StatusCode::NOT_MODIFIED)
        .finish();
    for name in [
        header::ETAG,
        header::CACHE_CONTROL,
        header::VARY,
        header::CONTENT_LOCATION,
        header::LAST_MODIFIED,
    ] {
        if let Some(value) = resp.headers().get(&name) {
            not_modified.headers_mut().insert(name, value.clone());
        }
    }
    Some(not_modified)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // test code: a panic is a failed test
    use super::*;

    #[test]
    fn equal_bytes_have_equal_tags_and_any_change_changes_the_tag() {
        assert_eq!(tag_of_bytes(b"{\"a\":1}"), tag_of_bytes(b"{\"a\":1}"));
        assert_ne!(tag_of_bytes(b"{\"a\":1}"), tag_of_bytes(b"{\"a\":2}"));
        assert_eq!(tag_of_bytes(b"").len(), 22);
    }

    #[test]
    fn if_match_is_strong_and_ignores_the_coding_suffix() {
        assert_eq!(
            condition(Some("\"abc\", W/\"def\", \"ghi-gzip\""), None),
            Condition::Matches(vec!["abc".into(), "ghi".into()])
        );
        assert_eq!(condition(Some(" * "), Some("*")), Condition::Exists);
        assert_eq!(
            condition(Some("nope"), None),
            Condition::Matches(Vec::new())
        );
    }

    #[test]
    fn if_none_match_on_a_write_is_create_only_or_a_list_to_avoid() {
        assert_eq!(condition(None, Some("*")), Condition::Absent);
        assert_eq!(
            condition(None, Some("W/\"a\", \"b-br\"")),
            Condition::NoneOf(vec!["a".into(), "b".into()])
        );
        assert_eq!(condition(None, None), Condition::None);
        assert_eq!(condition(Some(" "), Some("")), Condition::None);
    }

    #[test]
    fn none_match_compares_weakly_and_knows_star() {
        assert!(none_match("\"x\", W/\"abc\"", "\"abc\""));
        assert!(none_match("\"abc-gzip\"", "\"abc\""));
        assert!(none_match("*", "\"abc\""));
        assert!(!none_match("\"abd\"", "\"abc\""));
    }

    #[test]
    fn if_range_needs_the_current_tag() {
        let tag = quoted("abc");
        assert!(if_range_holds(None, &tag));
        assert!(if_range_holds(Some("\"abc\""), &tag));
        assert!(!if_range_holds(Some("\"old\""), &tag));
        assert!(!if_range_holds(Some("W/\"abc\""), &tag));
    }

    #[tokio::test]
    async fn a_json_200_is_tagged_by_its_bytes_and_a_matching_get_is_304() {
        let mut resp = Response::builder()
            .content_type("application/json; charset=utf-8")
            .body("{\"id\":1}");
        tag_json(&mut resp).await;
        let etag = resp.headers()[header::ETAG].to_str().unwrap().to_owned();
        assert_eq!(etag, quoted(&tag_of_bytes(b"{\"id\":1}")));
        assert_eq!(resp.take_body().into_string().await.unwrap(), "{\"id\":1}");
        let hit = not_modified(&resp, Some(&etag)).unwrap();
        assert_eq!(hit.status(), StatusCode::NOT_MODIFIED);
        assert_eq!(hit.headers()[header::ETAG], etag.as_str());
        assert!(not_modified(&resp, Some("\"other\"")).is_none());
    }

    #[tokio::test]
    async fn problems_and_other_statuses_get_no_tag() {
        let mut problem = Response::builder()
            .status(StatusCode::NOT_FOUND)
            .content_type("application/json")
            .body("{}");
        tag_json(&mut problem).await;
        assert!(!problem.headers().contains_key(header::ETAG));
        let mut csv = Response::builder().content_type("text/csv").body("a,b");
        tag_json(&mut csv).await;
        assert!(!csv.headers().contains_key(header::ETAG));
    }
}
