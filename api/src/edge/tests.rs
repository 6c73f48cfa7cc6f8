//! The edge's own behaviour, on small routers.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test

use super::*;
use poem::Route;

const LIMITS: EdgeLimits = EdgeLimits {
    json_body: 10,
    file_body: 10,
    body_timeout: Duration::from_secs(5),
    max_in_flight: 100,
};

#[tokio::test]
async fn panic_is_a_bare_500_problem_with_the_request_id() {
    use poem::{EndpointExt, get, handler, test::TestClient};

    #[handler]
    fn boom() -> &'static str {
        panic!("secret internals: /etc/passwd")
    }
    let app = Route::new().at("/boom", get(boom)).with(Edge::new(
        RouteTable::default(),
        LIMITS,
        HttpMetrics::new(),
    ));
    let resp = TestClient::new(app)
        .get("/boom")
        .header("x-request-id", "r-1")
        .send()
        .await;
    resp.assert_status(StatusCode::INTERNAL_SERVER_ERROR);
    resp.assert_content_type(PROBLEM_JSON);
    resp.assert_header("x-request-id", "r-1");
    let body = resp.0.into_body().into_string().await.unwrap();
    assert!(!body.contains("secret"), "{body}");
    assert!(body.contains("\"instance\":\"/boom\""), "{body}");
}

#[tokio::test]
async fn plain_error_responses_become_problems_keeping_their_headers() {
    let plain = Response::builder()
        .status(StatusCode::TOO_MANY_REQUESTS)
        .header("retry-after", "5")
        .body("slow down");
    let resp = ensure_problem(plain, "/x");
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(resp.content_type(), Some(PROBLEM_JSON));
    assert_eq!(resp.headers()["retry-after"], "5");
}

/// An edge around `route` with `limits`, called directly.
fn edged(route: Route, limits: EdgeLimits) -> Arc<impl Endpoint<Output = Response>> {
    use poem::EndpointExt;
    Arc::new(route.with(Edge::new(RouteTable::default(), limits, HttpMetrics::new())))
}

#[tokio::test]
async fn requests_past_the_in_flight_cap_are_503_with_retry_after() {
    use poem::{endpoint::make, get};
    use tokio::sync::Notify;

    let (started, release) = (Arc::new(Notify::new()), Arc::new(Notify::new()));
    let (s, r) = (started.clone(), release.clone());
    let slow = make(move |_req| {
        let (started, release) = (s.clone(), r.clone());
        async move {
            started.notify_one();
            release.notified().await;
            "done"
        }
    });
    let route = Route::new()
        .at("/slow", get(slow))
        .at("/fast", get(make(|_| async { "ok" })));
    let ep = edged(
        route,
        EdgeLimits {
            max_in_flight: 1,
            ..LIMITS
        },
    );
    let first = tokio::spawn({
        let ep = ep.clone();
        async move {
            ep.get_response(Request::builder().uri_str("/slow").finish())
                .await
        }
    });
    started.notified().await;
    let refused = ep
        .get_response(Request::builder().uri_str("/fast").finish())
        .await;
    assert_eq!(refused.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(refused.content_type(), Some(PROBLEM_JSON));
    assert_eq!(refused.headers()["retry-after"], "1");
    release.notify_one();
    assert_eq!(first.await.unwrap().status(), StatusCode::OK);
    let after = ep
        .get_response(Request::builder().uri_str("/fast").finish())
        .await;
    assert_eq!(after.status(), StatusCode::OK, "the slot is given back");
}

#[tokio::test]
async fn every_response_is_nosniff_and_authenticated_ones_are_no_store() {
    use poem::{endpoint::make, get};

    let route = Route::new().at("/plain", get(make(|_| async { "ok" }))).at(
        "/cached",
        get(make(|_| async {
            "ok".with_header(header::CACHE_CONTROL, "private, max-age=60")
        })),
    );
    let ep = edged(route, LIMITS);
    let call = |uri: &'static str, token: bool| {
        let ep = ep.clone();
        async move {
            let mut req = Request::builder().uri_str(uri);
            if token {
                req = req.header(header::AUTHORIZATION, "Bearer x");
            }
            ep.get_response(req.finish()).await
        }
    };
    for (uri, token, cache) in [
        ("/plain", false, None),
        ("/plain", true, Some("no-store")),
        ("/cached", true, Some("private, max-age=60")),
        ("/missing", true, Some("no-store")),
    ] {
        let resp = call(uri, token).await;
        assert_eq!(resp.headers()["x-content-type-options"], "nosniff", "{uri}");
        let got = resp
            .headers()
            .get(header::CACHE_CONTROL)
            .map(|v| v.to_str().unwrap());
        assert_eq!(got, cache, "{uri} with token: {token}");
    }
}

