//! LAN multicast discovery for the LinkLocal cloud (`proto-specs/pnrp-driver.md` §2).
//!
//! Every node with LinkLocal enabled joins a multicast group (IPv4 `239.255.35.87:3588`,
//! IPv6 `[ff02::504e:5250]:3588` by default) and announces itself there: a fixed 40-byte
//! datagram with its node id and QUIC port. A receiver turns an announcement into
//! [`Command::AddPeer`] for the LinkLocal cloud, with the datagram's source address and
//! the announced port. Nothing in an announcement is trusted: the core dials the peer with
//! `Expect::Node(node id)`, so a forged announcement costs one failed handshake and
//! nothing else.
//!
//! Rate limits: a node announces every `announce_interval` (jittered ±10 %) and, when it
//! hears a node for the first time or is asked to (a *solicit*, sent once at start),
//! answers with its own announcement at most once per `min_reply_interval`. It handles at
//! most `max_received_per_sec` datagrams a second and remembers at most
//! [`MAX_KNOWN_PEERS`] announcers; anything beyond is dropped unread.
//!
//! A peer heard while the cloud's bootstrap runs is only remembered by the core; if that
//! bootstrap fails (say, because its first contact was a forged announcement), the peers
//! heard meanwhile are handed over again, which starts the next attempt at once.

// The discovery loop is driver code: it reads the monotonic clock for its rate limits.
#![allow(clippy::disallowed_methods)]

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::time::Duration;

use peergroup_base::{NodeId, PeerAddr};
use peergroup_net::driver::Handle;
use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::UdpSocket;
use tokio::sync::watch;
use tokio::time::Instant;
use tracing::{debug, warn};

use crate::net::error::PnrpError;
use crate::proto::{Cloud, CloudState, Command};

/// First four bytes of every announcement: `PGLD` (peergroup link discovery).
pub const MAGIC: [u8; 4] = *b"PGLD";
/// The announcement format version this code sends and accepts.
pub const VERSION: u8 = 1;
/// Length of an announcement: magic, version, kind, port, node id.
pub const PACKET_LEN: usize = 4 + 1 + 1 + 2 + 32;
/// Default multicast port (one above the QUIC endpoint's default 3587).
pub const DEFAULT_PORT: u16 = 3588;
/// Default IPv4 group, in the organisation-local scope 239.255.0.0/16 (RFC 2365).
pub const DEFAULT_GROUP_V4: Ipv4Addr = Ipv4Addr::new(239, 255, 35, 87);
/// Default IPv6 group, link-local scope; the group id spells `PNRP` in ASCII.
pub const DEFAULT_GROUP_V6: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0x504e, 0x5250);
/// Most announcers remembered (older ones are forgotten first).
pub const MAX_KNOWN_PEERS: usize = 256;

/// What an announcement asks of its receivers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// "I am here" (periodic, or a reply).
    Announce,
    /// "I am here, and I just started: please announce yourselves" (sent once at start).
    Solicit,
}

/// One discovery datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Announcement {
    /// What it asks.
    pub kind: Kind,
    /// The UDP port of the sender's QUIC endpoint.
    pub port: u16,
    /// The sender's node id (the hash of its TLS key).
    pub node: NodeId,
}

impl Announcement {
    /// The 40-byte datagram: `"PGLD" ‖ version ‖ kind ‖ u16 port (big-endian) ‖ node id`.
    pub fn encode(&self) -> [u8; PACKET_LEN] {
        let mut out = [0u8; PACKET_LEN];
        out[..4].copy_from_slice(&MAGIC);
        out[4] = VERSION;
        out[5] = match self.kind {
            Kind::Announce => 0,
            Kind::Solicit => 1,
        };
        out[6..8].copy_from_slice(&self.port.to_be_bytes());
        out[8..].copy_from_slice(&self.node.0);
        out
    }

    /// Parses a datagram; `None` unless it is exactly a valid announcement (right length,
    /// magic, version and kind; port ≠ 0).
    pub fn decode(bytes: &[u8]) -> Option<Announcement> {
        if bytes.len() != PACKET_LEN || bytes[..4] != MAGIC || bytes[4] != VERSION {
            return None;
        }
        let kind = match bytes[5] {
            0 => Kind::Announce,
            1 => Kind::Solicit,
            _ => return None,
        };
        let port = u16::from_be_bytes([bytes[6], bytes[7]]);
        if port == 0 {
            return None;
        }
        let mut node = [0u8; 32];
        node.copy_from_slice(&bytes[8..]);
        Some(Announcement { kind, port, node: NodeId(node) })
    }
}

