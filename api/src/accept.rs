//! Proactive negotiation by `Accept` (RFC 9110 §12.5.1): how much a client wants a media type.
//!
//! Parameters of a media range other than `q` are ignored when matching, so that
//! `application/json; charset=utf-8` still asks for JSON; a malformed range is skipped rather
//! than refused, as most servers do.

use crate::problem::{PLAIN_JSON, PROBLEM_JSON};

/// The weight (`q`, in thousandths, 0 to 1000) a request's `Accept` gives `media` (a type
/// without parameters, such as `application/json`): that of the most specific range matching it,
/// 0 when none does. No `Accept`, or an empty one, accepts everything at 1000.
pub fn quality(accept: Option<&str>, media: &str) -> u16 {
    let Some(accept) = accept.filter(|a| !a.trim().is_empty()) else {
        return 1000;
    };
    let (kind, subtype) = media.split_once('/').unwrap_or((media, ""));
    let mut best: Option<(u8, u16)> = None;
    for range in accept.split(',').filter_map(Range::parse) {
        let Some(specificity) = range.specificity_for(kind, subtype) else {
            continue;
        };
        if best.is_none_or(|(seen, _)| specificity > seen) {
            best = Some((specificity, range.q));
        }
    }
    best.map_or(0, |(_, q)| q)
}

/// Whether `Accept` takes `media` at all (a weight above 0).
pub fn accepts(accept: Option<&str>, media: &str) -> bool {
    quality(accept, media) > 0
}

/// The media type a problem is sent as, for a request whose `Accept` is `accept`:
/// `application/problem+json`, unless the client weighs plain `application/json` higher (a
/// client generated to read only JSON, and that says so, gets the same document under that
/// type). Never anything else: an error is a problem whatever `Accept` says.
pub fn problem_media_type(accept: Option<&str>) -> &'static str {
    if quality(accept, PLAIN_JSON) > quality(accept, PROBLEM_JSON) {
        PLAIN_JSON
    } else {
        PROBLEM_JSON
    }
}

/// One media range of an `Accept` value.
struct Range<'a> {
    kind: &'a str,
    subtype: &'a str,
    q: u16,
}

impl<'a> Range<'a> {
    fn parse(text: &'a str) -> Option<Self> {
        let mut parts = text.split(';');
        let (kind, subtype) = parts.next()?.trim().split_once('/')?;
        if kind.is_empty() || subtype.is_empty() || (kind == "*" && subtype != "*") {
            return None;
        }
        let mut q = 1000;
        for param in parts {
            if let Some((name, value)) = param.split_once('=')
                && name.trim().eq_ignore_ascii_case("q")
            {
                q = weight(value.trim())?;
            }
        }
        Some(Self { kind, subtype, q })
    }

    /// How specifically this range names `kind/subtype` (2 exactly, 1 as `kind/*`, 0 as
    /// `*/*`), or `None` when it does not match it.
    fn specificity_for(&self, kind: &str, subtype: &str) -> Option<u8> {
        if self.kind == "*" {
            return Some(0);
        }
        if !self.kind.eq_ignore_ascii_case(kind) {
            return None;
        }
        if self.subtype == "*" {
            return Some(1);
        }
        self.subtype.eq_ignore_ascii_case(subtype).then_some(2)
    }
}

/// A `qvalue` (`0`, `0.5`, `1.000`, ...) in thousandths; `None` when it is not one. Shared
/// with `Accept-Encoding` negotiation ([`crate::compression`]).
pub(crate) fn weight(text: &str) -> Option<u16> {
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    if fraction.len() > 3 || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let thousandths = format!("{fraction:0<3}").parse::<u16>().ok()?;
    match whole {
        "0" => Some(thousandths),
        "1" if thousandths == 0 => Some(1000),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_problem_is_plain_json_only_for_a_client_that_prefers_that() {
        assert_eq!(problem_media_type(None), PROBLEM_JSON);
        assert_eq!(problem_media_type(Some("*/*")), PROBLEM_JSON);
        assert_eq!(problem_media_type(Some("application/xml")), PROBLEM_JSON);
        assert_eq!(
            problem_media_type(Some("application/json, application/problem+json")),
            PROBLEM_JSON
        );
        assert_eq!(problem_media_type(Some("application/json")), PLAIN_JSON);
        assert_eq!(
            problem_media_type(Some("application/json, */*;q=0.5")),
            PLAIN_JSON
        );
    }

    #[test]
    fn no_or_empty_accept_takes_everything() {
        assert_eq!(quality(None, "application/json"), 1000);
        assert_eq!(quality(Some("  "), "text/csv"), 1000);
    }

    #[test]
    fn the_most_specific_matching_range_decides() {
        let accept = Some("application/*;q=0.2, application/json;q=0.9, */*;q=0.1");
        assert_eq!(quality(accept, "application/json"), 900);
        assert_eq!(quality(accept, "application/problem+json"), 200);
        assert_eq!(quality(accept, "text/csv"), 100);
    }

    #[test]
    fn a_range_naming_other_types_accepts_nothing_else() {
        assert!(!accepts(Some("application/xml"), "application/json"));
        assert!(!accepts(Some("text/*"), "application/json"));
        assert!(accepts(Some("text/*"), "text/csv"));
    }

    #[test]
    fn q_zero_refuses_and_parameters_other_than_q_are_ignored() {
        assert!(!accepts(
            Some("application/json;q=0, */*"),
            "application/json"
        ));
        assert!(accepts(Some("*/*, application/json;q=0"), "text/csv"));
        assert!(accepts(
            Some("application/json; charset=utf-8"),
            "application/json"
        ));
        assert!(accepts(Some("APPLICATION/JSON"), "application/json"));
    }

    #[test]
    fn malformed_ranges_are_skipped() {
        assert!(!accepts(
            Some("json, */json, application/json;q=2"),
            "application/json"
        ));
        assert!(accepts(
            Some("nonsense, application/json"),
            "application/json"
        ));
        assert_eq!(weight("0.5"), Some(500));
        assert_eq!(weight("1.0"), Some(1000));
        assert_eq!(weight("0.0001"), None);
        assert_eq!(weight("1.5"), None);
    }
}
