//! Users: who they are, the rules for creating, replacing and patching them, and the ports
//! storage and password hashing implement.
//!
//! Rules kept here: names have 1..=100 characters, passwords 8..=128, bios at most 2000; an
//! e-mail address belongs to one user, compared case-insensitively (storage enforces it with a
//! unique key on [`Email::key`]); a replacement (`PUT`) keeps the id and `created_at` and clears
//! what it leaves out; a merge patch changes only the members it names; a password is only ever
//! stored as a slow salted hash. Who may do what is decided by [`crate::principal::Principal`];
//! the last admin cannot be deleted.

use crate::{
    Email, Error, Page, PageRequest, Result, Violation, now, precondition::Precondition,
    principal::Principal,
};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::{fmt, sync::Arc};

pub use crate::ids::UserId;

/// The largest id an admin may give a new user: 2^53 - 1, so that ids stay exact in every
/// JSON client (JavaScript numbers), and new ids, allocated after the largest one taken, never
/// run out.
pub const MAX_CHOSEN_ID: i64 = (1 << 53) - 1;

bounded_text!(
    /// A display name of 1..=100 characters.
    UserName,
    "name",
    1..=100
);

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

bounded_text!(
    /// A free-text biography of at most 2000 characters (the empty string is a valid bio).
    Bio,
    "bio",
    0..=2000
);

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

/// A stored user; as `User<()>` ([`NewUserRecord`]), one still to be given its id by storage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User<Id = UserId> {
    /// The id, fixed for the user's life.
    pub id: Id,
    /// Display name.
    pub name: UserName,
    /// E-mail address, unique case-insensitively.
    pub email: Email,
    /// Optional biography.
    pub bio: Option<Bio>,
    /// Hash of the current password.
    pub password_hash: PasswordHash,
    /// Whether the user is an admin (set only by the start-up bootstrap, never by a request).
    pub is_admin: bool,
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

/// A user as a `PUT` leaves it: `existing` replaced by `input` (keeping its `created_at` and
/// admin flag), or a new user (not an admin) with the chosen id when there was none.
pub fn put_user(
    id: UserId,
    existing: Option<&User>,
    input: NewUser,
    password_hash: PasswordHash,
    now: DateTime<Utc>,
) -> (User, PutOutcome) {
    let (created_at, is_admin, outcome) = match existing {
        Some(user) => (user.created_at, user.is_admin, PutOutcome::Replaced),
        None => (now, false, PutOutcome::Created),
    };
    let user = User {
        id,
        name: input.name,
        email: input.email,
        bio: input.bio,
        password_hash,
        is_admin,
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

/// What storage knows, inside the deleting transaction, that decides whether a user may go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeletionFacts {
    /// The user to delete.
    pub user: User,
    /// How many admins there are besides this user.
    pub other_admins: u64,
    /// How many of the user's accounts hold money.
    pub funded_accounts: u64,
}

/// A rule deciding, from the facts (`None` when there is no such user), whether a user may be
/// deleted.
pub type DeletionRule = Box<dyn FnOnce(Option<&DeletionFacts>) -> Result<()> + Send>;

/// The rule a deletion of user `id` runs in storage: `precondition` on the user as stored, then
/// [`check_deletion`].
pub fn deletion_rule(id: UserId, precondition: Precondition<User>) -> DeletionRule {
    Box::new(move |facts| {
        precondition.check(facts.map(|facts| &facts.user))?;
        check_deletion(facts.ok_or(Error::UserNotFound(id))?)
    })
}

/// Whether a user may be deleted: never the last admin, never while an account of theirs
/// holds money (which would vanish with it). Their empty accounts go with them.
pub fn check_deletion(facts: &DeletionFacts) -> Result<()> {
    if facts.user.is_admin && facts.other_admins == 0 {
        return Err(Error::LastAdmin);
    }
    if facts.funded_accounts > 0 {
        return Err(Error::UserHasFunds);
    }
    Ok(())
}

/// The password hash a `PUT` stores.
enum PasswordChoice {
    /// The request repeated the current password, whose hash this was when checked.
    Keep(PasswordHash),
    /// The hash of the request's (new) password.
    Set(PasswordHash),
}

impl PasswordChoice {
    /// The hash to store, given the user as storage holds it at the write.
    fn resolve(self, existing: Option<&User>) -> Result<PasswordHash> {
        match (self, existing) {
            (Self::Set(hash), _) => Ok(hash),
            (Self::Keep(checked), Some(user)) if user.password_hash == checked => Ok(checked),
            // The password changed (or the user went) between the check and the write.
            (Self::Keep(_), _) => Err(Error::Conflict(
                "The user changed while this request was processed; retry it.",
            )),
        }
    }
}

/// A change to one user, decided from what storage holds at the moment of the write.
///
/// Storage runs it inside the transaction that writes its result, so two concurrent changes to
/// the same user never overwrite each other's reads.
pub type UserEdit = Box<dyn FnOnce(Option<&User>) -> Result<User> + Send>;

/// What token verification needs to know of a user now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    /// Whether the user is an admin.
    pub is_admin: bool,
    /// The current password hash.
    pub password_hash: PasswordHash,
}

