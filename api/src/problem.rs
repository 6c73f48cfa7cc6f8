//! RFC 9457 problem details: the one shape of every error the service sends.
//!
//! [`Problem`] is the single schema every error response of every operation refers to, so that
//! client generators type errors once. Extension members (`errors`, `balance`, `required`) are
//! optional members of it, present only on the problems that carry them.

use poem::{
    IntoResponse, Response,
    http::{HeaderName, HeaderValue, StatusCode},
};
use poem_openapi::{
    Object, ResponseContent,
    registry::{MetaMediaType, Registry},
    types::{ToJSON, Type},
};

/// The media type of every error response.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// The media type a problem is sent as to a client that asks for JSON rather than a problem.
pub const PLAIN_JSON: &str = "application/json";

/// The media type a problem is sent as, for a request whose `Accept` is `accept`:
/// `application/problem+json`, unless the client weighs plain `application/json` higher (a
/// client generated to read only JSON, and that says so, gets the same document under that
/// type). Never anything else: an error is a problem whatever `Accept` says.
pub fn media_type_for(accept: Option<&str>) -> &'static str {
    if crate::accept::quality(accept, PLAIN_JSON) > crate::accept::quality(accept, PROBLEM_JSON) {
        PLAIN_JSON
    } else {
        PROBLEM_JSON
    }
}

/// An RFC 9457 problem details object.
#[derive(Object, Debug, Clone, PartialEq)]
pub struct Problem {
    /// A URI reference naming the problem type; `about:blank` when the status says it all (the
    /// served spec lists every other type).
    #[oai(rename = "type")]
    pub kind: String,
    /// A short summary of the problem type.
    pub title: String,
    /// The HTTP status code.
    pub status: u16,
    /// What happened, for this occurrence.
    #[oai(skip_serializing_if_is_none)]
    pub detail: Option<String>,
    /// The request path that caused the problem.
    pub instance: String,
    /// 422 only: one entry per failing input.
    #[oai(skip_serializing_if_is_none)]
    pub errors: Option<Vec<FieldError>>,
    /// 402 only: the balance at the time, in minor units.
    #[oai(skip_serializing_if_is_none)]
    pub balance: Option<i64>,
    /// 402 only: the amount asked for, in minor units.
    #[oai(skip_serializing_if_is_none)]
    pub required: Option<i64>,
}

/// Why one input was refused.
#[derive(Object, Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// Where the input was: `body`, `path`, `query` or `header`, then the member or parameter
    /// name (and array indexes).
    pub loc: Vec<String>,
    /// What is wrong, for people.
    pub msg: String,
    /// Which rule failed, for programs (e.g. `missing`, `string_too_long`, `email_invalid`).
    #[oai(rename = "type")]
    pub kind: String,
}

impl FieldError {
    /// A refusal of the input at `loc`.
    pub fn new(loc: &[&str], kind: impl Into<String>, msg: impl Into<String>) -> Self {
        Self {
            loc: loc.iter().map(|part| (*part).to_owned()).collect(),
            msg: msg.into(),
            kind: kind.into(),
        }
    }
}

impl Problem {
    /// A problem with `status`, titled by the status's reason phrase.
    pub fn new(status: StatusCode, instance: &str) -> Self {
        Self {
            kind: "about:blank".to_owned(),
            title: status.canonical_reason().unwrap_or("Error").to_owned(),
            status: status.as_u16(),
            detail: None,
            instance: instance.to_owned(),
            errors: None,
            balance: None,
            required: None,
        }
    }

    /// A problem of type `kind`: its URI, fixed title and status.
    pub fn of(kind: crate::problem_types::ProblemType, instance: &str) -> Self {
        let mut problem = Self::new(kind.status(), instance);
        problem.kind = kind.uri();
        kind.title().clone_into(&mut problem.title);
        problem
    }

    /// Adds what happened in this occurrence.
    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    /// A 422 naming each failing input.
    pub fn invalid(instance: &str, errors: Vec<FieldError>) -> Self {
        Self::invalid_as(
            crate::problem_types::ProblemType::Validation,
            instance,
            errors,
        )
    }

