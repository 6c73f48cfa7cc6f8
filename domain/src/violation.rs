//! Why a value was refused, in a form every edge can report field by field.

use std::fmt;

/// A rule that an input value broke: a stable machine-readable code and a sentence for people.
///
/// Value types return one from their `parse` constructors; the edge (the `api` crate) decides
/// where the value came from and reports it there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// Stable identifier of the broken rule, e.g. `string_too_long`.
    pub code: &'static str,
    /// Human-readable explanation.
    pub message: String,
}

impl Violation {
    /// A violation of rule `code`, explained by `message`.
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }

    /// Checks that `value` has between `min` and `max` characters (Unicode scalar values) and
    /// no NUL character, which no text column of any backend can store faithfully.
    pub fn check_text(value: &str, min: usize, max: usize) -> Result<(), Self> {
        if value.contains('\0') {
            return Err(Self::new("string_nul", "must not contain NUL characters"));
        }
        // Counting stops at max + 1: a hostile multi-megabyte string costs no more than a short one.
        let count = value.chars().take(max + 1).count();
        if count < min {
            let unit = if min == 1 { "character" } else { "characters" };
            return Err(Self::new(
                "string_too_short",
                format!("must have at least {min} {unit}"),
            ));
        }
        if count > max {
            return Err(Self::new(
                "string_too_long",
                format!("must have at most {max} characters"),
            ));
        }
        Ok(())
    }
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Violation {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn length_counts_characters_not_bytes() {
        assert!(Violation::check_text("ééé", 1, 3).is_ok());
        assert_eq!(
            Violation::check_text("éééé", 1, 3).unwrap_err().code,
            "string_too_long"
        );
    }

    #[test]
    fn nul_characters_are_refused() {
        assert_eq!(
            Violation::check_text("a\0b", 1, 3).unwrap_err().code,
            "string_nul"
        );
    }

    #[test]
    fn empty_string_is_too_short_when_one_is_required() {
        let err = Violation::check_text("", 1, 3).unwrap_err();
        assert_eq!(err.code, "string_too_short");
        assert_eq!(err.message, "must have at least 1 character");
    }
}
