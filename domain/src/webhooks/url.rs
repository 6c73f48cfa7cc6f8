//! Where an endpoint is called.

use super::address;
use crate::Violation;
use std::{fmt, net::IpAddr};
use url::{Host, Url};

/// Which endpoints may be called over plain `http`, or at addresses [`address::forbidden`]
/// refuses: none by default; for local development and tests, the hosts a setting names.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EndpointPolicy {
    /// Hosts (names or addresses, as written in URLs, lowercase) let through both rules.
    local_hosts: Vec<String>,
}

impl EndpointPolicy {
    /// A policy letting `hosts` through: plain `http`, and any address.
    pub fn allowing(hosts: impl IntoIterator<Item = impl Into<String>>) -> Self {
        Self {
            local_hosts: hosts
                .into_iter()
                .map(|host| host.into().trim().to_ascii_lowercase())
                .filter(|host| !host.is_empty())
                .collect(),
        }
    }

    /// Whether `host` (as a URL writes it) is one of the allowed hosts.
    pub fn allows(&self, host: &str) -> bool {
        let host = host.to_ascii_lowercase();
        self.local_hosts.contains(&host)
    }

    /// Why `url` may not be called, if it may not: plain `http` to a host not allowed, or an
    /// address literal that [`address::forbidden`] refuses. A host name's addresses are checked
    /// by [`Self::refusal`] once it is resolved.
    pub fn admit(&self, url: &WebhookUrl) -> Result<(), Violation> {
        if url.0.scheme() != "https" && !self.allows(url.host()) {
            return Err(scheme_refused());
        }
        match url.literal().and_then(|ip| self.refusal(url.host(), [ip])) {
            Some(refusal) => Err(refusal),
            None => Ok(()),
        }
    }

    /// Why a connection to `host` at `addresses` (what it resolved to) is refused, if it is.
    pub fn refusal(
        &self,
        host: &str,
        addresses: impl IntoIterator<Item = IpAddr>,
    ) -> Option<Violation> {
        if self.allows(host) {
            return None;
        }
        let (ip, why) = address::first_forbidden(addresses)?;
        Some(Violation::new(
            "webhook_url_address",
            format!("resolves to {ip}, a {why} address, which webhooks may not reach"),
        ))
    }
}

/// An endpoint's URL: absolute `https` or `http`, at most [`WebhookUrl::MAX_LEN`] bytes, with
/// no credentials or fragment. [`EndpointPolicy::admit`] says whether it may be called (plain
/// `http` only to an allowed host, no forbidden address literal), and its host's addresses are
/// checked by [`EndpointPolicy::refusal`] at creation and at every call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookUrl(Url);

impl WebhookUrl {
    /// Longest URL, in bytes.
    pub const MAX_LEN: usize = 2048;

    /// Parses `text`: an absolute `http` or `https` URL of at most [`Self::MAX_LEN`] bytes,
    /// without credentials or fragment. Whether it may be called is [`EndpointPolicy::admit`]'s
    /// to say, since that depends on the service's settings.
    pub fn parse(text: &str) -> Result<Self, Violation> {
        if text.len() > Self::MAX_LEN {
            return Err(Violation::new(
                "webhook_url_invalid",
                format!("must be at most {} bytes", Self::MAX_LEN),
            ));
        }
        let url = Url::parse(text).map_err(|err| {
            Violation::new(
                "webhook_url_invalid",
                format!("is not an absolute URL: {err}"),
            )
        })?;
        if !matches!(url.scheme(), "https" | "http") {
            return Err(scheme_refused());
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(Violation::new(
                "webhook_url_credentials",
                "must not carry a user name or password",
            ));
        }
        if url.fragment().is_some() {
            return Err(Violation::new(
                "webhook_url_invalid",
                "must not have a fragment, which is never sent",
            ));
        }
        Ok(Self(url))
    }

    /// The address it names literally, if its host is one.
    fn literal(&self) -> Option<IpAddr> {
        match self.0.host() {
            Some(Host::Ipv4(ip)) => Some(IpAddr::V4(ip)),
            Some(Host::Ipv6(ip)) => Some(IpAddr::V6(ip)),
            _ => None,
        }
    }

