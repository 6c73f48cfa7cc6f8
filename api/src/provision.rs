//! The services every operation takes, given to each request in one piece.
//!
//! A `Data` per service cost each request a boxed extension per service, a reference count
//! touched on `Arc`s that every core shares, and an extension map grown several times over: a
//! few percent of `GET /users/{id}`. Each request now carries one `Arc<Provision>`, and an
//! operation names what it takes as [`Uses<T>`], which picks `T` out of it.

use crate::followers::Followers;
use domain::{
    accounts::AccountService,
    auth::{AuthService, TokenCodec},
    files::FileService,
    health::Readiness,
    notifications::{NotificationService, OutboxSignal},
    storage::Storage,
    throttle::ThrottlePolicy,
    users::{PasswordHasher, UserService},
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
    /// Whether the database answers.
    pub readiness: Arc<dyn Readiness>,
}

impl Services {
    /// The services over `storage`: passwords hashed by `hasher`, tokens made by `tokens`,
    /// failed logins limited by `throttle`, the delivery worker woken through `signal`, and user
    /// writes without `If-Match` refused when `require_if_match`.
    pub async fn over(
        storage: &Storage,
        hasher: Arc<dyn PasswordHasher>,
        tokens: Arc<dyn TokenCodec>,
        throttle: ThrottlePolicy,
        signal: Arc<dyn OutboxSignal>,
        require_if_match: bool,
    ) -> domain::Result<Self> {
        let users = UserService::new(storage.users.clone(), hasher.clone())
            .requiring_conditional_writes(require_if_match);
        let auth = AuthService::new(
            storage.users.clone(),
            hasher,
            tokens,
            throttle,
            storage.login_limits.clone(),
        )
        .await?;
        Ok(Self {
            users,
            auth,
            accounts: AccountService::new(
                storage.accounts.clone(),
                storage.idempotency.clone(),
                storage.changes.clone(),
            ),
            notifications: NotificationService::new(
                storage.outbox.clone(),
                signal,
                storage.changes.clone(),
            ),
            files: FileService::new(storage.files.clone(), storage.blobs.clone()),
            readiness: storage.readiness.clone(),
        })
    }
}

/// Everything the operations take from the wiring.
pub struct Provision {
    /// The domain services.
    pub services: Services,
    /// The streams' followers and their cap.
    pub followers: Arc<Followers>,
}

/// A part of the [`Provision`] an operation can take.
pub trait Pick: Send + Sync {
    /// This part of `provision`.
    fn pick(provision: &Provision) -> &Self;
}

macro_rules! pick {
    ($($ty:ty => |$p:ident| $picked:expr;)*) => {
        $(impl Pick for $ty {
            fn pick($p: &Provision) -> &Self {
                $picked
            }
        })*
    };
}

pick! {
    UserService => |p| &p.services.users;
    AuthService => |p| &p.services.auth;
    AccountService => |p| &p.services.accounts;
    NotificationService => |p| &p.services.notifications;
    FileService => |p| &p.services.files;
    dyn Readiness => |p| &*p.services.readiness;
    Arc<Followers> => |p| &p.followers;
}

/// The part `T` of the request's provision, for an operation's parameter list.
pub struct Uses<'a, T: ?Sized>(pub &'a T);

impl<T: ?Sized> Deref for Uses<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        self.0
    }
}

/// The part `T` of the provision `req` carries (every request through the router does).
pub fn provided<T: Pick + ?Sized>(req: &Request) -> Option<&T> {
    req.data::<Arc<Provision>>()
        .map(|provision| T::pick(provision))
}

// An extractor of poem-openapi's own rather than a poem `FromRequest`: poem-openapi boxes the
// future of every poem extractor, an allocation per parameter per request.
impl<'a, T: Pick + ?Sized> ApiExtractor<'a> for Uses<'a, T> {
    const TYPES: &'static [ApiExtractorType] = &[ApiExtractorType::PoemExtractor];
    type ParamType = ();
    type ParamRawType = ();

    async fn from_request(
        request: &'a Request,
        _body: &mut RequestBody,
        _param_opts: ExtractParamOptions<()>,
    ) -> poem::Result<Self> {
        provided(request).map(Uses).ok_or_else(|| {
            poem::Error::from_string(
                "the request was not given the services",
                StatusCode::INTERNAL_SERVER_ERROR,
            )
        })
    }
}

/// Gives every request the [`Provision`]: one layer and one extension.
pub(crate) struct Provide(pub(crate) Arc<Provision>);

impl<E: Endpoint> poem::Middleware<E> for Provide {
    type Output = Provided<E>;

    fn transform(&self, inner: E) -> Provided<E> {
        Provided {
            inner,
            provision: self.0.clone(),
        }
    }
}

/// The endpoint [`Provide`] wraps.
pub(crate) struct Provided<E> {
    inner: E,
    provision: Arc<Provision>,
}

impl<E: Endpoint> Endpoint for Provided<E> {
    type Output = E::Output;

    async fn call(&self, mut req: Request) -> poem::Result<E::Output> {
        req.extensions_mut().insert(self.provision.clone());
        self.inner.call(req).await
    }
}
