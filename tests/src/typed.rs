//! Helpers for tests that drive the service through the generated client.

use crate::PASSWORD;
use client::types;
use std::num::NonZeroU64;

/// A `UserIn` with password [`PASSWORD`].
pub fn new_user(name: &str, email: &str) -> types::UserIn {
    types::UserIn {
        name: name.try_into().expect("a name the spec takes"),
        email: email.try_into().expect("an e-mail the spec takes"),
        password: PASSWORD.try_into().expect("a password the spec takes"),
        bio: None,
    }
}

/// An id as a path parameter.
pub fn id(id: i64) -> NonZeroU64 {
    u64::try_from(id)
        .ok()
        .and_then(NonZeroU64::new)
        .expect("a positive id")
}

/// An `AmountIn` of `amount` minor units.
pub fn amount(amount: u64) -> types::AmountIn {
    types::AmountIn {
        amount: NonZeroU64::new(amount).expect("a positive amount"),
    }
}

/// The typed problem of a call that must have failed with `status`.
pub fn refused<T>(result: Result<T, client::Error<types::Problem>>, status: u16) -> types::Problem {
    let err = result.err().expect("the call is refused");
    let problem = client::problem(&err).unwrap_or_else(|| panic!("not a problem: {err:?}"));
    assert_eq!(problem.status, status, "{problem:?}");
    problem.clone()
}
