//! Path, query and header parameter types, parsed into domain values at the edge.
//!
//! A value that does not parse fails extraction with poem-openapi's parameter error, which
//! carries a message alone, which poem-openapi words around the parser's. So that the 422 names
//! the broken rule, [`refusal`] writes the rule's [`Violation`] into that message in one
//! bracketed form (`[code: message]`) and [`broken_rule`] finds it again in the error the edge
//! receives, whatever poem-openapi wrote around it.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use domain::{
    Limit, Violation,
    accounts::{AccountId, TransactionId},
    files::FileName,
    idempotency::IdempotencyKey,
    notifications::NotificationId,
    users::UserId,
    webhooks::{DeliveryId, WebhookId},
};
use poem_openapi::{
    registry::MetaSchema,
    types::{ParseError, ParseFromParameter, ParseResult, ToJSON, Type},
};
use serde_json::Value;

/// A parameter's refusal for breaking `violation`'s rule, written so that [`broken_rule`] reads
/// it back.
fn refusal<T: Type>(violation: Violation) -> ParseError<T> {
    ParseError::custom(format!("[{}: {}]", violation.code, violation.message))
}

/// The rule a parameter broke, as read back from poem-openapi's error (`reason`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BrokenRule<'a> {
    /// The rule's stable code (`id_not_positive`).
    pub code: &'a str,
    /// What the rule asks.
    pub message: &'a str,
}

impl<'a> BrokenRule<'a> {
    /// The rule `violation` names.
    pub fn of(violation: &'a Violation) -> Self {
        Self {
            code: violation.code,
            message: &violation.message,
        }
    }
}

/// The rule [`refusal`] wrote into `reason`; `None` for poem-openapi's own reasons (a parameter
/// that is missing), which carry none.
pub fn broken_rule(reason: &str) -> Option<BrokenRule<'_>> {
    let is_code = |code: &str| {
        code.starts_with(|c: char| c.is_ascii_lowercase())
            && code
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
    };
    let (start, _) = reason.match_indices('[').find(|(at, _)| {
        reason[at + 1..]
            .split_once(": ")
            .is_some_and(|(code, _)| is_code(code))
    })?;
    let end = reason.rfind(']').filter(|end| *end > start)?;
    let (code, message) = reason[start + 1..end].split_once(": ")?;
    Some(BrokenRule { code, message })
}

/// A domain id type: a positive 64-bit integer with a rule of its own.
pub trait DomainId: Copy + Send + Sync + 'static {
    /// Parses the id.
    fn parse(value: i64) -> Result<Self, Violation>;
}

macro_rules! domain_ids {
    ($($ty:ty),*) => {
        $(impl DomainId for $ty {
            fn parse(value: i64) -> Result<Self, Violation> {
                <$ty>::parse(value)
            }
        })*
    };
}

domain_ids!(
    UserId,
    AccountId,
    TransactionId,
    NotificationId,
    WebhookId,
    DeliveryId
);

/// An id in a path: `/users/{id}`.
#[derive(Debug, Clone, Copy)]
pub struct Id<T>(pub T);

crate::scalar_type!(Id<T>, "Id", {
    MetaSchema {
        minimum: Some(1.0),
        ..MetaSchema::new_with_format("integer", "int64")
    }
});

impl<T: DomainId> ParseFromParameter for Id<T> {
    fn parse_from_parameter(value: &str) -> ParseResult<Self> {
        // Digits only: Rust's integer parser would also take `+1`, a second URL of user 1.
        // At most 19 digits, as the schema says: leading zeros do not make a longer id valid.
        let digits = (1..=19).contains(&value.len()) && value.bytes().all(|b| b.is_ascii_digit());
        match value.parse::<i64>() {
            Ok(n) if digits => T::parse(n).map(Self).map_err(refusal),
            _ => Err(refusal(Violation::new(
                "id_invalid",
                "must be a positive 64-bit integer",
            ))),
        }
    }
}

