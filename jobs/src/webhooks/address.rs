//! Where a webhook may be sent: public addresses only, unless configuration allows private ones
//! (`VEZA_WEBHOOKS_ALLOW_PRIVATE`). A webhook URL is chosen by a user, so without this check any
//! account could make the worker call the cloud metadata service (169.254.169.254), the database
//! or anything else on the private network (SSRF).
//!
//! The host is resolved once, here; every address it resolves to must be allowed, and the
//! request is then made to exactly those addresses (the HTTP client gets them, it does not
//! resolve again). So a name that answers a public address to this check and a private one to the
//! connection (DNS rebinding) cannot slip through: there is no second answer.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use ipnet::{IpNet, Ipv4Net, Ipv6Net};

/// IPv4 networks never reached: "this network", private (RFC 1918), shared (CGNAT), loopback,
/// link-local (the metadata service), IETF protocol assignments, documentation, benchmarking,
/// multicast, reserved and broadcast.
const FORBIDDEN_V4: &[(Ipv4Addr, u8)] = &[
    (Ipv4Addr::new(0, 0, 0, 0), 8),
    (Ipv4Addr::new(10, 0, 0, 0), 8),
    (Ipv4Addr::new(100, 64, 0, 0), 10),
    (Ipv4Addr::new(127, 0, 0, 0), 8),
    (Ipv4Addr::new(169, 254, 0, 0), 16),
    (Ipv4Addr::new(172, 16, 0, 0), 12),
    (Ipv4Addr::new(192, 0, 0, 0), 24),
    (Ipv4Addr::new(192, 0, 2, 0), 24),
    (Ipv4Addr::new(192, 168, 0, 0), 16),
    (Ipv4Addr::new(198, 18, 0, 0), 15),
    (Ipv4Addr::new(198, 51, 100, 0), 24),
    (Ipv4Addr::new(203, 0, 113, 0), 24),
    (Ipv4Addr::new(224, 0, 0, 0), 4),
    (Ipv4Addr::new(240, 0, 0, 0), 4),
];

/// IPv6 networks never reached: unspecified and loopback, unique local, link-local, site-local,
/// multicast, documentation, discard. (IPv4-mapped, NAT64 and 6to4 addresses are judged by the
/// IPv4 address inside them.)
const FORBIDDEN_V6: &[(Ipv6Addr, u8)] = &[
    (Ipv6Addr::UNSPECIFIED, 128),
    (Ipv6Addr::LOCALHOST, 128),
    (Ipv6Addr::new(0xfc00, 0, 0, 0, 0, 0, 0, 0), 7),
    (Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0), 10),
    (Ipv6Addr::new(0xfec0, 0, 0, 0, 0, 0, 0, 0), 10),
    (Ipv6Addr::new(0xff00, 0, 0, 0, 0, 0, 0, 0), 8),
    (Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0), 32),
    (Ipv6Addr::new(0x0100, 0, 0, 0, 0, 0, 0, 0), 64),
];

/// Whether a webhook may be sent to `ip` when private addresses are not allowed.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => match embedded_v4(v6) {
            Some(v4) => is_public_v4(v4),
            None => !FORBIDDEN_V6.iter().any(|&(net, len)| {
                Ipv6Net::new(net, len).is_ok_and(|net| IpNet::V6(net).contains(&IpAddr::V6(v6)))
            }),
        },
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    !FORBIDDEN_V4
        .iter()
        .any(|&(net, len)| Ipv4Net::new(net, len).is_ok_and(|net| net.contains(&ip)))
}

/// The IPv4 address an IPv6 address stands for: IPv4-mapped (`::ffff:a.b.c.d`), IPv4-compatible
/// (`::a.b.c.d`), NAT64 (`64:ff9b::/96`) and 6to4 (`2002::/16`).
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = ip.segments();
    let low = Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
    match s {
        [0, 0, 0, 0, 0, 0xffff, _, _] => Some(low),
        [0, 0, 0, 0, 0, 0, _, _] if ip != Ipv6Addr::UNSPECIFIED && ip != Ipv6Addr::LOCALHOST => Some(low),
        [0x64, 0xff9b, 0, 0, 0, 0, _, _] => Some(low),
        [0x2002, a, b, ..] => Some(Ipv4Addr::new((a >> 8) as u8, a as u8, (b >> 8) as u8, b as u8)),
        _ => None,
    }
}

