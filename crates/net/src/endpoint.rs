//! The shared endpoint: connection cache, accept loop and stream dispatch.

use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use peergroup_base::{FrameCodec, PeerName};
use peergroup_identity::{CertifiedPeer, Identity};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tracing::debug;

use crate::NetError;
use crate::limits::{
    ConnLimits, FrameLimits, Gauge, Prefix, PrefixSlot, PrefixTable, RefusalCounters, Refusals,
    StreamRate, StreamVerdict, bump,
};
use crate::stream::{FramedStream, codes};
use crate::tls::{self, Expect, Observed};

/// Longest protocol id in a stream preamble, in bytes.
pub(crate) const MAX_PROTOCOL_ID_LEN: usize = 32;

/// The name of a protocol carried on a stream (`proto-specs/wire.md` §3), e.g. `pnrp/1`:
/// 1..=32 printable ASCII characters.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ProtocolId(String);

impl ProtocolId {
    /// Validates a protocol id.
    pub fn new(id: &str) -> Result<Self, NetError> {
        if id.is_empty()
            || id.len() > MAX_PROTOCOL_ID_LEN
            || !id.bytes().all(|b| b.is_ascii_graphic())
        {
            return Err(NetError::InvalidProtocolId(id.chars().take(64).collect()));
        }
        Ok(ProtocolId(id.to_owned()))
    }

    /// The id text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    fn preamble(&self) -> Vec<u8> {
        let mut p = Vec::with_capacity(1 + self.0.len());
        // len ≤ 32 by construction
        p.push(self.0.len() as u8);
        p.extend_from_slice(self.0.as_bytes());
        p
    }
}

impl fmt::Display for ProtocolId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for ProtocolId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ProtocolId({})", self.0)
    }
}

