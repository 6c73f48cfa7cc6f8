//! A JSON success body written straight from its type by serde.
//!
//! poem-openapi's `Json<T>` builds a `serde_json::Value` tree of the body (an ordered map per
//! object) and then writes that tree: on `GET /users/{id}` that was a few percent of the
//! service's time. [`JsonOut`] documents itself exactly as `Json<T>` does (same media type, same
//! schema), so the spec cannot tell them apart; a type that uses it derives `Serialize` beside
//! `Object`, and a test per type holds the two writings equal.

use poem::{IntoResponse, Response, http::StatusCode};
use poem_openapi::{
    payload::{Json, Payload},
    registry::{MetaSchemaRef, Registry},
    types::Type,
};
use serde::Serialize;

/// A JSON body serialised by serde, documented as `Json<T>`.
#[derive(Debug)]
pub struct JsonOut<T>(pub T);

impl<T: Type> Payload for JsonOut<T> {
    const CONTENT_TYPE: &'static str = <Json<T> as Payload>::CONTENT_TYPE;

    fn check_content_type(content_type: &str) -> bool {
        <Json<T> as Payload>::check_content_type(content_type)
    }

    fn schema_ref() -> MetaSchemaRef {
        T::schema_ref()
    }

    fn register(registry: &mut Registry) {
        T::register(registry);
    }
}

impl<T: Type + Serialize + Send> IntoResponse for JsonOut<T> {
    fn into_response(self) -> Response {
        match serde_json::to_vec(&self.0) {
            Ok(body) => Response::builder()
                .content_type(<Self as Payload>::CONTENT_TYPE)
                .body(body),
            Err(err) => {
                tracing::error!(error = %err, "a response body could not be serialised");
                StatusCode::INTERNAL_SERVER_ERROR.into_response()
            }
        }
    }
}
