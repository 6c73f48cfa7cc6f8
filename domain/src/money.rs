//! Money values: amounts and currencies, parsed once and valid after.

use crate::Violation;
use std::fmt;

/// An amount of money in minor units (cents): 1..=1_000_000_000_000.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Amount(i64);

impl Amount {
    /// The largest amount one movement may carry.
    pub const MAX: i64 = 1_000_000_000_000;

    /// Parses an amount.
    pub fn parse(value: i64) -> Result<Self, Violation> {
        if (1..=Self::MAX).contains(&value) {
            Ok(Self(value))
        } else {
            Err(Violation::new(
                "amount_out_of_range",
                format!("must be between 1 and {}", Self::MAX),
            ))
        }
    }

    /// The amount in minor units.
    pub fn get(self) -> i64 {
        self.0
    }
}

/// A currency code in ISO 4217 form: three upper-case ASCII letters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Currency([u8; 3]);

impl Currency {
    /// The currency of an account opened without one.
    pub const DEFAULT: Self = Self(*b"EUR");

    /// Parses a currency code.
    pub fn parse(value: &str) -> Result<Self, Violation> {
        match value.as_bytes() {
            &[a, b, c] if [a, b, c].iter().all(u8::is_ascii_uppercase) => Ok(Self([a, b, c])),
            _ => Err(Violation::new(
                "currency_invalid",
                "must be three upper-case letters (ISO 4217)",
            )),
        }
    }

    /// The code as text.
    pub fn as_str(&self) -> &str {
        // Only ASCII upper-case letters get in (see `parse`).
        std::str::from_utf8(&self.0).unwrap_or("???")
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amount_is_one_to_a_trillion_minor_units() {
        assert_eq!(Amount::parse(1).unwrap().get(), 1);
        assert_eq!(Amount::parse(Amount::MAX).unwrap().get(), Amount::MAX);
        for bad in [0, -1, Amount::MAX + 1, i64::MIN] {
            assert_eq!(Amount::parse(bad).unwrap_err().code, "amount_out_of_range");
        }
    }

    #[test]
    fn currency_is_three_upper_case_letters() {
        assert_eq!(Currency::parse("USD").unwrap().as_str(), "USD");
        assert_eq!(Currency::DEFAULT.as_str(), "EUR");
        for bad in ["usd", "US", "USDX", "U$D", "ÉUR", ""] {
            assert_eq!(
                Currency::parse(bad).unwrap_err().code,
                "currency_invalid",
                "{bad}"
            );
        }
    }
}
