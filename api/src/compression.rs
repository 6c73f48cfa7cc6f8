//! Response compression by `Accept-Encoding` (RFC 9110 §12.5.3, §8.4), applied by the edge.
//!
//! A compressed response is a different representation, so it gets its own entity tag
//! (§8.8.3): the resource's tag with the coding appended. [`strip_coding`] undoes that for
//! preconditions, which are about the resource's state, not about the bytes a client got.

use async_compression::{
    Level,
    tokio::bufread::{BrotliEncoder, GzipEncoder, ZstdEncoder},
};
use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use poem::{
    Body, Response,
    http::{HeaderValue, StatusCode, header},
};
use std::borrow::Cow;
use tokio_util::io::{ReaderStream, StreamReader};

/// A content coding the service can apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Coding {
    /// `gzip` (RFC 9110 §8.4.1.3).
    Gzip,
    /// `br` (RFC 7932).
    Brotli,
    /// `zstd` (RFC 8878).
    Zstd,
}

impl Coding {
    /// The coding's token, as `Accept-Encoding` and `Content-Encoding` spell it.
    pub fn token(self) -> &'static str {
        match self {
            Self::Gzip => "gzip",
            Self::Brotli => "br",
            Self::Zstd => "zstd",
        }
    }
}

/// Ties go to the first. Measured here (BENCHMARKS.md): zstd compresses a 100-user page as
/// small as brotli does and the CSV export 36-fold at 780k rows/s, where brotli at level 4 runs
/// at 430k and gzip at 570k for a 10-fold saving; gzip is the one every client has.
const PREFERENCE: [Coding; 3] = [Coding::Zstd, Coding::Brotli, Coding::Gzip];

/// Bodies shorter than this are sent as they are: compressing them saves less than it costs.
pub const MIN_BYTES: u64 = 1024;

/// Media types worth compressing; everything else the service sends is small or already packed.
const COMPRESSIBLE: [&str; 4] = [
    "application/json",
    "application/problem+json",
    "text/csv",
    "application/jsonl",
];

/// The coding to apply for a request's `Accept-Encoding` value, or `None` for identity.
pub fn negotiate(accept_encoding: Option<&str>) -> Option<Coding> {
    // Weights in thousandths, for the codings in PREFERENCE order.
    let mut named: [Option<u16>; 3] = [None; 3];
    let (mut star, mut identity) = (None, None);
    for (token, q) in accept_encoding?.split(',').filter_map(member) {
        let slot = match token.to_ascii_lowercase().as_str() {
            "zstd" => &mut named[0],
            "br" => &mut named[1],
            "gzip" | "x-gzip" => &mut named[2],
            "*" => &mut star,
            "identity" => &mut identity,
            _ => continue,
        };
        // Contradictions resolve toward refusing: identity is always a safe answer.
        *slot = Some(slot.map_or(q, |seen: u16| seen.min(q)));
    }
    let mut best: Option<(Coding, u16)> = None;
    for (coding, q) in PREFERENCE.into_iter().zip(named) {
        let q = q.or(star).unwrap_or(0);
        if q > 0 && best.is_none_or(|(_, seen)| q > seen) {
            best = Some((coding, q));
        }
    }
    let (coding, q) = best?;
    // A client that ranks identity above every coding it accepts wants the bytes as they are.
    identity.is_none_or(|i| i <= q).then_some(coding)
}

/// One `Accept-Encoding` member as its token and weight; `None` when empty or malformed.
fn member(text: &str) -> Option<(&str, u16)> {
    let mut parts = text.split(';');
    let token = parts.next()?.trim();
    let tchar = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
    if token.is_empty() || !token.bytes().all(tchar) {
        return None;
    }
    let mut q = 1000;
    for param in parts {
        let (name, value) = param.split_once('=')?;
        if name.trim().eq_ignore_ascii_case("q") {
            q = crate::accept::weight(value.trim())?;
        }
    }
    Some((token, q))
}

/// Whether the response's media type is one the service compresses (and so varies by coding).
pub fn compressible_type(resp: &Response) -> bool {
    let media = resp.content_type().and_then(|ct| ct.split(';').next());
    media.is_some_and(|m| {
        COMPRESSIBLE
            .iter()
            .any(|c| m.trim().eq_ignore_ascii_case(c))
    })
}

/// Whether a response is one the service compresses (`&mut` only to read the body's size).
pub fn eligible(resp: &mut Response) -> bool {
    resp.status() == StatusCode::OK
        && !resp.headers().contains_key(header::CONTENT_ENCODING)
        && !resp.headers().contains_key(header::CONTENT_RANGE)
        && compressible_type(resp)
        && body_len(resp).is_none_or(|len| len >= MIN_BYTES)
}

