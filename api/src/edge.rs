//! The middleware every request passes first and every response passes last.
//!
//! It gives each request an id (echoed from `X-Request-Id` or generated) and a tracing span,
//! refuses bodies over the limit, catches panics, and turns every error that is not already a
//! problem — poem's 404 and 405, parameter and body errors, anything else — into
//! `application/problem+json`, so that no plain-text error ever leaves the service.

use crate::{
    problem::{FieldError, PROBLEM_JSON, Problem},
    routes::RouteTable,
};
use futures_util::{FutureExt, StreamExt};
use poem::{
    Body, Endpoint, IntoResponse, Middleware, PathPattern, Request, Response,
    error::{MethodNotAllowedError, NotFoundError, ReadBodyError},
    http::{HeaderName, HeaderValue, Method, StatusCode, header},
};
use poem_openapi::error::{AuthorizationError, ContentTypeError, ParseParamError, ParsePathError};
use std::{io, panic::AssertUnwindSafe, sync::Arc, time::Instant};
use tracing::Instrument;

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// How large a request body may be.
#[derive(Debug, Clone, Copy)]
pub struct BodyLimits {
    /// Bodies of every route but uploads (JSON).
    pub json: u64,
    /// Uploads (`/files/…`).
    pub file: u64,
}

impl BodyLimits {
    /// The limit for a request to `path`.
    fn for_path(&self, path: &str) -> u64 {
        if path.starts_with("/files/") {
            self.file
        } else {
            self.json
        }
    }
}

/// The edge middleware; see the module documentation.
pub struct Edge {
    routes: Arc<RouteTable>,
    limits: BodyLimits,
}

impl Edge {
    /// An edge for the routes in `routes`, refusing request bodies over `limits`.
    pub fn new(routes: RouteTable, limits: BodyLimits) -> Self {
        Self {
            routes: Arc::new(routes),
            limits,
        }
    }
}

impl<E: Endpoint> Middleware<E> for Edge {
    type Output = EdgeEndpoint<E>;

    fn transform(&self, inner: E) -> Self::Output {
        EdgeEndpoint {
            inner,
            routes: self.routes.clone(),
            limits: self.limits,
        }
    }
}

/// The endpoint [`Edge`] wraps around the router.
pub struct EdgeEndpoint<E> {
    inner: E,
    routes: Arc<RouteTable>,
    limits: BodyLimits,
}

impl<E: Endpoint> Endpoint for EdgeEndpoint<E> {
    type Output = Response;

    async fn call(&self, mut req: Request) -> poem::Result<Response> {
        let request_id = request_id(&req);
        let method = req.method().clone();
        let path = req.uri().path().to_owned();
        let span = tracing::info_span!("request", id = %request_id, %method, %path);
        async move {
            let started = Instant::now();
            let mut resp = match self.limit_body(&mut req, &path) {
                Some(refusal) => refusal,
                None => match AssertUnwindSafe(self.inner.call(req)).catch_unwind().await {
                    Ok(Ok(resp)) => ensure_problem(resp.into_response(), &path),
                    Ok(Err(err)) => self.error_response(err, &method, &path),
                    Err(_panic) => {
                        // The panic hook has logged the message; the client learns nothing.
                        tracing::error!("handler panicked");
                        Problem::new(StatusCode::INTERNAL_SERVER_ERROR, &path).into_response()
                    }
                },
            };
            if let Ok(value) = HeaderValue::from_str(&request_id) {
                resp.headers_mut().insert(REQUEST_ID, value);
            }
            tracing::info!(
                status = resp.status().as_u16(),
                micros = started.elapsed().as_micros() as u64,
                "served"
            );
            Ok(resp)
        }
        .instrument(span)
        .await
    }
}

impl<E> EdgeEndpoint<E> {
    /// Refuses a declared length over the limit at once (the refusal is returned), and makes a
    /// chunked body fail once it passes the limit while it is read (reads then fail with
    /// [`BodyTooLarge`]).
    fn limit_body(&self, req: &mut Request, path: &str) -> Option<Response> {
        let limit = self.limits.for_path(path);
        if let Some(length) = req.header(header::CONTENT_LENGTH) {
            // hyper holds a body with a Content-Length to exactly that many bytes.
            return match length.parse::<u64>() {
                Ok(length) if length > limit => Some(too_large(limit, path).into_response()),
                _ => None,
            };
        }
        if req.header(header::TRANSFER_ENCODING).is_some() {
            let mut seen: u64 = 0;
            let chunks = req.take_body().into_bytes_stream().map(move |chunk| {
                let chunk = chunk?;
                seen = seen.saturating_add(chunk.len() as u64);
                if seen > limit {
                    return Err(io::Error::other(BodyTooLarge { limit }));
                }
                Ok(chunk)
            });
            req.set_body(Body::from_bytes_stream(chunks));
        }
        None
    }