/// The id in `PUT /users/{id}`: any user id, which the schema bounds by the largest id a new
/// user may be given ([`domain::users::MAX_CHOSEN_ID`]; no user has a larger one). The domain
/// enforces that bound; the schema tells clients.
#[derive(Debug, Clone, Copy)]
pub struct PutUserId(pub UserId);

crate::scalar_type!(PutUserId, "PutUserId", {
    MetaSchema {
        minimum: Some(1.0),
        // 2^53 - 1: exact as an f64.
        maximum: Some(domain::users::MAX_CHOSEN_ID as f64),
        ..MetaSchema::new_with_format("integer", "int64")
    }
});

impl ParseFromParameter for PutUserId {
    fn parse_from_parameter(value: &str) -> ParseResult<Self> {
        Id::<UserId>::parse_from_parameter(value)
            .map(|id| Self(id.0))
            .map_err(ParseError::propagate)
    }
}

impl ToJSON for PutUserId {
    fn to_json(&self) -> Option<Value> {
        Some(Value::from(self.0.get()))
    }
}

/// The `limit` query parameter: 1..=100 items, 20 when absent.
#[derive(Debug, Clone, Copy)]
pub struct LimitParam(pub Limit);

crate::scalar_type!(LimitParam, "Limit", {
    MetaSchema {
        minimum: Some(f64::from(Limit::MIN)),
        maximum: Some(f64::from(Limit::MAX)),
        ..MetaSchema::new_with_format("integer", "int32")
    }
});

impl LimitParam {
    /// The page size used when a request names none.
    pub fn default_value() -> Self {
        Self(Limit::DEFAULT)
    }
}

impl ParseFromParameter for LimitParam {
    fn parse_from_parameter(value: &str) -> ParseResult<Self> {
        let n: i64 = value
            .parse()
            .map_err(|_| refusal::<Self>(Violation::new("int_parsing", "must be an integer")))?;
        Limit::parse(n).map(Self).map_err(refusal)
    }
}

impl ToJSON for LimitParam {
    fn to_json(&self) -> Option<Value> {
        Some(Value::from(self.0.get()))
    }
}

/// The `cursor` query parameter of lists ordered by id: an opaque token naming the last id of
/// the previous page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdCursor<T>(pub T);

crate::scalar_type!(IdCursor<T>, "Cursor", {
    MetaSchema {
        max_length: Some(64),
        ..MetaSchema::new("string")
    }
});

/// The opaque token for a page that continues after the item whose key is `key`.
pub fn encode_cursor(key: &str) -> String {
    URL_SAFE_NO_PAD.encode(key)
}

/// The key an opaque cursor token stands for, if this service issued it.
fn decode_cursor(token: &str) -> Option<String> {
    let bytes = URL_SAFE_NO_PAD.decode(token).ok()?;
    String::from_utf8(bytes).ok()
}

fn foreign_cursor<T: Type>() -> ParseError<T> {
    refusal(Violation::new(
        "cursor_invalid",
        "is not a cursor this service issued; use `next_cursor` from a previous page",
    ))
}

impl<T: DomainId> ParseFromParameter for IdCursor<T> {
    fn parse_from_parameter(value: &str) -> ParseResult<Self> {
        decode_cursor(value)
            .and_then(|text| text.parse::<i64>().ok())
            .and_then(|id| T::parse(id).ok())
            .map(Self)
            .ok_or_else(foreign_cursor)
    }
}

/// The `Idempotency-Key` header of money-moving requests.
#[derive(Debug, Clone)]
pub struct IdempotencyKeyParam(pub IdempotencyKey);

crate::scalar_type!(IdempotencyKeyParam, "IdempotencyKey", {
    MetaSchema {
        min_length: Some(1),
        max_length: Some(IdempotencyKey::MAX_LEN),
        pattern: Some("^[\\x20-\\x7e]+$".to_owned()),
        ..MetaSchema::new("string")
    }
});

/// The `cursor` query parameter of lists ordered by file name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameCursor(pub FileName);

crate::scalar_type!(NameCursor, "NameCursor", {
    MetaSchema {
        max_length: Some(400),
        ..MetaSchema::new("string")
    }
});