/// Settings of LAN discovery. `Default` is the real LAN setup; tests use a private group
/// and port on the loopback interface ([`DiscoveryConfig::loopback`]).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct DiscoveryConfig {
    /// IPv4 group and port. Default `239.255.35.87:3588`; `None` turns IPv4 off.
    pub group_v4: Option<SocketAddrV4>,
    /// IPv6 group and port. Default `[ff02::504e:5250]:3588`; `None` turns IPv6 off.
    pub group_v6: Option<SocketAddrV6>,
    /// Local interface address for IPv4 membership and sending. Default `0.0.0.0` (the
    /// OS's choice); `127.0.0.1` keeps discovery on the loopback interface.
    pub interface_v4: Ipv4Addr,
    /// Interface index for IPv6 membership and sending. Default 0 (the OS's choice).
    pub interface_v6: u32,
    /// Receive our own and this host's other nodes' announcements (`IP_MULTICAST_LOOP`).
    /// Default true: several nodes on one host must find each other.
    pub multicast_loop: bool,
    /// Period of announcements. Default 30 s: a new node is found at once through its
    /// solicit; the period only bounds how long a lost datagram delays discovery, at
    /// 40 bytes per 30 s per node.
    pub announce_interval: Duration,
    /// Least time between two announcements sent in reply. Default 1 s.
    pub min_reply_interval: Duration,
    /// Datagrams handled per second at most; more are dropped. Default 64.
    pub max_received_per_sec: u32,
}

impl Default for DiscoveryConfig {
    fn default() -> Self {
        DiscoveryConfig {
            group_v4: Some(SocketAddrV4::new(DEFAULT_GROUP_V4, DEFAULT_PORT)),
            group_v6: Some(SocketAddrV6::new(DEFAULT_GROUP_V6, DEFAULT_PORT, 0, 0)),
            interface_v4: Ipv4Addr::UNSPECIFIED,
            interface_v6: 0,
            multicast_loop: true,
            announce_interval: Duration::from_secs(30),
            min_reply_interval: Duration::from_secs(1),
            max_received_per_sec: 64,
        }
    }
}

impl DiscoveryConfig {
    /// IPv4 only, on the loopback interface, with the given group and port (tests pick a
    /// free port and a group of their own, so parallel tests do not hear each other).
    pub fn loopback(group: Ipv4Addr, port: u16) -> Self {
        DiscoveryConfig {
            group_v4: Some(SocketAddrV4::new(group, port)),
            group_v6: None,
            interface_v4: Ipv4Addr::LOCALHOST,
            ..Self::default()
        }
    }
}

fn v4_socket(group: SocketAddrV4, config: &DiscoveryConfig) -> std::io::Result<UdpSocket> {
    let s = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))?;
    s.set_reuse_address(true)?;
    #[cfg(all(
        unix,
        not(any(target_os = "solaris", target_os = "illumos", target_os = "cygwin"))
    ))]
    s.set_reuse_port(true)?;
    s.bind(&SocketAddr::from((Ipv4Addr::UNSPECIFIED, group.port())).into())?;
    s.join_multicast_v4(group.ip(), &config.interface_v4)?;
    // Only the groups this socket joined, not every group joined on the port (Linux
    // delivers those by default).
    #[cfg(target_os = "linux")]
    s.set_multicast_all_v4(false)?;
    s.set_multicast_if_v4(&config.interface_v4)?;
    s.set_multicast_loop_v4(config.multicast_loop)?;
    s.set_multicast_ttl_v4(1)?;
    s.set_nonblocking(true)?;
    UdpSocket::from_std(s.into())
}

fn v6_socket(group: SocketAddrV6, config: &DiscoveryConfig) -> std::io::Result<UdpSocket> {
    let s = Socket::new(Domain::IPV6, Type::DGRAM, Some(Protocol::UDP))?;
    s.set_only_v6(true)?;
    s.set_reuse_address(true)?;
    #[cfg(all(
        unix,
        not(any(target_os = "solaris", target_os = "illumos", target_os = "cygwin"))
    ))]
    s.set_reuse_port(true)?;
    s.bind(&SocketAddr::from((Ipv6Addr::UNSPECIFIED, group.port())).into())?;
    s.join_multicast_v6(group.ip(), config.interface_v6)?;
    s.set_multicast_if_v6(config.interface_v6)?;
    s.set_multicast_loop_v6(config.multicast_loop)?;
    s.set_multicast_hops_v6(1)?;
    s.set_nonblocking(true)?;
    UdpSocket::from_std(s.into())
}

