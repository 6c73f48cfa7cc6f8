//! Liveness and readiness, for load balancers and orchestrators.

use crate::{Tag, problem::Problem, responses};
use domain::health::Readiness;
use poem::{Request, http::StatusCode, web::Data};
use poem_openapi::{Object, OpenApi, payload::Json};
use std::sync::Arc;

/// The service's health operations.
pub struct OpsApi;

/// A health answer.
#[derive(Object, Debug)]
pub struct Health {
    /// `ok` (alive) or `ready` (able to serve requests).
    status: String,
}

responses! {
    /// Responses of `GET /healthz`.
    pub enum HealthGet {
        /// The process is alive.
        #[oai(status = 200)]
        Ok(Json<Health>),
    }
    problems {}
}

responses! {
    /// Responses of `GET /readyz`.
    pub enum ReadinessGet {
        /// The database answers: the service can serve requests.
        #[oai(status = 200)]
        Ok(Json<Health>),
    }
    problems {
        503 Unavailable: "The database does not answer.",
    }
}

#[OpenApi(tag = "Tag::Operations")]
impl OpsApi {
    /// Liveness
    ///
    /// Answers as long as the process serves HTTP; it checks no dependency.
    #[oai(path = "/healthz", method = "get", operation_id = "health_get")]
    async fn health(&self) -> HealthGet {
        HealthGet::Ok(Json(Health {
            status: "ok".to_owned(),
        }))
    }

    /// Readiness
    ///
    /// Answers 200 when the database answers, 503 otherwise.
    #[oai(path = "/readyz", method = "get", operation_id = "readiness_get")]
    async fn ready(&self, req: &Request, readiness: Data<&Arc<dyn Readiness>>) -> ReadinessGet {
        match readiness.check().await {
            Ok(()) => ReadinessGet::Ok(Json(Health {
                status: "ready".to_owned(),
            })),
            Err(err) => {
                tracing::warn!(error = %err, "not ready");
                ReadinessGet::Unavailable(
                    Problem::new(StatusCode::SERVICE_UNAVAILABLE, req.uri().path())
                        .with_detail("The database does not answer.")
                        .into(),
                )
            }
        }
    }
}
