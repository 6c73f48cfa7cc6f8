//! Readiness: whether the service's dependencies answer, for load balancers and orchestrators.

use crate::Result;
use async_trait::async_trait;

/// Checks that the dependencies a request needs (the database) answer.
#[async_trait]
pub trait Readiness: Send + Sync {
    /// `Ok` when every dependency answers.
    async fn check(&self) -> Result<()>;
}