/// The body's length when known: `Content-Length`, else the body's own size hint; `None` for a
/// stream. Poem lends no reference to a response's body, so it is taken out and put back.
fn body_len(resp: &mut Response) -> Option<u64> {
    let declared = resp.header(header::CONTENT_LENGTH);
    if let Some(len) = declared.and_then(|v| v.trim().parse().ok()) {
        return Some(len);
    }
    let body: BoxBody<Bytes, std::io::Error> = resp.take_body().into();
    let hint = http_body::Body::size_hint(&body);
    resp.set_body(Body::from(body));
    hint.upper()
}

/// Applies `coding` to an eligible response's body as a stream, and marks the representation.
pub fn compress(resp: Response, coding: Coding) -> Response {
    let (mut parts, body) = resp.into_parts();
    let input = StreamReader::new(body.into_bytes_stream());
    // Levels for compressing every response on the fly, not for assets compressed once:
    // brotli's default (11) runs at a few MB/s, level 4 is about gzip 6's speed and still
    // smaller; gzip 6 and zstd 3 are their own defaults, past which ratio gains little and
    // CPU costs much (a CSV export of hundreds of MB has to keep up with the network).
    let body = match coding {
        Coding::Gzip => stream(GzipEncoder::with_quality(input, Level::Default)),
        Coding::Brotli => stream(BrotliEncoder::with_quality(input, Level::Precise(4))),
        Coding::Zstd => stream(ZstdEncoder::with_quality(input, Level::Default)),
    };
    let headers = &mut parts.headers;
    headers.insert(
        header::CONTENT_ENCODING,
        HeaderValue::from_static(coding.token()),
    );
    headers.remove(header::CONTENT_LENGTH);
    // Byte ranges of the encoded bytes are not served (only identity 206s are), so none are offered.
    headers.remove(header::ACCEPT_RANGES);
    if let Some(tag) = headers.get(header::ETAG) {
        let tagged = tag.to_str().ok().and_then(|t| with_coding(t, coding));
        match tagged.and_then(|t| HeaderValue::try_from(t).ok()) {
            Some(value) => headers.insert(header::ETAG, value),
            None => {
                // Keeping it would give two representations one tag; no tag is merely uncacheable.
                tracing::warn!(etag = ?tag, "dropping a malformed ETag from a compressed response");
                headers.remove(header::ETAG)
            }
        };
    }
    Response::from_parts(parts, body)
}

fn stream(encoder: impl tokio::io::AsyncRead + Send + 'static) -> Body {
    Body::from_bytes_stream(ReaderStream::new(encoder))
}

/// The entity tag of `tag`'s representation under `coding` (`"abc"` -> `"abc-gzip"`), as a
/// 304 for a compressed representation must send; `None` when `tag` is not an entity tag.
pub fn with_coding(tag: &str, coding: Coding) -> Option<String> {
    let (weak, opaque) = split_tag(tag)?;
    Some(format!("{weak}\"{opaque}-{}\"", coding.token()))
}

/// The tag a client sent back, without the coding suffix [`compress`] added.
pub fn strip_coding(tag: &str) -> Cow<'_, str> {
    let Some((weak, opaque)) = split_tag(tag) else {
        return Cow::Borrowed(tag);
    };
    let base = PREFERENCE
        .iter()
        .find_map(|c| opaque.strip_suffix(c.token())?.strip_suffix('-'));
    base.map_or(Cow::Borrowed(tag), |base| {
        Cow::Owned(format!("{weak}\"{base}\""))
    })
}

/// An entity tag's weakness prefix (`W/` or empty) and its opaque text without quotes.
fn split_tag(tag: &str) -> Option<(&str, &str)> {
    let (weak, quoted) = tag
        .strip_prefix("W/")
        .map_or(("", tag), |rest| ("W/", rest));
    let opaque = quoted.strip_prefix('"')?.strip_suffix('"')?;
    (!opaque.contains('"')).then_some((weak, opaque))
}

