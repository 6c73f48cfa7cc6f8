//! Users: who they are, the rules for creating, replacing and patching them, and the ports
//! storage and password hashing implement.
//!
//! Rules kept here: names have 1..=100 characters, passwords 8..=128, bios at most 2000; an
//! e-mail address belongs to one user, compared case-insensitively (storage enforces it with a
//! unique key on [`Email::key`]); a replacement (`PUT`) keeps the id and `created_at` and clears
//! what it leaves out; a merge patch changes only the members it names; a password is only ever
//! stored as a slow salted hash.

use crate::{Email, Error, Page, PageRequest, Result, Violation};
use async_trait::async_trait;
use chrono::{DateTime, SubsecRound, Utc};
use std::{fmt, sync::Arc};

/// A user's id: a positive 64-bit integer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UserId(i64);

impl UserId {
    /// Parses an id, which must be positive.
    pub fn parse(value: i64) -> Result<Self, Violation> {
        if value >= 1 {
            Ok(Self(value))
        } else {
            Err(Violation::new(
                "id_not_positive",
                "must be a positive integer",
            ))
        }
    }

    /// The id as an integer.
    pub fn get(self) -> i64 {
        self.0
    }
}

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A display name of 1..=100 characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserName(String);

impl UserName {
    /// The longest name accepted, in characters.
    pub const MAX_LEN: usize = 100;

    /// Parses a name.
    pub fn parse(value: &str) -> Result<Self, Violation> {
        Violation::check_text(value, 1, Self::MAX_LEN)?;
        Ok(Self(value.to_owned()))
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A password in clear, 8..=128 characters; it only ever lives long enough to be hashed.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

impl Password {
    /// The shortest password accepted, in characters.
    pub const MIN_LEN: usize = 8;
    /// The longest password accepted, in characters.
    pub const MAX_LEN: usize = 128;

    /// Parses a password.
    pub fn parse(value: &str) -> Result<Self, Violation> {
        Violation::check_text(value, Self::MIN_LEN, Self::MAX_LEN)?;
        Ok(Self(value.to_owned()))
    }

    /// The clear text, for the hasher alone.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(***)")
    }
}

/// A free-text biography of at most 2000 characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bio(String);

impl Bio {
    /// The longest bio accepted, in characters.
    pub const MAX_LEN: usize = 2000;

    /// Parses a bio (the empty string is a valid bio).
    pub fn parse(value: &str) -> Result<Self, Violation> {
        Violation::check_text(value, 0, Self::MAX_LEN)?;
        Ok(Self(value.to_owned()))
    }

    /// The bio as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A password hash in PHC string format; opaque to everything but the hasher.
#[derive(Clone, PartialEq, Eq)]
pub struct PasswordHash(String);

impl PasswordHash {
    /// Wraps a PHC string produced by a [`PasswordHasher`] or read back from storage.
    pub fn from_phc(phc: String) -> Self {
        Self(phc)
    }

    /// The PHC string, for storage and verification.
    pub fn as_phc(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PasswordHash(***)")
    }
}

/// A stored user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// The id, fixed for the user's life.
    pub id: UserId,
    /// Display name.
    pub name: UserName,
    /// E-mail address, unique case-insensitively.
    pub email: Email,
    /// Optional biography.
    pub bio: Option<Bio>,
    /// Hash of the current password.
    pub password_hash: PasswordHash,
    /// When the user was created; a replacement keeps it.
    pub created_at: DateTime<Utc>,
    /// When the user last changed.
    pub updated_at: DateTime<Utc>,
}

/// Everything a client gives to create or replace a user (`UserIn`), already valid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewUser {
    /// Display name.
    pub name: UserName,
    /// E-mail address.
    pub email: Email,
    /// Password in clear, hashed before it is stored.
    pub password: Password,
    /// Optional biography; absent means none.
    pub bio: Option<Bio>,
}

/// What a merge patch does to one optional member.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Patch<T> {
    /// The member was absent: leave it as it is.
    #[default]
    Keep,
    /// The member was `null`: remove the value.
    Clear,
    /// The member had a value: set it.
    Set(T),
}

/// A JSON Merge Patch (RFC 7396) of a user, already valid: absent members are `None`/`Keep`.
///
/// Name, e-mail and password cannot be cleared, so they are plain options; only the bio can.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UserPatch {
    /// New display name.
    pub name: Option<UserName>,
    /// New e-mail address.
    pub email: Option<Email>,
    /// New password, re-hashed before it is stored.
    pub password: Option<Password>,
    /// New bio, or `Clear` to remove it.
    pub bio: Patch<Bio>,
}

/// Whether a `PUT` created the user or replaced one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PutOutcome {
    /// No user had the id: one was created with it.
    Created,
    /// The user existed and was replaced.
    Replaced,
}

/// A user as a `PUT` leaves it: `existing` replaced by `input` (keeping its `created_at`), or a
/// new user with the chosen id when there was none.
pub fn put_user(
    id: UserId,
    existing: Option<&User>,
    input: NewUser,
    password_hash: PasswordHash,
    now: DateTime<Utc>,
) -> (User, PutOutcome) {
    let (created_at, outcome) = match existing {
        Some(user) => (user.created_at, PutOutcome::Replaced),
        None => (now, PutOutcome::Created),
    };
    let user = User {
        id,
        name: input.name,
        email: input.email,
        bio: input.bio,
        password_hash,
        created_at,
        updated_at: now,
    };
    (user, outcome)
}

impl UserPatch {
    /// Whether applying the patch needs a new password hash.
    pub fn changes_password(&self) -> bool {
        self.password.is_some()
    }

