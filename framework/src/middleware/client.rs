//! Who sent a request, and over which scheme, as trusted proxies tell it
//! (`server.trusted_proxies`).
//!
//! The peer of the TCP connection is the client unless it is a trusted proxy; then the
//! proxy's `Forwarded` (RFC 7239) or, without it, `X-Forwarded-For`/`X-Forwarded-Proto` are
//! believed, hop by hop from the right, until the first address that is not a trusted proxy:
//! that is the client. A client cannot forge its way past this — whatever it writes in those
//! headers sits left of what the trusted proxies appended. With no trusted proxies (the default)
//! the headers are ignored and the request costs nothing extra.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::{ConnectInfo, FromRequestParts};
use http::request::Parts;
use http::HeaderMap;

use crate::config::Cidr;

/// `server.trusted_proxies` and `server.forwarded_header`, parsed.
#[derive(Clone, Debug, Default)]
pub(crate) struct TrustedProxies {
    nets: Arc<[Cidr]>,
    /// Read `Forwarded` rather than `X-Forwarded-For`/`-Proto`.
    rfc7239: bool,
}

impl TrustedProxies {
    /// The networks in `list`, reported through `header`; the first network that does not
    /// parse is the error.
    pub(crate) fn parse(list: &[String], header: &str) -> Result<Self, String> {
        let nets = list.iter().map(|net| net.parse::<Cidr>().map_err(|_| net.clone()));
        let nets = nets.collect::<Result<Vec<_>, _>>()?.into();
        Ok(Self { nets, rfc7239: header.eq_ignore_ascii_case("forwarded") })
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.nets.is_empty()
    }

    fn trusts(&self, ip: IpAddr) -> bool {
        self.nets.iter().any(|net| net.contains(ip))
    }

    /// The request's client and scheme, seen from a connection with `peer`.
    pub(crate) fn resolve(&self, peer: IpAddr, headers: &HeaderMap) -> ClientAddr {
        let mut client = ClientAddr { ip: peer, https: false };
        if !self.trusts(peer) {
            return client;
        }
        // Right to left: each hop was appended by the proxy to its right, trusted so far.
        for hop in hops(headers, self.rfc7239).into_iter().rev() {
            client.https = hop.https.unwrap_or(client.https);
            let Some(ip) = hop.ip else { break };
            client.ip = ip;
            if !self.trusts(ip) {
                break;
            }
        }
        client
    }
}

/// One proxy hop: the address it received the request from, and over which scheme.
struct Hop {
    ip: Option<IpAddr>,
    https: Option<bool>,
}

/// The hops in `Forwarded` (`rfc7239`), or in `X-Forwarded-For` with `X-Forwarded-Proto`, left
/// (the client's side) to right.
fn hops(headers: &HeaderMap, rfc7239: bool) -> Vec<Hop> {
    let values = |name| headers.get_all(name).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(','));
    if rfc7239 {
        return values("forwarded")
            .map(|element| {
                let mut hop = Hop { ip: None, https: None };
                for pair in element.split(';') {
                    let Some((key, value)) = pair.split_once('=') else { continue };
                    let value = value.trim().trim_matches('"');
                    match key.trim().to_ascii_lowercase().as_str() {
                        "for" => hop.ip = node_ip(value),
                        "proto" => hop.https = scheme(value),
                        _ => {}
                    }
                }
                hop
            })
            .collect();
    }
    let ips: Vec<Option<IpAddr>> = values("x-forwarded-for").map(|ip| node_ip(ip.trim())).collect();
    let protos: Vec<Option<bool>> = values("x-forwarded-proto").map(|p| scheme(p.trim())).collect();
    if ips.is_empty() {
        // A proxy that reports only the scheme.
        return protos.last().map(|&https| Hop { ip: None, https }).into_iter().collect();
    }
    // Aligned from the right, as both lists grow there: values a client wrote sit left of the
    // proxies' own, and a hop without a value keeps the scheme found so far.
    let offset = protos.len() as isize - ips.len() as isize;
    ips.iter()
        .enumerate()
        .map(|(i, &ip)| Hop { ip, https: usize::try_from(i as isize + offset).ok().and_then(|j| protos[j]) })
        .collect()
}

