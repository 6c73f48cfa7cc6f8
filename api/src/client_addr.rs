//! The client's address: the connection's peer, unless that peer is a proxy the operator
//! trusts, whose `Forwarded` (RFC 7239) or `X-Forwarded-For` then says who it forwarded for.
//!
//! The forwarding headers are read from the right (the entry the nearest proxy added) to the
//! left, skipping trusted proxies: the first address that is not one is the client. Entries
//! further left were written by whoever sent the request and prove nothing. From a peer that is
//! not trusted, the headers are ignored altogether: anyone can send them.

use poem::http::HeaderMap;
use std::{net::IpAddr, str::FromStr};

/// The address the request came from, as the edge decided it (see the module's rules).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub IpAddr);

/// One trusted proxy: an address, or a network of them (`10.0.0.0/8`, `fd00::/8`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProxyNet {
    addr: IpAddr,
    prefix: u8,
}

impl ProxyNet {
    fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, canonical(ip)) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

impl FromStr for ProxyNet {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim();
        let (addr, prefix) = match text.split_once('/') {
            Some((addr, prefix)) => (addr, Some(prefix)),
            None => (text, None),
        };
        let addr = canonical(
            addr.parse::<IpAddr>()
                .map_err(|_| format!("{text:?} is not an IP address or network"))?,
        );
        let most = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => most,
            Some(prefix) => prefix
                .parse::<u8>()
                .ok()
                .filter(|prefix| *prefix <= most)
                .ok_or_else(|| format!("{text:?} has no prefix length from 0 to {most}"))?,
        };
        Ok(Self { addr, prefix })
    }
}

/// The proxies whose forwarding headers are believed; none by default.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(pub Vec<ProxyNet>);

impl TrustedProxies {
    fn trusts(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|net| net.contains(ip))
    }

    /// The client of a request from `peer` with `headers`.
    pub fn client(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let peer = canonical(peer);
        if !self.trusts(peer) {
            return peer;
        }
        let chain = forwarded_chain(headers);
        let mut client = peer;
        for hop in chain.iter().rev() {
            match hop {
                Some(ip) => {
                    client = *ip;
                    if !self.trusts(*ip) {
                        return client;
                    }
                }
                // An entry that names no address (`unknown`, an obfuscated name): the chain
                // cannot be followed past it.
                None => return client,
            }
        }
        client
    }
}

/// The addresses a request was forwarded for, nearest the client first: `Forwarded`'s `for=`
/// parameters when it is present, else `X-Forwarded-For`. `None` for an entry that is no
/// address.
fn forwarded_chain(headers: &HeaderMap) -> Vec<Option<IpAddr>> {
    let forwarded: Vec<&str> = headers
        .get_all("forwarded")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .collect();
    if !forwarded.is_empty() {
        return forwarded
            .iter()
            .flat_map(|value| value.split(','))
            .map(|element| {
                element.split(';').find_map(|pair| {
                    let (name, value) = pair.trim().split_once('=')?;
                    name.eq_ignore_ascii_case("for")
                        .then(|| forwarded_node(value))
                })?
            })
            .collect();
    }
    headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(|entry| entry.trim().parse::<IpAddr>().ok().map(canonical))
        .collect()
}

/// The address of a `Forwarded` node: `192.0.2.1`, `"192.0.2.1:8080"`, `"[2001:db8::1]:80"`.
fn forwarded_node(value: &str) -> Option<IpAddr> {
    let node = value.trim().trim_matches('"');
    let host = match node.strip_prefix('[') {
        Some(v6) => v6.split(']').next()?,
        None => node.split(':').next()?,
    };
    host.parse::<IpAddr>().ok().map(canonical)
}

/// An IPv4 address mapped into IPv6 (as a dual-stack socket reports it) as plain IPv4.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use poem::http::HeaderValue;

    fn proxies(list: &[&str]) -> TrustedProxies {
        TrustedProxies(list.iter().map(|net| net.parse().unwrap()).collect())
    }

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_static(value));
        }
        map
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn forwarding_headers_from_an_untrusted_peer_are_ignored() {
        let spoofed = headers(&[
            ("x-forwarded-for", "203.0.113.9"),
            ("forwarded", "for=203.0.113.9"),
        ]);
        assert_eq!(
            proxies(&[]).client(ip("198.51.100.7"), &spoofed),
            ip("198.51.100.7")
        );
        let other = proxies(&["10.0.0.0/8"]);
        assert_eq!(
            other.client(ip("198.51.100.7"), &spoofed),
            ip("198.51.100.7")
        );
    }

    #[test]
    fn behind_a_trusted_proxy_the_rightmost_untrusted_address_is_the_client() {
        let trusted = proxies(&["10.0.0.0/8", "192.168.1.1"]);
        // The client forged the leftmost entry; the proxies appended the rest.
        let chain = headers(&[("x-forwarded-for", "1.2.3.4, 203.0.113.9, 10.1.2.3")]);
        assert_eq!(trusted.client(ip("192.168.1.1"), &chain), ip("203.0.113.9"));
        let forwarded = headers(&[(
            "forwarded",
            "for=1.2.3.4, for=\"[2001:db8::5]:4711\";proto=https, for=10.0.0.2",
        )]);
        assert_eq!(
            trusted.client(ip("10.9.9.9"), &forwarded),
            ip("2001:db8::5")
        );
        // Forwarded wins over X-Forwarded-For when both are sent.
        let both = headers(&[
            ("forwarded", "for=203.0.113.1"),
            ("x-forwarded-for", "203.0.113.2"),
        ]);
        assert_eq!(trusted.client(ip("10.0.0.1"), &both), ip("203.0.113.1"));
    }

    #[test]
    fn a_trusted_peer_without_headers_or_with_an_unknown_hop_is_taken_as_far_as_known() {
        let trusted = proxies(&["10.0.0.0/8"]);
        assert_eq!(
            trusted.client(ip("10.0.0.1"), &HeaderMap::new()),
            ip("10.0.0.1")
        );
        let unknown = headers(&[("forwarded", "for=203.0.113.1, for=unknown")]);
        assert_eq!(trusted.client(ip("10.0.0.1"), &unknown), ip("10.0.0.1"));
        let mapped = ip("::ffff:10.0.0.1");
        let chain = headers(&[("x-forwarded-for", "203.0.113.4")]);
        assert_eq!(trusted.client(mapped, &chain), ip("203.0.113.4"));
    }

    #[test]
    fn networks_parse_with_and_without_a_prefix_and_bad_ones_are_refused() {
        assert!(
            "10.0.0.0/8"
                .parse::<ProxyNet>()
                .unwrap()
                .contains(ip("10.255.0.1"))
        );
        assert!(
            !"10.0.0.0/8"
                .parse::<ProxyNet>()
                .unwrap()
                .contains(ip("11.0.0.1"))
        );
        assert!(
            "fd00::/8"
                .parse::<ProxyNet>()
                .unwrap()
                .contains(ip("fd12::1"))
        );
        assert!(
            "0.0.0.0/0"
                .parse::<ProxyNet>()
                .unwrap()
                .contains(ip("8.8.8.8"))
        );
        assert!(
            "127.0.0.1"
                .parse::<ProxyNet>()
                .unwrap()
                .contains(ip("127.0.0.1"))
        );
        for bad in ["10.0.0.0/33", "nope", "10.0.0.0/x", "::/129"] {
            assert!(bad.parse::<ProxyNet>().is_err(), "{bad}");
        }
    }
}