/// Where users are stored.
#[async_trait]
pub trait UserRepository: Send + Sync {
    /// Stores a new user under the next free id.
    ///
    /// Fails with [`Error::EmailTaken`] when the e-mail key is in use.
    async fn insert(&self, user: NewUserRecord) -> Result<User>;

    /// The user with `id`, if any.
    async fn get(&self, id: UserId) -> Result<Option<User>>;

    /// The user with this e-mail address (compared case-insensitively), if any.
    async fn find_by_email(&self, email: &Email) -> Result<Option<User>>;

    /// The current credentials of the user with `id`, if any. Asked on every authenticated
    /// request, so implementations may cache, as long as their own writes are seen at once.
    async fn credentials(&self, id: UserId) -> Result<Option<Credentials>>;

    /// Up to `limit` users with ids after `after`, by ascending id.
    async fn list(&self, after: Option<UserId>, limit: usize) -> Result<Vec<User>>;

    /// Reads the user with `id` (or none), applies `edit` and writes its result, atomically:
    /// an insert when there was no user, an update otherwise.
    ///
    /// Fails with whatever `edit` fails with, or [`Error::EmailTaken`].
    async fn upsert(&self, id: UserId, edit: UserEdit) -> Result<(User, PutOutcome)>;

    /// Every user by ascending id, streamed: memory stays flat however many there are, and
    /// dropping the stream stops the reading.
    fn export(&self) -> UserStream;

    /// Deletes the user with `id` if `rule` allows it, judged on facts read in the deleting
    /// transaction (none when there is no such user: the rule says what that means).
    async fn delete(&self, id: UserId, rule: DeletionRule) -> Result<()>;
}

/// A user as the export lists them: stored values read back as they are (they were checked
/// when written), without the password hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportedUser {
    /// The user's id.
    pub id: i64,
    /// Display name.
    pub name: String,
    /// E-mail address.
    pub email: String,
    /// Free-text biography, if any.
    pub bio: Option<String>,
    /// When the user was created.
    pub created_at: DateTime<Utc>,
    /// When the user last changed.
    pub updated_at: DateTime<Utc>,
}

/// Users streamed from storage in id order, read as the consumer takes them.
pub type UserStream = futures_core::stream::BoxStream<'static, Result<ExportedUser>>;

/// A user to be stored under an id storage assigns.
pub type NewUserRecord = User<()>;

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
    conditional_writes: bool,
}

impl UserService {
    /// A service over `repo`, hashing with `hasher`.
    pub fn new(repo: Arc<dyn UserRepository>, hasher: Arc<dyn PasswordHasher>) -> Self {
        Self {
            repo,
            hasher,
            conditional_writes: false,
        }
    }

    /// Requires (`true`) every replacement, patch and deletion of a user to state a
    /// precondition, so that no client overwrites a change it has not seen.
    pub fn requiring_conditional_writes(mut self, required: bool) -> Self {
        self.conditional_writes = required;
        self
    }

    /// [`Error::PreconditionRequired`] when writes must be conditional and this one is not.
    fn require_condition(&self, precondition: &Precondition<User>) -> Result<()> {
        if self.conditional_writes && !precondition.is_conditional() {
            return Err(Error::PreconditionRequired);
        }
        Ok(())
    }

    /// Creates a user under a new id (anyone may sign up; never as an admin).
    pub async fn create(&self, input: NewUser) -> Result<User> {
        self.insert(input, false).await
    }

    async fn insert(&self, input: NewUser, is_admin: bool) -> Result<User> {
        let password_hash = self.hasher.hash(&input.password).await?;
        let now = now();
        let record = NewUserRecord {
            id: (),
            name: input.name,
            email: input.email,
            bio: input.bio,
            password_hash,
            is_admin,
            created_at: now,
            updated_at: now,
        };
        self.repo.insert(record).await
    }

    /// The user with `id`, for the user themselves or an admin.
    pub async fn get(&self, actor: &Principal, id: UserId) -> Result<User> {
        actor.require_self_or_admin(id)?;
        self.repo.get(id).await?.ok_or(Error::UserNotFound(id))
    }

