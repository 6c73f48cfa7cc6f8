//! The middleware every request passes first and every response passes last.
//!
//! It gives each request an id (echoed from `X-Request-Id` or generated) and a tracing span,
//! refuses requests past the in-flight cap (503), an `Accept` that takes nothing the operation
//! answers with (406), bodies over the limit (413) or slower than the body timeout (408),
//! catches panics, and turns every error that is not already a problem —
//! poem's 404 and 405, parameter and body errors, anything else — into
//! `application/problem+json`, so that no plain-text error ever leaves the service (sent as
//! `application/json` to a client that asks for that rather than for a problem). Every
//! response gets `X-Content-Type-Options: nosniff`; answers to authenticated requests are
//! `Cache-Control: no-store` unless the operation chose otherwise.

use crate::{
    accept,
    admission::Admitted,
    client_addr::{ClientAddr, TrustedProxies},
    compression, conditional,
    errors::{self, BodyTimeout, BodyTooLarge, Refusal},
    metrics::HttpMetrics,
    params,
    problem::PROBLEM_JSON,
    route_table::{RouteTable, Template},
};
use futures_util::{FutureExt, StreamExt};
use poem::{
    Body, Endpoint, IntoResponse, Middleware, PathPattern, Request, Response,
    error::{MethodNotAllowedError, NotFoundError, ReadBodyError},
    http::{HeaderName, HeaderValue, Method, StatusCode, header},
};
use poem_openapi::error::{AuthorizationError, ContentTypeError, ParseParamError, ParsePathError};
use std::{
    io,
    panic::AssertUnwindSafe,
    sync::Arc,
    time::{Duration, Instant},
};
use tracing::Instrument;

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// What the edge lets through.
#[derive(Debug, Clone, Copy)]
pub struct EdgeLimits {
    /// Largest JSON body, in bytes.
    pub json_body: u64,
    /// Largest upload (the body of an operation that takes one other than JSON), in bytes.
    pub file_body: u64,
    /// Time a request's body may take to arrive, from when its head arrived.
    pub body_timeout: Duration,
    /// Most requests handled at once.
    pub max_in_flight: usize,
}

/// The edge middleware; see the module documentation.
pub struct Edge {
    routes: Arc<RouteTable>,
    limits: EdgeLimits,
    metrics: Arc<HttpMetrics>,
    proxies: Arc<TrustedProxies>,
}

impl Edge {
    /// An edge for the routes in `routes`, within `limits`, recording into `metrics`.
    pub fn new(routes: RouteTable, limits: EdgeLimits, metrics: Arc<HttpMetrics>) -> Self {
        Self {
            routes: Arc::new(routes),
            limits,
            metrics,
            proxies: Arc::default(),
        }
    }

    /// Believes the forwarding headers of requests from `proxies` (see [`crate::client_addr`]).
    #[must_use]
    pub fn trusting(mut self, proxies: TrustedProxies) -> Self {
        self.proxies = Arc::new(proxies);
        self
    }
}

impl<E: Endpoint> Middleware<E> for Edge {
    type Output = EdgeEndpoint<E>;

    fn transform(&self, inner: E) -> Self::Output {
        EdgeEndpoint {
            inner,
            routes: self.routes.clone(),
            limits: self.limits,
            metrics: self.metrics.clone(),
            proxies: self.proxies.clone(),
        }
    }
}

/// The endpoint [`Edge`] wraps around the router.
pub struct EdgeEndpoint<E> {
    inner: E,
    routes: Arc<RouteTable>,
    limits: EdgeLimits,
    metrics: Arc<HttpMetrics>,
    proxies: Arc<TrustedProxies>,
}

/// What a request asked of its response, kept past the handler that takes the request (a
/// header's clone shares the received bytes).
struct Asked {
    /// The method as sent (the edge may hand a HEAD to the GET handler).
    method: Method,
    /// The path as sent, the `instance` of its problems.
    path: String,
    accept: Option<HeaderValue>,
    accept_encoding: Option<HeaderValue>,
    if_none_match: Option<HeaderValue>,
    /// Whether it carried credentials (its answer is not for shared caches).
    authenticated: bool,
}

impl Asked {
    fn of(req: &Request) -> Self {
        let kept = |name: HeaderName| req.headers().get(name).cloned();
        Self {
            method: req.method().clone(),
            path: req.uri().path().to_owned(),
            accept: kept(header::ACCEPT),
            accept_encoding: kept(header::ACCEPT_ENCODING),
            if_none_match: kept(header::IF_NONE_MATCH),
            authenticated: req.headers().contains_key(header::AUTHORIZATION),
        }
    }

