//! The users resource: `/users` and `/users/{id}`.
//!
//! Operations are thin: they turn the request into domain values (bodies through
//! [`JsonBody`], parameters through [`crate::params`]), call [`UserService`] and map the outcome
//! to one variant of the operation's response enum.

use crate::state::State;
use crate::{
    auth::BearerAuth,
    body::{JsonBody, Members, RequestModel},
    conditional,
    json_out::JsonOut,
    json_types::{Nullable, Timestamp},
    paging::{next_page, requested},
    params::{Id, IdCursor, LimitParam, PutUserId},
    responses,
    responses::reply,
    tags::Tag,
};
use domain::{
    Email,
    precondition::Precondition,
    users::{Bio, NewUser, Password, PutOutcome, User, UserId, UserName, UserPatch, UserService},
};
use poem::Request;
use poem_openapi::{
    Object, OpenApi,
    param::{Header, Path, Query},
    payload::Json,
    types,
};

/// The users operations.
#[derive(Default)]
pub struct UsersApi;

/// A user as the API shows it. It never holds a password or its hash.
// Written by serde on the hot path (`JsonOut`); a test holds that writing equal to poem-openapi's.
#[derive(Object, Debug, serde::Serialize)]
pub struct UserOut {
    /// The user's id.
    id: i64,
    /// Display name.
    name: String,
    /// E-mail address, as the user gave it.
    email: String,
    /// Free-text biography, or null.
    #[oai(nullable)]
    bio: Nullable<String>,
    /// When the user was created.
    created_at: Timestamp,
    /// When the user last changed.
    updated_at: Timestamp,
}

impl From<&User> for UserOut {
    fn from(user: &User) -> Self {
        Self {
            id: user.id.get(),
            name: user.name.as_str().to_owned(),
            email: user.email.as_str().to_owned(),
            bio: Nullable(user.bio.as_ref().map(|bio| bio.as_str().to_owned())),
            created_at: Timestamp(user.created_at),
            updated_at: Timestamp(user.updated_at),
        }
    }
}

/// A page of users, by ascending id.
#[derive(Object, Debug)]
pub struct UserPage {
    /// The users of this page.
    items: Vec<UserOut>,
    /// The `cursor` of the next page, or null on the last page.
    #[oai(nullable)]
    next_cursor: Nullable<String>,
}

/// A user as a client creates or replaces it.
#[derive(Object, Debug)]
pub struct UserIn {
    /// Display name, 1 to 100 characters.
    #[oai(validator(min_length = 1, max_length = 100))]
    name: String,
    /// E-mail address, at most 254 characters, unique case-insensitively.
    #[oai(validator(max_length = 254))]
    email: types::Email,
    /// Password, 8 to 128 characters. Stored only as an Argon2id hash, never shown.
    #[oai(validator(min_length = 8, max_length = 128))]
    password: types::Password,
    /// Free-text biography, at most 2000 characters; absent or null means none.
    #[oai(validator(max_length = 2000), nullable)]
    bio: Option<String>,
}

impl RequestModel for UserIn {
    type Parsed = NewUser;

    fn read(members: &mut Members<'_>) -> Option<NewUser> {
        let name = members.required("name", UserName::parse);
        let email = members.required("email", Email::parse);
        let password = members.required("password", Password::parse);
        let bio = members.optional("bio", Bio::parse);
        Some(NewUser {
            name: name?,
            email: email?,
            password: password?,
            bio: bio?,
        })
    }
}

/// A JSON Merge Patch (RFC 7396) of a user: absent members stay as they are, `"bio": null`
/// removes the bio; name, e-mail and password cannot be null.
#[derive(Object, Debug)]
pub struct UserPatchIn {
    /// New display name, 1 to 100 characters.
    #[oai(validator(min_length = 1, max_length = 100))]
    name: Option<String>,
    /// New e-mail address, unique case-insensitively.
    #[oai(validator(max_length = 254))]
    email: Option<types::Email>,
    /// New password, 8 to 128 characters; re-hashed.
    #[oai(validator(min_length = 8, max_length = 128))]
    password: Option<types::Password>,
    /// New biography, or null to remove it.
    #[oai(validator(max_length = 2000), nullable)]
    bio: Option<String>,
}

impl RequestModel for UserPatchIn {
    const MEDIA_TYPES: &'static [&'static str] =
        &["application/merge-patch+json", "application/json"];
    const BODY_DESCRIPTION: Option<&'static str> = Some(
        "A JSON Merge Patch (RFC 7396), sent as `application/merge-patch+json` or as \
         `application/json`: both are taken, with the same meaning.",
    );

    type Parsed = UserPatch;

    fn read(members: &mut Members<'_>) -> Option<UserPatch> {
        let name = members.replace("name", UserName::parse);
        let email = members.replace("email", Email::parse);
        let password = members.replace("password", Password::parse);
        let bio = members.patch("bio", Bio::parse);
        Some(UserPatch {
            name: name?,
            email: email?,
            password: password?,
            bio: bio?,
        })
    }
}