/// Endpoint settings. `Default` listens on `[::]:3587` (both IPv4 and IPv6 where the OS
/// allows dual-stack sockets); [`EndpointConfig::loopback`] on `127.0.0.1` with an
/// ephemeral port, for tests and demos.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct EndpointConfig {
    /// Address to bind. Default `[::]:3587` (the PNRP port, [MS-PNRP] 2.1).
    pub bind: SocketAddr,
    /// Maximum frame length (base codec). Default 1 MiB (DESIGN.md §4).
    pub max_frame_len: u32,
    /// Close a connection after this long without traffic. Default 30 s.
    pub idle_timeout: Duration,
    /// Send keep-alives this often on open connections. Default 10 s (a third of the idle
    /// timeout, so two may be lost).
    pub keep_alive: Duration,
    /// Give up on a handshake after this long. Default 10 s.
    pub handshake_timeout: Duration,
    /// Reset a new stream whose preamble has not arrived after this long. Default 5 s.
    pub preamble_timeout: Duration,
    /// Streams a peer may have open towards us per connection (QUIC's
    /// `initial_max_streams_bidi`). Default 64: each protocol needs at most a few streams
    /// per connection (`max_streams_per_protocol`), and every stream a stranger may open is
    /// one the node must accept, read a preamble from and refuse.
    pub max_streams_per_connection: u32,
    /// Incoming streams of one protocol a connection may have open at once, unless the
    /// protocol was registered with its own limit ([`Endpoint::register_limited`]); further
    /// ones are reset with [`codes::BUSY`]. Default 16.
    pub max_streams_per_protocol: usize,
    /// New streams queued per protocol before further ones are refused with
    /// [`codes::BUSY`]. Default 256.
    pub handler_queue: usize,
    /// New streams a peer may open per second on one connection, on average (a token
    /// bucket of [`new_stream_burst`](Self::new_stream_burst)); a stream beyond is reset
    /// with [`codes::BUSY`] before its preamble is read, and a connection that opens a
    /// further burst while refused is closed with [`codes::STREAM_RATE`] (`wire.md` §5).
    /// Default 10: a peer opens one long-lived stream per protocol and a new one only to
    /// replace one that ended (`pnrp-driver.md` §1), so honest peers stay far below it,
    /// while a stranger that opens and drops streams in a loop — each one accepted, read
    /// and dispatched — is cut off after two bursts. The close costs the peer's source
    /// prefix a second of handshakes
    /// ([`handshakes_per_second_per_prefix`](Self::handshakes_per_second_per_prefix)
    /// tokens), so redialling does not buy a new burst at once.
    pub new_streams_per_second: u32,
    /// The streams a connection may open at once before the rate applies
    /// ([`new_streams_per_second`](Self::new_streams_per_second)), and the debt of refused
    /// streams after which it is closed. Default 16: four protocols' worth of streams at
    /// the driver's limit of 4 each; every reconnect of a stranger buys one burst.
    pub new_stream_burst: u32,
    /// Live connections and handshakes in progress at most; further incoming ones are
    /// refused. Default 10,000.
    pub max_connections: usize,
    /// Incoming connections and handshakes from one source prefix (IPv4 /24, IPv6 /48) at
    /// most. Default 64: a NAT or a small site shares a prefix, a stranger with many
    /// addresses gets 64 per /24.
    pub max_connections_per_prefix: usize,
    /// New handshakes per second per source prefix (token bucket, burst of the same size).
    /// Default 32.
    pub handshakes_per_second_per_prefix: u32,
    /// While more handshakes than this are in progress, an incoming connection whose source
    /// address QUIC has not validated gets a Retry packet instead of a handshake (RFC 9000
    /// §8.1.2), so a spoofed source costs one stateless packet. Default 64.
    pub retry_above_handshakes: usize,
    /// A frame must be complete this long after its first byte arrived, plus one second per
    /// [`frame_min_rate`](Self::frame_min_rate) bytes of its length; else the stream is
    /// reset with [`codes::STALLED`]. Default 10 s.
    pub frame_timeout: Duration,
    /// The slowest sending rate a frame is allowed, in bytes per second. Default 64 KiB/s
    /// (a 1 MiB frame gets 26 s, a 60 MiB graph record 16 min).
    pub frame_min_rate: u32,
    /// Frames that may be half read at once on one connection; a frame that starts beyond
    /// it is refused with [`codes::BUSY`]. Default 16.
    pub max_half_read_frames: usize,
    /// Bytes all half-read frames of the endpoint may hold together; a frame that would
    /// pass it is refused with [`codes::BUSY`]. Default 256 MiB.
    pub max_buffered_frame_bytes: usize,
    /// QUIC flow-control window per stream (bytes a peer may send ahead of what we read).
    /// Default 256 KiB.
    pub stream_receive_window: u32,
    /// QUIC flow-control window per connection. Default 1 MiB: bounds what a connection's
    /// unread streams hold, and is about 80 Mbit/s at 100 ms of round trip.
    pub receive_window: u32,
    /// Bytes we buffer for sending per connection (a peer that does not read its answers
    /// holds at most this much). Default 1 MiB.
    pub send_window: u32,
}

impl Default for EndpointConfig {
    fn default() -> Self {
        EndpointConfig {
            bind: SocketAddr::from((std::net::Ipv6Addr::UNSPECIFIED, 3587)),
            max_frame_len: peergroup_base::codec::DEFAULT_MAX_FRAME_LEN,
            idle_timeout: Duration::from_secs(30),
            keep_alive: Duration::from_secs(10),
            handshake_timeout: Duration::from_secs(10),
            preamble_timeout: Duration::from_secs(5),
            max_streams_per_connection: 64,
            max_streams_per_protocol: 16,
            handler_queue: 256,
            new_streams_per_second: 10,
            new_stream_burst: 16,
            max_connections: 10_000,
            max_connections_per_prefix: 64,
            handshakes_per_second_per_prefix: 32,
            retry_above_handshakes: 64,
            frame_timeout: Duration::from_secs(10),
            frame_min_rate: 64 * 1024,
            max_half_read_frames: 16,
            max_buffered_frame_bytes: 256 << 20,
            stream_receive_window: 256 * 1024,
            receive_window: 1 << 20,
            send_window: 1 << 20,
        }
    }
}