impl ParseFromParameter for NameCursor {
    fn parse_from_parameter(value: &str) -> ParseResult<Self> {
        decode_cursor(value)
            .and_then(|text| FileName::parse(&text).ok())
            .map(Self)
            .ok_or_else(foreign_cursor)
    }
}

/// A file name in a path, percent-decoded once and then held to the [`FileName`] rule, so that
/// encoded (`%2e%2e%2f`) and double-encoded (`%252e`) traversal attempts are refused like plain
/// ones.
#[derive(Debug, Clone)]
pub struct FileNameParam(pub FileName);

crate::scalar_type!(FileNameParam, "FileName", {
    MetaSchema {
        min_length: Some(1),
        max_length: Some(FileName::MAX_LEN),
        pattern: Some("^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$".to_owned()),
        ..MetaSchema::new("string")
    }
});

impl ParseFromParameter for FileNameParam {
    fn parse_from_parameter(value: &str) -> ParseResult<Self> {
        let decoded = percent_decode(value).ok_or_else(|| {
            refusal(Violation::new(
                "file_name_invalid",
                "is not validly percent-encoded",
            ))
        })?;
        FileName::parse(&decoded).map(Self).map_err(refusal)
    }
}

/// `value` with each `%XX` replaced by its byte, if that makes valid UTF-8.
fn percent_decode(value: &str) -> Option<String> {
    let mut bytes = Vec::with_capacity(value.len());
    let mut rest = value.bytes();
    while let Some(byte) = rest.next() {
        if byte == b'%' {
            let hex = [rest.next()?, rest.next()?];
            let hex = std::str::from_utf8(&hex).ok()?;
            bytes.push(u8::from_str_radix(hex, 16).ok()?);
        } else {
            bytes.push(byte);
        }
    }
    String::from_utf8(bytes).ok()
}

/// `Last-Event-ID`: the `id` of the last event a client got from a stream, which it resumes
/// after. Every stream's ids are non-negative integers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LastEventId(pub u64);

crate::scalar_type!(LastEventId, "LastEventId", {
    MetaSchema {
        max_length: Some(19),
        pattern: Some("^[0-9]+$".to_owned()),
        ..MetaSchema::new("string")
    }
});

impl ParseFromParameter for LastEventId {
    fn parse_from_parameter(value: &str) -> ParseResult<Self> {
        // At most 19 digits, as the schema says: leading zeros do not make a longer id valid.
        let digits = (1..=19).contains(&value.len()) && value.bytes().all(|b| b.is_ascii_digit());
        // Every 19-digit number fits: one past the stream's last id just waits for newer ones.
        match value.parse::<u64>() {
            Ok(n) if digits => Ok(Self(n)),
            _ => Err(refusal(Violation::new(
                "last_event_id_invalid",
                "must be the `id` of an event of this stream: a non-negative integer",
            ))),
        }
    }
}

/// The request's `Idempotency-Key`, as parsed into `parsed`, or the rule a key that was sent
/// but could not be read breaks: poem passes over header values that are not visible ASCII,
/// and such a request must not go through as if it had no key.
pub fn idempotency_key(
    req: &poem::Request,
    parsed: Option<IdempotencyKeyParam>,
) -> Result<Option<IdempotencyKey>, Violation> {
    match (parsed, req.headers().get("idempotency-key")) {
        (Some(key), _) => Ok(Some(key.0)),
        (None, Some(sent)) => {
            IdempotencyKey::parse(&String::from_utf8_lossy(sent.as_bytes())).map(Some)
        }
        (None, None) => Ok(None),
    }
}

