//! The addresses an endpoint may not be reached at: a webhook must not become a way into the
//! service's own network (server-side request forgery). The host of an endpoint is resolved
//! by the sender, every address checked here, and the connection made to a checked address,
//! at creation and again at every attempt, since what a name resolves to can change.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Why `ip` may not be reached, or `None` when it may: loopback, private, link-local (cloud
/// metadata services among them), shared, multicast, broadcast and unspecified addresses, an
/// IPv6 address that carries an IPv4 one judged as that.
pub fn forbidden(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => forbidden_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => forbidden_v4(v4),
            None => forbidden_v6(v6),
        },
    }
}

/// The first address of `addresses` that may not be reached, and why. One is enough to refuse
/// a host: a name that resolves to a public and a private address could be steered to either.
pub fn first_forbidden(
    addresses: impl IntoIterator<Item = IpAddr>,
) -> Option<(IpAddr, &'static str)> {
    addresses
        .into_iter()
        .find_map(|ip| forbidden(ip).map(|why| (ip, why)))
}

fn forbidden_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, ..] = ip.octets();
    Some(if ip.is_unspecified() || a == 0 {
        "unspecified"
    } else if ip.is_loopback() {
        "loopback"
    } else if ip.is_private() {
        "private"
    } else if ip.is_link_local() {
        "link-local (cloud metadata services among them)"
    } else if a == 100 && (64..128).contains(&b) {
        "shared (carrier-grade NAT)"
    } else if ip.is_multicast() || ip.is_broadcast() {
        "multicast or broadcast"
    } else {
        return None;
    })
}

fn forbidden_v6(ip: Ipv6Addr) -> Option<&'static str> {
    let first = ip.segments()[0];
    Some(if ip.is_unspecified() {
        "unspecified"
    } else if ip.is_loopback() {
        "loopback"
    } else if first & 0xfe00 == 0xfc00 {
        // fc00::/7, unique local addresses, AWS's metadata service fd00:ec2::254 among them.
        "private"
    } else if first & 0xffc0 == 0xfe80 {
        "link-local (cloud metadata services among them)"
    } else if ip.is_multicast() {
        "multicast or broadcast"
    } else {
        return None;
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn why(ip: &str) -> Option<&'static str> {
        forbidden(ip.parse().unwrap())
    }

    #[test]
    fn loopback_private_link_local_and_metadata_addresses_are_refused() {
        for ip in [
            "127.0.0.1",
            "127.8.9.10",
            "::1",
            "10.0.0.1",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "169.254.0.1",
            "100.64.0.1",
            "0.0.0.0",
            "0.1.2.3",
            "::",
            "fc00::1",
            "fd00:ec2::254",
            "fe80::1",
            "224.0.0.1",
            "255.255.255.255",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "::ffff:10.1.2.3",
        ] {
            assert!(why(ip).is_some(), "{ip} is let through");
        }
    }

    #[test]
    fn public_addresses_are_let_through() {
        for ip in [
            "93.184.216.34",
            "8.8.8.8",
            "172.32.0.1",
            "100.128.0.1",
            "2606:2800:220:1:248:1893:25c8:1946",
            "::ffff:93.184.216.34",
        ] {
            assert_eq!(why(ip), None, "{ip}");
        }
    }

    #[test]
    fn one_forbidden_address_among_several_refuses_the_host() {
        let ips = ["93.184.216.34", "10.0.0.7"].map(|ip| ip.parse().unwrap());
        assert_eq!(
            first_forbidden(ips),
            Some(("10.0.0.7".parse().unwrap(), "private"))
        );
        assert_eq!(first_forbidden([ips[0]]), None);
    }
}
