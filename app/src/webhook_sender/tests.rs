#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test

use super::*;
use poem::{
    EndpointExt, Request, Response, Route, Server, handler,
    http::{HeaderMap, StatusCode as Status},
    listener::{Acceptor, Listener, TcpListener},
    web::Data,
};
use std::sync::{Arc, Mutex};

type Seen = Arc<Mutex<Vec<(String, HeaderMap, Bytes)>>>;

#[handler]
async fn receive(req: &Request, body: Bytes, seen: Data<&Seen>) -> Response {
    let path = req.uri().path().to_owned();
    seen.lock()
        .unwrap()
        .push((path.clone(), req.headers().clone(), body));
    match path.as_str() {
        "/busy" => Response::builder()
            .status(Status::SERVICE_UNAVAILABLE)
            .header("retry-after", "7")
            .finish(),
        "/moved" => Response::builder()
            .status(Status::TEMPORARY_REDIRECT)
            .header("location", "/ok")
            .finish(),
        "/slow" => {
            tokio::time::sleep(Duration::from_secs(3)).await;
            Response::builder().status(Status::OK).finish()
        }
        "/gone" => Response::builder().status(Status::GONE).finish(),
        _ => Response::builder().status(Status::NO_CONTENT).finish(),
    }
}

/// A receiver on a free loopback port, and what it has been sent.
async fn receiver() -> (u16, Seen) {
    let seen = Seen::default();
    let acceptor = TcpListener::bind("127.0.0.1:0")
        .into_acceptor()
        .await
        .unwrap();
    let port = acceptor.local_addr()[0]
        .as_socket_addr()
        .map(|addr| addr.port())
        .unwrap();
    let app = Route::new().at("/*path", receive).data(seen.clone());
    tokio::spawn(Server::new_with_acceptor(acceptor).run(app));
    (port, seen)
}

fn sender(policy: EndpointPolicy) -> WebhookSender {
    WebhookSender::new(policy, Duration::from_secs(1), Duration::from_secs(1))
}

fn message() -> Message<'static> {
    Message {
        id: "msg_1",
        timestamp: 1_700_000_000,
        body: Bytes::from_static(br#"{"type":"webhook.test"}"#),
    }
}

fn url(text: &str) -> WebhookUrl {
    WebhookUrl::parse(text).unwrap()
}

#[tokio::test]
async fn an_attempt_posts_the_body_with_the_standard_webhooks_headers_one_signature_per_secret() {
    let (port, seen) = receiver().await;
    let local = EndpointPolicy::allowing(["127.0.0.1"]);
    let secrets = [
        SigningSecret::from_bytes(vec![1; 32]).unwrap(),
        SigningSecret::from_bytes(vec![2; 24]).unwrap(),
    ];
    let target = url(&format!("http://127.0.0.1:{port}/in"));
    let answer = sender(local).attempt(&target, &message(), &secrets).await;
    assert_eq!(
        answer,
        Answer::Status {
            code: 204,
            retry_after: None
        }
    );
    let seen = seen.lock().unwrap();
    let (path, headers, body) = &seen[0];
    assert_eq!(path, "/in");
    assert_eq!(body, &message().body);
    assert_eq!(headers["content-type"], "application/json");
    assert_eq!(headers["webhook-id"], "msg_1");
    assert_eq!(headers["webhook-timestamp"], "1700000000");
    let expected = signature::header(&secrets, "msg_1", 1_700_000_000, body);
    assert_eq!(headers["webhook-signature"], expected.as_str());
    assert_eq!(expected.split(' ').count(), 2);
}

#[tokio::test]
async fn a_host_that_resolves_to_a_forbidden_address_is_not_connected_to() {
    let (port, seen) = receiver().await;
    // The URL is fine as written (a name, over https): only its resolution is refused.
    let target = url(&format!("https://localhost:{port}/in"));
    let answer = sender(EndpointPolicy::default())
        .attempt(&target, &message(), &[])
        .await;
    let Answer::NoAnswer(why) = answer else {
        panic!("connected: {answer:?}");
    };
    assert!(why.contains("loopback"), "{why}");
    assert!(seen.lock().unwrap().is_empty(), "the receiver was reached");
}

#[tokio::test]
async fn redirects_are_answers_not_followed_and_retry_after_is_read() {
    let (port, seen) = receiver().await;
    let local = EndpointPolicy::allowing(["127.0.0.1"]);
    let send = sender(local.clone());
    let at = |path: &str| url(&format!("http://127.0.0.1:{port}{path}"));
    assert_eq!(
        send.attempt(&at("/moved"), &message(), &[]).await,
        Answer::Status {
            code: 307,
            retry_after: None
        }
    );
    assert_eq!(
        send.attempt(&at("/busy"), &message(), &[]).await,
        Answer::Status {
            code: 503,
            retry_after: Some(Duration::from_secs(7))
        }
    );
    assert_eq!(
        send.attempt(&at("/gone"), &message(), &[]).await,
        Answer::Status {
            code: 410,
            retry_after: None
        }
    );
    let paths: Vec<String> = seen.lock().unwrap().iter().map(|s| s.0.clone()).collect();
    assert_eq!(paths, ["/moved", "/busy", "/gone"], "no redirect followed");
}

#[tokio::test]
async fn an_answer_slower_than_the_timeout_is_no_answer() {
    let (port, _seen) = receiver().await;
    let local = EndpointPolicy::allowing(["127.0.0.1"]);
    let target = url(&format!("http://127.0.0.1:{port}/slow"));
    let started = std::time::Instant::now();
    let answer = sender(local).attempt(&target, &message(), &[]).await;
    assert!(
        matches!(answer, Answer::NoAnswer(ref why) if why.contains("within")),
        "{answer:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(3));
}
