//! `GET /metrics` in the Prometheus text format, on a listener of its own (`METRICS_BIND`), so
//! that the public API port never exposes it: request counts and latency by route template and
//! status (kept by the API's edge), database pool use and the notification queue by status.

use api::metrics::HttpMetrics;
use domain::notifications::NotificationRepository;
use persistence::Database;
use poem::{EndpointExt, IntoResponse, Response, Route, get, handler, web::Data};
use std::{fmt::Write, sync::Arc};

/// What the metrics are read from.
#[derive(Clone)]
pub struct Sources {
    /// Requests, from the API's edge.
    pub http: Arc<HttpMetrics>,
    /// The database pool.
    pub db: Database,
    /// The notifications outbox.
    pub outbox: Arc<dyn NotificationRepository>,
}

/// The metrics application: `GET /metrics` only.
pub fn app(sources: Sources) -> impl poem::Endpoint<Output = Response> {
    Route::new()
        .at("/metrics", get(metrics))
        .data(sources)
        .map_to_response()
}

#[handler]
async fn metrics(sources: Data<&Sources>) -> Response {
    let mut out = String::with_capacity(16 * 1024);
    sources.http.render(&mut out);
    let pool = sources.db.pool_stats();
    let _ = write!(
        out,
        "# HELP db_pool_connections Connections of the database pool, by state.\n\
         # TYPE db_pool_connections gauge\n\
         db_pool_connections{{state=\"in_use\"}} {}\n\
         db_pool_connections{{state=\"idle\"}} {}\n\
         # HELP db_pool_max_connections Most connections the pool opens.\n\
         # TYPE db_pool_max_connections gauge\n\
         db_pool_max_connections {}\n",
        pool.open.saturating_sub(pool.idle),
        pool.idle,
        pool.max,
    );
    let commits = sources.db.commit_stats();
    let _ = write!(
        out,
        "# HELP db_group_commits_total SQLite commits that carried writes (each one sync of the \
         WAL with --durability full).\n\
         # TYPE db_group_commits_total counter\n\
         db_group_commits_total {}\n\
         # HELP db_group_committed_writes_total Writes those commits carried; divided by the \
         commits, the mean batch.\n\
         # TYPE db_group_committed_writes_total counter\n\
         db_group_committed_writes_total {}\n",
        commits.commits, commits.writes,
    );
    match sources.outbox.count_by_status().await {
        Ok(counts) => {
            out.push_str(
                "# HELP notifications Notifications in the outbox, by status.\n\
                 # TYPE notifications gauge\n",
            );
            for (status, count) in counts {
                let _ = writeln!(
                    out,
                    "notifications{{status=\"{}\"}} {count}",
                    status.as_str()
                );
            }
        }
        Err(err) => {
            // The other metrics are still worth having; the gap in this one says enough.
            tracing::warn!(error = %err, "cannot count notifications for the metrics");
        }
    }
    out.with_content_type("text/plain; version=0.0.4; charset=utf-8")
        .into_response()
}
