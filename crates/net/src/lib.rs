//! One QUIC endpoint per peer, shared by every protocol (DESIGN.md §4,
//! `proto-specs/wire.md`).
//!
//! * **Transport**: quinn over UDP with rustls 0.23 and the ring provider only; TLS 1.3
//!   only; both sides present their self-signed Ed25519 identity certificate.
//! * **Authentication**: [`Endpoint::connect`] takes whom it expects ([`Expect`]: a secure
//!   peer name or a node id) and the handshake fails with [`NetError::WrongPeer`] if the
//!   server's key does not hash to it. Accepted connections report the client's verified
//!   identity ([`Connection::remote`]).
//! * **Multiplexing**: one connection per pair of peers carries every protocol. Each
//!   bidirectional stream starts with a preamble naming its protocol ([`ProtocolId`], e.g.
//!   `pnrp/1`); [`Endpoint::register`] subscribes to the streams of one protocol.
//! * **Framing**: after the preamble a stream carries frames of the base codec
//!   ([`FramedStream`]). Bad frames close that stream only.
//! * **Drivers**: [`driver::spawn`] runs any sans-IO protocol core on the endpoint as one
//!   actor task.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use peergroup_identity::Identity;
//! use peergroup_net::{Endpoint, EndpointConfig, Expect, ProtocolId};
//!
//! let chat = ProtocolId::new("chat/1")?;
//! let bob = Endpoint::bind(Identity::generate("bob", "")?, EndpointConfig::loopback()).await?;
//! let mut incoming = bob.register(chat.clone())?;
//! let alice = Endpoint::bind(Identity::generate("alice", "")?, EndpointConfig::loopback()).await?;
//!
//! let conn = alice.connect(bob.local_addr()?, Expect::Name(bob.peer_name().clone())).await?;
//! let mut stream = conn.open(&chat).await?;
//! stream.send("hello bob").await?;
//! let mut at_bob = incoming.next().await.expect("a stream");
//! let text: Option<String> = at_bob.recv().await?;
//! assert_eq!(text.as_deref(), Some("hello bob"));
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod driver;
mod endpoint;
mod limits;
mod stream;
mod tls;

pub use endpoint::{Connection, Endpoint, EndpointConfig, Incoming, ProtocolId};
pub use limits::Refusals;
pub use stream::{FramedRecv, FramedSend, FramedStream, codes};
pub use tls::{ALPN, Expect};

use std::net::SocketAddr;

use peergroup_base::{CodecError, PeerName};
use peergroup_identity::{CertError, CertifiedPeer};

/// Errors of the transport layer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NetError {
    /// The UDP socket could not be bound.
    #[error("cannot bind {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
    /// TLS configuration failed.
    #[error("tls configuration: {0}")]
    Tls(#[from] rustls::Error),
    /// QUIC configuration failed.
    #[error("quic configuration: {0}")]
    Config(String),
    /// quinn refused to start a connection.
    #[error("cannot connect: {0}")]
    Connect(#[from] quinn::ConnectError),
    /// The connection failed or was closed.
    #[error("connection: {0}")]
    Connection(#[from] quinn::ConnectionError),
    /// The handshake did not complete in time.
    #[error("handshake with {addr} timed out")]
    HandshakeTimeout {
        /// The address dialled.
        addr: SocketAddr,
    },
    /// The peer at the address is not the one expected.
    #[error("wrong peer at {addr}: expected {expected}, found {} (node {})", found.peer_name, found.node_id)]
    WrongPeer {
        /// The address dialled.
        addr: SocketAddr,
        /// What the dialler expected.
        expected: String,
        /// The verified identity of the peer found there.
        found: Box<CertifiedPeer>,
    },
    /// Dialling by an unsecured name proves nothing; dial by node id instead.
    #[error("cannot authenticate unsecured peer name {0}: expect a secure name or a node id")]
    UnsecuredName(PeerName),
    /// The peer presented no usable certificate.
    #[error("peer presented no identity certificate")]
    NoPeerCertificate,
    /// The peer's certificate is not a valid identity certificate.
    #[error("peer certificate: {0}")]
    Certificate(#[from] CertError),
    /// A frame could not be decoded (the stream has been closed).
    #[error("bad frame: {0}")]
    Codec(#[from] CodecError),
    /// Writing to a stream failed.
    #[error("stream write: {0}")]
    Write(#[from] quinn::WriteError),
    /// Reading from a stream failed.
    #[error("stream read: {0}")]
    Read(#[from] quinn::ReadError),
    /// The stream ended inside a frame.
    #[error("stream ended inside a frame ({read} of {expected} bytes)")]
    Truncated {
        /// Bytes read.
        read: usize,
        /// Bytes expected.
        expected: usize,
    },
    /// A frame was refused by a limit (`wire.md` §2, §5); the stream was stopped and reset
    /// with `code`.
    #[error("frame refused: {reason}")]
    FrameRefused {
        /// The application error code the stream was stopped with (`BUSY`, `STALLED`).
        code: quinn::VarInt,
        /// Which limit.
        reason: &'static str,
    },
    /// The stream was already finished, or ended before the reply.
    #[error("stream finished")]
    StreamFinished,
    /// A protocol id breaks the preamble rules.
    #[error("invalid protocol id {0:?}: 1 to 32 printable ASCII characters")]
    InvalidProtocolId(String),
    /// A handler for this protocol is already registered.
    #[error("protocol {0} already has a handler")]
    ProtocolAlreadyRegistered(String),
    /// The far end does not serve the protocol (it reset the stream).
    #[error("peer refused the stream (code {0})")]
    StreamRefused(u64),
    /// The endpoint is shut down.
    #[error("endpoint closed")]
    EndpointClosed,
    /// The protocol driver has stopped.
    #[error("protocol driver stopped")]
    DriverStopped,
}

impl NetError {
    /// `true` if the peer reached is not the one expected.
    pub fn is_wrong_peer(&self) -> bool {
        matches!(self, NetError::WrongPeer { .. })
    }

    /// `true` if a frame was refused by the codec.
    pub fn is_bad_frame(&self) -> bool {
        matches!(self, NetError::Codec(_))
    }
}