    /// The user after this patch. `password_hash` is the hash of the patch's new password, when
    /// it has one. `updated_at` moves only when something changed.
    pub fn apply(
        self,
        user: &User,
        password_hash: Option<PasswordHash>,
        now: DateTime<Utc>,
    ) -> User {
        let mut next = user.clone();
        if let Some(name) = self.name {
            next.name = name;
        }
        if let Some(email) = self.email {
            next.email = email;
        }
        match self.bio {
            Patch::Keep => {}
            Patch::Clear => next.bio = None,
            Patch::Set(bio) => next.bio = Some(bio),
        }
        let password_changed = password_hash.is_some();
        if let Some(hash) = password_hash {
            next.password_hash = hash;
        }
        if password_changed || next != *user {
            next.updated_at = now;
        }
        next
    }
}

/// A change to one user, decided from what storage holds at the moment of the write.
///
/// Storage runs it inside the transaction that writes its result, so two concurrent changes to
/// the same user never overwrite each other's reads.
pub type UserEdit = Box<dyn FnOnce(Option<&User>) -> Result<User> + Send>;

/// Where users are stored.
#[async_trait]
pub trait UserRepository: Send + Sync {
    /// Stores a new user under the next free id.
    ///
    /// Fails with [`Error::EmailTaken`] when the e-mail key is in use.
    async fn insert(&self, user: NewUserRecord) -> Result<User>;

    /// The user with `id`, if any.
    async fn get(&self, id: UserId) -> Result<Option<User>>;

    /// Up to `limit` users with ids after `after`, by ascending id.
    async fn list(&self, after: Option<UserId>, limit: usize) -> Result<Vec<User>>;

    /// Reads the user with `id` (or none), applies `edit` and writes its result, atomically:
    /// an insert when there was no user, an update otherwise.
    ///
    /// Fails with whatever `edit` fails with, or [`Error::EmailTaken`].
    async fn upsert(&self, id: UserId, edit: UserEdit) -> Result<(User, PutOutcome)>;

    /// Deletes the user with `id`; [`Error::UserNotFound`] when there is none.
    async fn delete(&self, id: UserId) -> Result<()>;
}

/// A user to be stored under an id storage assigns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewUserRecord {
    /// Display name.
    pub name: UserName,
    /// E-mail address.
    pub email: Email,
    /// Optional biography.
    pub bio: Option<Bio>,
    /// Hash of the password.
    pub password_hash: PasswordHash,
    /// Creation time, also the first `updated_at`.
    pub created_at: DateTime<Utc>,
}

/// Turns passwords into slow salted hashes and checks them.
#[async_trait]
pub trait PasswordHasher: Send + Sync {
    /// Hashes `password` with a fresh salt.
    async fn hash(&self, password: &Password) -> Result<PasswordHash>;

    /// Whether `password` is the one `hash` was made from.
    async fn verify(&self, password: &str, hash: &PasswordHash) -> Result<bool>;
}

/// The users use cases: validation is done (inputs are domain types); this applies the rules
/// and calls the ports.
#[derive(Clone)]
pub struct UserService {
    repo: Arc<dyn UserRepository>,
    hasher: Arc<dyn PasswordHasher>,
}

impl UserService {
    /// A service over `repo`, hashing with `hasher`.
    pub fn new(repo: Arc<dyn UserRepository>, hasher: Arc<dyn PasswordHasher>) -> Self {
        Self { repo, hasher }
    }

    /// Creates a user under a new id.
    pub async fn create(&self, input: NewUser) -> Result<User> {
        let password_hash = self.hasher.hash(&input.password).await?;
        let record = NewUserRecord {
            name: input.name,
            email: input.email,
            bio: input.bio,
            password_hash,
            created_at: now(),
        };
        self.repo.insert(record).await
    }

    /// The user with `id`.
    pub async fn get(&self, id: UserId) -> Result<User> {
        self.repo.get(id).await?.ok_or(Error::UserNotFound(id))
    }

    /// One page of users by ascending id.
    pub async fn list(&self, page: PageRequest<UserId>) -> Result<Page<User, UserId>> {
        let fetched = self.repo.list(page.after, page.limit.get() + 1).await?;
        Ok(Page::from_overfetch(fetched, page.limit, |user| user.id))
    }

    /// Replaces the user with `id`, or creates it with that id.
    pub async fn put(&self, id: UserId, input: NewUser) -> Result<(User, PutOutcome)> {
        // Hash outside the storage transaction: it is the slow part and needs no lock.
        let password_hash = self.hasher.hash(&input.password).await?;
        let now = now();
        let edit: UserEdit =
            Box::new(move |existing| Ok(put_user(id, existing, input, password_hash, now).0));
        self.repo.upsert(id, edit).await
    }

    /// Applies a merge patch to the user with `id`.
    pub async fn patch(&self, id: UserId, patch: UserPatch) -> Result<User> {
        let password_hash = match &patch.password {
            Some(password) => Some(self.hasher.hash(password).await?),
            None => None,
        };
        let now = now();
        let edit: UserEdit = Box::new(move |existing| {
            let user = existing.ok_or(Error::UserNotFound(id))?;
            Ok(patch.apply(user, password_hash, now))
        });
        Ok(self.repo.upsert(id, edit).await?.0)
    }

    /// Deletes the user with `id`.
    pub async fn delete(&self, id: UserId) -> Result<()> {
        self.repo.delete(id).await
    }
}

/// The current time at the precision every backend stores (microseconds), so that a value
/// read back equals the value written.
fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

#[cfg(test)]
mod tests;