    /// The URL's text.
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    /// Its host, as the URL writes it (an IPv6 address in brackets).
    pub fn host(&self) -> &str {
        self.0.host_str().unwrap_or_default()
    }

    /// Its port, the scheme's default when it names none.
    pub fn port(&self) -> u16 {
        self.0.port_or_known_default().unwrap_or(443)
    }
}

fn scheme_refused() -> Violation {
    Violation::new(
        "webhook_url_scheme",
        "must be https (plain http only to the hosts allowed for local development)",
    )
}

impl fmt::Display for WebhookUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn admitted(text: &str, policy: &EndpointPolicy) -> Result<WebhookUrl, Violation> {
        let url = WebhookUrl::parse(text)?;
        policy.admit(&url)?;
        Ok(url)
    }

    fn code(text: &str, policy: &EndpointPolicy) -> &'static str {
        admitted(text, policy).unwrap_err().code
    }

    #[test]
    fn an_https_url_to_a_public_host_is_taken_as_written() {
        let none = EndpointPolicy::default();
        let url = admitted("https://hooks.example.com/in?x=1", &none).unwrap();
        assert_eq!(url.as_str(), "https://hooks.example.com/in?x=1");
        assert_eq!((url.host(), url.port()), ("hooks.example.com", 443));
        let literal = admitted("https://93.184.216.34:8443/", &none).unwrap();
        assert_eq!(literal.port(), 8443);
    }

    #[test]
    fn plain_http_is_refused_unless_the_policy_allows_the_host() {
        let none = EndpointPolicy::default();
        assert_eq!(
            code("http://hooks.example.com/", &none),
            "webhook_url_scheme"
        );
        assert_eq!(
            code("ftp://hooks.example.com/", &none),
            "webhook_url_scheme"
        );
        let local = EndpointPolicy::allowing(["127.0.0.1", "Receiver.Test"]);
        assert!(admitted("http://127.0.0.1:9000/hook", &local).is_ok());
        assert!(admitted("http://receiver.test/hook", &local).is_ok());
        assert_eq!(code("http://other.test/", &local), "webhook_url_scheme");
    }

    #[test]
    fn an_address_literal_webhooks_may_not_reach_is_refused_unless_allowed() {
        let none = EndpointPolicy::default();
        for url in [
            "https://127.0.0.1/",
            "https://10.1.2.3/",
            "https://169.254.169.254/latest/meta-data",
            "https://[::1]/",
            "https://[fd00:ec2::254]/",
            "https://[::ffff:127.0.0.1]/",
            "https://0x7f000001/",
            "https://2130706433/",
        ] {
            assert_eq!(code(url, &none), "webhook_url_address", "{url}");
        }
        let local = EndpointPolicy::allowing(["127.0.0.1"]);
        assert!(admitted("https://127.0.0.1/", &local).is_ok());
    }

    #[test]
    fn credentials_fragments_garbage_and_overlong_urls_are_refused() {
        let none = EndpointPolicy::default();
        assert_eq!(
            code("https://u:p@hooks.example.com/", &none),
            "webhook_url_credentials"
        );
        assert_eq!(
            code("https://u@hooks.example.com/", &none),
            "webhook_url_credentials"
        );
        assert_eq!(
            code("https://hooks.example.com/#x", &none),
            "webhook_url_invalid"
        );
        assert_eq!(code("hooks.example.com/in", &none), "webhook_url_invalid");
        assert_eq!(code("", &none), "webhook_url_invalid");
        let long = format!("https://hooks.example.com/{}", "a".repeat(2048));
        assert_eq!(code(&long, &none), "webhook_url_invalid");
    }

    #[test]
    fn a_resolved_host_is_refused_by_any_forbidden_address_unless_allowed() {
        let policy = EndpointPolicy::allowing(["localhost"]);
        let private = ["93.184.216.34", "192.168.0.9"].map(|ip| ip.parse().unwrap());
        let refusal = policy.refusal("hooks.example.com", private).unwrap();
        assert_eq!(refusal.code, "webhook_url_address");
        assert!(
            refusal.message.contains("192.168.0.9"),
            "{}",
            refusal.message
        );
        assert_eq!(policy.refusal("hooks.example.com", [private[0]]), None);
        assert_eq!(
            policy.refusal("LOCALHOST", ["127.0.0.1".parse().unwrap()]),
            None
        );
    }
}