#[tokio::test]
async fn a_body_slower_than_the_timeout_is_408_and_closes_the_connection() {
    use bytes::Bytes;
    use poem::{endpoint::make, post};

    let read = make(|req: Request| async move {
        match req.into_body().into_bytes().await {
            Ok(bytes) => format!("read {}", bytes.len()).into_response(),
            Err(err) => errors::refused(Refusal::UnreadableBody(&err), "/upload").into_response(),
        }
    });
    let ep = edged(
        Route::new().at("/upload", post(read)),
        EdgeLimits {
            body_timeout: Duration::from_millis(200),
            json_body: 1 << 20,
            ..LIMITS
        },
    );
    // One byte, then nothing more: a client that stalls mid-body.
    let stalled =
        futures_util::stream::once(async { Ok::<_, io::Error>(Bytes::from_static(b"{")) })
            .chain(futures_util::stream::pending());
    let req = Request::builder()
        .method(Method::POST)
        .uri_str("/upload")
        .header(header::TRANSFER_ENCODING, "chunked")
        .body(Body::from_bytes_stream(stalled));
    let resp = tokio::time::timeout(Duration::from_secs(10), ep.get_response(req))
        .await
        .expect("the edge gives up on the body");
    assert_eq!(resp.status(), StatusCode::REQUEST_TIMEOUT);
    assert_eq!(resp.content_type(), Some(PROBLEM_JSON));
    assert_eq!(resp.headers()["connection"], "close");

    let prompt = Request::builder()
        .method(Method::POST)
        .uri_str("/upload")
        .header(header::CONTENT_LENGTH, "3")
        .body("abc");
    let resp = ep.get_response(prompt).await;
    assert_eq!(resp.into_body().into_string().await.unwrap(), "read 3");
}

#[tokio::test]
async fn an_operation_declaring_an_upload_gets_the_upload_limit_and_others_the_json_one() {
    use poem::{EndpointExt, endpoint::make, post};

    let read = || {
        make(|req: Request| async move {
            match req.into_body().into_bytes().await {
                Ok(bytes) => format!("read {}", bytes.len()).into_response(),
                Err(err) => errors::refused(Refusal::UnreadableBody(&err), "/x").into_response(),
            }
        })
    };
    let spec = serde_json::json!({"paths": {
        "/blobs/{name}": {"post": {"requestBody": {"content": {"application/octet-stream": {}}}}},
        "/notes": {"post": {"requestBody": {"content": {"application/json": {}}}}},
    }});
    let limits = EdgeLimits {
        json_body: 4,
        file_body: 64,
        ..LIMITS
    };
    let routes = RouteTable::from_spec(&spec, &[]);
    let ep = Route::new()
        .at("/blobs/:name", post(read()))
        .at("/notes", post(read()))
        .with(Edge::new(routes, limits, HttpMetrics::new()));
    let sent = |uri: &'static str, body: &'static str| {
        Request::builder()
            .method(Method::POST)
            .uri_str(uri)
            .header(header::CONTENT_LENGTH, body.len().to_string())
            .body(body)
    };
    let resp = ep.get_response(sent("/blobs/a", "0123456789")).await;
    assert_eq!(resp.into_body().into_string().await.unwrap(), "read 10");
    let resp = ep.get_response(sent("/notes", "0123456789")).await;
    assert_eq!(resp.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let resp = ep.get_response(sent("/notes", "{}")).await;
    assert_eq!(resp.into_body().into_string().await.unwrap(), "read 2");
}

#[tokio::test]
async fn a_path_past_a_route_ending_in_text_reaches_that_route_with_its_slashes_encoded() {
    use poem::{EndpointExt, get, handler, web::Path};

    #[handler]
    fn named(Path(name): Path<String>) -> String {
        format!("name {name}")
    }
    let spec = serde_json::json!({"paths": {"/blobs/{name}": {"get": {
        "parameters": [{"name": "name", "in": "path", "schema": {"type": "string"}}],
    }}}});
    let ep = Route::new().at("/blobs/:name", get(named)).with(Edge::new(
        RouteTable::from_spec(&spec, &[]),
        LIMITS,
        HttpMetrics::new(),
    ));
    let got = |uri: &'static str| {
        let ep = &ep;
        async move {
            let resp = ep
                .get_response(Request::builder().uri_str(uri).finish())
                .await;
            (resp.status(), resp.into_body().into_string().await.unwrap())
        }
    };
    // The variable holds the rest of the path, for its type to take or refuse.
    assert_eq!(got("/blobs/a/b?x=1").await.1, "name a/b");
    assert_eq!(got("/blobs/a").await.1, "name a");
    assert_eq!(got("/elsewhere/a/b").await.0, StatusCode::NOT_FOUND);
}