    /// Whether it reads (GET or HEAD): only those are answered 304.
    fn reads(&self) -> bool {
        self.method == Method::GET || self.method == Method::HEAD
    }
}

impl<E: Endpoint> Endpoint for EdgeEndpoint<E> {
    type Output = Response;

    async fn call(&self, mut req: Request) -> poem::Result<Response> {
        let request_id = request_id(&req);
        let client = req
            .remote_addr()
            .as_socket_addr()
            .map(|peer| self.proxies.client(peer.ip(), req.headers()));
        if let Some(client) = client {
            req.set_data(ClientAddr(client));
        }
        let span = tracing::info_span!(
            "request",
            id = %String::from_utf8_lossy(request_id.as_bytes()),
            method = %req.method(),
            path = %req.uri().path(),
            client = client.map(tracing::field::display),
        );
        self.serve(req, request_id).instrument(span).await
    }
}

impl<E: Endpoint> EdgeEndpoint<E> {
    /// A request through the edge's steps: routed, admitted, handled, represented, finished with
    /// the headers every answer gets, and recorded.
    async fn serve(&self, mut req: Request, request_id: HeaderValue) -> poem::Result<Response> {
        let started = Instant::now();
        let asked = Asked::of(&req);
        let route = self.route(&mut req);
        let resp = match self.admit(&mut req, route, &asked) {
            Ok(admitted) => {
                let resp = self.handle(req, &asked).await;
                drop(admitted);
                resp
            }
            Err(refusal) => errors::refused(refusal, &asked.path).into_response(),
        };
        let mut resp = represent(resp, &asked).await;
        finish(&mut resp, route, &asked, request_id);
        let (status, elapsed) = (resp.status(), started.elapsed());
        self.metrics
            .observe(&asked.method, route.map(Template::path), status, elapsed);
        tracing::info!(
            status = status.as_u16(),
            micros = elapsed.as_micros() as u64,
            "served"
        );
        Ok(resp)
    }

    /// The spec route the request is for, the request readied for the router: a path past a
    /// route that ends in text becomes that text (see [`RouteTable::spilled`]), and a HEAD that
    /// no operation of its own serves goes to the GET handler.
    fn route(&self, req: &mut Request) -> Option<&Template> {
        let mut route = self.routes.route(req.uri().path());
        if route.is_none()
            && let Some(uri) = self.spilled(req.uri())
        {
            *req.uri_mut() = uri;
            route = self.routes.route(req.uri().path());
        }
        if req.method() == Method::HEAD && !route.is_some_and(Template::serves_head) {
            // poem answers HEAD with the GET handler but drops the body before the edge sees
            // it; the edge needs the body to tag it, and hyper never sends a HEAD's body.
            req.set_method(Method::GET);
        }
        route
    }

    /// `uri` with its path spilled into the route it runs past, its query kept.
    fn spilled(&self, uri: &poem::http::Uri) -> Option<poem::http::Uri> {
        let path = self.routes.spilled(uri.path())?;
        let query = uri.query().map(|q| format!("?{q}")).unwrap_or_default();
        poem::http::Uri::try_from(format!("{path}{query}")).ok()
    }

    /// Whether the request is let through, in order: under the in-flight cap (the guard
    /// returned counts it until dropped), with an `Accept` its operation can answer, and a body
    /// within the route's limit (see [`Self::guard_body`]).
    fn admit<'a>(
        &'a self,
        req: &mut Request,
        route: Option<&'a Template>,
        asked: &Asked,
    ) -> Result<Admitted, Refusal<'a>> {
        let admitted = self
            .metrics
            .in_flight
            .enter(self.limits.max_in_flight)
            .ok_or(Refusal::Overloaded)?;
        let accept = text(&asked.accept);
        if let Some(refusal) = route.and_then(|route| unacceptable(route, accept, &asked.method)) {
            return Err(refusal);
        }
        let limit = match route {
            Some(route) if route.takes_upload(&asked.method) => self.limits.file_body,
            _ => self.limits.json_body,
        };
        match self.guard_body(req, limit) {
            Some(refusal) => Err(refusal),
            None => Ok(admitted),
        }
    }

    /// The handler's answer, a problem for its error, or a 500 problem for its panic.
    async fn handle(&self, req: Request, asked: &Asked) -> Response {
        // On the heap: inline, the handler's future (kilobytes) would be laid out in this one
        // beside the rest of its states and copied whole at every move, the copy into the
        // connection's box included.
        let handling = Box::pin(AssertUnwindSafe(self.inner.call(req)).catch_unwind());
        match handling.await {
            Ok(Ok(resp)) => ensure_problem(resp.into_response(), &asked.path),
            Ok(Err(err)) => self.error_response(err, &asked.method, &asked.path),
            Err(_panic) => {
                // The panic hook has logged the message; the client learns nothing.
                tracing::error!("handler panicked");
                errors::refused(Refusal::Panicked, &asked.path).into_response()
            }
        }
    }
}