    fn error_response(&self, err: poem::Error, method: &Method, path: &str) -> Response {
        let pattern = err.data::<PathPattern>().map(|p| p.0.to_string());
        let pattern = pattern.as_deref().unwrap_or(path);
        if err.is::<NotFoundError>() {
            if let Some(name) = path.strip_prefix("/files/") {
                // `/files/a/b` names a file called `a/b`, which no name can be: the name is
                // refused (422) like any other, rather than answered as a missing route.
                let error = FieldError::new(
                    &["path", "name"],
                    "file_name_invalid",
                    format!("{name:?} is not a file name: names have no '/'"),
                );
                return Problem::invalid(path, vec![error]).into_response();
            }
            return Problem::new(StatusCode::NOT_FOUND, path)
                .with_detail("No resource matches this path.")
                .into_response();
        }
        if err.is::<MethodNotAllowedError>() {
            let mut resp = Problem::new(StatusCode::METHOD_NOT_ALLOWED, path)
                .with_detail(format!(
                    "{method} is not allowed here; see the Allow header."
                ))
                .into_response();
            if let Some(allow) = self.routes.allow(pattern)
                && let Ok(value) = HeaderValue::from_str(&allow)
            {
                resp.headers_mut().insert(header::ALLOW, value);
            }
            return resp;
        }
        if err.is::<AuthorizationError>() {
            return crate::errors::unauthorized(
                path,
                "A bearer token is required: `Authorization: Bearer <token>` (see POST /auth/tokens).",
                None,
            )
            .into_response();
        }
        if let Some(err) = err.downcast_ref::<ParsePathError>() {
            let index = err
                .name
                .strip_prefix("param")
                .and_then(|n| n.parse().ok())
                .unwrap_or(0);
            let name = self.routes.path_param(pattern, index).unwrap_or(err.name);
            return parameter_problem(path, "path", name, &err.reason).into_response();
        }
        if let Some(err) = err.downcast_ref::<ParseParamError>() {
            let location = self
                .routes
                .location(pattern, method, err.name)
                .unwrap_or("query");
            return parameter_problem(path, location, err.name, &err.reason).into_response();
        }
        if let Some(err) = err.downcast_ref::<ReadBodyError>() {
            return unreadable_body(err, path).into_response();
        }
        if err.is::<ContentTypeError>() {
            return Problem::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, path)
                .with_detail(err.to_string())
                .into_response();
        }
        if err.status().is_server_error() && err.has_source() {
            tracing::error!(error = %err, "request failed");
        }
        ensure_problem(err.into_response(), path)
    }
}

/// A response with an error status that is not a problem yet becomes one with the same status,
/// keeping its headers (`Allow`, `WWW-Authenticate`, `Retry-After`, ...) but not its body.
fn ensure_problem(resp: Response, path: &str) -> Response {
    let status = resp.status();
    if status.as_u16() < 400 || resp.content_type() == Some(PROBLEM_JSON) {
        return resp;
    }
    let (parts, _body) = resp.into_parts();
    let mut problem = Problem::new(status, path).into_response();
    for (name, value) in &parts.headers {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            problem.headers_mut().insert(name.clone(), value.clone());
        }
    }
    problem
}

/// A request body passed the configured limit while it was read.
#[derive(Debug, thiserror::Error)]
#[error("the request body is larger than {limit} bytes")]
pub struct BodyTooLarge {
    limit: u64,
}

/// The limit an upload passed, when `err` says it did.
pub fn body_limit_of(err: &io::Error) -> Option<u64> {
    find_too_large(err).map(|found| found.limit)
}

/// The 413 for a body over `limit` bytes.
pub fn too_large(limit: u64, path: &str) -> Problem {
    Problem::new(StatusCode::PAYLOAD_TOO_LARGE, path).with_detail(format!(
        "The body is larger than the limit of {limit} bytes."
    ))
}

/// The problem for a body that could not be read: 413 when it passed the limit, else 400.
pub fn unreadable_body(err: &ReadBodyError, path: &str) -> Problem {
    let over_limit = match err {
        ReadBodyError::PayloadTooLarge => return Problem::new(StatusCode::PAYLOAD_TOO_LARGE, path),
        ReadBodyError::Io(io) => find_too_large(io),
        _ => None,
    };
    match over_limit {
        Some(BodyTooLarge { limit }) => too_large(*limit, path),
        None => Problem::new(StatusCode::BAD_REQUEST, path)
            .with_detail("The body could not be read to its end."),
    }
}