impl EndpointConfig {
    /// Defaults, bound to `127.0.0.1` on an ephemeral port, without the per-prefix limits
    /// (every peer of a one-host test or demo shares 127.0.0.0/24; the same reason PNRP's
    /// loopback settings drop its diversity limits).
    pub fn loopback() -> Self {
        EndpointConfig {
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            max_connections_per_prefix: usize::MAX,
            handshakes_per_second_per_prefix: u32::MAX,
            ..Self::default()
        }
    }

    /// Defaults, bound to `addr`.
    pub fn with_bind(addr: SocketAddr) -> Self {
        EndpointConfig { bind: addr, ..Self::default() }
    }

    fn transport(&self) -> Result<Arc<quinn::TransportConfig>, NetError> {
        let mut t = quinn::TransportConfig::default();
        let idle = quinn::IdleTimeout::try_from(self.idle_timeout)
            .map_err(|e| NetError::Config(format!("idle timeout: {e}")))?;
        t.max_idle_timeout(Some(idle));
        t.keep_alive_interval(Some(self.keep_alive));
        t.max_concurrent_bidi_streams(quinn::VarInt::from_u32(self.max_streams_per_connection));
        t.max_concurrent_uni_streams(quinn::VarInt::from_u32(0));
        t.stream_receive_window(quinn::VarInt::from_u32(self.stream_receive_window));
        t.receive_window(quinn::VarInt::from_u32(
            self.receive_window.max(self.stream_receive_window),
        ));
        t.send_window(u64::from(self.send_window));
        // No QUIC datagrams: nothing reads them, so a peer could fill the buffer for nothing
        // (wire.md §1: the transport parameter max_datagram_frame_size is not sent).
        t.datagram_receive_buffer_size(None);
        Ok(Arc::new(t))
    }
}

/// A live, authenticated connection to one peer. Cheap to clone.
#[derive(Clone)]
pub struct Connection {
    conn: quinn::Connection,
    remote: Arc<CertifiedPeer>,
    codec: FrameCodec,
    limits: Arc<ConnLimits>,
    frames: FrameLimits,
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("remote", &self.remote.peer_name)
            .field("addr", &self.conn.remote_address())
            .field("id", &self.conn.stable_id())
            .finish()
    }
}

impl Connection {
    /// The verified identity of the far end.
    pub fn remote(&self) -> &CertifiedPeer {
        &self.remote
    }

    /// The far end's UDP address.
    ///
    /// An IPv4 peer reached through a dual-stack (`[::]`) socket is reported as a plain IPv4
    /// address, not `::ffff:a.b.c.d`, so the address can be handed to IPv4-only peers.
    pub fn remote_addr(&self) -> SocketAddr {
        canonical_addr(self.conn.remote_address())
    }

    /// A number identifying this connection for as long as it lives.
    pub fn stable_id(&self) -> usize {
        self.conn.stable_id()
    }

    /// `true` once the connection has closed.
    pub fn is_closed(&self) -> bool {
        self.conn.close_reason().is_some()
    }

    /// Round-trip time estimate.
    pub fn rtt(&self) -> Duration {
        self.conn.rtt()
    }

    /// Opens a stream for `protocol` and writes its preamble.
    pub async fn open(&self, protocol: &ProtocolId) -> Result<FramedStream, NetError> {
        let (mut send, recv) = self.conn.open_bi().await?;
        send.write_all(&protocol.preamble()).await?;
        Ok(FramedStream::new(
            send,
            recv,
            self.codec,
            (*self.remote).clone(),
            self.remote_addr(),
            self.frames.clone(),
            None,
            self.conn.clone(),
        ))
    }

    /// 32 bytes of keying material exported from this connection's TLS 1.3 session
    /// (RFC 8446 §7.5, `TLS-Exporter(label, context, 32)`): both ends of one connection
    /// get the same value, any other connection a different one. Layers above bind
    /// their own proofs to the connection with it (channel binding). `None` only if the
    /// TLS session refuses the export, which rustls does not do once the handshake is
    /// complete.
    pub fn exporter(&self, label: &[u8], context: &[u8]) -> Option<[u8; 32]> {
        let mut out = [0u8; 32];
        self.conn.export_keying_material(&mut out, label, context).ok()?;
        Some(out)
    }