responses! {
    /// Responses of `POST /users`.
    pub enum UsersCreate {
        /// The user was created; `Location` is its URL.
        #[oai(status = 201)]
        Created(Json<UserOut>, #[oai(header = "Location")] String),
    }
    stores;
    problems {
        409 Conflict: "The e-mail address is taken by another user.",
        422 Unprocessable: "A member of the body is missing or invalid; `errors` names each.",
        406 NotAcceptable: "`Accept` takes none of the media types this operation answers with (errors are problems whatever it says).",
        #[oai(header(name = "Retry-After", ty = "u64"))]
        503 ServiceUnavailable: "The database does not answer; or more requests are in flight than the service takes at once (type `overloaded`). `Retry-After` says when to retry.",
    }
    json_body("The body is not sent as `application/json`.");
}

responses! {
    /// Responses of `GET /users`.
    pub enum UsersList {
        /// A page of users by ascending id; `Link` names the next page when there is one.
        #[oai(status = 200)]
        Ok(Json<UserPage>, #[oai(header = "Link")] Option<String>),
    }
    guarded("Only an admin may list users.");
    problems {
        422 Unprocessable: "`limit` is not in 1..=100 or `cursor` is not one this service issued.",
    }
}

responses! {
    /// Responses of `GET /users/{id}`.
    pub enum UsersGet {
        /// The user.
        #[oai(status = 200)]
        Ok(JsonOut<UserOut>),
    }
    guarded("The user is someone else and the caller is not an admin.");
    problems {
        404 NotFound: "No user has this id.",
        422 Unprocessable: "The id is not a positive 64-bit integer.",
    }
}

responses! {
    /// Responses of `PUT /users/{id}`.
    pub enum UsersReplace {
        /// The user was replaced.
        #[oai(status = 200)]
        Replaced(Json<UserOut>),
        /// No user had this id: one was created with it; `Location` is its URL.
        #[oai(status = 201)]
        Created(Json<UserOut>, #[oai(header = "Location")] String),
    }
    guarded("The user is someone else, or does not exist yet (creating with a chosen id), and the caller is not an admin.");
    stores;
    problems {
        409 Conflict: "The e-mail address is taken by another user, or a concurrent request changed or created this user first.",
        412 PreconditionFailed: "`If-Match` names no current `ETag` of the user (it changed, or does not exist), or `If-None-Match` names the current one (`*`: the user exists); nothing was changed.",
        422 Unprocessable: "The id or a member of the body is invalid (a new user's id is at most 2^53 - 1); `errors` names each.",
        428 PreconditionRequired: "The service is set to require conditional writes to users, and the request has neither `If-Match` nor `If-None-Match`.",
    }
    json_body("The body is not sent as `application/json`.");
}

responses! {
    /// Responses of `PATCH /users/{id}`.
    pub enum UsersPatch {
        /// The user after the patch.
        #[oai(status = 200)]
        Ok(Json<UserOut>),
    }
    guarded("The user is someone else and the caller is not an admin.");
    stores;
    problems {
        404 NotFound: "No user has this id.",
        409 Conflict: "The e-mail address is taken by another user.",
        412 PreconditionFailed: "`If-Match` names no current `ETag` of the user (it changed since, or does not exist); nothing was changed.",
        422 Unprocessable: "The id or a member of the patch is invalid (`name`, `email` and `password` cannot be null).",
        428 PreconditionRequired: "The service is set to require conditional writes to users, and the request has no `If-Match`.",
    }
    json_body("The body is not sent as `application/merge-patch+json` or `application/json`.");
}

responses! {
    /// Responses of `DELETE /users/{id}`.
    pub enum UsersDelete {
        /// The user was deleted.
        #[oai(status = 204)]
        Deleted,
    }
    guarded("The user is someone else and the caller is not an admin.");
    bodiless;
    stores;
    problems {
        404 NotFound: "No user has this id.",
        409 Conflict: "The user is the last admin, without whom the service would have none, or owns money (`type` tells which).",
        412 PreconditionFailed: "`If-Match` names no current `ETag` of the user (it changed since, or does not exist); nothing was deleted.",
        422 Unprocessable: "The id is not a positive 64-bit integer.",
        428 PreconditionRequired: "The service is set to require conditional writes to users, and the request has no `If-Match`.",
    }
}

fn location(user: &User) -> String {
    format!("/users/{}", user.id)
}

/// The tag of a user's representation, as the `ETag` of a GET of it carries it.
fn user_tag(user: &User) -> String {
    conditional::tag_of(&UserOut::from(user))
}

/// The precondition a write's `If-Match` and `If-None-Match` headers state about the user.
fn precondition(if_match: Option<&str>, if_none_match: Option<&str>) -> Precondition<User> {
    Precondition::new(conditional::condition(if_match, if_none_match), user_tag)
}

#[OpenApi(tag = "Tag::Users")]
impl UsersApi {
    /// Create a user
    ///
    /// Anyone may sign up. The e-mail address must not belong to another user (compared
    /// case-insensitively); the password is stored only as an Argon2id hash.
    #[oai(path = "/users", method = "post", operation_id = "users_create")]
    async fn create(
        &self,
        req: &Request,
        users: State<'_, UserService>,
        body: JsonBody<UserIn>,
    ) -> UsersCreate {
        reply(req, users.create(body.0).await, |user| {
            UsersCreate::Created(Json(UserOut::from(&user)), location(&user))
        })
    }

    /// List users
    ///
    /// For admins. Users by ascending id, a page at a time: pass `next_cursor` (or follow `Link`) to get
    /// the next page.
    #[oai(path = "/users", method = "get", operation_id = "users_list")]
    async fn list(
        &self,
        auth: BearerAuth,
        req: &Request,
        users: State<'_, UserService>,
        /// Most users in the page, 1 to 100.
        #[oai(default = "LimitParam::default_value")]
        limit: Query<LimitParam>,
        /// `next_cursor` of the previous page; absent for the first page.
        cursor: Query<Option<IdCursor<UserId>>>,
    ) -> UsersList {
        let limit = limit.0.0;
        let page = requested(limit, cursor.0);
        reply(req, users.list(&auth.0, page).await, |page| {
            let next_after = page.next_after.map(UserId::get);
            let (next_cursor, link) = next_page(req, limit, next_after);
            let items = page.items.iter().map(UserOut::from).collect();
            let next_cursor = Nullable(next_cursor);
            UsersList::Ok(Json(UserPage { items, next_cursor }), link)
        })
    }

    /// Get a user
    ///
    /// The caller's own user; an admin may get anyone.
    #[oai(path = "/users/:id", method = "get", operation_id = "users_get")]
    async fn get(
        &self,
        auth: BearerAuth,
        req: &Request,
        users: State<'_, UserService>,
        /// The user's id.
        id: Path<Id<UserId>>,
    ) -> UsersGet {
        reply(req, users.get(&auth.0, id.0.0).await, |user| {
            UsersGet::Ok(JsonOut(UserOut::from(&user)))
        })
    }

    /// Replace or create a user
    ///
    /// Replaces the user with this id (a missing `bio` clears it; `created_at` is kept), or
    /// creates one with this id when there is none (admins only). A user may replace only
    /// themselves. A new password ends the tokens issued before it; repeating the current one
    /// keeps them.
    #[oai(path = "/users/:id", method = "put", operation_id = "users_replace")]
    // poem-openapi documents each parameter from its own argument; these are the headers.
    #[allow(clippy::too_many_arguments)]
    async fn replace(
        &self,
        auth: BearerAuth,
        req: &Request,
        users: State<'_, UserService>,
        /// The user's id.
        id: Path<PutUserId>,
        /// Replace only while the user has one of these `ETag`s (`*`: while it exists).
        #[oai(name = "If-Match")]
        if_match: Header<Option<String>>,
        /// `*`: create only, never replace an existing user.
        #[oai(name = "If-None-Match")]
        if_none_match: Header<Option<String>>,
        body: JsonBody<UserIn>,
    ) -> UsersReplace {
        let precondition = precondition(if_match.0.as_deref(), if_none_match.0.as_deref());
        reply(
            req,
            users.put(&auth.0, id.0.0, body.0, precondition).await,
            |(user, outcome)| {
                let out = Json(UserOut::from(&user));
                match outcome {
                    PutOutcome::Replaced => UsersReplace::Replaced(out),
                    PutOutcome::Created => UsersReplace::Created(out, location(&user)),
                }
            },
        )
    }

    /// Patch a user
    ///
    /// A JSON Merge Patch (RFC 7396): members present are set, absent ones stay, `"bio": null`
    /// removes the bio. A new password is re-hashed and ends the tokens issued before it. A user
    /// may patch only themselves; an admin anyone.
    #[oai(path = "/users/:id", method = "patch", operation_id = "users_patch")]
    async fn patch(
        &self,
        auth: BearerAuth,
        req: &Request,
        users: State<'_, UserService>,
        /// The user's id.
        id: Path<Id<UserId>>,
        /// Patch only while the user has one of these `ETag`s (`*`: while it exists).
        #[oai(name = "If-Match")]
        if_match: Header<Option<String>>,
        body: JsonBody<UserPatchIn>,
    ) -> UsersPatch {
        let precondition = precondition(if_match.0.as_deref(), None);
        reply(
            req,
            users.patch(&auth.0, id.0.0, body.0, precondition).await,
            |user| UsersPatch::Ok(Json(UserOut::from(&user))),
        )
    }

    /// Delete a user
    ///
    /// A user may delete themselves; an admin anyone but the last admin. The user's tokens stop
    /// working.
    #[oai(path = "/users/:id", method = "delete", operation_id = "users_delete")]
    async fn delete(
        &self,
        auth: BearerAuth,
        req: &Request,
        users: State<'_, UserService>,
        /// The user's id.
        id: Path<Id<UserId>>,
        /// Delete only while the user has one of these `ETag`s (`*`: while it exists).
        #[oai(name = "If-Match")]
        if_match: Header<Option<String>>,
    ) -> UsersDelete {
        let precondition = precondition(if_match.0.as_deref(), None);
        reply(
            req,
            users.delete(&auth.0, id.0.0, precondition).await,
            |()| UsersDelete::Deleted,
        )
    }
}

#[cfg(test)]
mod tests;
