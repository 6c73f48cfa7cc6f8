//! Slow and hostile clients over a real socket: a client that trickles its headers or its body
//! is cut off after the configured timeout instead of holding a connection forever.

use e2e::Service;
use std::time::{Duration, Instant};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

/// Connects to `service`, writes `head`, then one byte of `drip` every 100 ms until the server
/// closes the connection (or 20 s pass). Returns what the server sent and how long the
/// connection was held.
async fn trickle(service: &Service, head: &str, drip: u8) -> (String, Duration) {
    let mut stream = TcpStream::connect(service.host_port()).await.unwrap();
    let started = Instant::now();
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut received = Vec::new();
    let mut buf = [0u8; 4096];
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    while started.elapsed() < Duration::from_secs(20) {
        tokio::select! {
            read = stream.read(&mut buf) => match read {
                Ok(0) | Err(_) => break,
                Ok(n) => received.extend_from_slice(&buf[..n]),
            },
            _ = tick.tick() => {
                if stream.write_all(&[drip]).await.is_err() {
                    break;
                }
            }
        }
    }
    (
        String::from_utf8_lossy(&received).into_owned(),
        started.elapsed(),
    )
}

#[tokio::test]
async fn a_client_trickling_its_headers_is_cut_off_after_the_header_timeout() {
    let service = Service::start_with(|s| s.header_timeout_seconds = 1).await;
    let (_, held) = trickle(&service, "GET /livez HTTP/1.1\r\nX-Slow: ", b'a').await;
    eprintln!("a client trickling its headers held the connection for {held:?}");
    assert!(
        held < Duration::from_secs(10),
        "held for {held:?} with a 1 s header timeout"
    );
    // The service still answers everyone else.
    let ok = service
        .client
        .get(service.url("/livez"))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
}

#[tokio::test]
async fn a_client_trickling_its_body_gets_408_after_the_body_timeout() {
    let service = Service::start_with(|s| s.body_timeout_seconds = 1).await;
    let head = "POST /auth/tokens HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n\
                Content-Length: 1000\r\n\r\n{";
    let (answer, held) = trickle(&service, head, b' ').await;
    eprintln!("a client trickling its body held the connection for {held:?}");
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("application/problem+json"), "{answer}");
    assert!(
        answer.to_ascii_lowercase().contains("connection: close"),
        "{answer}"
    );
    assert!(
        held < Duration::from_secs(10),
        "held for {held:?} with a 1 s body timeout"
    );
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_after_the_header_timeout() {
    let service = Service::start_with(|s| s.header_timeout_seconds = 1).await;
    let mut stream = TcpStream::connect(service.host_port()).await.unwrap();
    stream
        .write_all(b"GET /livez HTTP/1.1\r\nHost: test\r\n\r\n")
        .await
        .unwrap();
    let started = Instant::now();
    let mut received = Vec::new();
    let mut buf = [0u8; 4096];
    let closed = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => received.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "still open after {:?}", started.elapsed());
    assert!(String::from_utf8_lossy(&received).starts_with("HTTP/1.1 200"));
}