    /// Closes the connection (all protocols' streams on it).
    pub fn close(&self, reason: &str) {
        self.conn.close(codes::OK, reason.as_bytes());
    }
}

/// The streams of one protocol, as peers open them. Dropping it unregisters the protocol.
#[derive(Debug)]
pub struct Incoming {
    rx: mpsc::Receiver<FramedStream>,
}

impl Incoming {
    /// The next stream a peer opened for this protocol; `None` once the endpoint closed.
    pub async fn next(&mut self) -> Option<FramedStream> {
        self.rx.recv().await
    }
}

/// A protocol's queue of new streams and its limit of streams per connection.
type Handler = (mpsc::Sender<FramedStream>, usize);

struct Shared {
    config: EndpointConfig,
    codec: FrameCodec,
    conns: Mutex<HashMap<usize, Connection>>,
    handlers: Mutex<HashMap<String, Handler>>,
    counters: Arc<RefusalCounters>,
    prefixes: Arc<PrefixTable>,
    /// Incoming handshakes in progress.
    handshaking: Arc<Gauge>,
    /// Bytes held by half-read frames.
    buffered: Arc<Gauge>,
}

impl Shared {
    fn connection_count(&self) -> usize {
        self.conns.lock().map(|c| c.len()).unwrap_or(0)
    }

    fn frame_limits(&self) -> FrameLimits {
        FrameLimits {
            counters: self.counters.clone(),
            half_read: Arc::default(),
            max_half_read: self.config.max_half_read_frames,
            buffered: self.buffered.clone(),
            max_buffered: self.config.max_buffered_frame_bytes,
            frame_timeout: self.config.frame_timeout,
            min_rate: self.config.frame_min_rate,
        }
    }

    /// A live connection whose far end satisfies `expect` (and, for [`Expect::Any`], is at
    /// `addr`).
    fn find(&self, addr: SocketAddr, expect: &Expect) -> Option<Connection> {
        let conns = self.conns.lock().ok()?;
        conns
            .values()
            .filter(|c| !c.is_closed())
            .find(|c| match expect {
                Expect::Name(n) => &c.remote.peer_name == n,
                Expect::Node(id) => &c.remote.node_id == id,
                Expect::Any => c.remote_addr() == addr,
            })
            .cloned()
    }
}

struct Inner {
    quinn: quinn::Endpoint,
    identity: Identity,
    shared: Arc<Shared>,
    accept_task: JoinHandle<()>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.accept_task.abort();
        self.quinn.close(codes::OK, b"endpoint dropped");
    }
}

/// A peer's QUIC endpoint: accepts and dials connections for every protocol. Cheap to
/// clone; the endpoint shuts down when the last clone is dropped or on [`close`](Self::close).
#[derive(Clone)]
pub struct Endpoint {
    inner: Arc<Inner>,
}

impl fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Endpoint")
            .field("peer_name", self.inner.identity.peer_name())
            .field("local_addr", &self.inner.quinn.local_addr().ok())
            .finish()
    }
}

impl Endpoint {
    /// Binds a UDP socket and starts accepting connections. Must run inside a tokio runtime.
    pub async fn bind(identity: Identity, config: EndpointConfig) -> Result<Self, NetError> {
        let transport = config.transport()?;
        let server_tls = tls::server_config(&identity)?;
        let server_crypto = quinn::crypto::rustls::QuicServerConfig::try_from(server_tls)
            .map_err(|e| NetError::Config(e.to_string()))?;
        let mut server = quinn::ServerConfig::with_crypto(Arc::new(server_crypto));
        server.transport_config(transport);
        let quinn = quinn::Endpoint::server(server, config.bind)
            .map_err(|source| NetError::Bind { addr: config.bind, source })?;
        let shared = Arc::new(Shared {
            codec: FrameCodec::new(config.max_frame_len),
            config,
            conns: Mutex::new(HashMap::new()),
            handlers: Mutex::new(HashMap::new()),
            counters: Arc::default(),
            prefixes: Arc::default(),
            handshaking: Arc::default(),
            buffered: Arc::default(),
        });
        let accept_task = tokio::spawn(accept_loop(quinn.clone(), shared.clone()));
        Ok(Endpoint { inner: Arc::new(Inner { quinn, identity, shared, accept_task }) })
    }