/// The [`BodyTooLarge`] inside `err`, however many `io::Error` layers wrap it.
fn find_too_large(err: &io::Error) -> Option<&BodyTooLarge> {
    let mut inner = err.get_ref()?;
    loop {
        if let Some(found) = inner.downcast_ref::<BodyTooLarge>() {
            return Some(found);
        }
        inner = inner.downcast_ref::<io::Error>()?.get_ref()?;
    }
}

/// A 422 for a path, query or header parameter that did not parse.
fn parameter_problem(path: &str, location: &str, name: &str, reason: &str) -> Problem {
    let (kind, msg) = explain(reason);
    Problem::invalid(path, vec![FieldError::new(&[location, name], kind, msg)])
}

/// Splits poem-openapi's parameter error message into a rule code and a message.
///
/// The message is `failed to parse "<type>": <code>: <message>` for the parameter types of
/// [`crate::params`], `Type "<type>" expects an input value.` for a missing one.
fn explain(reason: &str) -> (&str, &str) {
    if reason.ends_with("expects an input value.") {
        return ("missing", "is required");
    }
    let detail = reason
        .strip_prefix("failed to parse \"")
        .and_then(|rest| rest.split_once("\": "))
        .map_or(reason, |(_, detail)| detail);
    // An optional parameter's error names the wrapper type too; that is noise to a client.
    let detail = detail
        .split_once(" (occurred while parsing")
        .map_or(detail, |(head, _)| head);
    match detail.split_once(": ") {
        Some((code, msg)) if code.bytes().all(|b| b.is_ascii_lowercase() || b == b'_') => {
            (code, msg)
        }
        _ => ("value_error", detail),
    }
}

/// The request's id: the client's `X-Request-Id` when it is 1..=200 visible ASCII characters,
/// else a new UUID.
fn request_id(req: &Request) -> String {
    req.header(REQUEST_ID)
        .filter(|id| (1..=200).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_graphic()))
        .map_or_else(|| uuid::Uuid::new_v4().to_string(), str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameter_reasons_split_into_code_and_message() {
        assert_eq!(
            explain(r#"failed to parse "UserId": id_invalid: must be a positive 64-bit integer"#),
            ("id_invalid", "must be a positive 64-bit integer")
        );
        assert_eq!(
            explain(
                r#"failed to parse "Cursor": cursor_invalid: not ours (occurred while parsing "optional_Cursor")"#
            ),
            ("cursor_invalid", "not ours")
        );
        assert_eq!(
            explain(r#"Type "Limit" expects an input value."#),
            ("missing", "is required")
        );
        assert_eq!(
            explain(r#"failed to parse "X": Something Else: here"#),
            ("value_error", "Something Else: here")
        );
    }

    #[tokio::test]
    async fn panic_is_a_bare_500_problem_with_the_request_id() {
        use poem::{EndpointExt, Route, get, handler, test::TestClient};

        #[handler]
        fn boom() -> &'static str {
            panic!("secret internals: /etc/passwd")
        }
        let app = Route::new().at("/boom", get(boom)).with(Edge::new(
            RouteTable::default(),
            BodyLimits { json: 10, file: 10 },
        ));
        let resp = TestClient::new(app)
            .get("/boom")
            .header("x-request-id", "r-1")
            .send()
            .await;
        resp.assert_status(StatusCode::INTERNAL_SERVER_ERROR);
        resp.assert_content_type(PROBLEM_JSON);
        resp.assert_header("x-request-id", "r-1");
        let body = resp.0.into_body().into_string().await.unwrap();
        assert!(!body.contains("secret"), "{body}");
        assert!(body.contains("\"instance\":\"/boom\""), "{body}");
    }

    #[tokio::test]
    async fn plain_error_responses_become_problems_keeping_their_headers() {
        let plain = Response::builder()
            .status(StatusCode::TOO_MANY_REQUESTS)
            .header("retry-after", "5")
            .body("slow down");
        let resp = ensure_problem(plain, "/x");
        assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(resp.content_type(), Some(PROBLEM_JSON));
        assert_eq!(resp.headers()["retry-after"], "5");
    }

    #[test]
    fn too_large_marker_is_found_under_nested_io_errors() {
        let marker = io::Error::other(BodyTooLarge { limit: 5 });
        assert!(find_too_large(&marker).is_some());
        let wrapped = io::Error::other(marker);
        assert_eq!(find_too_large(&wrapped).map(|t| t.limit), Some(5));
        assert!(find_too_large(&io::Error::other("reset")).is_none());
    }
}
