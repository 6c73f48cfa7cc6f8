//! How an operation answers: the outcome of a domain call as one variant of the operation's
//! response enum ([`reply`], [`reply_keyed`]), and the macro that declares those enums with
//! every problem status the operation can answer ([`responses!`](crate::responses)).

use crate::{
    errors::{self, Refusal},
    problem::ProblemBody,
};
use poem::http::{HeaderName, HeaderValue};

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
        Err(err) => R::from_problem(errors::problem_for(err, req.uri().path())),
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
        Err(broken) => {
            let refusal = Refusal::Parameter {
                location: "header",
                name: "Idempotency-Key",
                broken: Some(crate::params::BrokenRule::of(&broken)),
            };
            return R::from_problem(errors::refused(refusal, req.uri().path()));
        }
    };
    let outcome = run(key).await;
    let replayed = outcome.replayed;
    match outcome.result {
        Ok(value) => ok(value, replayed.then(|| "true".to_owned())),
        Err(err) => {
            let mut body = errors::problem_for(err, req.uri().path());
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

        impl $crate::responses::FromProblem for $name {
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
                        Self::InternalServerError($crate::errors::refused(
                            $crate::errors::Refusal::Status(
                                poem::http::StatusCode::INTERNAL_SERVER_ERROR,
                            ),
                            &body.problem.instance,
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