/// One multicast socket and where it sends.
struct Channel {
    socket: UdpSocket,
    group: SocketAddr,
}

/// The running discovery: sockets bound and joined; [`Discovery::run`] is its task.
pub(crate) struct Discovery {
    channels: Vec<Channel>,
    me: NodeId,
    port: u16,
    config: DiscoveryConfig,
}

impl Discovery {
    /// Binds and joins the configured groups usable with an endpoint at `local` (IPv4
    /// groups for an IPv4 or dual-stack endpoint, IPv6 groups for an IPv6 one). Fails only
    /// if no group could be joined.
    pub(crate) fn bind(
        config: DiscoveryConfig,
        me: NodeId,
        local: SocketAddr,
    ) -> Result<Discovery, PnrpError> {
        let mut channels = Vec::new();
        let mut failures = Vec::new();
        let endpoint_v4 = local.is_ipv4() || local.ip() == IpAddr::V6(Ipv6Addr::UNSPECIFIED);
        let endpoint_v6 = local.is_ipv6();
        if let Some(g) = config.group_v4.filter(|_| endpoint_v4) {
            match v4_socket(g, &config) {
                Ok(socket) => channels.push(Channel { socket, group: g.into() }),
                Err(e) => failures.push(format!("{g}: {e}")),
            }
        }
        if let Some(g) = config.group_v6.filter(|_| endpoint_v6) {
            match v6_socket(g, &config) {
                Ok(socket) => channels.push(Channel { socket, group: g.into() }),
                Err(e) => failures.push(format!("{g}: {e}")),
            }
        }
        if channels.is_empty() {
            let reason = if failures.is_empty() {
                format!("no multicast group configured for an endpoint at {local}")
            } else {
                failures.join("; ")
            };
            return Err(PnrpError::Discovery { reason });
        }
        for f in failures {
            warn!(group = %f, "lan discovery: group unusable, continuing without it");
        }
        Ok(Discovery { channels, me, port: local.port(), config })
    }

    async fn send_all(&self, kind: Kind) {
        let packet = Announcement { kind, port: self.port, node: self.me }.encode();
        for c in &self.channels {
            if let Err(e) = c.socket.send_to(&packet, c.group).await {
                debug!(group = %c.group, error = %e, "lan discovery: announcement not sent");
            }
        }
    }

