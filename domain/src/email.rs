//! E-mail addresses, as users type them and as the service compares them.

use crate::Violation;
use std::fmt;

/// A syntactically valid e-mail address of at most 254 characters.
///
/// The address keeps the spelling it was given; [`Email::key`] is the case-folded form under
/// which addresses are unique, so `Ann@Example.com` and `ann@example.com` are the same user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    /// The longest address accepted (RFC 5321's path limit less the angle brackets).
    pub const MAX_LEN: usize = 254;

    /// Parses an address: `local@domain.tld`, no whitespace, control characters or RFC 5322
    /// specials, a domain of non-empty dot-separated labels with at least one dot.
    pub fn parse(value: &str) -> Result<Self, Violation> {
        Violation::check_text(value, 1, Self::MAX_LEN)?;
        let invalid = || Violation::new("email_invalid", "must be a valid e-mail address");
        let (local, domain) = value.rsplit_once('@').ok_or_else(invalid)?;
        let plain = |part: &str| !part.is_empty() && part.chars().all(is_address_char);
        if !plain(local) || !plain(domain) {
            return Err(invalid());
        }
        let labels: Vec<&str> = domain.split('.').collect();
        if labels.len() < 2 || labels.iter().any(|label| label.is_empty()) {
            return Err(invalid());
        }
        Ok(Self(value.to_owned()))
    }

    /// The address as it was given.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The form under which addresses are unique: lower-cased.
    pub fn key(&self) -> String {
        self.0.to_lowercase()
    }
}

fn is_address_char(c: char) -> bool {
    !(c.is_whitespace()
        || c.is_control()
        || matches!(
            c,
            '@' | '"' | '(' | ')' | ',' | ':' | ';' | '<' | '>' | '[' | ']' | '\\'
        ))
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_addresses_parse_and_keep_their_spelling() {
        for ok in [
            "ann@example.com",
            "Ann.Lee+tag@Mail.Example.org",
            "ü@bücher.de",
        ] {
            assert_eq!(Email::parse(ok).unwrap().as_str(), ok);
        }
    }

    #[test]
    fn key_folds_case() {
        let email = Email::parse("Ann@Example.COM").unwrap();
        assert_eq!(email.key(), "ann@example.com");
    }

    #[test]
    fn malformed_addresses_are_refused() {
        for bad in [
            "",
            "plain",
            "@example.com",
            "ann@",
            "ann@example",
            "ann@@example.com",
            "ann@example..com",
            "ann@.example.com",
            "ann lee@example.com",
            "ann@exa mple.com",
            "<ann@example.com>",
            "ann@example.com\n",
        ] {
            let err = Email::parse(bad).unwrap_err();
            assert!(
                matches!(err.code, "email_invalid" | "string_too_short"),
                "{bad:?}: {err:?}"
            );
        }
    }

    #[test]
    fn address_over_254_characters_is_too_long() {
        let long = format!("{}@example.com", "a".repeat(243));
        assert_eq!(long.len(), 255);
        assert_eq!(Email::parse(&long).unwrap_err().code, "string_too_long");
        assert!(Email::parse(&long[1..]).is_ok());
    }
}
