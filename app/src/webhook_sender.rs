//! One webhook delivery attempt over the network, the way the domain's rules say: the host
//! resolved here and every address checked against the [`EndpointPolicy`] at each attempt (what
//! a name resolves to can change), the connection pinned to a checked address, redirects not
//! followed, a timeout for connecting and one for the whole answer, and the Standard Webhooks
//! headers. What came back is an [`Answer`] for [`domain::webhooks::judge`].

use bytes::Bytes;
use domain::webhooks::{Answer, EndpointPolicy, SigningSecret, WebhookUrl, signature};
use reqwest::{StatusCode, header};
use std::{
    collections::HashMap,
    net::SocketAddr,
    sync::{Arc, Mutex, PoisonError},
    time::Duration,
};

/// Sends attempts.
#[derive(Debug, Clone)]
pub struct WebhookSender {
    policy: EndpointPolicy,
    connect_timeout: Duration,
    timeout: Duration,
    /// A client per host and the checked address it is pinned to, so that attempts to one
    /// endpoint reuse its connections (a client built per attempt cost a new connection, and
    /// its TLS set-up, every time).
    clients: Arc<Mutex<HashMap<(String, SocketAddr), reqwest::Client>>>,
}

/// Most clients kept; past it they are all dropped and built again as needed.
const MAX_CLIENTS: usize = 1024;

/// One delivery's message, as every attempt of it sends it.
#[derive(Debug, Clone)]
pub struct Message<'a> {
    /// Its `webhook-id`, the same on every attempt.
    pub id: &'a str,
    /// Its `webhook-timestamp`, Unix seconds of this attempt.
    pub timestamp: i64,
    /// The JSON payload.
    pub body: Bytes,
}

impl WebhookSender {
    /// A sender under `policy`, giving each attempt `connect_timeout` to connect and `timeout`
    /// for the whole exchange.
    pub fn new(policy: EndpointPolicy, connect_timeout: Duration, timeout: Duration) -> Self {
        Self {
            policy,
            connect_timeout,
            timeout,
            clients: Arc::default(),
        }
    }

    /// Attempts `message` at `url`, signed by each of `secrets`.
    pub async fn attempt(
        &self,
        url: &WebhookUrl,
        message: &Message<'_>,
        secrets: &[SigningSecret],
    ) -> Answer {
        let address = match self.checked_address(url).await {
            Ok(address) => address,
            Err(why) => return Answer::NoAnswer(why),
        };
        let client = match self.client(url.host().trim_matches(['[', ']']), address) {
            Ok(client) => client,
            Err(err) => return Answer::NoAnswer(format!("no HTTP client: {err}")),
        };
        let signed = signature::header(secrets, message.id, message.timestamp, &message.body);
        let sent = client
            .post(url.as_str())
            .header(header::CONTENT_TYPE, "application/json")
            .header("webhook-id", message.id)
            .header("webhook-timestamp", message.timestamp.to_string())
            .header("webhook-signature", signed)
            .body(message.body.clone())
            .send()
            .await;
        match sent {
            Ok(answer) => Answer::Status {
                code: answer.status().as_u16(),
                retry_after: retry_after(answer.status(), answer.headers()),
            },
            Err(err) if err.is_timeout() => {
                Answer::NoAnswer(format!("no answer within {} s", self.timeout.as_secs_f64()))
            }
            Err(err) => Answer::NoAnswer(format!("the request failed: {err}")),
        }
    }

    /// The client for `host` pinned to `address`: no redirects, the timeouts.
    fn client(&self, host: &str, address: SocketAddr) -> reqwest::Result<reqwest::Client> {
        let key = (host.to_owned(), address);
        let mut clients = self.clients.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(client) = clients.get(&key) {
            return Ok(client.clone());
        }
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(self.connect_timeout)
            .timeout(self.timeout)
            .resolve(host, address)
            .build()?;
        if clients.len() >= MAX_CLIENTS {
            clients.clear();
        }
        clients.insert(key, client.clone());
        Ok(client)
    }

    /// The address to connect to: the first that `url`'s host resolves to, when the policy
    /// admits the URL and lets every one of them through (or lets the host through whatever
    /// its addresses).
    async fn checked_address(&self, url: &WebhookUrl) -> Result<SocketAddr, String> {
        // The settings may have changed since the endpoint was made.
        self.policy
            .admit(url)
            .map_err(|refused| format!("{url} {}", refused.message))?;
        let host = url.host().trim_matches(['[', ']']);
        let resolved: Vec<SocketAddr> = tokio::net::lookup_host((host, url.port()))
            .await
            .map_err(|err| format!("{host} does not resolve: {err}"))?
            .collect();
        if let Some(refused) = self
            .policy
            .refusal(url.host(), resolved.iter().map(SocketAddr::ip))
        {
            return Err(format!("{host} {}", refused.message));
        }
        resolved
            .first()
            .copied()
            .ok_or_else(|| format!("{host} resolves to no address"))
    }
}

/// The wait a 429 or 503 asks for in `Retry-After` (seconds, or an HTTP date).
fn retry_after(status: StatusCode, headers: &header::HeaderMap) -> Option<Duration> {
    if status != StatusCode::TOO_MANY_REQUESTS && status != StatusCode::SERVICE_UNAVAILABLE {
        return None;
    }
    let value = headers.get(header::RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let date = httpdate::parse_http_date(value).ok()?;
    Some(
        date.duration_since(std::time::SystemTime::now())
            .unwrap_or_default(),
    )
}

#[cfg(test)]
mod tests;
