//! RFC 9457 problem details: the one shape of every error the service sends.
//!
//! [`Problem`] is the single schema every error response of every operation refers to, so that
//! client generators type errors once. Extension members (`errors`, `balance`, `required`) are
//! optional members of it, present only on the problems that carry them. This module is the
//! document alone; which problem answers what is [`crate::errors`]'s to say.

use crate::problem_types::ProblemType;
use poem::{
    IntoResponse, Response,
    http::{HeaderName, HeaderValue, StatusCode, header::RETRY_AFTER},
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
    /// The type, when it is one of [`ProblemType`]: not sent as such (`type` carries its URI),
    /// but what the response's headers follow (`Retry-After`).
    #[oai(skip)]
    pub cause: Option<ProblemType>,
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
            cause: None,
        }
    }

    /// A problem of type `kind`: its URI, fixed title and status.
    pub fn of(kind: ProblemType, instance: &str) -> Self {
        let mut problem = Self::new(kind.status(), instance);
        problem.kind = kind.uri();
        kind.title().clone_into(&mut problem.title);
        problem.cause = Some(kind);
        problem
    }

    /// Adds what happened in this occurrence.
    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    /// A 422 naming each failing input.
    pub fn invalid(instance: &str, errors: Vec<FieldError>) -> Self {
        Self::invalid_as(ProblemType::Validation, instance, errors)
    }

    /// A problem of type `kind` (a 422) naming each failing input.
    pub fn invalid_as(kind: ProblemType, instance: &str, errors: Vec<FieldError>) -> Self {
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

/// A [`Problem`] as a response: `application/problem+json`, plus the headers its status or type
/// calls for (`WWW-Authenticate` on a 401, `Retry-After` where the type asks for a retry, ...).
#[derive(Debug, Clone, PartialEq)]
pub struct ProblemBody {
    /// The problem document.
    pub problem: Problem,
    headers: Vec<(HeaderName, HeaderValue)>,
}

impl ProblemBody {
    /// Adds a response header (replacing one of the same name).
    pub fn with_header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.headers.retain(|(each, _)| *each != name);
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
        let retry_after = problem.cause.and_then(ProblemType::retry_after);
        let headers = retry_after
            .map(|seconds| (RETRY_AFTER, HeaderValue::from(seconds)))
            .into_iter()
            .collect();
        Self { problem, headers }
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
    fn a_problem_of_a_type_that_asks_for_a_retry_says_when() {
        let busy = ProblemBody::from(Problem::of(ProblemType::Overloaded, "/users"));
        assert_eq!(busy.header(&RETRY_AFTER), Some("1"));
        let gone = ProblemBody::from(Problem::of(ProblemType::UserNotFound, "/users/1"));
        assert_eq!(gone.header(&RETRY_AFTER), None);
    }

    #[tokio::test]
    async fn problem_response_has_problem_media_type_and_status() {
        let resp = Problem::new(StatusCode::CONFLICT, "/users").into_response();
        assert_eq!(resp.status(), StatusCode::CONFLICT);
        assert_eq!(resp.content_type(), Some(PROBLEM_JSON));
    }
}