    /// A problem of type `kind` (a 422) naming each failing input.
    pub fn invalid_as(
        kind: crate::problem_types::ProblemType,
        instance: &str,
        errors: Vec<FieldError>,
    ) -> Self {
        let mut problem = Self::of(kind, instance)
            .with_detail("The request is invalid; see `errors` for each input.");
        problem.errors = Some(errors);
        problem
    }

    /// The status as a [`StatusCode`].
    pub fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }
}

/// A [`Problem`] as a response: `application/problem+json`, plus the headers the status calls
/// for (`WWW-Authenticate` on a 401, ...).
#[derive(Debug, Clone, PartialEq)]
pub struct ProblemBody {
    /// The problem document.
    pub problem: Problem,
    headers: Vec<(HeaderName, HeaderValue)>,
}

impl ProblemBody {
    /// Adds a response header.
    pub fn with_header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.headers.push((name, value));
        self
    }

    /// The value of response header `name`, when it is set and is text.
    pub fn header(&self, name: &HeaderName) -> Option<&str> {
        self.headers
            .iter()
            .find(|(each, _)| each == name)
            .and_then(|(_, value)| value.to_str().ok())
    }
}

/// Documented under both media types a problem can be sent as (see [`media_type_for`]), the
/// problem one first: generators that type only `application/json` bodies (progenitor) still
/// type every error.
impl ResponseContent for ProblemBody {
    fn media_types() -> Vec<MetaMediaType> {
        [PROBLEM_JSON, PLAIN_JSON]
            .into_iter()
            .map(|content_type| MetaMediaType {
                content_type,
                schema: Problem::schema_ref(),
            })
            .collect()
    }

    fn register(registry: &mut Registry) {
        Problem::register(registry);
    }
}

impl From<Problem> for ProblemBody {
    fn from(problem: Problem) -> Self {
        Self {
            problem,
            headers: Vec::new(),
        }
    }
}

impl IntoResponse for ProblemBody {
    fn into_response(self) -> Response {
        let body = self.problem.to_json_string();
        let mut resp = Response::builder()
            .status(self.problem.status_code())
            .content_type(PROBLEM_JSON)
            .body(body);
        for (name, value) in self.headers {
            resp.headers_mut().insert(name, value);
        }
        resp
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        ProblemBody::from(self).into_response()
    }
}

/// An operation's response enum that can carry any problem the operation documents.
pub trait FromProblem {
    /// The variant for the problem's status (500 when the operation does not document it).
    fn from_problem(body: ProblemBody) -> Self;
}

/// The response for `result`: `ok` of its value, or the problem for its error.
pub fn reply<T, R: FromProblem>(
    req: &poem::Request,
    result: domain::Result<T>,
    ok: impl FnOnce(T) -> R,
) -> R {
    match result {
        Ok(value) => ok(value),
        Err(err) => R::from_problem(crate::errors::problem_for(err, req.uri().path())),
    }
}

/// The response to a money-moving request: its `Idempotency-Key` (`key`, as parsed) read, a
/// key that was sent but could not be read refused with 422, `run` with the key, and its
/// outcome answered by `ok` (given the `Idempotent-Replayed` header value) or as the problem
/// for its error, marked replayed too.
pub async fn reply_keyed<T, R: FromProblem, F>(
    req: &poem::Request,
    key: Option<crate::params::IdempotencyKeyParam>,
    run: impl FnOnce(Option<domain::idempotency::IdempotencyKey>) -> F,
    ok: impl FnOnce(T, Option<String>) -> R,
) -> R
where
    F: std::future::Future<Output = domain::accounts::Replayable<T>>,
{
    let key = match crate::params::idempotency_key(req, key) {
        Ok(key) => key,
        Err(unreadable) => return R::from_problem(unreadable.problem(req)),
    };
    let outcome = run(key).await;
    let replayed = outcome.replayed;
    match outcome.result {
        Ok(value) => ok(value, replayed.then(|| "true".to_owned())),
        Err(err) => {
            let mut body = crate::errors::problem_for(err, req.uri().path());
            if replayed {
                body = body.with_header(
                    HeaderName::from_static("idempotent-replayed"),
                    HeaderValue::from_static("true"),
                );
            }
            R::from_problem(body)
        }
    }
}