/// An address as proxies write it: `192.0.2.1`, `192.0.2.1:4711`, `[2001:db8::1]:4711`,
/// `2001:db8::1`; `unknown` and obfuscated names are `None`.
fn node_ip(node: &str) -> Option<IpAddr> {
    if let Some(rest) = node.strip_prefix('[') {
        return rest.split(']').next()?.parse().ok();
    }
    node.parse().ok().or_else(|| node.parse::<SocketAddr>().ok().map(|s| s.ip()))
}

fn scheme(value: &str) -> Option<bool> {
    match value.to_ascii_lowercase().as_str() {
        "https" => Some(true),
        "http" => Some(false),
        _ => None,
    }
}

/// Where a request came from: the client's address and whether it used HTTPS, as trusted
/// proxies report them (`server.trusted_proxies`), else the connection's peer over plain HTTP.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ClientAddr {
    pub(crate) ip: IpAddr,
    pub(crate) https: bool,
}

impl ClientAddr {
    /// The request's, when the stack resolved it, else its peer's.
    pub(crate) fn of(extensions: &http::Extensions) -> Option<Self> {
        extensions.get::<ClientAddr>().copied().or_else(|| {
            extensions.get::<ConnectInfo<SocketAddr>>().map(|peer| ClientAddr { ip: peer.0.ip(), https: false })
        })
    }
}

/// The client's IP address, as an extractor: the connection's peer, or — when the peer is one
/// of `server.trusted_proxies` — the address those proxies forwarded (`Forwarded`, then
/// `X-Forwarded-For`), right-most untrusted hop first. Spoofed headers from anyone else are
/// ignored.
///
/// ```
/// use trestle::middleware::ClientIp;
///
/// async fn whoami(ClientIp(ip): ClientIp) -> String {
///     ip.to_string()
/// }
/// ```
///
/// The rejection (500) means the app is served without connection info, which `App::run`
/// always gives; an app serving the router itself must use
/// `into_make_service_with_connect_info::<SocketAddr>()`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientIp(pub IpAddr);

