//! The service: settings, wiring of storage into the domain and the HTTP layer, migrations at
//! start-up, and a server that drains in-flight requests on shutdown.
//!
//! `main.rs` parses the command line and calls [`start`]; the end-to-end tests call the same
//! [`start`], so they exercise exactly the router the binary serves.

pub mod settings;

use anyhow::Context;
use domain::{
    Email,
    auth::AuthService,
    users::{Password, UserService},
};
use persistence::{Argon2Hasher, Database, DatabaseSettings, HmacTokens, SqlUserRepository};
use poem::{
    Server,
    listener::{Acceptor, Listener, TcpListener},
};
pub use settings::Settings;
use std::{future::Future, net::SocketAddr, sync::Arc, time::Duration};
use tokio::task::JoinHandle;

/// A started service.
pub struct Running {
    /// The address it listens on.
    pub addr: SocketAddr,
    /// Resolves when the server has stopped (after draining) and the pool is closed.
    pub stopped: JoinHandle<anyhow::Result<()>>,
}

/// Connects to the database, applies migrations and wires the services.
pub async fn services(settings: &Settings) -> anyhow::Result<(api::Services, Database)> {
    let db = Database::connect(&DatabaseSettings {
        url: settings.database_url(),
        max_connections: settings.database_pool_size,
    })
    .await
    .context("connecting to the database")?;
    db.migrate().await.context("applying migrations")?;
    let repo = Arc::new(SqlUserRepository::new(
        db.clone(),
        Duration::from_secs(settings.auth_cache_seconds),
    ));
    let hasher = Arc::new(Argon2Hasher::new(settings.hash_concurrency()));
    let key = HmacTokens::load_or_create_key(settings.token_key.as_deref(), &settings.data_dir)?;
    let tokens = Arc::new(HmacTokens::new(
        key,
        Duration::from_secs(settings.token_ttl_seconds),
    )?);
    let users = UserService::new(repo.clone(), hasher.clone());
    let auth = AuthService::new(repo, hasher, tokens).await?;
    bootstrap_admin(settings, &users).await?;
    let services = api::Services {
        users,
        auth,
        readiness: Arc::new(db.clone()),
    };
    Ok((services, db))
}

/// Creates the admin named by `ADMIN_EMAIL` and `ADMIN_PASSWORD`, or makes the existing user
/// with that address an admin. Without the settings there is no admin: no default password.
async fn bootstrap_admin(settings: &Settings, users: &UserService) -> anyhow::Result<()> {
    let (Some(email), Some(password)) = (&settings.admin_email, &settings.admin_password) else {
        return Ok(());
    };
    let email = Email::parse(email).map_err(|v| anyhow::anyhow!("ADMIN_EMAIL {}", v.message))?;
    let password =
        Password::parse(password).map_err(|v| anyhow::anyhow!("ADMIN_PASSWORD {}", v.message))?;
    let admin = users
        .ensure_admin(email, password)
        .await
        .context("creating the admin")?;
    tracing::info!(id = %admin.id, "admin ready");
    Ok(())
}

/// Starts the service on `settings.bind`; it stops, draining in-flight requests for up to the
/// grace period, once `shutdown` resolves.
pub async fn start(
    settings: &Settings,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<Running> {
    let (services, db) = services(settings).await?;
    let app = api::app(
        services,
        &api::Settings {
            body_limit: settings.max_body_bytes,
        },
    );
    let acceptor = TcpListener::bind(settings.bind.clone())
        .into_acceptor()
        .await
        .with_context(|| format!("binding {}", settings.bind))?;
    let addr = acceptor
        .local_addr()
        .first()
        .and_then(|addr| addr.as_socket_addr().copied())
        .context("the listener has no socket address")?;
    let grace = Duration::from_secs(settings.shutdown_grace_seconds);
    let stopped = tokio::spawn(async move {
        Server::new_with_acceptor(acceptor)
            .run_with_graceful_shutdown(app, shutdown, Some(grace))
            .await
            .context("serving")?;
        db.close().await.context("closing the database")?;
        Ok(())
    });
    Ok(Running { addr, stopped })
}