    /// Announces, listens and hands discovered peers to the core until `shutdown`.
    /// `state` follows the LinkLocal cloud's state: peers heard while a bootstrap runs are
    /// only remembered by the core, so if that bootstrap fails they are handed over again
    /// (which starts the next attempt at once instead of after the core's backoff).
    pub(crate) async fn run(
        self,
        core: Handle<Command>,
        mut state: watch::Receiver<CloudState>,
        mut shutdown: watch::Receiver<bool>,
    ) {
        let mut known: HashMap<NodeId, (SocketAddr, Instant)> = HashMap::new();
        let mut heard_while_joining: Vec<PeerAddr> = Vec::new();
        let mut follow_state = true;
        let mut budget = Budget::new(self.config.max_received_per_sec);
        let mut last_sent = Instant::now();
        let mut reply_due: Option<Instant> = None;
        self.send_all(Kind::Solicit).await;
        let mut next_announce = last_sent + jitter(self.config.announce_interval, &self.me, 0);
        let mut round: u64 = 1;
        let mut bufs = vec![[0u8; PACKET_LEN + 1]; self.channels.len()];
        loop {
            let wake = reply_due.map_or(next_announce, |r| r.min(next_announce));
            let received = tokio::select! {
                _ = shutdown.changed() => break,
                changed = state.changed(), if follow_state => {
                    if changed.is_err() {
                        follow_state = false;
                        continue;
                    }
                    let now_state = *state.borrow_and_update();
                    match now_state {
                        CloudState::Dead => {
                            for peer in heard_while_joining.drain(..) {
                                debug!(?peer, "lan discovery: bootstrap failed, handing peer over again");
                                if core.command(Command::AddPeer { cloud: Cloud::LinkLocal, peer }).await.is_err() {
                                    return;
                                }
                            }
                        }
                        CloudState::Synchronising => {}
                        _ => heard_while_joining.clear(),
                    }
                    continue;
                }
                () = tokio::time::sleep_until(wake) => None,
                r = recv_any(&self.channels, &mut bufs) => r,
            };
            let now = Instant::now();
            if let Some((len, from, index)) = received {
                let Some(buf) = bufs.get(index) else { continue };
                if !budget.take(now) {
                    continue;
                }
                let Some(a) = buf.get(..len).and_then(Announcement::decode) else {
                    debug!(%from, len, "lan discovery: datagram refused");
                    continue;
                };
                if a.node == self.me {
                    continue;
                }
                let addr = SocketAddr::new(from.ip(), a.port);
                let fresh = match known.get(&a.node) {
                    None => true,
                    Some((old, at)) => {
                        *old != addr || now.duration_since(*at) >= self.config.announce_interval
                    }
                };
                if a.kind == Kind::Solicit || !known.contains_key(&a.node) {
                    reply_due.get_or_insert(now);
                }
                if fresh {
                    if known.len() >= MAX_KNOWN_PEERS
                        && !known.contains_key(&a.node)
                        && let Some(oldest) =
                            known.iter().min_by_key(|(_, (_, at))| *at).map(|(n, _)| *n)
                    {
                        known.remove(&oldest);
                    }
                    known.insert(a.node, (addr, now));
                    debug!(peer = ?a.node, %addr, "lan discovery: peer announced");
                    let peer = PeerAddr { node: a.node, addr };
                    if *state.borrow() == CloudState::Synchronising
                        && heard_while_joining.len() < MAX_KNOWN_PEERS
                    {
                        heard_while_joining.push(peer);
                    }
                    if core
                        .command(Command::AddPeer { cloud: Cloud::LinkLocal, peer })
                        .await
                        .is_err()
                    {
                        break;
                    }
                }
            }
            if let Some(due) = reply_due {
                let allowed = last_sent + self.config.min_reply_interval;
                if now >= due.max(allowed) {
                    self.send_all(Kind::Announce).await;
                    last_sent = now;
                    reply_due = None;
                } else {
                    reply_due = Some(due.max(allowed));
                }
            }
            if now >= next_announce {
                self.send_all(Kind::Announce).await;
                last_sent = now;
                next_announce = now + jitter(self.config.announce_interval, &self.me, round);
                round += 1;
            }
        }
        debug!("lan discovery stopped");
    }
}

/// Receives from whichever channel has a datagram: (length, source, channel index).
async fn recv_any(
    channels: &[Channel],
    bufs: &mut [[u8; PACKET_LEN + 1]],
) -> Option<(usize, SocketAddr, usize)> {
    // A datagram longer than PACKET_LEN is truncated to PACKET_LEN + 1 bytes, which
    // decode() refuses: nothing larger is ever read.
    let readable = std::future::poll_fn(|cx| {
        for (i, c) in channels.iter().enumerate() {
            if c.socket.poll_recv_ready(cx).is_ready() {
                return std::task::Poll::Ready(i);
            }
        }
        std::task::Poll::Pending
    })
    .await;
    let c = channels.get(readable)?;
    let buf = bufs.get_mut(readable)?;
    match c.socket.try_recv_from(buf) {
        Ok((len, from)) => Some((len, from, readable)),
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => None,
        Err(e) => {
            debug!(error = %e, "lan discovery: receive failed");
            None
        }
    }
}

/// `d` ± 10 %, derived from the node id and round so nodes started together spread out
/// (no RNG needed for a rate limit).
fn jitter(d: Duration, me: &NodeId, round: u64) -> Duration {
    let x = u64::from_be_bytes([
        me.0[0], me.0[1], me.0[2], me.0[3], me.0[4], me.0[5], me.0[6], me.0[7],
    ])
    .wrapping_add(round.wrapping_mul(0x9e37_79b9_7f4a_7c15));
    let f = 0.9 + 0.2 * ((x % 1000) as f64 / 1000.0);
    d.mul_f64(f)
}

/// A token bucket of `rate` datagrams per second (burst `rate`).
struct Budget {
    rate: f64,
    tokens: f64,
    at: Option<Instant>,
}

impl Budget {
    fn new(rate: u32) -> Self {
        let rate = f64::from(rate.max(1));
        Budget { rate, tokens: rate, at: None }
    }

