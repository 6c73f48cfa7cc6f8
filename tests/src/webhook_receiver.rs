//! A webhook receiver on a free loopback port: it records every request it gets (headers and
//! raw body) and answers each with the next status of a script (204 once the script is spent),
//! or holds it without answering, as a receiver that hangs does.

use bytes::Bytes;
use poem::{
    EndpointExt, Request, Response, Route, Server, handler,
    http::{HeaderMap, StatusCode},
    listener::{Acceptor, Listener, TcpListener},
    web::Data,
};
use std::{
    collections::VecDeque,
    sync::{Arc, Mutex},
};

/// What the receiver does with a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reply {
    /// Answers with this status.
    Status(u16),
    /// Never answers.
    Hang,
}

/// One request the receiver got.
#[derive(Debug, Clone)]
pub struct Received {
    /// Its headers.
    pub headers: reqwest::header::HeaderMap,
    /// Its body, as sent.
    pub body: Bytes,
}

#[derive(Default)]
struct State {
    script: Mutex<VecDeque<Reply>>,
    received: Mutex<Vec<Received>>,
}

/// A running receiver.
pub struct Receiver {
    /// Its URL, `http://127.0.0.1:PORT/hook`.
    pub url: String,
    state: Arc<State>,
}

impl Receiver {
    /// Starts a receiver that answers with `script` in turn, then 204.
    pub async fn start(script: impl IntoIterator<Item = Reply>) -> Self {
        let state = Arc::new(State::default());
        state.script.lock().expect("the script").extend(script);
        let acceptor = TcpListener::bind("127.0.0.1:0")
            .into_acceptor()
            .await
            .expect("a free port");
        let port = acceptor.local_addr()[0]
            .as_socket_addr()
            .map(|addr| addr.port())
            .expect("a port");
        let app = Route::new().at("/hook", receive).data(state.clone());
        tokio::spawn(Server::new_with_acceptor(acceptor).run(app));
        Self {
            url: format!("http://127.0.0.1:{port}/hook"),
            state,
        }
    }

    /// What it has got so far.
    pub fn received(&self) -> Vec<Received> {
        self.state.received.lock().expect("the requests").clone()
    }
}

#[handler]
async fn receive(req: &Request, body: Bytes, state: Data<&Arc<State>>) -> Response {
    let headers = copy(req.headers());
    state
        .received
        .lock()
        .expect("the requests")
        .push(Received { headers, body });
    let reply = state.script.lock().expect("the script").pop_front();
    match reply.unwrap_or(Reply::Status(204)) {
        Reply::Status(code) => Response::builder()
            .status(StatusCode::from_u16(code).unwrap_or(StatusCode::NO_CONTENT))
            .finish(),
        Reply::Hang => std::future::pending().await,
    }
}

/// The headers as reqwest's type, which the client crate's `verify` takes.
fn copy(headers: &HeaderMap) -> reqwest::header::HeaderMap {
    let mut copied = reqwest::header::HeaderMap::new();
    for (name, value) in headers {
        if let (Ok(name), Ok(value)) = (
            reqwest::header::HeaderName::from_bytes(name.as_str().as_bytes()),
            reqwest::header::HeaderValue::from_bytes(value.as_bytes()),
        ) {
            copied.append(name, value);
        }
    }
    copied
}
