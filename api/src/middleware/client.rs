//! Who the client is: the connection's peer or, when the peer is a listed proxy
//! (`VEZA_TRUSTED_PROXIES`), the address the proxies forwarded in `X-Forwarded-For`. Resolved
//! once per request and handed to the routes as [`Client`] (poem data): per-client limits, the
//! session list and the audit log all see the same address.

use std::{net::IpAddr, sync::Arc};

use ipnet::IpNet;
use poem::{Endpoint, IntoResponse, Request, Response};

/// The proxies whose `X-Forwarded-For` is believed.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    /// Parses a comma-separated list of addresses and networks (`10.0.0.0/8, ::1`).
    pub fn parse(list: &str) -> Result<Self, String> {
        let mut nets = Vec::new();
        for entry in list.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let net = entry
                .parse::<IpNet>()
                .or_else(|_| entry.parse::<IpAddr>().map(IpNet::from))
                .map_err(|_| format!("`{entry}` is neither an IP address nor a network"))?;
            nets.push(net);
        }
        Ok(Self(nets))
    }

    fn contains(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|net| net.contains(&ip))
    }
}

/// The client of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Client {
    /// Its address (IPv4-mapped IPv6 addresses as IPv4).
    pub ip: IpAddr,
}

impl Client {
    /// The address as shown in sessions and the audit log.
    pub fn address(&self) -> String {
        self.ip.to_string()
    }

    /// The key of per-client limits: the IPv4 address, or the IPv6 /64 the address is in (one
    /// subscriber's network, inside which a client may pick any address).
    pub fn limit_key(&self) -> String {
        match self.ip {
            IpAddr::V4(v4) => v4.to_string(),
            IpAddr::V6(v6) => IpNet::new(IpAddr::V6(v6), 64)
                .map(|net| net.trunc().to_string())
                .unwrap_or_else(|_| v6.to_string()),
        }
    }
}

/// The client behind `peer`: the peer itself unless it is a trusted proxy; then, walking
/// `X-Forwarded-For` from the right (each proxy appends the address it received from), the
/// first address that is not a trusted proxy. An entry that does not parse stops the walk at
/// the proxy that passed it on; a chain of trusted proxies only gives its leftmost.
pub fn resolve(peer: IpAddr, forwarded_for: &[&str], trusted: &TrustedProxies) -> IpAddr {
    let mut client = peer.to_canonical();
    if !trusted.contains(client) {
        return client;
    }
    let hops = forwarded_for.iter().flat_map(|value| value.split(','));
    let hops: Vec<&str> = hops.map(str::trim).collect();
    for hop in hops.into_iter().rev() {
        let Ok(ip) = hop.parse::<IpAddr>().map(|ip| ip.to_canonical()) else {
            return client;
        };
        client = ip;
        if !trusted.contains(ip) {
            return ip;
        }
    }
    client
}

/// Resolves the request's [`Client`] and hands it to the routes.
pub async fn identify_client<E: Endpoint>(
    endpoint: Arc<E>,
    mut req: Request,
    trusted: Arc<TrustedProxies>,
) -> poem::Result<Response> {
    let peer = req
        .remote_addr()
        .as_socket_addr()
        .map_or(IpAddr::from([0, 0, 0, 0]), |addr| addr.ip());
    let forwarded: Vec<&str> = req
        .headers()
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .collect();
    let ip = resolve(peer, &forwarded, &trusted);
    req.set_data(Client { ip });
    endpoint.call(req).await.map(IntoResponse::into_response)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap_or(IpAddr::from([255, 255, 255, 255]))
    }

    #[test]
    fn forwarded_addresses_count_only_from_trusted_proxies() {
        let trusted = TrustedProxies::parse("10.0.0.0/8, ::1").unwrap_or_default();
        // Not a proxy: its header is the client's own claim, ignored.
        assert_eq!(
            resolve(ip("203.0.113.9"), &["198.51.100.1"], &trusted),
            ip("203.0.113.9")
        );
        // Through one proxy.
        assert_eq!(
            resolve(ip("10.0.0.2"), &["198.51.100.1"], &trusted),
            ip("198.51.100.1")
        );
        // The client prepended a fake: the rightmost untrusted hop is the one our proxy saw.
        assert_eq!(
            resolve(ip("10.0.0.2"), &["1.2.3.4, 198.51.100.1, 10.0.0.7"], &trusted),
            ip("198.51.100.1")
        );
        // Several header lines read as one list.
        assert_eq!(
            resolve(ip("::1"), &["1.2.3.4", "198.51.100.1"], &trusted),
            ip("198.51.100.1")
        );
        // Garbage stops at the proxy that passed it on; no header leaves the proxy.
        assert_eq!(
            resolve(ip("10.0.0.2"), &["not-an-ip, 10.0.0.3"], &trusted),
            ip("10.0.0.3")
        );
        assert_eq!(resolve(ip("10.0.0.2"), &[], &trusted), ip("10.0.0.2"));
        // IPv4-mapped IPv6 is the IPv4 address.
        assert_eq!(
            resolve(ip("::ffff:10.0.0.2"), &["198.51.100.1"], &trusted),
            ip("198.51.100.1")
        );
        assert!(TrustedProxies::parse("10.0.0.0/33").is_err());
        assert!(TrustedProxies::parse("proxy.local").is_err());
    }

    #[test]
    fn ipv6_clients_are_limited_per_64_and_ipv4_per_address() {
        let a = Client {
            ip: ip("2001:db8:1:2:aaaa::1"),
        };
        let b = Client {
            ip: ip("2001:db8:1:2:ffff:1:2:3"),
        };
        let other = Client {
            ip: ip("2001:db8:1:3::1"),
        };
        assert_eq!(a.limit_key(), "2001:db8:1:2::/64");
        assert_eq!(a.limit_key(), b.limit_key());
        assert_ne!(a.limit_key(), other.limit_key());
        assert_eq!(Client { ip: ip("192.0.2.7") }.limit_key(), "192.0.2.7");
        assert_eq!(a.address(), "2001:db8:1:2:aaaa::1");
    }
}