    fn take(&mut self, now: Instant) -> bool {
        if let Some(at) = self.at {
            self.tokens =
                (self.tokens + now.duration_since(at).as_secs_f64() * self.rate).min(self.rate);
        }
        self.at = Some(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use peergroup_base::spec_vectors::{self, get};

    #[test]
    fn announcement_matches_spec_vectors() {
        let spec = include_str!("../../../../proto-specs/pnrp-driver.md");
        let mut checked = 0;
        for v in spec_vectors::parse(spec) {
            let name = get(&v, "name").unwrap();
            let packet = hex::decode(get(&v, "packet").unwrap().replace(' ', "")).unwrap();
            match name {
                n if n.starts_with("discovery-") => {
                    let kind = match get(&v, "kind").unwrap() {
                        "announce" => Kind::Announce,
                        "solicit" => Kind::Solicit,
                        other => panic!("unknown kind {other}"),
                    };
                    let a = Announcement {
                        kind,
                        port: get(&v, "port").unwrap().parse().unwrap(),
                        node: NodeId::from_hex(get(&v, "node").unwrap()).unwrap(),
                    };
                    assert_eq!(a.encode().as_slice(), packet.as_slice(), "{name}");
                    assert_eq!(Announcement::decode(&packet), Some(a), "{name}");
                }
                n if n.starts_with("refused-") => {
                    assert_eq!(Announcement::decode(&packet), None, "{name}");
                }
                other => panic!("unrecognised vector {other}"),
            }
            checked += 1;
        }
        assert!(checked >= 3);
    }

    #[test]
    fn decode_refuses_everything_else() {
        let good =
            Announcement { kind: Kind::Announce, port: 3587, node: NodeId([5; 32]) }.encode();
        assert!(Announcement::decode(&good).is_some());
        assert!(Announcement::decode(&good[..PACKET_LEN - 1]).is_none());
        let mut long = good.to_vec();
        long.push(0);
        assert!(Announcement::decode(&long).is_none());
        for (i, v) in [(0usize, b'X'), (4, 2), (5, 7)] {
            let mut bad = good;
            bad[i] = v;
            assert!(Announcement::decode(&bad).is_none(), "byte {i}");
        }
        let mut port0 = good;
        port0[6] = 0;
        port0[7] = 0;
        assert!(Announcement::decode(&port0).is_none());
        assert!(Announcement::decode(&[]).is_none());
    }

    #[test]
    fn budget_limits_rate() {
        let t0 = Instant::now();
        let mut b = Budget::new(3);
        assert!((0..3).all(|_| b.take(t0)));
        assert!(!b.take(t0));
        assert!(b.take(t0 + Duration::from_millis(400)));
    }

    #[test]
    fn jitter_stays_within_ten_percent() {
        let d = Duration::from_secs(30);
        for r in 0..50 {
            let j = jitter(d, &NodeId([r as u8; 32]), r);
            assert!(j >= d.mul_f64(0.9) && j <= d.mul_f64(1.1), "{j:?}");
        }
    }

    /// The socket options on this OS (Linux, macOS, Windows; no QUIC, so it runs under wine
    /// too): two sockets bind one port (SO_REUSEADDR, and SO_REUSEPORT on Unix), join the
    /// group on the loopback interface and hear each other (IP_MULTICAST_LOOP).
    #[tokio::test]
    async fn two_sockets_share_the_port_and_hear_each_other() {
        let probe = std::net::UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0)).unwrap();
        let port = probe.local_addr().unwrap().port();
        drop(probe);
        let group = Ipv4Addr::new(239, 255, (port >> 8) as u8, port as u8);
        let config = DiscoveryConfig::loopback(group, port);
        let local = SocketAddr::from((Ipv4Addr::LOCALHOST, 4000));
        let a = Discovery::bind(config.clone(), NodeId([1; 32]), local).unwrap();
        let b = Discovery::bind(config, NodeId([2; 32]), local).unwrap();
        a.send_all(Kind::Announce).await;
        let mut bufs = vec![[0u8; PACKET_LEN + 1]; b.channels.len()];
        let heard = tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                if let Some((len, _, i)) = recv_any(&b.channels, &mut bufs).await {
                    return Announcement::decode(&bufs[i][..len]);
                }
            }
        })
        .await
        .expect("b hears a within 10 s");
        assert_eq!(
            heard,
            Some(Announcement { kind: Kind::Announce, port: 4000, node: NodeId([1; 32]) })
        );
    }
}