    /// The address the endpoint listens on.
    pub fn local_addr(&self) -> Result<SocketAddr, NetError> {
        self.inner
            .quinn
            .local_addr()
            .map_err(|source| NetError::Bind { addr: self.inner.shared.config.bind, source })
    }

    /// This endpoint's identity.
    pub fn identity(&self) -> &Identity {
        &self.inner.identity
    }

    /// This endpoint's peer name.
    pub fn peer_name(&self) -> &PeerName {
        self.inner.identity.peer_name()
    }

    /// Subscribes to the streams peers open for `protocol`, at most
    /// [`EndpointConfig::max_streams_per_protocol`] open at once per connection.
    pub fn register(&self, protocol: ProtocolId) -> Result<Incoming, NetError> {
        let max = self.inner.shared.config.max_streams_per_protocol;
        self.register_limited(protocol, max)
    }

    /// Subscribes to the streams peers open for `protocol`, at most
    /// `max_streams_per_connection` of them open at once per connection: a further one is
    /// reset with [`codes::BUSY`] (counted in [`Refusals::streams_per_protocol`]). A stream
    /// counts until the [`FramedStream`] handed out is dropped.
    pub fn register_limited(
        &self,
        protocol: ProtocolId,
        max_streams_per_connection: usize,
    ) -> Result<Incoming, NetError> {
        let mut handlers =
            self.inner.shared.handlers.lock().map_err(|_| NetError::EndpointClosed)?;
        if handlers.get(protocol.as_str()).is_some_and(|(tx, _)| !tx.is_closed()) {
            return Err(NetError::ProtocolAlreadyRegistered(protocol.0));
        }
        let (tx, rx) = mpsc::channel(self.inner.shared.config.handler_queue.max(1));
        handlers.insert(protocol.0, (tx, max_streams_per_connection.max(1)));
        Ok(Incoming { rx })
    }

    /// What the endpoint refused so far, by reason (`wire.md` §5).
    pub fn refusals(&self) -> Refusals {
        self.inner.shared.counters.snapshot()
    }

    /// A connection to a peer that satisfies `expect`: an existing live one (whichever side
    /// dialled it, at whatever address — for [`Expect::Name`] and [`Expect::Node`] the
    /// identity is what counts), or a new one to `addr` whose handshake checks `expect`.
    /// [`Expect::Any`] reuses only a connection to `addr`.
    pub async fn connect(&self, addr: SocketAddr, expect: Expect) -> Result<Connection, NetError> {
        if let Expect::Name(name) = &expect
            && !name.is_secure()
        {
            return Err(NetError::UnsecuredName(name.clone()));
        }
        if let Some(conn) = self.inner.shared.find(addr, &expect) {
            return Ok(conn);
        }
        let observed = Arc::new(Observed::default());
        let tls = tls::client_config(&self.inner.identity, expect.clone(), observed.clone())?;
        let crypto = quinn::crypto::rustls::QuicClientConfig::try_from(tls)
            .map_err(|e| NetError::Config(e.to_string()))?;
        let mut client = quinn::ClientConfig::new(Arc::new(crypto));
        client.transport_config(self.inner.shared.config.transport()?);
        let connecting = self.inner.quinn.connect_with(client, addr, "peergroup")?;
        let timeout = self.inner.shared.config.handshake_timeout;
        let result = match tokio::time::timeout(timeout, connecting).await {
            Err(_) => return Err(NetError::HandshakeTimeout { addr }),
            Ok(r) => r,
        };
        let conn = match result {
            Ok(c) => c,
            Err(e) => {
                if let Some(seen) = observed.take()
                    && !matches_expect(&expect, &seen)
                {
                    return Err(wrong_peer(addr, &expect, seen));
                }
                return Err(e.into());
            }
        };
        let remote = tls::remote_identity(&conn)?;
        if !matches_expect(&expect, &remote) {
            conn.close(codes::OK, b"wrong peer");
            return Err(wrong_peer(addr, &expect, remote));
        }
        Ok(register_connection(&self.inner.shared, conn, remote, None))
    }

