//! Seeds of the Global cloud, and the addresses a node registers by default.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::str::FromStr;
use std::time::Duration;

use peergroup_base::{NodeId, PeerAddr};
use peergroup_net::{Endpoint, Expect};
use tracing::{debug, warn};

use crate::net::error::PnrpError;

/// A seed node of the Global cloud.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Seed {
    /// Only an address: the driver dials it with `Expect::Any` and learns its node id from
    /// the certificate it presents (trust on first use — a seed given this way can be
    /// anyone listening there; what it tells is checked like any peer's answers).
    Addr(SocketAddr),
    /// An address and the node id that must answer there.
    Peer(PeerAddr),
}

impl Seed {
    /// The seed's address.
    pub fn addr(&self) -> SocketAddr {
        match self {
            Seed::Addr(a) => *a,
            Seed::Peer(p) => p.addr,
        }
    }
}

impl FromStr for Seed {
    type Err = PnrpError;

    /// `ADDR:PORT` (`127.0.0.1:3587`, `[::1]:3587`) or `NODEID@ADDR:PORT` with the node
    /// id in 64 hex digits.
    fn from_str(s: &str) -> Result<Self, PnrpError> {
        let invalid = || PnrpError::InvalidSeed { text: s.chars().take(200).collect() };
        match s.split_once('@') {
            Some((node, addr)) => {
                let node = NodeId::from_hex(node.trim()).ok_or_else(invalid)?;
                let addr = addr.trim().parse::<SocketAddr>().map_err(|_| invalid())?;
                if addr.port() == 0 {
                    return Err(invalid());
                }
                Ok(Seed::Peer(PeerAddr { node, addr }))
            }
            None => {
                let addr = s.trim().parse::<SocketAddr>().map_err(|_| invalid())?;
                if addr.port() == 0 {
                    return Err(invalid());
                }
                Ok(Seed::Addr(addr))
            }
        }
    }
}

impl fmt::Display for Seed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Seed::Addr(a) => write!(f, "{a}"),
            Seed::Peer(p) => write!(f, "{}@{}", p.node, p.addr),
        }
    }
}

/// Dials `addr` expecting anyone and returns who answered.
pub(crate) async fn learn(
    endpoint: &Endpoint,
    addr: SocketAddr,
    timeout: Duration,
) -> Result<PeerAddr, PnrpError> {
    let conn = match tokio::time::timeout(timeout, endpoint.connect(addr, Expect::Any)).await {
        Ok(r) => r?,
        Err(_) => return Err(PnrpError::Net(peergroup_net::NetError::HandshakeTimeout { addr })),
    };
    Ok(PeerAddr { node: conn.remote().node_id, addr })
}

/// Dials every address concurrently; returns the peers learned and the addresses that
/// did not answer.
pub(crate) async fn learn_all(
    endpoint: &Endpoint,
    addrs: &[SocketAddr],
    timeout: Duration,
) -> (Vec<PeerAddr>, Vec<SocketAddr>) {
    let mut tasks = Vec::new();
    for &addr in addrs {
        let endpoint = endpoint.clone();
        tasks.push((addr, tokio::spawn(async move { learn(&endpoint, addr, timeout).await })));
    }
    let mut learned = Vec::new();
    let mut failed = Vec::new();
    for (addr, task) in tasks {
        match task.await {
            Ok(Ok(peer)) => {
                debug!(%addr, node = %peer.node, "seed answered");
                learned.push(peer);
            }
            Ok(Err(e)) => {
                warn!(%addr, error = %e, "seed did not answer; retrying in the background");
                failed.push(addr);
            }
            Err(_) => failed.push(addr),
        }
    }
    (learned, failed)
}

/// Documentation addresses whose route gives the address this host would send from. A
/// UDP `connect` only looks the route up: no packet is sent.
const PROBE_V4: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);
const PROBE_V6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1);

fn route_source(probe: IpAddr) -> Option<IpAddr> {
    let bind: SocketAddr = match probe {
        IpAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
        IpAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    let s = std::net::UdpSocket::bind(bind).ok()?;
    s.connect((probe, 9)).ok()?;
    let ip = s.local_addr().ok()?.ip();
    (!ip.is_unspecified()).then_some(ip)
}

/// The addresses others can reach an endpoint bound to `local` at: `local` itself if it
/// names an address; for a wildcard bind, the address of the default route of each
/// family the socket serves (or loopback if there is none).
pub fn auto_endpoints(local: SocketAddr) -> Vec<SocketAddr> {
    if !local.ip().is_unspecified() {
        return vec![local];
    }
    let port = local.port();
    let mut out = Vec::new();
    // An IPv6 wildcard socket is dual-stack where the OS allows it (quinn's default), so
    // it serves IPv4 too.
    if let Some(ip) = route_source(IpAddr::V4(PROBE_V4)) {
        out.push(SocketAddr::new(ip, port));
    }
    if local.is_ipv6()
        && let Some(ip) = route_source(IpAddr::V6(PROBE_V6))
    {
        out.push(SocketAddr::new(ip, port));
    }
    if out.is_empty() {
        let lo = if local.is_ipv6() {
            IpAddr::V6(Ipv6Addr::LOCALHOST)
        } else {
            IpAddr::V4(Ipv4Addr::LOCALHOST)
        };
        out.push(SocketAddr::new(lo, port));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_both_forms_and_refuses_junk() {
        let a: Seed = "127.0.0.1:3587".parse().unwrap();
        assert_eq!(a, Seed::Addr("127.0.0.1:3587".parse().unwrap()));
        let id = NodeId([0xab; 32]);
        let p: Seed = format!("{id}@[::1]:4000").parse().unwrap();
        assert_eq!(p, Seed::Peer(PeerAddr { node: id, addr: "[::1]:4000".parse().unwrap() }));
        assert_eq!(p.to_string().parse::<Seed>().unwrap(), p);
        for bad in ["", "localhost", "127.0.0.1", "127.0.0.1:0", "zz@127.0.0.1:1", "@1.2.3.4:5"] {
            assert!(matches!(bad.parse::<Seed>(), Err(PnrpError::InvalidSeed { .. })), "{bad}");
        }
    }

    #[test]
    fn auto_endpoints_keep_a_named_address_and_expand_a_wildcard() {
        let named: SocketAddr = "127.0.0.1:5000".parse().unwrap();
        assert_eq!(auto_endpoints(named), vec![named]);
        let wild: SocketAddr = "0.0.0.0:5000".parse().unwrap();
        let got = auto_endpoints(wild);
        assert!(!got.is_empty());
        assert!(got.iter().all(|a| a.port() == 5000 && !a.ip().is_unspecified()), "{got:?}");
    }
}
