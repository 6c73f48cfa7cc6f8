//! The service binary: `app` serves the API; `app openapi` prints the OpenAPI document.

use app::Settings;
use clap::{Parser, Subcommand};
use std::io::{IsTerminal, Write};
use tracing_subscriber::EnvFilter;

// Most requests allocate and free a few dozen small objects across threads; mimalloc's
// per-thread free lists make that a fraction of glibc malloc's cost (see BENCHMARKS.md), and
// return freed memory to the system where glibc keeps its arenas.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// A JSON API for users, served over HTTP.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    settings: Settings,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Serve the API (the default).
    Serve,
    /// Print the OpenAPI document (YAML) that the service serves at /openapi.yaml, or with
    /// `--openapi-version 3.1` the one at /openapi-3.1.yaml.
    Openapi {
        /// The OpenAPI version of the document: 3.0 (what every supported generator reads) or
        /// 3.1.
        #[arg(long, value_enum, default_value = "3.0")]
        openapi_version: OpenapiVersion,
    },
}

/// The OpenAPI versions the service describes itself in.
#[derive(clap::ValueEnum, Clone, Copy, Debug)]
enum OpenapiVersion {
    #[value(name = "3.0")]
    V3_0,
    #[value(name = "3.1")]
    V3_1,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if let Some(Command::Openapi { openapi_version }) = cli.command {
        let document = match openapi_version {
            OpenapiVersion::V3_0 => api::spec_yaml(),
            OpenapiVersion::V3_1 => api::spec_yaml_3_1(),
        };
        std::io::stdout().write_all(document.as_bytes())?;
        return Ok(());
    }
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    // Panics are answered with a bare 500; their message goes to the log, in the request's span.
    std::panic::set_hook(Box::new(|info| {
        tracing::error!(panic = %info, "panic");
    }));
    // Every connection is a file: followed streams hold thousands at once. Raise the soft limit
    // to the hard one, as a server should, rather than refuse connections at 1024.
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(files) => tracing::debug!(files, "open files allowed"),
        Err(err) => tracing::warn!(error = %err, "cannot raise the open files limit"),
    }
    let running = app::start(&cli.settings, shutdown_signal()).await?;
    tracing::info!(addr = %running.addr, "listening");
    running.stopped.await??;
    tracing::info!("stopped");
    Ok(())
}

/// Resolves on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(err) => {
                tracing::error!(error = %err, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = interrupt => {},
        () = terminate => {},
    }
    tracing::info!("shutting down: draining in-flight requests");
}
