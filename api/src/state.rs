//! The application state (the services every operation takes), given to each request in one piece.
//!
//! A `Data` per service cost each request a boxed extension per service, a reference count
//! touched on `Arc`s that every core shares, and an extension map grown several times over: a
//! few percent of `GET /users/{id}`. Each request now carries one `Arc<AppState>`, and an
//! operation names what it takes as [`State<T>`], which picks `T` out of it.

use crate::followers::Followers;
use domain::{
    accounts::AccountService,
    auth::{AuthService, TokenCodec},
    files::FileService,
    health::Readiness,
    notifications::{NotificationService, OutboxSignal},
    repositories::Repositories,
    throttle::ThrottlePolicy,
    users::{PasswordHasher, UserService},
    webhooks::WebhookService,
};
use poem::{Endpoint, Request, RequestBody, http::StatusCode};
use poem_openapi::{ApiExtractor, ApiExtractorType, ExtractParamOptions};
use std::{ops::Deref, sync::Arc};

/// The domain services the operations call.
#[derive(Clone)]
pub struct Services {
    /// Users use cases.
    pub users: UserService,
    /// Logging in and checking tokens.
    pub auth: AuthService,
    /// Accounts and money movements.
    pub accounts: AccountService,
    /// Notifications accepted for delivery.
    pub notifications: NotificationService,
    /// Stored files.
    pub files: FileService,
    /// Webhook endpoints.
    pub webhooks: WebhookService,
    /// Whether the database answers.
    pub readiness: Arc<dyn Readiness>,
}

impl Services {
    /// The services over `repositories`: passwords hashed by `hasher`, tokens made by `tokens`,
    /// failed logins limited by `throttle`, the delivery worker woken through `signal`, and user
    /// writes without `If-Match` refused when `require_if_match`, and webhook endpoints kept by
    /// `webhooks`.
    pub async fn over(
        repositories: &Repositories,
        hasher: Arc<dyn PasswordHasher>,
        tokens: Arc<dyn TokenCodec>,
        throttle: ThrottlePolicy,
        signal: Arc<dyn OutboxSignal>,
        require_if_match: bool,
        webhooks: WebhookService,
    ) -> domain::Result<Self> {
        let users = UserService::new(repositories.users.clone(), hasher.clone())
            .requiring_conditional_writes(require_if_match);
        let auth = AuthService::new(
            repositories.users.clone(),
            hasher,
            tokens,
            throttle,
            repositories.login_limits.clone(),
        )
        .await?;
        Ok(Self {
            users,
            auth,
            accounts: AccountService::new(
                repositories.accounts.clone(),
                repositories.idempotency.clone(),
                repositories.wakeups.clone(),
            ),
            notifications: NotificationService::new(
                repositories.outbox.clone(),
                signal,
                repositories.wakeups.clone(),
            ),
            files: FileService::new(repositories.files.clone(), repositories.blobs.clone()),
            webhooks,
            readiness: repositories.readiness.clone(),
        })
    }
}

/// Everything the operations take from the wiring.
pub struct AppState {
    /// The domain services.
    pub services: Services,
    /// The streams' followers and their cap.
    pub followers: Arc<Followers>,
}

/// A part of the [`AppState`] an operation can take.
pub trait FromState: Send + Sync {
    /// This part of `state`.
    fn from_state(state: &AppState) -> &Self;
}

macro_rules! from_state {
    ($($ty:ty => |$p:ident| $picked:expr;)*) => {
        $(impl FromState for $ty {
            fn from_state($p: &AppState) -> &Self {
                $picked
            }
        })*
    };
}

from_state! {
    UserService => |p| &p.services.users;
    AuthService => |p| &p.services.auth;
    AccountService => |p| &p.services.accounts;
    NotificationService => |p| &p.services.notifications;
    FileService => |p| &p.services.files;
    WebhookService => |p| &p.services.webhooks;
    dyn Readiness => |p| &*p.services.readiness;
    Arc<Followers> => |p| &p.followers;
}

/// The part `T` of the request's state, for an operation's parameter list.
pub struct State<'a, T: ?Sized>(pub &'a T);

impl<T: ?Sized> Deref for State<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        self.0
    }
}

/// The part `T` of the state `req` carries (every request through the router does).
pub fn state_of<T: FromState + ?Sized>(req: &Request) -> Option<&T> {
    req.data::<Arc<AppState>>()
        .map(|state| T::from_state(state))
}

// An extractor of poem-openapi's own rather than a poem `FromRequest`: poem-openapi boxes the
// future of every poem extractor, an allocation per parameter per request.
impl<'a, T: FromState + ?Sized> ApiExtractor<'a> for State<'a, T> {
    const TYPES: &'static [ApiExtractorType] = &[ApiExtractorType::PoemExtractor];
    type ParamType = ();
    type ParamRawType = ();

    async fn from_request(
        request: &'a Request,
        _body: &mut RequestBody,
        _param_opts: ExtractParamOptions<()>,
    ) -> poem::Result<Self> {
        state_of(request).map(State).ok_or_else(|| {
            poem::Error::from_string(
                "the request was not given the services",
                StatusCode::INTERNAL_SERVER_ERROR,
            )
        })
    }
}

/// Gives every request the [`AppState`]: one layer and one extension.
pub(crate) struct WithState(pub(crate) Arc<AppState>);

impl<E: Endpoint> poem::Middleware<E> for WithState {
    type Output = WithStateEndpoint<E>;

    fn transform(&self, inner: E) -> WithStateEndpoint<E> {
        WithStateEndpoint {
            inner,
            state: self.0.clone(),
        }
    }
}

/// The endpoint [`WithState`] wraps.
pub(crate) struct WithStateEndpoint<E> {
    inner: E,
    state: Arc<AppState>,
}

impl<E: Endpoint> Endpoint for WithStateEndpoint<E> {
    type Output = E::Output;

    async fn call(&self, mut req: Request) -> poem::Result<E::Output> {
        req.extensions_mut().insert(self.state.clone());
        self.inner.call(req).await
    }
}