    /// Dials (or reuses a connection) and opens a stream for `protocol`.
    pub async fn open(
        &self,
        addr: SocketAddr,
        expect: Expect,
        protocol: &ProtocolId,
    ) -> Result<FramedStream, NetError> {
        self.connect(addr, expect).await?.open(protocol).await
    }

    /// Live connections, one entry per QUIC connection.
    pub fn connections(&self) -> Vec<Connection> {
        self.inner
            .shared
            .conns
            .lock()
            .map(|c| c.values().filter(|c| !c.is_closed()).cloned().collect())
            .unwrap_or_default()
    }

    /// Closes every connection and waits until the peers were told (bounded by the idle
    /// timeout).
    pub async fn close(&self) {
        self.inner.quinn.close(codes::OK, b"shutdown");
        if let Ok(mut h) = self.inner.shared.handlers.lock() {
            h.clear();
        }
        let _ = tokio::time::timeout(Duration::from_secs(3), self.inner.quinn.wait_idle()).await;
    }
}

/// `::ffff:a.b.c.d` (an IPv4 peer seen through a dual-stack socket) as `a.b.c.d`.
pub(crate) fn canonical_addr(addr: SocketAddr) -> SocketAddr {
    match addr {
        SocketAddr::V6(v6) => match v6.ip().to_ipv4_mapped() {
            Some(v4) => SocketAddr::from((v4, v6.port())),
            None => addr,
        },
        SocketAddr::V4(_) => addr,
    }
}

fn matches_expect(expect: &Expect, peer: &CertifiedPeer) -> bool {
    match expect {
        Expect::Name(n) => &peer.peer_name == n,
        Expect::Node(id) => &peer.node_id == id,
        Expect::Any => true,
    }
}

fn wrong_peer(addr: SocketAddr, expect: &Expect, seen: CertifiedPeer) -> NetError {
    let expected = match expect {
        Expect::Name(n) => n.to_string(),
        Expect::Node(id) => format!("node {id}"),
        Expect::Any => "anyone".to_owned(),
    };
    NetError::WrongPeer { addr, expected, found: Box::new(seen) }
}

/// Records a connection and serves the streams its peer opens. `slot` is an incoming
/// connection's place in its source prefix's count, held as long as the connection lives.
fn register_connection(
    shared: &Arc<Shared>,
    conn: quinn::Connection,
    remote: CertifiedPeer,
    slot: Option<PrefixSlot>,
) -> Connection {
    let connection = Connection {
        conn,
        remote: Arc::new(remote),
        codec: shared.codec,
        limits: Arc::default(),
        frames: shared.frame_limits(),
    };
    if let Ok(mut conns) = shared.conns.lock() {
        conns.insert(connection.stable_id(), connection.clone());
    }
    tokio::spawn(serve_streams(shared.clone(), connection.clone(), slot));
    connection
}