    /// One page of users by ascending id, for admins.
    pub async fn list(
        &self,
        actor: &Principal,
        page: PageRequest<UserId>,
    ) -> Result<Page<User, UserId>> {
        actor.require_admin("Only an admin may list users.")?;
        let fetched = self.repo.list(page.after, page.limit.get() + 1).await?;
        Ok(Page::from_overfetch(fetched, page.limit, |user| user.id))
    }

    /// Replaces the user with `id` (the user themselves or an admin), or creates it with that
    /// id (an admin only).
    ///
    /// A replacement that repeats the current password keeps its hash, and so the tokens issued
    /// for it: a client replacing a profile must send the password, and should not be logged
    /// out for it. Checking costs one Argon2 run, as hashing would. `precondition` is checked
    /// against the user as stored at the write.
    pub async fn put(
        &self,
        actor: &Principal,
        id: UserId,
        input: NewUser,
        precondition: Precondition<User>,
    ) -> Result<(User, PutOutcome)> {
        actor.require_self_or_admin(id)?;
        self.require_condition(&precondition)?;
        // Hash or check outside the storage transaction: it is the slow part and needs no lock.
        let password = match self.repo.get(id).await? {
            Some(current)
                if self
                    .hasher
                    .verify(input.password.expose(), &current.password_hash)
                    .await? =>
            {
                PasswordChoice::Keep(current.password_hash)
            }
            _ => PasswordChoice::Set(self.hasher.hash(&input.password).await?),
        };
        let now = now();
        let actor = *actor;
        let edit: UserEdit = Box::new(move |existing| {
            // Refusals of the request itself come first: a precondition is only weighed for a
            // request that would otherwise succeed (RFC 9110 §13.2.1).
            if existing.is_none() {
                actor.require_admin("Only an admin may create a user with a chosen id.")?;
                if id.get() > MAX_CHOSEN_ID {
                    return Err(Error::ChosenIdTooLarge);
                }
            }
            precondition.check(existing)?;
            let password_hash = password.resolve(existing)?;
            Ok(put_user(id, existing, input, password_hash, now).0)
        });
        self.repo.upsert(id, edit).await
    }

    /// Applies a merge patch to the user with `id`, for the user themselves or an admin, when
    /// `precondition` holds of the user as stored at the write.
    pub async fn patch(
        &self,
        actor: &Principal,
        id: UserId,
        patch: UserPatch,
        precondition: Precondition<User>,
    ) -> Result<User> {
        actor.require_self_or_admin(id)?;
        self.require_condition(&precondition)?;
        let password_hash = match &patch.password {
            Some(password) => Some(self.hasher.hash(password).await?),
            None => None,
        };
        let now = now();
        let edit: UserEdit = Box::new(move |existing| {
            precondition.check(existing)?;
            let user = existing.ok_or(Error::UserNotFound(id))?;
            Ok(patch.apply(user, password_hash, now))
        });
        Ok(self.repo.upsert(id, edit).await?.0)
    }

    /// Deletes the user with `id` (and their empty accounts), for the user themselves or an
    /// admin; never the last admin, never while they own money; only when `precondition`
    /// holds of the user as stored at the deletion.
    pub async fn delete(
        &self,
        actor: &Principal,
        id: UserId,
        precondition: Precondition<User>,
    ) -> Result<()> {
        actor.require_self_or_admin(id)?;
        self.require_condition(&precondition)?;
        self.repo.delete(id, deletion_rule(id, precondition)).await
    }

    /// Every user by ascending id, streamed, for admins.
    pub fn export(&self, actor: &Principal) -> Result<UserStream> {
        actor.require_admin("Only an admin may export users.")?;
        Ok(self.repo.export())
    }

    /// Makes sure an admin with this e-mail address exists: creates one with `password`, or
    /// makes the existing user with that address an admin (keeping their password).
    pub async fn ensure_admin(&self, email: Email, password: Password) -> Result<User> {
        // Twice at most: an instance starting beside this one may create the same admin
        // between the lookup and the insert.
        for _ in 0..2 {
            if let Some(user) = self.repo.find_by_email(&email).await? {
                if user.is_admin {
                    return Ok(user);
                }
                let id = user.id;
                let edit: UserEdit = Box::new(move |existing| {
                    let mut user = existing.cloned().ok_or(Error::UserNotFound(id))?;
                    user.is_admin = true;
                    Ok(user)
                });
                return Ok(self.repo.upsert(id, edit).await?.0);
            }
            let input = NewUser {
                name: UserName::parse("Administrator").map_err(Error::internal)?,
                email: email.clone(),
                password: password.clone(),
                bio: None,
            };
            match self.insert(input, true).await {
                Err(Error::EmailTaken) => continue,
                other => return other,
            }
        }
        Err(Error::EmailTaken)
    }
}

#[cfg(test)]
mod tests;
