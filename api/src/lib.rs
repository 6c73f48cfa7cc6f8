//! The HTTP layer: poem-openapi operations, RFC 9457 problems, the served spec and docs.
//!
//! This crate knows HTTP and nothing else: operations parse requests into domain values, call
//! the domain's services, and map each outcome to one variant of the operation's response enum,
//! where each status code is tied to one schema. It depends on `domain` only; the `app` crate
//! hands it the services ([`Services`]) wired to real storage.

pub mod accept;
pub mod accounts;
pub mod admission;
pub mod auth;
pub mod body;
pub mod client_addr;
pub mod compression;
pub mod conditional;
pub mod deprecation;
pub mod edge;
pub mod errors;
pub mod exports;
pub mod files;
pub mod followers;
pub mod health;
pub mod json_out;
pub mod json_types;
pub mod metrics;
pub mod notifications;
pub mod paging;
pub mod params;
pub mod problem;
pub mod problem_pages;
pub mod problem_types;
pub mod responses;
pub mod route_table;
pub mod spec;
pub mod state;
pub mod streams;
pub mod tags;
pub mod transfers;
pub mod users;
pub mod webhooks;

pub use state::Services;

#[cfg(test)]
mod app_tests;
#[cfg(test)]
mod test_support;

use poem::{
    Endpoint, EndpointExt, IntoResponse, Response, Route, get, handler, middleware::Cors, web::Data,
};
use poem_openapi::{LicenseObject, OpenApiService, ServerObject};
use std::sync::Arc;

/// HTTP settings.
#[derive(Debug, Clone)]
pub struct Settings {
    /// What the edge lets through: body sizes, the body timeout, requests in flight.
    pub limits: edge::EdgeLimits,
    /// Origins allowed to call from a browser; empty turns CORS off.
    pub cors_allowed_origins: Vec<String>,
    /// Proxies whose `Forwarded` / `X-Forwarded-For` name the client; none by default.
    pub trusted_proxies: client_addr::TrustedProxies,
    /// How followed streams are served.
    pub streams: streams::StreamSettings,
}

/// The API's operations.
pub type Api = (
    users::UsersApi,
    auth::AuthApi,
    accounts::AccountsApi,
    transfers::TransfersApi,
    notifications::NotificationsApi,
    files::FilesApi,
    exports::ExportsApi,
    webhooks::WebhooksApi,
    webhooks::deliveries::DeliveriesApi,
    health::HealthApi,
);

const DESCRIPTION: &str = "\
A JSON API for users, their accounts and the money between them, e-mail notifications \
delivered in the background, files with ranged downloads, and streaming exports. Get a token from `POST /auth/tokens` and send it as \
`Authorization: Bearer <token>`; only signing up, getting a token, health and the docs are open. \
A user may read and change only their own user and accounts; an admin may do anything. \
Money is an integer count of minor units (cents). Money-moving POSTs take an \
`Idempotency-Key`. Every error is `application/problem+json` (RFC 9457) with `type`, \
`title`, `status`, `detail` and `instance`; a 422 also names each failing input in `errors`. \
Lists are paged with `limit` and an opaque `cursor`. No text member may contain a NUL \
character. Every response carries `X-Request-Id`.\n\n\
The same API is described twice, from one source: as OpenAPI 3.0 at [`/openapi.json`](/openapi.json) \
([YAML](/openapi.yaml)), for generators that read only 3.0 (progenitor), and as OpenAPI 3.1 at \
[`/openapi-3.1.json`](/openapi-3.1.json) ([YAML](/openapi-3.1.yaml)), with JSON Schema 2020-12 \
schemas and the event streams' data described as the JSON strings they are.";

/// The OpenAPI service: operations and their spec. Needs no services, so the spec can be
/// printed without a database.
pub fn openapi() -> OpenApiService<Api, webhooks::events::Events> {
    OpenApiService::new(
        Api::default(),
        "Service API",
        API_VERSION,
    )
    .webhooks::<webhooks::events::Events>()
    .description(DESCRIPTION)
    .license(LicenseObject::new("MIT").url("https://spdx.org/licenses/MIT.html"))
    .server(ServerObject::new("/").description("The service that serves this document"))
    .extra_response_header::<String, _>(poem_openapi::ExtraHeader::new("X-Request-Id").description(
        "The request's id: the client's `X-Request-Id` as sent (up to 1024 bytes), else a new one.",
    ))
}

/// The version of the API the service serves (the spec's `info.version`): a semantic version,
/// raised with every change of the spec (see `docs/API-CHANGES.md`), whatever the crates'
/// versions.
pub const API_VERSION: &str = "2.3.0";

/// The one source both served documents are made from: poem-openapi's document, completed by
/// [`spec::complete`].
pub fn spec_source() -> serde_json::Value {
    spec::complete(&openapi().spec())
}

/// The served OpenAPI 3.0 document (`GET /openapi.json`), as a JSON value.
pub fn spec_value() -> serde_json::Value {
    spec::v3_0(&spec_source())
}

/// The served OpenAPI 3.1 document (`GET /openapi-3.1.json`), as a JSON value.
pub fn spec_value_3_1() -> serde_json::Value {
    spec::v3_1(&spec_source())
}

/// The 3.0 document as YAML, exactly as `GET /openapi.yaml` serves it (and `openapi.yaml`
/// holds it).
pub fn spec_yaml() -> String {
    spec::yaml::to_string(&spec_value())
}

