//! HTTP semantics over a real socket: entity tags and conditional requests, negotiation,
//! compression, and the problem types' pages.

use e2e::{Service, SignedUp};
use reqwest::{Method, StatusCode, header};
use std::io::Read;

async fn etag_of(service: &Service, uri: &str, token: &str) -> String {
    let resp = service
        .client
        .get(service.url(uri))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    resp.headers()[header::ETAG].to_str().unwrap().to_owned()
}

#[tokio::test]
async fn of_many_writers_holding_one_etag_exactly_one_wins() {
    let service = Service::start().await;
    let SignedUp { uri, token, .. } = service.signup("Ann", "ann@example.com").await;
    let tag = etag_of(&service, &uri, &token).await;
    let writers = (0..8).map(|n| {
        service
            .client
            .patch(service.url(&uri))
            .bearer_auth(&token)
            .header(header::IF_MATCH, &tag)
            .json(&serde_json::json!({ "name": format!("Writer {n}") }))
            .send()
    });
    let statuses: Vec<u16> = futures_util::future::join_all(writers)
        .await
        .into_iter()
        .map(|resp| resp.unwrap().status().as_u16())
        .collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 412).count(),
        7,
        "{statuses:?}"
    );
}

#[tokio::test]
async fn a_current_if_none_match_is_a_bodyless_304_on_get_and_head() {
    let service = Service::start().await;
    let SignedUp { uri, token, .. } = service.signup("Ann", "ann@example.com").await;
    let tag = etag_of(&service, &uri, &token).await;
    for method in [Method::GET, Method::HEAD] {
        let resp = service
            .client
            .request(method.clone(), service.url(&uri))
            .bearer_auth(&token)
            .header(header::IF_NONE_MATCH, &tag)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::NOT_MODIFIED, "{method}");
        assert_eq!(resp.headers()[header::ETAG], tag.as_str());
        assert!(resp.bytes().await.unwrap().is_empty());
    }
    let head = service
        .client
        .head(service.url(&uri))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), StatusCode::OK);
    assert_eq!(
        head.headers()[header::ETAG],
        tag.as_str(),
        "HEAD tags as GET does"
    );
}

#[tokio::test]
async fn an_accept_without_json_is_406_and_errors_stay_problems() {
    let service = Service::start().await;
    let SignedUp { uri, token, .. } = service.signup("Ann", "ann@example.com").await;
    let refused = service
        .client
        .get(service.url(&uri))
        .bearer_auth(&token)
        .header(header::ACCEPT, "application/xml")
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::NOT_ACCEPTABLE);
    assert_eq!(
        refused.headers()[header::CONTENT_TYPE],
        "application/problem+json"
    );
    let missing = service
        .client
        .get(service.url("/users/424242"))
        .bearer_auth(&service.admin().await)
        .header(header::ACCEPT, "text/csv")
        .send()
        .await
        .unwrap();
    assert_eq!(
        missing.headers()[header::CONTENT_TYPE],
        "application/problem+json"
    );
}

#[tokio::test]
async fn the_export_round_trips_through_gzip() {
    let service = Service::start().await;
    for n in 0..60 {
        service.signup("Ann", &format!("user{n}@example.com")).await;
    }
    let admin = service.admin().await;
    let export = |encoding: &'static str| {
        service
            .client
            .get(service.url("/exports/users.csv"))
            .bearer_auth(&admin)
            .header(header::ACCEPT_ENCODING, encoding)
            .send()
    };
    let plain = export("identity").await.unwrap();
    assert!(plain.headers().get(header::CONTENT_ENCODING).is_none());
    assert_eq!(plain.headers()[header::VARY], "Accept-Encoding");
    let plain = plain.bytes().await.unwrap();
    let gzipped = export("gzip").await.unwrap();
    assert_eq!(gzipped.headers()[header::CONTENT_ENCODING], "gzip");
    let compressed = gzipped.bytes().await.unwrap();
    assert!(
        compressed.len() < plain.len() / 2,
        "{} of {}",
        compressed.len(),
        plain.len()
    );
    let mut unzipped = Vec::new();
    flate2::read::GzDecoder::new(&compressed[..])
        .read_to_end(&mut unzipped)
        .unwrap();
    assert_eq!(unzipped, plain);
}

#[tokio::test]
async fn every_problem_type_resolves_to_a_page_of_its_own() {
    let service = Service::start().await;
    let mut seen = std::collections::HashSet::new();
    for kind in api::problem_types::ProblemType::ALL {
        let resp = service
            .client
            .get(service.url(&kind.uri()))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK, "{}", kind.uri());
        let page = resp.text().await.unwrap();
        assert!(page.contains(kind.title()));
        assert!(seen.insert(page), "{} repeats another page", kind.uri());
    }
}