/// Declares an operation's response enum: its success variants as written, then one
/// [`ProblemBody`] variant per listed error status, then 500, which every operation can answer.
///
/// `guarded("...")` before `problems` adds the 401 (with `WWW-Authenticate`) and the 403 (whose
/// description is the text given) of an operation that needs a bearer token and a privilege;
/// `authenticated;` adds the 401 alone, for one any token holder may call. Both add the edge's
/// 406 (an `Accept` that takes no media type the operation answers with) and 503 (the in-flight
/// cap, or a database that does not answer), except that `bodiless;` after either leaves out the
/// 406 of an operation whose success has no body to negotiate. `stores;`, last, adds the 507 of
/// an operation that writes (a full disk). Open operations list the other statuses themselves.
///
/// ```ignore
/// responses! {
///     /// Responses of `GET /users/{id}`.
///     pub enum UsersGet {
///         /// The user.
///         #[oai(status = 200)]
///         Ok(Json<UserOut>),
///     }
///     guarded("The user is someone else and the caller is no admin.");
///     problems {
///         404 NotFound: "No user has this id.",
///     }
/// }
/// ```
#[macro_export]
macro_rules! responses {
    // `guarded` is `authenticated` with a 403 first among the problems.
    (@modes [$($head:tt)*] [guarded($forbidden:literal); $($mode:tt)*] [$($problems:tt)*] $body:tt) => {
        $crate::responses!(@modes [$($head)*] [authenticated; $($mode)*]
            [403 Forbidden: $forbidden, $($problems)*] $body);
    };
    (@modes [$($head:tt)*] [authenticated; bodiless; $($mode:tt)*] [$($problems:tt)*] $body:tt) => {
        $crate::responses!(@modes [$($head)*] [$($mode)*] [
            #[oai(header(name = "WWW-Authenticate", ty = "String"))]
            401 Unauthorized: "No valid bearer token: missing, malformed, expired or forged, or its user was deleted or changed password since (`WWW-Authenticate` says `Bearer`).",
            $($problems)*
            #[oai(header(name = "Retry-After", ty = "u64"))]
            503 ServiceUnavailable: "The database does not answer; or more requests are in flight than the service takes at once (type `overloaded`). `Retry-After` says when to retry.",
        ] $body);
    };
    // A success with a body has its media type negotiated: `authenticated` adds the 406.
    (@modes [$($head:tt)*] [authenticated; $($mode:tt)*] [$($problems:tt)*] $body:tt) => {
        $crate::responses!(@modes [$($head)*] [authenticated; bodiless; $($mode)*] [$($problems)*
            406 NotAcceptable: "`Accept` takes none of the media types this operation answers with (errors are problems whatever it says).",
        ] $body);
    };
    // An operation that stores something can find the disk full.
    (@modes [$($head:tt)*] [stores;] [$($problems:tt)*] $body:tt) => {
        $crate::responses!(@modes [$($head)*] [] [$($problems)*
            507 InsufficientStorage: "The disk has no room left for the write; nothing was stored.",
        ] $body);
    };
    (
        @modes [
            $(#[$meta:meta])*
            $vis:vis enum $name:ident { $($success:tt)* }
        ]
        []
        [$($(#[$attr:meta])* $status:literal $variant:ident : $doc:literal),* $(,)?]
        [$(json_body($unsupported:literal);)?]
    ) => {
        $(#[$meta])*
        #[derive(poem_openapi::ApiResponse)]
        $vis enum $name {
            $($success)*
            $(
                #[doc = $doc]
                $(#[$attr])*
                #[oai(status = $status)]
                $variant($crate::problem::ProblemBody),
            )*
            $(
                /// The body is not well-formed JSON.
                #[oai(status = 400)]
                BadRequest($crate::problem::ProblemBody),
                /// The body came more slowly than the body timeout allows; nothing was done.
                #[oai(status = 408)]
                RequestTimeout($crate::problem::ProblemBody),
                /// The body is larger than the configured limit.
                #[oai(status = 413)]
                PayloadTooLarge($crate::problem::ProblemBody),
                #[doc = $unsupported]
                #[oai(status = 415)]
                UnsupportedMediaType($crate::problem::ProblemBody),
            )?
            /// An unexpected failure; the details are in the server log under the request id.
            #[oai(status = 500)]
            InternalServerError($crate::problem::ProblemBody),
        }

        impl $crate::problem::FromProblem for $name {
            fn from_problem(body: $crate::problem::ProblemBody) -> Self {
                match body.problem.status {
                    $($status => Self::$variant(body),)*
                    $(
                        400 => Self::BadRequest(body),
                        408 => Self::RequestTimeout(body),
                        413 => Self::PayloadTooLarge(body),
                        415 => {
                            let _described: &str = $unsupported;
                            Self::UnsupportedMediaType(body)
                        }
                    )?
                    500 => Self::InternalServerError(body),
                    other => {
                        tracing::error!(
                            status = other,
                            operation = stringify!($name),
                            "problem status not documented for this operation"
                        );
                        Self::InternalServerError($crate::problem::ProblemBody::from(
                            $crate::problem::Problem::new(
                                poem::http::StatusCode::INTERNAL_SERVER_ERROR,
                                &body.problem.instance,
                            ),
                        ))
                    }
                }
            }
        }
    };
    // The words between the enum and `problems` are taken one at a time.
    (@words $head:tt [$($mode:tt)*] guarded($forbidden:literal); $($rest:tt)*) => {
        $crate::responses!(@words $head [$($mode)* guarded($forbidden);] $($rest)*);
    };
    (@words $head:tt [$($mode:tt)*] authenticated; $($rest:tt)*) => {
        $crate::responses!(@words $head [$($mode)* authenticated;] $($rest)*);
    };
    (@words $head:tt [$($mode:tt)*] bodiless; $($rest:tt)*) => {
        $crate::responses!(@words $head [$($mode)* bodiless;] $($rest)*);
    };
    (@words $head:tt [$($mode:tt)*] stores; $($rest:tt)*) => {
        $crate::responses!(@words $head [$($mode)* stores;] $($rest)*);
    };
    (@words $head:tt $modes:tt problems { $($problems:tt)* } $($body:tt)*) => {
        $crate::responses!(@modes $head $modes [$($problems)*] [$($body)*]);
    };
    ($(#[$meta:meta])* $vis:vis enum $name:ident $success:tt $($rest:tt)*) => {
        $crate::responses!(@words [$(#[$meta])* $vis enum $name $success] [] $($rest)*);
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn problem_serialises_without_absent_extension_members() {
        let json = Problem::new(StatusCode::NOT_FOUND, "/users/9")
            .with_detail("No user has id 9.")
            .to_json()
            .unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "type": "about:blank",
                "title": "Not Found",
                "status": 404,
                "detail": "No user has id 9.",
                "instance": "/users/9",
            })
        );
    }

    #[test]
    fn a_problem_is_plain_json_only_for_a_client_that_prefers_that() {
        assert_eq!(media_type_for(None), PROBLEM_JSON);
        assert_eq!(media_type_for(Some("*/*")), PROBLEM_JSON);
        assert_eq!(media_type_for(Some("application/xml")), PROBLEM_JSON);
        assert_eq!(
            media_type_for(Some("application/json, application/problem+json")),
            PROBLEM_JSON
        );
        assert_eq!(media_type_for(Some("application/json")), PLAIN_JSON);
        assert_eq!(
            media_type_for(Some("application/json, */*;q=0.5")),
            PLAIN_JSON
        );
    }

    #[tokio::test]
    async fn problem_response_has_problem_media_type_and_status() {
        let resp = Problem::new(StatusCode::CONFLICT, "/users").into_response();
        assert_eq!(resp.status(), StatusCode::CONFLICT);
        assert_eq!(resp.content_type(), Some(PROBLEM_JSON));
    }
}
