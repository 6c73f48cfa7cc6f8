//! JSON request bodies, read so that every refused member is reported at once.
//!
//! poem-openapi's `Json<T>` stops at the first bad member, cannot name a missing one and answers
//! 400 for both broken JSON and invalid values. [`JsonBody`] reads the body itself:
//! no body is 422, a media type it does not accept is 415, bytes that are not JSON are 400, and
//! well-formed JSON that breaks the rules is one 422 listing every failing member. The `Object`
//! named by the model still documents the body in the spec.

use crate::{
    errors::{self, Refusal},
    problem::FieldError,
};
use domain::{Violation, users::Patch};
use poem::{IntoResponse, Request, RequestBody};
use poem_openapi::{
    ApiExtractor, ApiExtractorType, ExtractParamOptions,
    registry::{MetaMediaType, MetaRequest, Registry},
    types::Type,
};
use serde_json::{Map, Value};

/// A JSON body model: the `Object` that documents it, and how its members become a domain value.
pub trait RequestModel: Type {
    /// Media types accepted (parameters such as `charset` are ignored). The spec documents the
    /// body under `application/json` alone, the one media type every client generator can send
    /// (progenitor refuses a body with two, or with `application/merge-patch+json`), and names
    /// the others in [`Self::BODY_DESCRIPTION`].
    const MEDIA_TYPES: &'static [&'static str] = &["application/json"];

    /// The request body's description in the spec.
    const BODY_DESCRIPTION: Option<&'static str> = None;

    /// The domain value the body becomes.
    type Parsed: Send;

    /// Reads the members; every refused one is recorded in `members`, and then `None` is
    /// returned.
    fn read(members: &mut Members<'_>) -> Option<Self::Parsed>;
}

/// A parsed and validated JSON body.
pub struct JsonBody<T: RequestModel>(pub T::Parsed);

impl<'a, T: RequestModel> ApiExtractor<'a> for JsonBody<T> {
    const TYPES: &'static [ApiExtractorType] = &[ApiExtractorType::RequestObject];

    type ParamType = ();
    type ParamRawType = ();

    fn register(registry: &mut Registry) {
        T::register(registry);
    }

    fn request_meta() -> Option<MetaRequest> {
        Some(MetaRequest {
            description: T::BODY_DESCRIPTION,
            content: vec![MetaMediaType {
                content_type: "application/json",
                schema: T::schema_ref(),
            }],
            required: true,
        })
    }

    async fn from_request(
        request: &'a Request,
        body: &mut RequestBody,
        _param_opts: ExtractParamOptions<Self::ParamType>,
    ) -> poem::Result<Self> {
        let instance = request.uri().path();
        let refuse = |refusal: Refusal<'_>| {
            poem::Error::from_response(errors::refused(refusal, instance).into_response())
        };
        let invalid = |error: FieldError| refuse(Refusal::InvalidBody(vec![error]));
        let accepted = |media: &str| T::MEDIA_TYPES.iter().any(|t| t.eq_ignore_ascii_case(media));
        let media = request.content_type().map(essence);
        if let Some(media) = media
            && !accepted(media)
        {
            return Err(refuse(unsupported::<T>()));
        }
        let bytes = match body.take() {
            Ok(body) => body.into_bytes().await,
            Err(err) => Err(err),
        }
        .map_err(|err| refuse(Refusal::UnreadableBody(&err)))?;
        if bytes.is_empty() {
            let missing = FieldError::new(&["body"], "missing", "a JSON body is required");
            return Err(invalid(missing));
        }
        if media.is_none() {
            return Err(refuse(unsupported::<T>()));
        }
        if nested_deeper_than(&bytes, MAX_DEPTH) {
            let deep = FieldError::new(
                &["body"],
                "nesting_too_deep",
                format!("arrays and objects may nest at most {MAX_DEPTH} deep"),
            );
            return Err(invalid(deep));
        }
        let value: Value = serde_json::from_slice(&bytes)
            .map_err(|err| refuse(Refusal::MalformedJson(err.to_string())))?;
        let Value::Object(object) = value else {
            let wrong = FieldError::new(&["body"], "object_type", "must be a JSON object");
            return Err(invalid(wrong));
        };
        let mut members = Members {
            object: &object,
            errors: Vec::new(),
        };
        match T::read(&mut members) {
            Some(parsed) if members.errors.is_empty() => Ok(Self(parsed)),
            _ => Err(refuse(Refusal::InvalidBody(members.errors))),
        }
    }
}

/// Deepest nesting of arrays and objects a body may have. Every body model is a flat object,
/// so this is generous; it keeps a hostile body from costing a deep recursion to parse.
pub const MAX_DEPTH: usize = 32;

