//! The service: settings, wiring of storage into the domain and the HTTP layer, migrations at
//! start-up, and a server that drains in-flight requests on shutdown.
//!
//! `main.rs` parses the command line and calls [`start`]; the end-to-end tests call the same
//! [`start`], so they exercise exactly the router the binary serves.

pub mod settings;

use anyhow::Context;
use domain::users::UserService;
use persistence::{Argon2Hasher, Database, DatabaseSettings, SqlUserRepository};
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
    let users = UserService::new(
        Arc::new(SqlUserRepository::new(db.clone())),
        Arc::new(Argon2Hasher::new(settings.hash_concurrency())),
    );
    let services = api::Services {
        users,
        readiness: Arc::new(db.clone()),
    };
    Ok((services, db))
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
