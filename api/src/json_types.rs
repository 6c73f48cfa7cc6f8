//! Value types of the API's JSON that need a representation of their own.

use chrono::{DateTime, SecondsFormat, Utc};
use poem_openapi::{
    registry::{MetaSchema, MetaSchemaRef},
    types::{ParseError, ParseFromJSON, ParseResult, ToJSON, Type},
};
use serde_json::Value;
use std::borrow::Cow;

/// Implements poem-openapi's `Type` for a scalar newtype with an inline `schema`:
/// `scalar_type!(Name, "name", schema)` or, generic over a domain id, `scalar_type!(Name<T>, ...)`.
#[macro_export]
macro_rules! scalar_type {
    ($ty:ident<$g:ident>, $name:literal, $schema:expr) => {
        $crate::scalar_type!(@impl [$g] $ty<$g>, $name, $schema);
    };
    ($ty:ty, $name:literal, $schema:expr) => {
        $crate::scalar_type!(@impl [] $ty, $name, $schema);
    };
    (@impl [$($g:ident)?] $ty:ty, $name:literal, $schema:expr) => {
        impl<$($g: $crate::params::DomainId)?> poem_openapi::types::Type for $ty {
            const IS_REQUIRED: bool = true;
            type RawValueType = Self;
            type RawElementValueType = Self;

            fn name() -> std::borrow::Cow<'static, str> {
                $name.into()
            }

            fn schema_ref() -> poem_openapi::registry::MetaSchemaRef {
                poem_openapi::registry::MetaSchemaRef::Inline(Box::new($schema))
            }

            fn as_raw_value(&self) -> Option<&Self::RawValueType> {
                Some(self)
            }

            fn raw_element_iter<'a>(
                &'a self,
            ) -> Box<dyn Iterator<Item = &'a Self::RawElementValueType> + 'a> {
                Box::new(self.as_raw_value().into_iter())
            }
        }
    };
}

/// An instant as RFC 3339 in UTC with microseconds: `2026-11-25T09:30:00.123456Z`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timestamp(pub DateTime<Utc>);

crate::scalar_type!(
    Timestamp,
    "string_date-time",
    MetaSchema::new_with_format("string", "date-time")
);

impl Timestamp {
    /// The instant as the API writes it.
    fn text(&self) -> String {
        self.0.to_rfc3339_opts(SecondsFormat::Micros, true)
    }
}

impl ToJSON for Timestamp {
    fn to_json(&self) -> Option<Value> {
        Some(Value::String(self.text()))
    }
}

impl serde::Serialize for Timestamp {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.text())
    }
}

impl ParseFromJSON for Timestamp {
    fn parse_from_json(value: Option<Value>) -> ParseResult<Self> {
        match value {
            Some(Value::String(text)) => DateTime::parse_from_rfc3339(&text)
                .map(|at| Self(at.with_timezone(&Utc)))
                .map_err(ParseError::custom),
            other => Err(ParseError::expected_type(other.unwrap_or_default())),
        }
    }
}

/// A member that is always present and may be `null`: required in the schema (mark the field
/// `#[oai(nullable)]` too), so generated clients type it as "value or null", never "unset".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Nullable<T>(pub Option<T>);

impl<T: Type> Type for Nullable<T> {
    const IS_REQUIRED: bool = true;
    type RawValueType = T::RawValueType;
    type RawElementValueType = T::RawElementValueType;

    fn name() -> Cow<'static, str> {
        T::name()
    }

    fn schema_ref() -> MetaSchemaRef {
        T::schema_ref()
    }

    fn register(registry: &mut poem_openapi::registry::Registry) {
        T::register(registry);
    }

    fn as_raw_value(&self) -> Option<&Self::RawValueType> {
        self.0.as_ref().and_then(T::as_raw_value)
    }

    fn raw_element_iter<'a>(
        &'a self,
    ) -> Box<dyn Iterator<Item = &'a Self::RawElementValueType> + 'a> {
        match &self.0 {
            Some(value) => value.raw_element_iter(),
            None => Box::new(std::iter::empty()),
        }
    }
}

impl<T: ToJSON> ToJSON for Nullable<T> {
    fn to_json(&self) -> Option<Value> {
        Some(self.0.as_ref().and_then(T::to_json).unwrap_or(Value::Null))
    }
}

impl<T: serde::Serialize> serde::Serialize for Nullable<T> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

impl<T: ParseFromJSON> ParseFromJSON for Nullable<T> {
    fn parse_from_json(value: Option<Value>) -> ParseResult<Self> {
        match value {
            None | Some(Value::Null) => Ok(Self(None)),
            Some(value) => T::parse_from_json(Some(value))
                .map(|inner| Self(Some(inner)))
                .map_err(ParseError::propagate),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn nullable_is_null_when_absent_and_required_in_the_schema() {
        assert_eq!(Nullable::<String>(None).to_json(), Some(Value::Null));
        assert_eq!(
            Nullable(Some("x".to_owned())).to_json(),
            Some(Value::String("x".into()))
        );
        const { assert!(<Nullable<String> as Type>::IS_REQUIRED) };
    }

    #[test]
    fn timestamps_are_utc_with_z_and_microseconds() {
        let at = Utc.with_ymd_and_hms(2026, 11, 25, 9, 30, 0).unwrap();
        assert_eq!(
            Timestamp(at).to_json(),
            Some(Value::String("2026-11-25T09:30:00.000000Z".into()))
        );
    }
}
