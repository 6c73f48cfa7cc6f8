//! List pages on the wire: `{items, next_cursor}` and the `Link: rel="next"` header.

use crate::params::{IdCursor, encode_cursor};
use domain::{Limit, PageRequest};
use poem::Request;

/// The page that a list's `limit` and `cursor` (the last page's `next_cursor`) ask for.
pub fn requested<K>(limit: Limit, cursor: Option<IdCursor<K>>) -> PageRequest<K> {
    PageRequest {
        after: cursor.map(|cursor| cursor.0),
        limit,
    }
}

/// The `next_cursor` member and `Link` header of a page whose last item has id `next_after`
/// (none when it is the last page).
pub fn next_page(
    req: &Request,
    limit: Limit,
    next_after: Option<i64>,
) -> (Option<String>, Option<String>) {
    next_page_after(req, limit, next_after.map(|id| id.to_string()).as_deref())
}

/// The `next_cursor` member and `Link` header of a page whose last item has the key
/// `next_after` (none when it is the last page).
pub fn next_page_after(
    req: &Request,
    limit: Limit,
    next_after: Option<&str>,
) -> (Option<String>, Option<String>) {
    let Some(after) = next_after else {
        return (None, None);
    };
    let cursor = encode_cursor(after);
    let link = format!(
        "<{}{}?limit={}&cursor={cursor}>; rel=\"next\"",
        origin(req),
        req.uri().path(),
        limit.get()
    );
    (Some(cursor), Some(link))
}

/// `scheme://host` of the request, from `Host` (and `X-Forwarded-Proto` behind a proxy), so
/// that the link is absolute; empty (a relative link) when the host is missing or odd.
fn origin(req: &Request) -> String {
    let host = req.header("host").filter(|h| {
        !h.is_empty()
            && h.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b))
    });
    let Some(host) = host else {
        return String::new();
    };
    let scheme = match req.header("x-forwarded-proto") {
        Some("https") => "https",
        _ => "http",
    };
    format!("{scheme}://{host}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_is_absolute_from_the_host_header() {
        let req = Request::builder()
            .uri_str("/users?limit=2")
            .header("host", "api.example.com:8080")
            .finish();
        let (cursor, link) = next_page(&req, Limit::parse(2).unwrap(), Some(9));
        let cursor = cursor.unwrap();
        assert_eq!(
            link.unwrap(),
            format!("<http://api.example.com:8080/users?limit=2&cursor={cursor}>; rel=\"next\"")
        );
    }

    #[test]
    fn odd_host_gives_a_relative_link_and_last_page_none() {
        let req = Request::builder()
            .uri_str("/users")
            .header("host", "evil\"><x")
            .finish();
        let (_, link) = next_page(&req, Limit::DEFAULT, Some(1));
        assert!(link.unwrap().starts_with("</users?limit=20&cursor="));
        assert_eq!(next_page(&req, Limit::DEFAULT, None), (None, None));
    }
}