/// The headers every answer gets: the problem media type `Accept` chose, `Deprecation` and
/// `Sunset` of a deprecated operation, the request id, `nosniff`, `Connection: close` after a
/// body too slow to wait for, and `no-store` for an authenticated request's answer unless the
/// operation chose otherwise.
fn finish(resp: &mut Response, route: Option<&Template>, asked: &Asked, request_id: HeaderValue) {
    if resp.content_type() == Some(PROBLEM_JSON) {
        let media = accept::problem_media_type(text(&asked.accept));
        resp.headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(media));
    }
    let status = resp.status();
    let headers = resp.headers_mut();
    if let Some(deprecated) = route.and_then(|route| route.deprecation(&asked.method)) {
        deprecated.mark(headers);
    }
    headers.insert(REQUEST_ID, request_id);
    headers.insert(NOSNIFF.0, NOSNIFF.1);
    if status == StatusCode::REQUEST_TIMEOUT {
        // The rest of a body that came too slowly is not worth waiting for.
        headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    if asked.authenticated && !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
}

/// The 406 for a request whose `Accept` takes none of the media types its operation answers
/// with (when the spec names them; see [`Template::produces`]).
fn unacceptable<'a>(
    route: &'a Template,
    accept: Option<&str>,
    method: &Method,
) -> Option<Refusal<'a>> {
    let accept = accept?;
    let produces = route.produces(method)?;
    let takes_one = produces
        .iter()
        .any(|media| accept::accepts(Some(accept), media));
    (!takes_one).then_some(Refusal::NotAcceptable(produces))
}

impl<E> EdgeEndpoint<E> {
    /// Refuses a declared length over `limit` at once (the refusal is returned). A body that
    /// is sent gets a deadline, and a chunked one a running count: reads then fail with
    /// [`BodyTimeout`] once the deadline passes, or [`BodyTooLarge`] once the count passes the
    /// limit.
    fn guard_body(&self, req: &mut Request, limit: u64) -> Option<Refusal<'_>> {
        let chunked = req.header(header::TRANSFER_ENCODING).is_some();
        let declared = match req.header(header::CONTENT_LENGTH) {
            // hyper holds a body with a Content-Length to exactly that many bytes.
            Some(length) => match length.parse::<u64>() {
                Ok(length) if length > limit => return Some(Refusal::BodyTooLarge { limit }),
                Ok(length) => length,
                Err(_) => 0,
            },
            None => 0,
        };
        if declared == 0 && !chunked {
            return None;
        }
        let deadline = tokio::time::Instant::now() + self.limits.body_timeout;
        let timeout = self.limits.body_timeout;
        let mut seen: u64 = 0;
        let chunks = req.take_body().into_bytes_stream();
        let guarded = async_stream::stream! {
            futures_util::pin_mut!(chunks);
            loop {
                let chunk = match tokio::time::timeout_at(deadline, chunks.next()).await {
                    Ok(Some(chunk)) => chunk,
                    Ok(None) => break,
                    Err(_elapsed) => {
                        yield Err(io::Error::new(io::ErrorKind::TimedOut, BodyTimeout { timeout }));
                        break;
                    }
                };
                if let Ok(bytes) = &chunk {
                    seen = seen.saturating_add(bytes.len() as u64);
                    if seen > limit {
                        yield Err(io::Error::other(BodyTooLarge { limit }));
                        break;
                    }
                }
                yield chunk;
            }
        };
        req.set_body(Body::from_bytes_stream(guarded));
        None
    }

    /// The problem for an error the router or an operation's extractors returned: poem's and
    /// poem-openapi's errors told apart by type; a refused parameter names the rule it broke
    /// (read back from the error by [`params::broken_rule`]).
    fn error_response(&self, err: poem::Error, method: &Method, path: &str) -> Response {
        let pattern = err.data::<PathPattern>().map(|p| p.0.to_string());
        let pattern = pattern.as_deref().unwrap_or(path);
        let refusal = if err.is::<NotFoundError>() {
            Refusal::NoRoute
        } else if err.is::<MethodNotAllowedError>() {
            Refusal::MethodNotAllowed {
                method,
                allow: self.routes.allow(pattern),
            }
        } else if err.is::<AuthorizationError>() {
            Refusal::TokenRequired
        } else if let Some(err) = err.downcast_ref::<ParsePathError>() {
            let index = err
                .name
                .strip_prefix("param")
                .and_then(|n| n.parse().ok())
                .unwrap_or(0);
            let name = self.routes.path_param(pattern, index).unwrap_or(err.name);
            Refusal::Parameter {
                location: "path",
                name,
                broken: params::broken_rule(&err.reason),
            }
        } else if let Some(err) = err.downcast_ref::<ParseParamError>() {
            let location = self
                .routes
                .location(pattern, method, err.name)
                .unwrap_or("query");
            Refusal::Parameter {
                location,
                name: err.name,
                broken: params::broken_rule(&err.reason),
            }
        } else if let Some(err) = err.downcast_ref::<ReadBodyError>() {
            Refusal::UnreadableBody(err)
        } else if err.is::<ContentTypeError>() {
            Refusal::UnsupportedMediaType(err.to_string())
        } else {
            if err.status().is_server_error() && err.has_source() {
                tracing::error!(error = %err, "request failed");
            }
            return ensure_problem(err.into_response(), path);
        };
        errors::refused(refusal, path).into_response()
    }
}