/// The 3.1 document as YAML, exactly as `GET /openapi-3.1.yaml` serves it (and
/// `openapi-3.1.yaml` holds it).
pub fn spec_yaml_3_1() -> String {
    spec::yaml::to_string(&spec_value_3_1())
}

/// Where each served document is, by its OpenAPI version and format.
pub mod spec_paths {
    /// The OpenAPI 3.0 document as JSON.
    pub const JSON_3_0: &str = "/openapi.json";
    /// The OpenAPI 3.0 document as YAML.
    pub const YAML_3_0: &str = "/openapi.yaml";
    /// The OpenAPI 3.1 document as JSON.
    pub const JSON_3_1: &str = "/openapi-3.1.json";
    /// The OpenAPI 3.1 document as YAML.
    pub const YAML_3_1: &str = "/openapi-3.1.yaml";
}

/// The whole HTTP application: operations, spec, docs UIs, and the edge middleware, which
/// records every request in `metrics`.
pub fn app(
    services: Services,
    settings: &Settings,
    metrics: Arc<metrics::HttpMetrics>,
) -> impl Endpoint<Output = Response> + use<> {
    let service = openapi();
    let source = spec_source();
    let (spec, spec_3_1) = (spec::v3_0(&source), spec::v3_1(&source));
    let spec_json = serde_json::to_string_pretty(&spec).unwrap_or_default();
    let spec_json_3_1 = serde_json::to_string_pretty(&spec_3_1).unwrap_or_default();
    let routes = route_table::RouteTable::from_spec(
        &spec,
        &[
            spec_paths::JSON_3_0,
            spec_paths::YAML_3_0,
            spec_paths::JSON_3_1,
            spec_paths::YAML_3_1,
            "/problems",
            "/problems/",
            "/problems/{slug}",
            deprecation::CHANGES_PATH,
        ],
    );
    // The UIs embed the document they are given: poem-openapi's own, swapped for the served
    // 3.1 one (Swagger UI 5 and RapiDoc read 3.1; its description links the 3.0 one).
    let generated = service.spec();
    let swagger_ui = service
        .swagger_ui_html()
        .replacen(&generated, &spec_json_3_1, 1);
    let rapidoc = service
        .rapidoc_html()
        .replacen(&generated, &spec_json_3_1, 1);
    let documents = [
        (
            spec_paths::YAML_3_0,
            SpecDoc::yaml(spec::yaml::to_string(&spec)),
        ),
        (
            spec_paths::YAML_3_1,
            SpecDoc::yaml(spec::yaml::to_string(&spec_3_1)),
        ),
        (spec_paths::JSON_3_0, SpecDoc::json(spec_json)),
        (spec_paths::JSON_3_1, SpecDoc::json(spec_json_3_1)),
    ];
    documents
        .into_iter()
        .fold(Route::new(), |route, (path, doc)| {
            route.at(path, get(serve_spec).data(doc))
        })
        .at(deprecation::CHANGES_PATH, get(api_changes))
        .at("/problems", get(problem_pages::index_page))
        .at("/problems/", get(problem_pages::index_page))
        .at("/problems/:slug", get(problem_pages::type_page))
        .nest("/docs", ui_page(swagger_ui))
        .nest("/rapidoc", ui_page(rapidoc))
        .nest("/", service)
        .with(state::WithState(Arc::new(state::AppState {
            services,
            followers: streams::Followers::new(settings.streams.clone()),
        })))
        .with_if(
            !settings.cors_allowed_origins.is_empty(),
            cors(&settings.cors_allowed_origins),
        )
        .with(
            edge::Edge::new(routes, settings.limits, metrics)
                .trusting(settings.trusted_proxies.clone()),
        )
}

/// `GET /api-changes`: the changelog of the API, one entry per version, in Markdown.
#[handler]
fn api_changes() -> poem::Response {
    deprecation::CHANGES
        .with_content_type("text/markdown; charset=utf-8")
        .into_response()
}

/// Cross-origin access for the configured origins: the API's methods and request headers, and
/// the response headers a browser client needs to read. Tokens travel in `Authorization`, not in
/// cookies, so no credentials mode.
fn cors(origins: &[String]) -> Cors {
    Cors::new()
        .allow_origins(origins.iter().map(String::as_str))
        .allow_methods(route_table::METHOD_ORDER)
        .allow_headers([
            "authorization",
            "content-type",
            "idempotency-key",
            "if-match",
            "if-none-match",
            "if-range",
            "range",
            "x-request-id",
        ])
        .expose_headers([
            "content-range",
            "etag",
            "idempotent-replayed",
            "link",
            "location",
            "retry-after",
            "x-request-id",
        ])
        .max_age(600)
}

/// A docs UI's page, served at its prefix with or without the trailing slash.
fn ui_page(html: String) -> Route {
    Route::new().at("/", get(serve_spec).data(SpecDoc::html(html)))
}

/// The spec in one format, rendered once at start-up.
#[derive(Clone)]
struct SpecDoc {
    content_type: &'static str,
    text: Arc<str>,
}

impl SpecDoc {
    fn json(text: String) -> Self {
        Self {
            content_type: "application/json",
            text: text.into(),
        }
    }

    fn yaml(text: String) -> Self {
        Self {
            content_type: "application/yaml",
            text: text.into(),
        }
    }

    fn html(text: String) -> Self {
        Self {
            content_type: "text/html; charset=utf-8",
            text: text.into(),
        }
    }
}

#[handler]
fn serve_spec(doc: Data<&SpecDoc>) -> Response {
    doc.text
        .to_string()
        .with_content_type(doc.content_type)
        .into_response()
}
