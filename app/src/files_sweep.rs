//! The sweeper of file blobs: every instance removes, now and then, the blobs no file points at
//! ([`FileService::sweep`], safe in any number of instances at once).

use domain::files::FileService;
use std::time::Duration;
use tokio::sync::watch;

/// Sweeps at start-up and then every `every`, leaving uploads younger than `grace` alone,
/// until `stopping` turns true. A sweep that fails (the store or the database does not
/// answer) is tried again at the next turn.
pub async fn run(
    files: FileService,
    grace: Duration,
    every: Duration,
    mut stopping: watch::Receiver<bool>,
) {
    let mut turns = tokio::time::interval(every);
    turns.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = turns.tick() => match files.sweep(grace).await {
                Ok(0) => {}
                Ok(removed) => tracing::info!(removed, "swept blobs no file points at"),
                Err(err) => tracing::warn!(error = %err, "cannot sweep the file blobs; trying again later"),
            },
            _ = stopping.changed() => return,
        }
    }
}