/// Why a URL may not be called.
#[derive(Debug, thiserror::Error)]
pub enum Refused {
    /// Not an http(s) URL with a host (and no credentials).
    #[error("not an http or https URL with a host and no credentials")]
    NotHttp,
    /// The name did not resolve.
    #[error("{host} does not resolve: {source}")]
    Unresolved {
        /// The host.
        host: String,
        /// Why.
        source: std::io::Error,
    },
    /// It is, or resolves to, an address that is not allowed.
    #[error("{host} is or resolves to {address}, a private, loopback or link-local address")]
    Forbidden {
        /// The host.
        host: String,
        /// The address refused.
        address: IpAddr,
    },
}

/// `text` as a webhook URL: `http` or `https`, with a host, without credentials.
pub fn parse_url(text: &str) -> Result<reqwest::Url, Refused> {
    reqwest::Url::parse(text)
        .ok()
        .filter(|url| matches!(url.scheme(), "http" | "https") && url.host_str().is_some())
        .filter(|url| url.username().is_empty() && url.password().is_none())
        .ok_or(Refused::NotHttp)
}

/// The host of `url` and the addresses to connect to: resolved once, every one checked unless
/// `allow_private`.
pub async fn resolve(url: &reqwest::Url, allow_private: bool) -> Result<(String, Vec<SocketAddr>), Refused> {
    if !matches!(url.scheme(), "http" | "https") {
        return Err(Refused::NotHttp);
    }
    let host = url.host_str().ok_or(Refused::NotHttp)?;
    let port = url.port_or_known_default().ok_or(Refused::NotHttp)?;
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let addresses: Vec<SocketAddr> = match bare.parse::<IpAddr>() {
        Ok(ip) => vec![SocketAddr::new(ip, port)],
        Err(_) => tokio::net::lookup_host((bare, port))
            .await
            .map_err(|source| Refused::Unresolved {
                host: host.to_owned(),
                source,
            })?
            .collect(),
    };
    if !allow_private && let Some(bad) = addresses.iter().find(|addr| !is_public(addr.ip())) {
        return Err(Refused::Forbidden {
            host: host.to_owned(),
            address: bad.ip(),
        });
    }
    Ok((bare.to_owned(), addresses))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn public(text: &str) -> bool {
        is_public(text.parse().unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED)))
    }

    #[test]
    fn private_loopback_link_local_and_reserved_addresses_are_refused() {
        for address in [
            "10.0.0.1",
            "10.255.255.255",
            "172.16.0.1",
            "172.31.255.254",
            "192.168.1.1",
            "127.0.0.1",
            "127.0.0.2",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "224.0.0.1",
            "255.255.255.255",
            "192.0.2.10",
            "::1",
            "::",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "ff02::1",
            "2001:db8::1",
            "::ffff:127.0.0.1",
            "::ffff:10.1.2.3",
            "::ffff:169.254.169.254",
            "64:ff9b::a9fe:a9fe",
            "2002:c0a8:0101::1",
        ] {
            assert!(!public(address), "{address} must be refused");
        }
    }

    #[test]
    fn public_addresses_are_allowed() {
        for address in [
            "1.1.1.1",
            "8.8.8.8",
            "172.32.0.1",
            "192.169.0.1",
            "100.128.0.1",
            "2606:4700:4700::1111",
            "::ffff:8.8.8.8",
            "2002:0808:0808::1",
        ] {
            assert!(public(address), "{address} must be allowed");
        }
    }

    #[tokio::test]
    async fn urls_are_checked_by_every_address_they_reach() {
        let check = |url: &str| {
            let url = reqwest::Url::parse(url);
            async move { resolve(&url.map_err(|_| Refused::NotHttp)?, false).await }
        };
        for url in [
            "http://127.0.0.2:9/hook",
            "http://[::1]:9/hook",
            "http://localhost:9/hook",
            "http://169.254.169.254/latest/meta-data/",
            "http://10.0.0.1/",
        ] {
            assert!(
                matches!(check(url).await, Err(Refused::Forbidden { .. })),
                "{url} must be refused"
            );
        }
        assert!(matches!(check("ftp://example.com/").await, Err(Refused::NotHttp)));
        assert!(matches!(check("not a url").await, Err(Refused::NotHttp)));
        assert!(parse_url("https://user:pw@example.com/").is_err());
        assert!(parse_url("https://example.com/hooks?x=1").is_ok());
        // Allowed by configuration: loopback is reachable (the tests' receivers live there).
        let url = reqwest::Url::parse("http://127.0.0.1:9/hook").ok();
        let allowed = match url {
            Some(url) => resolve(&url, true).await.ok(),
            None => None,
        };
        assert_eq!(allowed.map(|(_, addrs)| addrs.len()), Some(1));
    }
}