/// The accept path (`wire.md` §5): every check is made before any handshake state exists
/// beyond quinn's `Incoming`.
#[allow(clippy::disallowed_methods)] // driver code: the token buckets run on the real clock
async fn accept_loop(quinn: quinn::Endpoint, shared: Arc<Shared>) {
    while let Some(incoming) = quinn.accept().await {
        let from = canonical_addr(incoming.remote_address());
        let prefix = Prefix::of(from.ip());
        let config = &shared.config;
        let handshaking = shared.handshaking.get();
        if shared.connection_count() + handshaking >= config.max_connections {
            debug!(%from, "refusing connection: too many connections");
            bump(&shared.counters.connections_total);
            incoming.refuse();
            continue;
        }
        // Under load, or over its rate, a source must first prove it receives at its
        // address: a Retry costs us one stateless packet.
        let over_rate = !shared.prefixes.take_handshake(
            prefix,
            config.handshakes_per_second_per_prefix,
            std::time::Instant::now(),
        );
        if (handshaking >= config.retry_above_handshakes || over_rate) && incoming.may_retry() {
            bump(&shared.counters.retries);
            if let Err(e) = incoming.retry() {
                e.into_incoming().ignore();
            }
            continue;
        }
        if over_rate {
            debug!(%from, "refusing connection: handshake rate of its prefix");
            bump(&shared.counters.handshake_rate);
            incoming.refuse();
            continue;
        }
        let Some(slot) = shared.prefixes.try_add(prefix, config.max_connections_per_prefix) else {
            debug!(%from, "refusing connection: too many connections from its prefix");
            bump(&shared.counters.connections_per_prefix);
            incoming.refuse();
            continue;
        };
        let Some(in_progress) = shared.handshaking.try_enter(usize::MAX) else {
            incoming.refuse();
            continue;
        };
        let shared = shared.clone();
        tokio::spawn(async move {
            let timeout = shared.config.handshake_timeout;
            let result = tokio::time::timeout(timeout, incoming).await;
            drop(in_progress);
            let conn = match result {
                Ok(Ok(c)) => c,
                Ok(Err(e)) => {
                    debug!(%from, error = %e, "incoming handshake failed");
                    bump(&shared.counters.handshakes_failed);
                    return;
                }
                Err(_) => {
                    debug!(%from, "incoming handshake timed out");
                    bump(&shared.counters.handshakes_failed);
                    return;
                }
            };
            match tls::remote_identity(&conn) {
                Ok(remote) => {
                    debug!(%from, peer = %remote.peer_name, "accepted connection");
                    register_connection(&shared, conn, remote, Some(slot));
                }
                Err(e) => {
                    debug!(%from, error = %e, "no usable peer identity");
                    bump(&shared.counters.handshakes_failed);
                    conn.close(codes::OK, b"no identity");
                }
            }
        });
    }
}

/// Accepts the streams the peer opens, at the rate `wire.md` §5 allows: a stream over the
/// connection's allowance is refused before anything is spawned for it or read from it.
#[allow(clippy::disallowed_methods)] // driver code: the stream bucket runs on the real clock
async fn serve_streams(shared: Arc<Shared>, connection: Connection, slot: Option<PrefixSlot>) {
    let config = &shared.config;
    let mut rate = StreamRate::new(
        config.new_streams_per_second,
        config.new_stream_burst,
        std::time::Instant::now(),
    );
    loop {
        match connection.conn.accept_bi().await {
            Ok((mut send, mut recv)) => match rate.on_new_stream(std::time::Instant::now()) {
                StreamVerdict::Admit => {
                    tokio::spawn(dispatch_stream(shared.clone(), connection.clone(), send, recv));
                }
                StreamVerdict::Refuse => {
                    bump(&shared.counters.stream_rate);
                    let _ = recv.stop(codes::BUSY);
                    let _ = send.reset(codes::BUSY);
                }
                StreamVerdict::Close => {
                    debug!(peer = %connection.remote.peer_name, "closing: too many new streams");
                    bump(&shared.counters.stream_rate);
                    bump(&shared.counters.stream_rate_closed);
                    connection.conn.close(codes::STREAM_RATE, b"too many new streams");
                    // a reconnect must not buy a new burst at once: the close costs the
                    // source prefix a second of handshakes (unless the per-prefix limits
                    // are lifted, as on loopback)
                    let rate = config.handshakes_per_second_per_prefix;
                    if rate != u32::MAX {
                        shared.prefixes.take_handshakes(
                            Prefix::of(connection.remote_addr().ip()),
                            rate,
                            rate,
                            std::time::Instant::now(),
                        );
                    }
                    // streams quinn had already accepted would still be handed out
                    break;
                }
            },
            Err(e) => {
                debug!(peer = %connection.remote.peer_name, reason = %e, "connection closed");
                break;
            }
        }
    }
    if let Ok(mut conns) = shared.conns.lock() {
        conns.remove(&connection.stable_id());
    }
    drop(slot);
}