/// Whether the arrays and objects of the JSON text `bytes` nest deeper than `max` (brackets
/// inside strings do not count). Cheap: one pass, no allocation.
pub fn nested_deeper_than(bytes: &[u8], max: usize) -> bool {
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    for &byte in bytes {
        if in_string {
            match (escaped, byte) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match byte {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > max {
                    return true;
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    false
}

/// The media type without parameters: `application/json; charset=utf-8` → `application/json`.
fn essence(content_type: &str) -> &str {
    content_type.split(';').next().unwrap_or_default().trim()
}

fn unsupported<T: RequestModel>() -> Refusal<'static> {
    Refusal::UnsupportedMediaType(format!("Send the body as {}.", T::MEDIA_TYPES.join(" or ")))
}

/// The members of a JSON object body, read one by one; refusals accumulate.
pub struct Members<'a> {
    object: &'a Map<String, Value>,
    errors: Vec<FieldError>,
}

/// A JSON scalar a member can hold.
pub trait Scalar<'v>: Sized {
    /// The error type and message when the member holds another kind of value.
    const WRONG_TYPE: (&'static str, &'static str);

    /// The value, when `json` holds this kind.
    fn from_json(json: &'v Value) -> Option<Self>;
}

impl<'v> Scalar<'v> for &'v str {
    const WRONG_TYPE: (&'static str, &'static str) = ("string_type", "must be a string");

    fn from_json(json: &'v Value) -> Option<Self> {
        json.as_str()
    }
}

impl Scalar<'_> for i64 {
    const WRONG_TYPE: (&'static str, &'static str) =
        ("int_type", "must be an integer between -2^63 and 2^63-1");

    fn from_json(json: &Value) -> Option<Self> {
        json.as_i64()
    }
}

impl Scalar<'_> for bool {
    const WRONG_TYPE: (&'static str, &'static str) = ("bool_type", "must be true or false");

    fn from_json(json: &Value) -> Option<Self> {
        json.as_bool()
    }
}

/// An array of strings (a member holding one is read whole, then parsed).
impl<'v> Scalar<'v> for Vec<&'v str> {
    const WRONG_TYPE: (&'static str, &'static str) = ("array_type", "must be an array of strings");

    fn from_json(json: &'v Value) -> Option<Self> {
        json.as_array()?.iter().map(Value::as_str).collect()
    }
}

impl<'a> Members<'a> {
    /// A member that must be present with a value.
    pub fn required<S: Scalar<'a>, T>(
        &mut self,
        name: &'static str,
        parse: impl FnOnce(S) -> Result<T, Violation>,
    ) -> Option<T> {
        match self.object.get(name) {
            None => {
                self.refuse(name, "missing", "is required");
                None
            }
            Some(json) => self.parse(name, json, parse),
        }
    }

    /// A member that may be absent or `null` (both meaning none).
    pub fn optional<S: Scalar<'a>, T>(
        &mut self,
        name: &'static str,
        parse: impl FnOnce(S) -> Result<T, Violation>,
    ) -> Option<Option<T>> {
        match self.object.get(name) {
            None | Some(Value::Null) => Some(None),
            Some(json) => self.parse(name, json, parse).map(Some),
        }
    }

    /// A merge-patch member that cannot be removed: absent leaves it, `null` is refused.
    pub fn replace<S: Scalar<'a>, T>(
        &mut self,
        name: &'static str,
        parse: impl FnOnce(S) -> Result<T, Violation>,
    ) -> Option<Option<T>> {
        match self.object.get(name) {
            None => Some(None),
            Some(Value::Null) => {
                self.refuse(name, "null_not_allowed", "may not be null");
                None
            }
            Some(json) => self.parse(name, json, parse).map(Some),
        }
    }

    /// A merge-patch member that can be removed: absent leaves it, `null` removes it.
    pub fn patch<S: Scalar<'a>, T>(
        &mut self,
        name: &'static str,
        parse: impl FnOnce(S) -> Result<T, Violation>,
    ) -> Option<Patch<T>> {
        match self.object.get(name) {
            None => Some(Patch::Keep),
            Some(Value::Null) => Some(Patch::Clear),
            Some(json) => self.parse(name, json, parse).map(Patch::Set),
        }
    }

    fn parse<S: Scalar<'a>, T>(
        &mut self,
        name: &'static str,
        json: &'a Value,
        parse: impl FnOnce(S) -> Result<T, Violation>,
    ) -> Option<T> {
        let Some(scalar) = S::from_json(json) else {
            let (kind, msg) = S::WRONG_TYPE;
            self.refuse(name, kind, msg);
            return None;
        };
        parse(scalar)
            .map_err(|violation| self.refuse(name, violation.code, violation.message))
            .ok()
    }

    fn refuse(&mut self, name: &str, kind: &str, msg: impl Into<String>) {
        self.errors
            .push(FieldError::new(&["body", name], kind, msg));
    }
}

#[cfg(test)]
mod tests;
