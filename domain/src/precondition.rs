//! Conditional writes (RFC 9110 §13): a write that names the state of the resource it expects,
//! checked where the write happens, so that two writers holding the same state never both
//! succeed.
//!
//! A state is named by a tag: an opaque text the `api` crate derives from the resource's
//! representation (its `ETag` without quotes), handed in as a function so that the tag checked
//! here is, by construction, the one a client was shown.

use crate::{Error, Result};

/// What a write requires of the resource's current state.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Condition {
    /// Nothing: the write applies to whatever is there.
    #[default]
    None,
    /// The resource exists and its tag is one of these (`If-Match: "a", "b"`); an empty list
    /// (tags that no state of this service has) never holds.
    Matches(Vec<String>),
    /// The resource exists, whatever its state (`If-Match: *`).
    Exists,
    /// The resource does not exist (`If-None-Match: *`): the write may only create it.
    Absent,
    /// The resource does not exist, or its tag is none of these (`If-None-Match: "a"`).
    NoneOf(Vec<String>),
}

/// A [`Condition`] on a resource of type `T`, with the function that tags its states.
pub struct Precondition<T> {
    condition: Condition,
    tag_of: fn(&T) -> String,
}

impl<T> std::fmt::Debug for Precondition<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Precondition")
            .field(&self.condition)
            .finish()
    }
}

impl<T> Precondition<T> {
    /// `condition`, with states tagged by `tag_of`.
    pub fn new(condition: Condition, tag_of: fn(&T) -> String) -> Self {
        Self { condition, tag_of }
    }

    /// No condition at all.
    pub fn none() -> Self {
        Self::new(Condition::None, |_| String::new())
    }

    /// Whether the write states any condition.
    pub fn is_conditional(&self) -> bool {
        self.condition != Condition::None
    }

    /// Checks the condition against `current`, the resource as storage holds it at the write:
    /// [`Error::PreconditionFailed`] when it does not hold.
    pub fn check(&self, current: Option<&T>) -> Result<()> {
        let holds = match (&self.condition, current) {
            (Condition::None, _) => true,
            (Condition::Exists, current) => current.is_some(),
            (Condition::Absent, current) => current.is_none(),
            (Condition::Matches(tags), Some(current)) => {
                let tag = (self.tag_of)(current);
                tags.contains(&tag)
            }
            (Condition::Matches(_), None) => false,
            (Condition::NoneOf(tags), Some(current)) => {
                let tag = (self.tag_of)(current);
                !tags.contains(&tag)
            }
            (Condition::NoneOf(_), None) => true,
        };
        if holds {
            Ok(())
        } else {
            Err(Error::PreconditionFailed)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tag(value: &u32) -> String {
        format!("v{value}")
    }

    fn holds(condition: Condition, current: Option<u32>) -> bool {
        Precondition::new(condition, tag)
            .check(current.as_ref())
            .is_ok()
    }

    #[test]
    fn a_matching_tag_holds_and_a_stale_one_fails() {
        let current = Some(2);
        assert!(holds(
            Condition::Matches(vec!["v1".into(), "v2".into()]),
            current
        ));
        assert!(!holds(Condition::Matches(vec!["v1".into()]), current));
        assert!(!holds(Condition::Matches(Vec::new()), current));
    }

    #[test]
    fn if_match_fails_on_a_missing_resource_even_with_star() {
        assert!(!holds(Condition::Matches(vec!["v1".into()]), None));
        assert!(!holds(Condition::Exists, None));
        assert!(holds(Condition::Exists, Some(7)));
    }

    #[test]
    fn if_none_match_star_holds_only_where_nothing_exists() {
        assert!(holds(Condition::Absent, None));
        assert!(!holds(Condition::Absent, Some(1)));
        assert!(holds(Condition::None, None) && holds(Condition::None, Some(1)));
    }

    #[test]
    fn if_none_match_with_tags_fails_only_on_a_named_state() {
        assert!(!holds(Condition::NoneOf(vec!["v1".into()]), Some(1)));
        assert!(holds(Condition::NoneOf(vec!["v1".into()]), Some(2)));
        assert!(holds(Condition::NoneOf(vec!["v1".into()]), None));
    }

    #[test]
    fn a_failed_condition_is_the_precondition_error() {
        let failed = Precondition::new(Condition::Absent, tag).check(Some(&1));
        assert!(matches!(failed, Err(Error::PreconditionFailed)));
    }
}
