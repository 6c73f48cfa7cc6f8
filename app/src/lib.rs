//! The service: settings, wiring of storage into the domain and the HTTP layer, migrations at
//! start-up, and a server that drains in-flight requests on shutdown.
//!
//! `main.rs` parses the command line and calls [`start`]; the end-to-end tests call the same
//! [`start`], and the `api` crate's tests wire through the same [`wire`], so they exercise
//! exactly the router the binary serves.

pub mod files_sweep;
pub mod mail;
pub mod metrics;
pub mod serve;
pub mod settings;
mod tasks;
#[cfg(feature = "test-support")]
pub mod testing;
mod webhook_ports;
pub mod webhook_sender;
pub mod webhook_worker;
pub mod wiring;
pub mod worker;

use anyhow::Context;
pub use settings::Settings;
use std::{future::Future, net::SocketAddr, time::Duration};
use tokio::{net::TcpListener, task::JoinHandle};
pub use wiring::{Overrides, Wired, wire};

/// A started service.
pub struct Running {
    /// The address it listens on.
    pub addr: SocketAddr,
    /// The address of the metrics listener, when `METRICS_BIND` asked for one.
    pub metrics_addr: Option<SocketAddr>,
    /// Resolves when the server has stopped (after draining) and the pool is closed.
    pub stopped: JoinHandle<anyhow::Result<()>>,
}

/// Starts the service on `settings.bind`; it stops, draining in-flight requests for up to the
/// grace period, once `shutdown` resolves.
pub async fn start(
    settings: &Settings,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<Running> {
    let sweep_grace = settings.files_sweep_grace()?;
    let wired = wiring::wire(settings, wiring::Overrides::default()).await?;
    let app = wired.endpoint();
    let limits = serve_limits(settings);
    let (listener, addr) = bind(&settings.bind, "the listener").await?;
    let metrics = match &settings.metrics_bind {
        Some(bind_to) => Some(bind(bind_to, "the metrics listener").await?),
        None => None,
    };
    let metrics_addr = metrics.as_ref().map(|(_, addr)| *addr);
    let metrics_server = metrics.map(|(listener, _)| {
        let sources = metrics::Sources {
            http: wired.http_metrics.clone(),
            db: wired.db.clone(),
            outbox: wired.outbox.clone(),
        };
        let mut stopping = wired.stop.subscribe();
        let stopped = async move {
            let _ = stopping.wait_for(|stop| *stop).await;
        };
        tokio::spawn(serve::serve(
            listener,
            metrics::app(sources),
            limits,
            stopped,
        ))
    });
    let db = wired.db.clone();
    let stop = wired.stop.clone();
    let background = tasks::Background::spawn(settings, wired, sweep_grace)?;
    let shutdown = async move {
        shutdown.await;
        // Background tasks stop with the server.
        let _ = stop.send(true);
    };
    // The order things stop in: the server drains, then the metrics listener, the background
    // tasks (the delivery worker finishing its sends within the grace) and last the pool.
    let stopped = tokio::spawn(async move {
        serve::serve(listener, app, limits, shutdown)
            .await
            .context("serving")?;
        if let Some(server) = metrics_server {
            server.await.context("stopping the metrics listener")??;
        }
        background.stopped().await?;
        db.close().await.context("closing the database")?;
        Ok(())
    });
    Ok(Running {
        addr,
        metrics_addr,
        stopped,
    })
}

/// A listener on `address`, and the address it got (a port of 0 is chosen by the system).
async fn bind(address: &str, what: &str) -> anyhow::Result<(TcpListener, SocketAddr)> {
    let listener = TcpListener::bind(address)
        .await
        .with_context(|| format!("binding {what} {address}"))?;
    let addr = listener
        .local_addr()
        .with_context(|| format!("{what} has no address"))?;
    Ok((listener, addr))
}

/// The servers' limits, from the settings.
fn serve_limits(settings: &Settings) -> serve::Limits {
    serve::Limits {
        header_timeout: Duration::from_secs(settings.header_timeout_seconds.max(1)),
        write_timeout: Duration::from_secs(settings.write_timeout_seconds.max(1)),
        max_connections: settings.max_connections,
        grace: Duration::from_secs(settings.shutdown_grace_seconds),
    }
}