/// The client's address comes from the connection (and trusted proxies): nothing for the
/// document.
impl crate::openapi::DescribeInput for ClientIp {}

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = crate::Error;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        ClientAddr::of(&parts.extensions).map(|client| ClientIp(client.ip)).ok_or_else(|| {
            crate::Error::internal(anyhow::anyhow!(
                "ClientIp needs the connection's address: serve with App::run, or with into_make_service_with_connect_info::<SocketAddr>()"
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trusted(nets: &[&str]) -> TrustedProxies {
        TrustedProxies::parse(&nets.iter().map(|n| n.to_string()).collect::<Vec<_>>(), "x-forwarded-for").unwrap()
    }

    fn trusted_rfc7239(nets: &[&str]) -> TrustedProxies {
        TrustedProxies::parse(&nets.iter().map(|n| n.to_string()).collect::<Vec<_>>(), "forwarded").unwrap()
    }

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        pairs.iter().map(|(k, v)| (k.parse::<http::HeaderName>().unwrap(), v.parse().unwrap())).collect()
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn networks_parse_and_match() {
        let net: Cidr = "10.0.0.0/8".parse().unwrap();
        assert!(net.contains(ip("10.1.2.3")) && !net.contains(ip("11.0.0.1")));
        assert!(net.contains(ip("::ffff:10.0.0.1")), "IPv4-mapped peers match IPv4 networks");
        let one: Cidr = "::1".parse().unwrap();
        assert!(one.contains(ip("::1")) && !one.contains(ip("::2")));
        assert!("0.0.0.0/0".parse::<Cidr>().unwrap().contains(ip("8.8.8.8")));
        for bad in ["10.0.0.0/33", "example.com", "10.0.0/8", ""] {
            assert!(bad.parse::<Cidr>().is_err(), "{bad}");
        }
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_claims() {
        let proxies = trusted(&["10.0.0.0/8"]);
        let spoof =
            headers(&[("x-forwarded-for", "1.2.3.4"), ("x-forwarded-proto", "https"), ("forwarded", "for=5.6.7.8")]);
        assert_eq!(proxies.resolve(ip("203.0.113.9"), &spoof), ClientAddr { ip: ip("203.0.113.9"), https: false });
        assert_eq!(TrustedProxies::default().resolve(ip("10.0.0.1"), &spoof).ip, ip("10.0.0.1"));
    }

    #[test]
    fn only_the_configured_header_is_read() {
        // The proxy appends X-Forwarded-For; the client's own Forwarded passes through it.
        let h = headers(&[("forwarded", "for=1.2.3.4;proto=https"), ("x-forwarded-for", "198.51.100.7")]);
        assert_eq!(
            trusted(&["10.0.0.0/8"]).resolve(ip("10.0.0.3"), &h),
            ClientAddr { ip: ip("198.51.100.7"), https: false }
        );
        let h = headers(&[("x-forwarded-for", "1.2.3.4"), ("forwarded", "for=198.51.100.7")]);
        assert_eq!(trusted_rfc7239(&["10.0.0.0/8"]).resolve(ip("10.0.0.3"), &h).ip, ip("198.51.100.7"));
    }

    #[test]
    fn forwarded_schemes_align_from_the_right() {
        let proxies = trusted(&["10.0.0.0/8"]);
        // The client claims https; the proxy appends what it saw.
        let h = headers(&[("x-forwarded-for", "198.51.100.7"), ("x-forwarded-proto", "https, http")]);
        assert!(!proxies.resolve(ip("10.0.0.3"), &h).https);
        // Only the edge (TLS) proxy sets the scheme; an inner proxy adds a hop.
        let h = headers(&[("x-forwarded-for", "198.51.100.7, 10.0.0.9"), ("x-forwarded-proto", "https")]);
        assert_eq!(proxies.resolve(ip("10.0.0.3"), &h), ClientAddr { ip: ip("198.51.100.7"), https: true });
        // A proxy reporting only the scheme.
        assert!(proxies.resolve(ip("10.0.0.3"), &headers(&[("x-forwarded-proto", "https")])).https);
        let h = headers(&[("forwarded", "proto=https")]);
        assert!(trusted_rfc7239(&["10.0.0.0/8"]).resolve(ip("10.0.0.3"), &h).https);
    }

    #[test]
    fn the_right_most_untrusted_hop_is_the_client() {
        let proxies = trusted(&["10.0.0.0/8", "::1"]);
        // The client wrote a fake first hop; the edge proxy appended the real address.
        let h = headers(&[("x-forwarded-for", "6.6.6.6, 198.51.100.7, 10.0.0.2"), ("x-forwarded-proto", "https")]);
        assert_eq!(proxies.resolve(ip("10.0.0.3"), &h), ClientAddr { ip: ip("198.51.100.7"), https: true });
        let rfc7239 = trusted_rfc7239(&["10.0.0.0/8", "::1"]);
        let h = headers(&[("forwarded", r#"for=6.6.6.6, for="[2001:db8::7]:4711";proto=https, for=10.0.0.2"#)]);
        assert_eq!(rfc7239.resolve(ip("::1"), &h), ClientAddr { ip: ip("2001:db8::7"), https: true });
        let h = headers(&[("forwarded", "for=unknown;proto=https")]);
        assert_eq!(rfc7239.resolve(ip("10.0.0.3"), &h).ip, ip("10.0.0.3"), "an unknown hop stops the walk");
        assert!(!proxies.resolve(ip("10.0.0.3"), &headers(&[])).https);
    }
}
