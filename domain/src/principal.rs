//! Who is calling and what they may touch: the authenticated caller, as the services receive
//! it. A leaf beside the ids, so that every resource's rules can ask it.

use crate::{Error, Result, ids::UserId};

/// An authenticated caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Principal {
    /// The caller's user id.
    pub user_id: UserId,
    /// Whether the caller is an admin, who may do anything.
    pub is_admin: bool,
}

impl Principal {
    /// Allows admins only.
    pub fn require_admin(&self, action: &'static str) -> Result<()> {
        if self.is_admin {
            Ok(())
        } else {
            Err(Error::Forbidden(action))
        }
    }

    /// Allows the user `target` themselves, and admins.
    pub fn require_self_or_admin(&self, target: UserId) -> Result<()> {
        if self.is_admin || self.user_id == target {
            Ok(())
        } else {
            Err(Error::Forbidden(
                "Only the user themselves or an admin may do this.",
            ))
        }
    }
}

/// Whose things a caller may touch: everyone's (an admin) or only their own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reach {
    /// An admin: anything.
    Everything,
    /// Things owned by this user.
    OwnedBy(UserId),
}

impl Reach {
    /// Whether something owned by `owner` is within reach.
    pub fn allows(self, owner: UserId) -> bool {
        match self {
            Self::Everything => true,
            Self::OwnedBy(user) => user == owner,
        }
    }
}

impl Principal {
    /// Whose things this caller may touch.
    pub fn reach(&self) -> Reach {
        if self.is_admin {
            Reach::Everything
        } else {
            Reach::OwnedBy(self.user_id)
        }
    }
}