async fn read_preamble(recv: &mut quinn::RecvStream) -> Option<String> {
    let mut len = [0u8; 1];
    recv.read_exact(&mut len).await.ok()?;
    let len = usize::from(len[0]);
    if len == 0 || len > MAX_PROTOCOL_ID_LEN {
        return None;
    }
    let mut id = vec![0u8; len];
    recv.read_exact(&mut id).await.ok()?;
    let id = String::from_utf8(id).ok()?;
    id.bytes().all(|b| b.is_ascii_graphic()).then_some(id)
}

async fn dispatch_stream(
    shared: Arc<Shared>,
    connection: Connection,
    mut send: quinn::SendStream,
    mut recv: quinn::RecvStream,
) {
    let preamble =
        tokio::time::timeout(shared.config.preamble_timeout, read_preamble(&mut recv)).await;
    let Ok(Some(protocol)) = preamble else {
        bump(&shared.counters.bad_preamble);
        let _ = recv.stop(codes::BAD_PREAMBLE);
        let _ = send.reset(codes::BAD_PREAMBLE);
        return;
    };
    let handler = shared.handlers.lock().ok().and_then(|h| h.get(&protocol).cloned());
    let Some((handler, max_streams)) = handler else {
        debug!(%protocol, peer = %connection.remote.peer_name, "stream for unknown protocol");
        bump(&shared.counters.unknown_protocol);
        let _ = recv.stop(codes::UNKNOWN_PROTOCOL);
        let _ = send.reset(codes::UNKNOWN_PROTOCOL);
        return;
    };
    let Some(slot) = connection.limits.enter_stream(&protocol, max_streams) else {
        debug!(%protocol, peer = %connection.remote.peer_name, "too many streams of the protocol");
        bump(&shared.counters.streams_per_protocol);
        let _ = recv.stop(codes::BUSY);
        let _ = send.reset(codes::BUSY);
        return;
    };
    let stream = FramedStream::new(
        send,
        recv,
        shared.codec,
        (*connection.remote).clone(),
        connection.remote_addr(),
        connection.frames.clone(),
        Some(slot),
        connection.conn.clone(),
    );
    if let Err(e) = handler.try_send(stream) {
        let code = match &e {
            mpsc::error::TrySendError::Full(_) => {
                bump(&shared.counters.handler_queue);
                codes::BUSY
            }
            mpsc::error::TrySendError::Closed(_) => {
                bump(&shared.counters.unknown_protocol);
                codes::UNKNOWN_PROTOCOL
            }
        };
        let mut stream = e.into_inner();
        stream.recv.stop(code);
        stream.send.reset(code);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use peergroup_base::spec_vectors::{self, get};

    #[test]
    fn mapped_ipv4_addresses_are_canonical() {
        let mapped: SocketAddr = "[::ffff:192.0.2.7]:3587".parse().unwrap();
        assert_eq!(canonical_addr(mapped), "192.0.2.7:3587".parse::<SocketAddr>().unwrap());
        let v6: SocketAddr = "[2001:db8::1]:3587".parse().unwrap();
        assert_eq!(canonical_addr(v6), v6);
    }

    #[test]
    fn preamble_matches_spec_vectors() {
        let spec = include_str!("../../../proto-specs/wire.md");
        let mut checked = 0;
        for v in spec_vectors::parse(spec) {
            let Some(name) = get(&v, "name") else { continue };
            if !name.starts_with("preamble-") {
                continue;
            }
            let id = ProtocolId::new(get(&v, "protocol").unwrap()).unwrap();
            let want = hex::decode(get(&v, "preamble").unwrap().replace(' ', "")).unwrap();
            assert_eq!(id.preamble(), want, "{name}");
            checked += 1;
        }
        assert!(checked >= 1);
    }
}
