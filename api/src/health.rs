//! Liveness and readiness, for load balancers and orchestrators.

use crate::state::State;
use crate::{
    errors::{self, Refusal},
    responses,
    tags::Tag,
};
use domain::health::Readiness;
use poem::Request;
use poem_openapi::{Object, OpenApi, payload::Json};

/// The service's health operations.
#[derive(Default)]
pub struct HealthApi;

/// A health answer.
#[derive(Object, Debug)]
pub struct Health {
    /// `ok` (alive) or `ready` (able to serve requests).
    status: String,
}

responses! {
    /// Responses of `GET /livez` and `GET /healthz`.
    pub enum HealthGet {
        /// The process is alive.
        #[oai(status = 200)]
        Ok(Json<Health>),
    }
    problems {
        406 NotAcceptable: "`Accept` takes none of the media types this operation answers with (errors are problems whatever it says).",
        #[oai(header(name = "Retry-After", ty = "u64"))]
        503 ServiceUnavailable: "More requests are in flight than the service takes at once; `Retry-After` says when to retry.",
    }
}

responses! {
    /// Responses of `GET /readyz`.
    pub enum ReadinessGet {
        /// The database and the file store answer: the service can serve requests.
        #[oai(status = 200)]
        Ok(Json<Health>),
    }
    problems {
        406 NotAcceptable: "`Accept` takes none of the media types this operation answers with (errors are problems whatever it says).",
        #[oai(header(name = "Retry-After", ty = "u64"))]
        503 Unavailable: "The database does not answer (type `database-unavailable`), or the file store does not (type `storage-unavailable`); or more requests are in flight than the service takes at once (type `overloaded`). `Retry-After` says when to ask again.",
    }
}

/// The answer of a process that serves HTTP.
fn alive() -> HealthGet {
    HealthGet::Ok(Json(Health {
        status: "ok".to_owned(),
    }))
}

#[OpenApi(tag = "Tag::Operations")]
impl HealthApi {
    /// Liveness
    ///
    /// Answers as long as the process serves HTTP; it checks no dependency.
    #[oai(path = "/livez", method = "get", operation_id = "liveness_get")]
    async fn live(&self) -> HealthGet {
        alive()
    }

    /// Liveness (deprecated)
    ///
    /// `GET /livez` under its old name.
    #[oai(path = "/healthz", method = "get", operation_id = "health_get")]
    async fn health(&self) -> HealthGet {
        alive()
    }

    /// Readiness
    ///
    /// Answers 200 when the database and the file store answer, 503 otherwise.
    #[oai(path = "/readyz", method = "get", operation_id = "readiness_get")]
    async fn ready(&self, req: &Request, readiness: State<'_, dyn Readiness>) -> ReadinessGet {
        match readiness.check().await {
            Ok(()) => ReadinessGet::Ok(Json(Health {
                status: "ready".to_owned(),
            })),
            Err(err) => {
                tracing::warn!(error = %err, "not ready");
                let refusal = match err {
                    domain::Error::BlobStoreUnavailable(_) => Refusal::FileStoreNotReady,
                    _ => Refusal::NotReady,
                };
                ReadinessGet::Unavailable(errors::refused(refusal, req.uri().path()))
            }
        }
    }
}