impl ParseFromParameter for IdempotencyKeyParam {
    fn parse_from_parameter(value: &str) -> ParseResult<Self> {
        IdempotencyKey::parse(value).map(Self).map_err(refusal)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refused_parameter_s_rule_is_read_back_from_its_error() {
        let reason = Id::<UserId>::parse_from_parameter("0")
            .err()
            .map(|err| err.into_message());
        let rule = reason.as_deref().and_then(broken_rule);
        assert_eq!(rule.map(|rule| rule.code), Some("id_not_positive"));
        assert_eq!(
            rule.map(|rule| rule.message),
            Some("must be a positive integer")
        );
        // poem-openapi's own reason for a missing parameter names no rule.
        assert_eq!(
            broken_rule(r#"Expected input type "Id", found null."#),
            None
        );
        assert_eq!(broken_rule("no code here"), None);
    }

    #[test]
    fn a_last_event_id_is_at_most_19_digits_even_of_leading_zeros() {
        let parsed = |value: &str| LastEventId::parse_from_parameter(value).ok();
        assert_eq!(parsed("0"), Some(LastEventId(0)));
        assert_eq!(parsed(&"0".repeat(19)), Some(LastEventId(0)));
        assert_eq!(
            parsed("9223372036854775807"),
            Some(LastEventId(i64::MAX as u64))
        );
        assert_eq!(
            parsed(&"9".repeat(19)),
            Some(LastEventId(9_999_999_999_999_999_999))
        );
        for bad in [&"0".repeat(20), &"1".repeat(20), "", "-1", "+1", "1 "] {
            assert_eq!(parsed(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn cursor_round_trips_and_is_opaque() {
        let token = encode_cursor("42");
        assert_ne!(token, "42");
        let cursor = IdCursor::<UserId>::parse_from_parameter(&token).unwrap();
        assert_eq!(cursor.0.get(), 42);
    }

    #[test]
    fn tampered_cursor_is_refused_with_a_code() {
        for bad in ["", "!!", "MA", "LTE", &URL_SAFE_NO_PAD.encode("abc")] {
            let err = IdCursor::<UserId>::parse_from_parameter(bad).unwrap_err();
            assert!(
                err.message().contains("[cursor_invalid: "),
                "{bad}: {}",
                err.message()
            );
        }
    }

    #[test]
    fn file_names_are_decoded_once_then_checked() {
        assert_eq!(
            FileNameParam::parse_from_parameter("a.txt")
                .unwrap()
                .0
                .as_str(),
            "a.txt"
        );
        assert_eq!(
            FileNameParam::parse_from_parameter("a%2Etxt")
                .unwrap()
                .0
                .as_str(),
            "a.txt"
        );
        for attempt in [
            "..",
            "%2e%2e",
            "%2e%2e%2fetc%2fpasswd",
            "%252e%252e%252f",
            "a%2Fb",
            "%00",
            "%zz",
            "%e9",
        ] {
            let err = FileNameParam::parse_from_parameter(attempt).unwrap_err();
            assert!(
                err.message().contains("[file_name_invalid: "),
                "{attempt}: {}",
                err.message()
            );
        }
    }

    #[test]
    fn name_cursors_round_trip() {
        let token = encode_cursor("report.pdf");
        assert_eq!(
            NameCursor::parse_from_parameter(&token).unwrap().0.as_str(),
            "report.pdf"
        );
        assert!(NameCursor::parse_from_parameter(&encode_cursor("../x")).is_err());
    }

    #[test]
    fn user_id_must_be_a_positive_integer_in_digits_only() {
        assert_eq!(Id::<UserId>::parse_from_parameter("7").unwrap().0.get(), 7);
        for bad in ["0", "-1", "+1", " 1", "", "x", "1.5", "9223372036854775808"] {
            let err = Id::<UserId>::parse_from_parameter(bad).unwrap_err();
            let message = err.message();
            assert!(
                message.contains("[id_invalid: ") || message.contains("[id_not_positive: "),
                "{bad}: {message}"
            );
        }
    }

    #[test]
    fn limit_is_between_one_and_hundred() {
        assert_eq!(
            LimitParam::parse_from_parameter("100").unwrap().0.get(),
            100
        );
        let err = LimitParam::parse_from_parameter("0").unwrap_err();
        assert!(err.message().contains("[limit_out_of_range: "));
        let err = LimitParam::parse_from_parameter("ten").unwrap_err();
        assert!(err.message().contains("[int_parsing: "));
    }
}
