//! Framed bidirectional streams (`proto-specs/wire.md` §2–§3).
//!
//! Every stream begins with a preamble naming its protocol; after it both directions carry
//! frames of the base codec. A frame that is too large, of an unknown version or not a valid
//! message makes [`FramedRecv::recv`] fail with [`NetError::Codec`] and closes that stream
//! (STOP_SENDING / RESET_STREAM with [`codes::BAD_FRAME`]); the connection and its other
//! streams keep working.

use peergroup_base::FrameCodec;
use peergroup_base::codec::HEADER_LEN;
use peergroup_identity::CertifiedPeer;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::NetError;

/// Application error codes used to reset or stop streams and close connections.
pub mod codes {
    use quinn::VarInt;
    /// Normal close.
    pub const OK: VarInt = VarInt::from_u32(0);
    /// The stream carried a frame that could not be decoded, or an oversize one.
    pub const BAD_FRAME: VarInt = VarInt::from_u32(1);
    /// The stream named a protocol nobody registered.
    pub const UNKNOWN_PROTOCOL: VarInt = VarInt::from_u32(2);
    /// The stream's preamble was malformed or did not arrive in time.
    pub const BAD_PREAMBLE: VarInt = VarInt::from_u32(3);
    /// The protocol's handler queue is full.
    pub const BUSY: VarInt = VarInt::from_u32(4);
}

/// The sending half of a framed stream.
#[derive(Debug)]
pub struct FramedSend {
    inner: quinn::SendStream,
    codec: FrameCodec,
    buf: Vec<u8>,
}

/// The receiving half of a framed stream.
#[derive(Debug)]
pub struct FramedRecv {
    inner: quinn::RecvStream,
    codec: FrameCodec,
}

/// A framed bidirectional stream to an authenticated peer.
#[derive(Debug)]
pub struct FramedStream {
    /// The sending half.
    pub send: FramedSend,
    /// The receiving half.
    pub recv: FramedRecv,
    /// Who is at the other end (proved by the TLS handshake).
    pub remote: CertifiedPeer,
    /// The far end's UDP address (its endpoint's listening address: a peer dials from the
    /// socket it listens on).
    pub remote_addr: std::net::SocketAddr,
}

impl FramedStream {
    pub(crate) fn new(
        send: quinn::SendStream,
        recv: quinn::RecvStream,
        codec: FrameCodec,
        remote: CertifiedPeer,
        remote_addr: std::net::SocketAddr,
    ) -> Self {
        FramedStream {
            send: FramedSend { inner: send, codec, buf: Vec::new() },
            recv: FramedRecv { inner: recv, codec },
            remote,
            remote_addr,
        }
    }

    /// Sends one message.
    pub async fn send<T: Serialize + ?Sized>(&mut self, msg: &T) -> Result<(), NetError> {
        self.send.send(msg).await
    }

    /// Sets the largest frame this stream sends or accepts (clamped to 1 ..=
    /// [`ABSOLUTE_MAX_FRAME_LEN`](peergroup_base::codec::ABSOLUTE_MAX_FRAME_LEN)); by default
    /// the endpoint's [`EndpointConfig::max_frame_len`](crate::EndpointConfig). A protocol
    /// whose messages can be larger than the endpoint's default (graph records of up to
    /// 60 MiB) raises it on its own streams only.
    pub fn set_max_frame_len(&mut self, max_frame_len: u32) {
        let codec = peergroup_base::FrameCodec::new(max_frame_len);
        self.send.codec = codec;
        self.recv.codec = codec;
    }

    /// The largest frame this stream sends or accepts.
    pub fn max_frame_len(&self) -> u32 {
        self.recv.codec.max_frame_len()
    }

    /// Receives one message; `Ok(None)` when the peer finished its side cleanly.
    ///
    /// A frame the codec refuses closes the whole stream: the receiving side is stopped and
    /// the sending side reset, both with [`codes::BAD_FRAME`].
    pub async fn recv<T: DeserializeOwned>(&mut self) -> Result<Option<T>, NetError> {
        let r = self.recv.recv().await;
        if let Err(NetError::Codec(_)) = &r {
            self.send.reset(codes::BAD_FRAME);
        }
        r
    }

    /// Sends one message, finishes the sending side and waits for one reply.
    pub async fn request<Q: Serialize + ?Sized, R: DeserializeOwned>(
        &mut self,
        msg: &Q,
    ) -> Result<R, NetError> {
        self.send.send(msg).await?;
        self.send.finish()?;
        self.recv.recv().await?.ok_or(NetError::StreamFinished)
    }
}

impl FramedSend {
    /// Encodes and writes one frame.
    pub async fn send<T: Serialize + ?Sized>(&mut self, msg: &T) -> Result<(), NetError> {
        self.buf.clear();
        self.codec.encode_into(msg, &mut self.buf)?;
        self.inner.write_all(&self.buf).await?;
        Ok(())
    }

    /// Writes bytes as they are, without framing (for tests of garbage input).
    #[doc(hidden)]
    pub async fn send_raw(&mut self, bytes: &[u8]) -> Result<(), NetError> {
        self.inner.write_all(bytes).await?;
        Ok(())
    }

    /// Finishes the sending side: the peer's next `recv` returns `Ok(None)`.
    pub fn finish(&mut self) -> Result<(), NetError> {
        self.inner.finish().map_err(|_| NetError::StreamFinished)
    }

    /// Abandons the sending side with an error code.
    pub fn reset(&mut self, code: quinn::VarInt) {
        // Already closed is fine: there is nothing left to abandon.
        let _ = self.inner.reset(code);
    }
}

impl FramedRecv {
    /// Reads one frame; `Ok(None)` on a clean end of stream at a frame boundary.
    ///
    /// On a codec error the stream is stopped with [`codes::BAD_FRAME`] before the error is
    /// returned: a peer that sent garbage on a stream cannot continue on it.
    pub async fn recv<T: DeserializeOwned>(&mut self) -> Result<Option<T>, NetError> {
        let mut header = [0u8; HEADER_LEN];
        match self.inner.read_exact(&mut header).await {
            Ok(()) => {}
            Err(quinn::ReadExactError::FinishedEarly(0)) => return Ok(None),
            Err(quinn::ReadExactError::FinishedEarly(n)) => {
                return Err(NetError::Truncated { read: n, expected: HEADER_LEN });
            }
            Err(quinn::ReadExactError::ReadError(e)) => return Err(e.into()),
        }
        let body_len = match self.codec.parse_header(&header) {
            Ok(n) => n,
            Err(e) => return Err(self.reject(e)),
        };
        // Allocation is bounded by the codec's maximum, checked by parse_header.
        let mut body = vec![0u8; body_len];
        match self.inner.read_exact(&mut body).await {
            Ok(()) => {}
            Err(quinn::ReadExactError::FinishedEarly(n)) => {
                return Err(NetError::Truncated { read: n, expected: body_len });
            }
            Err(quinn::ReadExactError::ReadError(e)) => return Err(e.into()),
        }
        match self.codec.decode_body(&body) {
            Ok(msg) => Ok(Some(msg)),
            Err(e) => Err(self.reject(e)),
        }
    }

    fn reject(&mut self, e: peergroup_base::CodecError) -> NetError {
        // Already stopped is fine.
        let _ = self.inner.stop(codes::BAD_FRAME);
        NetError::Codec(e)
    }

    /// Tells the peer to stop sending on this stream.
    pub fn stop(&mut self, code: quinn::VarInt) {
        let _ = self.inner.stop(code);
    }
}