/// Adds `Accept-Encoding` to `Vary`, keeping what is there and naming it once.
pub fn add_vary(resp: &mut Response) {
    let headers = resp.headers_mut();
    let values: Option<Vec<&str>> = headers
        .get_all(header::VARY)
        .iter()
        .map(|v| v.to_str().ok())
        .collect();
    let members = values.iter().flatten().flat_map(|v| v.split(','));
    if members
        .map(str::trim)
        .any(|m| m == "*" || m.eq_ignore_ascii_case("accept-encoding"))
    {
        return;
    }
    let joined = values.map(|vs| {
        let kept = vs.into_iter().map(str::trim).filter(|v| !v.is_empty());
        kept.chain(["Accept-Encoding"])
            .collect::<Vec<_>>()
            .join(", ")
    });
    if let Some(value) = joined.and_then(|v| HeaderValue::try_from(v).ok()) {
        headers.insert(header::VARY, value);
    } else {
        // A value that is not text stays as it is; the lines of a list field add up.
        headers.append(header::VARY, HeaderValue::from_static("Accept-Encoding"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use async_compression::tokio::bufread::{BrotliDecoder, GzipDecoder, ZstdDecoder};
    use futures_util::StreamExt;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::io::AsyncReadExt;

    fn response(status: u16, content_type: &str, body: impl Into<Body>) -> Response {
        let status = StatusCode::from_u16(status).unwrap();
        Response::builder()
            .status(status)
            .content_type(content_type)
            .body(body)
    }

    fn with(mut resp: Response, name: &'static str, value: &'static str) -> Response {
        resp.headers_mut()
            .append(name, HeaderValue::from_static(value));
        resp
    }

    async fn decode(coding: Coding, data: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        match coding {
            Coding::Gzip => GzipDecoder::new(data).read_to_end(&mut out).await,
            Coding::Brotli => BrotliDecoder::new(data).read_to_end(&mut out).await,
            Coding::Zstd => ZstdDecoder::new(data).read_to_end(&mut out).await,
        }
        .unwrap();
        out
    }

    /// JSON-ish text that compresses, long enough to be eligible.
    fn document() -> Vec<u8> {
        let item = |i| format!("{{\"id\":{i},\"name\":\"user {i}\"}},");
        (0..200).flat_map(|i| item(i).into_bytes()).collect()
    }

    #[test]
    fn q_values_choose_the_coding_and_zero_refuses() {
        let cases = [
            ("gzip;q=0.9, br;q=0.5", Some(Coding::Gzip)),
            ("zstd;q=1.0, gzip;q=0.999", Some(Coding::Zstd)),
            ("br;q=0, gzip;q=0.1", Some(Coding::Gzip)),
            ("*, br;q=0, zstd;q=0", Some(Coding::Gzip)),
            ("*;q=0", None),
            ("gzip;q=0.5, identity", None),
            ("gzip, gzip;q=0", None),
        ];
        for (header, coding) in cases {
            assert_eq!(negotiate(Some(header)), coding, "{header}");
        }
    }

    #[test]
    fn ties_go_to_zstd_then_br_then_gzip_and_star_covers_the_rest() {
        let cases = [
            ("gzip, deflate, br, zstd", Coding::Zstd),
            ("gzip, deflate, br", Coding::Brotli),
            ("gzip, zstd", Coding::Zstd),
            ("*", Coding::Zstd),
            ("zstd;q=0.5, *", Coding::Brotli),
        ];
        for (header, coding) in cases {
            assert_eq!(negotiate(Some(header)), Some(coding), "{header}");
        }
    }

    #[test]
    fn tokens_ignore_case_x_gzip_is_gzip_and_malformed_members_are_skipped() {
        assert_eq!(negotiate(Some("GZIP")), Some(Coding::Gzip));
        assert_eq!(negotiate(Some("X-Gzip;Q=0.5")), Some(Coding::Gzip));
        let mixed = "br;q=2, zstd;q=abc, gz ip, gzip;q=0.3";
        assert_eq!(negotiate(Some(mixed)), Some(Coding::Gzip));
        assert_eq!(negotiate(Some(",, ;q=1, br;q")), None);
    }

    #[test]
    fn no_header_an_empty_one_or_only_unknown_codings_mean_identity() {
        for header in [None, Some(""), Some("identity, deflate, compress")] {
            assert_eq!(negotiate(header), None, "{header:?}");
        }
    }

    #[test]
    fn small_bodies_and_partial_content_are_left_alone() {
        let json = |status, len| response(status, "application/json", vec![b'x'; len]);
        let min = MIN_BYTES as usize;
        let mut kept = json(200, min);
        assert!(eligible(&mut kept));
        assert!(
            !kept.into_body().is_empty(),
            "reading the size lost the body"
        );
        let refused = [
            json(200, min - 1),
            json(206, min),
            json(304, 0),
            with(json(200, min), "content-range", "bytes 0-1/2"),
            with(json(200, min), "content-length", "10"),
            with(json(200, min), "content-encoding", "gzip"),
        ];
        for mut resp in refused {
            assert!(!eligible(&mut resp), "{resp:?}");
        }
    }

    #[test]
    fn only_json_problems_and_csv_are_compressed() {
        let eligible_as = |ct| eligible(&mut response(200, ct, vec![b'x'; 4096]));
        for ct in [
            "Application/JSON; charset=utf-8",
            "application/problem+json",
        ] {
            assert!(eligible_as(ct), "{ct}");
        }
        assert!(eligible_as("text/csv;header=present"));
        for ct in ["application/octet-stream", "text/html", "application/jsonx"] {
            assert!(!eligible_as(ct), "{ct}");
        }
        assert!(!eligible(&mut Response::builder().body(vec![b'x'; 4096])));
    }

    #[tokio::test]
    async fn a_gzip_body_round_trips_and_the_etag_names_the_coding() {
        let resp = with(
            response(200, "application/json", document()),
            "etag",
            "\"abc\"",
        );
        let resp = with(
            with(resp, "content-length", "6000"),
            "accept-ranges",
            "bytes",
        );
        let resp = compress(resp, Coding::Gzip);
        assert_eq!(resp.header("content-encoding"), Some("gzip"));
        assert_eq!(resp.header("etag"), Some("\"abc-gzip\""));
        assert_eq!(resp.header("content-length"), None);
        assert_eq!(resp.header("accept-ranges"), None);
        let sent = resp.into_body().into_vec().await.unwrap();
        assert!(sent.len() < document().len() / 2);
        assert_eq!(decode(Coding::Gzip, &sent).await, document());
    }

    #[tokio::test]
    async fn brotli_and_zstd_round_trip_and_weak_tags_stay_weak() {
        for coding in [Coding::Brotli, Coding::Zstd] {
            let resp = with(response(200, "text/csv", document()), "etag", "W/\"v7\"");
            let resp = compress(resp, coding);
            assert_eq!(resp.header("content-encoding"), Some(coding.token()));
            let tag = format!("W/\"v7-{}\"", coding.token());
            assert_eq!(resp.header("etag"), Some(tag.as_str()));
            let sent = resp.into_body().into_vec().await.unwrap();
            assert_eq!(decode(coding, &sent).await, document());
        }
    }

    #[tokio::test]
    async fn a_streamed_body_is_compressed_without_being_buffered() {
        const CHUNKS: usize = 256;
        static PULLED: AtomicUsize = AtomicUsize::new(0);
        // Noise, so that the encoder has output to hand on after every few chunks.
        let chunk = |i: usize| -> Vec<u8> {
            let mut x = (i as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
            let mut next = move || {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            };
            (0..16 * 1024).map(|_| next()).collect()
        };
        let input = futures_util::stream::iter(0..CHUNKS).map(move |i| {
            PULLED.fetch_add(1, Ordering::SeqCst);
            Ok::<_, std::io::Error>(chunk(i))
        });
        let mut resp = response(200, "text/csv", Body::from_bytes_stream(input));
        assert!(
            eligible(&mut resp),
            "a stream of unknown length is eligible"
        );
        let mut output = compress(resp, Coding::Gzip).into_body().into_bytes_stream();
        let mut sent = output.next().await.unwrap().unwrap().to_vec();
        let pulled = PULLED.load(Ordering::SeqCst);
        assert!(
            pulled < CHUNKS / 4,
            "read {pulled} chunks before sending any"
        );
        while let Some(part) = output.next().await {
            sent.extend_from_slice(&part.unwrap());
        }
        let expected: Vec<u8> = (0..CHUNKS).flat_map(chunk).collect();
        assert_eq!(decode(Coding::Gzip, &sent).await, expected);
    }

    #[test]
    fn vary_is_appended_not_duplicated() {
        let mut resp = response(200, "application/json", ());
        add_vary(&mut resp);
        add_vary(&mut resp);
        assert_eq!(resp.header("vary"), Some("Accept-Encoding"));
        let resp = response(200, "application/json", ());
        let mut resp = with(with(resp, "vary", "Origin"), "vary", "Authorization");
        add_vary(&mut resp);
        add_vary(&mut resp);
        let all: Vec<_> = resp.headers().get_all("vary").iter().collect();
        assert_eq!(all, ["Origin, Authorization, Accept-Encoding"]);
        let mut named = with(
            response(200, "text/csv", ()),
            "vary",
            "origin, accept-encoding",
        );
        add_vary(&mut named);
        assert_eq!(named.header("vary"), Some("origin, accept-encoding"));
    }

    #[test]
    fn strip_coding_undoes_what_compress_added_and_nothing_else() {
        for coding in PREFERENCE {
            for tag in ["\"abc\"", "W/\"abc\""] {
                assert_eq!(strip_coding(&with_coding(tag, coding).unwrap()), tag);
            }
        }
        for untouched in ["\"abc\"", "\"abcgzip\"", "\"abc-deflate\"", "abc-gzip", "*"] {
            assert_eq!(strip_coding(untouched), untouched);
        }
    }
}
