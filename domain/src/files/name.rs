//! A file's name, the one rule of which keeps every name from being a path. A leaf: the error
//! type names it.

use crate::Violation;
use std::fmt;

/// A file name: 1..=255 characters, ASCII letters, digits, `.`, `_` and `-`, starting with a
/// letter or digit.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FileName(String);

impl FileName {
    /// The longest name accepted.
    pub const MAX_LEN: usize = 255;

    /// Parses a name.
    pub fn parse(value: &str) -> Result<Self, Violation> {
        let mut bytes = value.bytes();
        let first_ok = bytes.next().is_some_and(|b| b.is_ascii_alphanumeric());
        let rest_ok = bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
        if first_ok && rest_ok && value.len() <= Self::MAX_LEN {
            Ok(Self(value.to_owned()))
        } else {
            Err(Violation::new(
                "file_name_invalid",
                "must be 1 to 255 of A-Z, a-z, 0-9, '.', '_' and '-', starting with a letter or digit",
            ))
        }
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for FileName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
