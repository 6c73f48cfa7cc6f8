//! Authentication on the wire: the bearer security scheme every protected operation declares,
//! and `POST /auth/tokens`, which exchanges an e-mail address and password for a token.
//!
//! Protected operations take [`BearerAuth`] as their first argument, so a request without a
//! valid token is refused (401) before its parameters or body are even read.

use crate::state::State;
use crate::{
    body::{JsonBody, Members, RequestModel},
    errors::problem_for,
    responses,
    responses::reply,
    tags::Tag,
};
use domain::{
    Violation,
    auth::{AuthService, IssuedToken},
    principal::Principal,
};
use poem::{IntoResponse, Request};
use poem_openapi::{Object, OpenApi, SecurityScheme, auth::Bearer, payload::Json};

/// A bearer token from `POST /auth/tokens`: `Authorization: Bearer <token>`.
#[derive(SecurityScheme)]
#[oai(ty = "bearer", bearer_format = "JWT", checker = "authenticate")]
pub struct BearerAuth(pub Principal);

async fn authenticate(req: &Request, bearer: Bearer) -> poem::Result<Principal> {
    let instance = req.uri().path();
    let Some(auth) = crate::state::state_of::<AuthService>(req) else {
        tracing::error!("no AuthService in the request data");
        return Err(poem::Error::from_response(
            problem_for(domain::Error::internal("auth is not wired"), instance).into_response(),
        ));
    };
    auth.authenticate(&bearer.token)
        .await
        .map_err(|err| poem::Error::from_response(problem_for(err, instance).into_response()))
}

/// The address the request came from, as the edge decided it: the connection's peer, or
/// behind a trusted proxy the client it forwarded for.
fn client(req: &Request) -> Option<std::net::IpAddr> {
    req.data::<crate::client_addr::ClientAddr>()
        .map(|client| client.0)
}

/// The auth operations.
#[derive(Default)]
pub struct AuthApi;

/// Credentials to exchange for a token.
#[derive(Object, Debug)]
pub struct TokenIn {
    /// The user's e-mail address (any case).
    #[oai(validator(max_length = 254))]
    email: String,
    /// The user's password.
    #[oai(validator(max_length = 128))]
    password: String,
}

/// What [`TokenIn`] becomes: the address and password as sent, bounded in length so that
/// checking them costs a bounded amount of work.
pub struct LoginAttempt {
    email: String,
    password: String,
}

fn bounded(max: usize) -> impl Fn(&str) -> Result<String, Violation> {
    move |value| Violation::check_text(value, 0, max).map(|()| value.to_owned())
}

impl RequestModel for TokenIn {
    type Parsed = LoginAttempt;

    fn read(members: &mut Members<'_>) -> Option<LoginAttempt> {
        let email = members.required("email", bounded(254));
        let password = members.required("password", bounded(128));
        Some(LoginAttempt {
            email: email?,
            password: password?,
        })
    }
}

/// An access token.
#[derive(Object, Debug)]
pub struct TokenOut {
    /// The token, to send as `Authorization: Bearer <token>`.
    access_token: String,
    /// Always `Bearer`.
    token_type: String,
    /// Seconds until the token expires.
    expires_in: u64,
}

impl From<IssuedToken> for TokenOut {
    fn from(token: IssuedToken) -> Self {
        Self {
            access_token: token.access_token,
            token_type: "Bearer".to_owned(),
            expires_in: token.expires_in,
        }
    }
}

responses! {
    /// Responses of `POST /auth/tokens`.
    pub enum TokensCreate {
        /// A token for the user; it must not be cached (`Cache-Control: no-store`).
        #[oai(status = 201)]
        Created(Json<TokenOut>, #[oai(header = "Cache-Control")] String),
    }
    stores;
    problems {
        #[oai(header(name = "WWW-Authenticate", ty = "String"))]
        401 Unauthorized: "The e-mail address or the password is wrong (the answer does not say which).",
        422 Unprocessable: "`email` or `password` is missing or too long; `errors` names each.",
        #[oai(header(name = "Retry-After", ty = "u64"))]
        #[oai(header(name = "RateLimit-Policy", ty = "String", description = "Every login limit in force (draft-ietf-httpapi-ratelimit-headers): `\"email\";q=20;w=300, \"client\";q=200;w=300` allows 20 failures per address and 200 per client within 300 seconds."))]
        #[oai(header(name = "RateLimit", ty = "String", description = "The limit that refused, with none remaining and the seconds until one more attempt: `\"email\";r=0;t=15`."))]
        429 TooManyRequests: "Too many failed attempts for this address or from this client; `Retry-After` says how many seconds to wait, `RateLimit-Policy` and `RateLimit` which limit refused.",
        406 NotAcceptable: "`Accept` takes none of the media types this operation answers with (errors are problems whatever it says).",
        #[oai(header(name = "Retry-After", ty = "u64"))]
        503 ServiceUnavailable: "The database does not answer; or more requests are in flight than the service takes at once (type `overloaded`). `Retry-After` says when to retry.",
    }
    json_body("The body is not sent as `application/json`.");
}

#[OpenApi(tag = "Tag::Auth")]
impl AuthApi {
    /// Get an access token
    ///
    /// Exchanges an e-mail address and password for a bearer token that expires after
    /// `expires_in` seconds. A wrong address and a wrong password get the same 401, after the
    /// same work. A token stops working when its user is deleted or changes password. Failed
    /// attempts are limited per address and per client; past the limit the answer is 429 with
    /// `Retry-After`, before the password is checked.
    #[oai(path = "/auth/tokens", method = "post", operation_id = "tokens_create")]
    async fn create(
        &self,
        req: &Request,
        auth: State<'_, AuthService>,
        body: JsonBody<TokenIn>,
    ) -> TokensCreate {
        let attempt = body.0;
        reply(
            req,
            auth.login(&attempt.email, &attempt.password, client(req))
                .await,
            |token| TokensCreate::Created(Json(token.into()), "no-store".to_owned()),
        )
    }
}

#[cfg(test)]
mod tests;