/// The representation a response's body is sent as: JSON 200s and 201s tagged (`ETag`), a GET
/// or HEAD whose `If-None-Match` names the tag answered 304, the body compressed by
/// `Accept-Encoding` where that pays, and `Vary: Accept-Encoding` wherever it could have been.
async fn represent(mut resp: Response, asked: &Asked) -> Response {
    let (if_none_match, accept_encoding) =
        (text(&asked.if_none_match), text(&asked.accept_encoding));
    conditional::tag_json(&mut resp).await;
    let varies = compression::compressible_type(&resp);
    let coding = compression::negotiate(accept_encoding)
        .filter(|_| varies && compression::eligible(&mut resp));
    if asked.reads()
        && let Some(mut not_modified) = conditional::not_modified(&resp, if_none_match)
    {
        if let Some(coding) = coding {
            let tagged = not_modified
                .headers()
                .get(header::ETAG)
                .and_then(|tag| tag.to_str().ok())
                .and_then(|tag| compression::with_coding(tag, coding))
                .and_then(|tag| HeaderValue::from_str(&tag).ok());
            if let Some(tag) = tagged {
                not_modified.headers_mut().insert(header::ETAG, tag);
            }
        }
        if varies {
            compression::add_vary(&mut not_modified);
        }
        return not_modified;
    }
    if let Some(coding) = coding {
        resp = compression::compress(resp, coding);
    }
    if varies {
        compression::add_vary(&mut resp);
    }
    resp
}

/// A response with an error status that is not a problem yet becomes one with the same status,
/// keeping its headers (`Allow`, `WWW-Authenticate`, `Retry-After`, ...) but not its body.
fn ensure_problem(resp: Response, path: &str) -> Response {
    let status = resp.status();
    if status.as_u16() < 400 || resp.content_type() == Some(PROBLEM_JSON) {
        return resp;
    }
    let (parts, _body) = resp.into_parts();
    let mut problem = errors::refused(Refusal::Status(status), path).into_response();
    for (name, value) in &parts.headers {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            problem.headers_mut().insert(name.clone(), value.clone());
        }
    }
    problem
}

/// A header's value as text, when it is text.
fn text(value: &Option<HeaderValue>) -> Option<&str> {
    value.as_ref().and_then(|value| value.to_str().ok())
}

/// Tells browsers not to guess a content type other than the one declared.
const NOSNIFF: (HeaderName, HeaderValue) = (
    HeaderName::from_static("x-content-type-options"),
    HeaderValue::from_static("nosniff"),
);

/// Longest `X-Request-Id` echoed; a longer one is replaced, so that ids stay fit for logs.
const MAX_REQUEST_ID_BYTES: usize = 1024;

/// The request's id: the client's `X-Request-Id` as sent (any header value of 1 to
/// [`MAX_REQUEST_ID_BYTES`] bytes), else a new UUID.
fn request_id(req: &Request) -> HeaderValue {
    match req.headers().get(REQUEST_ID) {
        Some(sent) if (1..=MAX_REQUEST_ID_BYTES).contains(&sent.len()) => sent.clone(),
        _ => {
            let mut text = [0; uuid::fmt::Hyphenated::LENGTH];
            let id = uuid::Uuid::new_v4().hyphenated().encode_lower(&mut text);
            HeaderValue::from_str(id).unwrap_or(HeaderValue::from_static("unknown"))
        }
    }
}

#[cfg(test)]
mod tests;
