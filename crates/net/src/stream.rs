//! Framed bidirectional streams (`proto-specs/wire.md` §2–§3).
//!
//! Every stream begins with a preamble naming its protocol; after it both directions carry
//! frames of the base codec. A frame that is too large, of an unknown version or not a valid
//! message makes [`FramedRecv::recv`] fail with [`NetError::Codec`] and closes that stream
//! (STOP_SENDING / RESET_STREAM with [`codes::BAD_FRAME`]); the connection and its other
//! streams keep working.

use peergroup_base::FrameCodec;
use peergroup_identity::CertifiedPeer;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::NetError;
use crate::limits::{FrameLimits, GaugeGuard, bump};

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
    /// A limit is reached: the protocol's handler queue is full, the connection has its
    /// maximum of streams of that protocol or of half-read frames, or the endpoint's budget
    /// of buffered frame bytes is spent.
    pub const BUSY: VarInt = VarInt::from_u32(4);
    /// A frame was not complete by its deadline (`wire.md` §2).
    pub const STALLED: VarInt = VarInt::from_u32(5);
    /// Connection close: the peer kept opening streams faster than the node's allowance
    /// (`wire.md` §5).
    pub const STREAM_RATE: VarInt = VarInt::from_u32(6);
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
    limits: FrameLimits,
    /// This stream's place in its connection's count of streams of its protocol (incoming
    /// streams only), given back when the stream is dropped.
    _slot: Option<GaugeGuard>,
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
    conn: quinn::Connection,
}

impl FramedStream {
    /// 32 bytes exported from the TLS 1.3 session of this stream's connection
    /// (`TLS-Exporter(label, context, 32)`, RFC 8446 §7.5): the same at both ends of the
    /// connection, different on any other. `None` if the session refuses the export.
    pub fn exporter(&self, label: &[u8], context: &[u8]) -> Option<[u8; 32]> {
        let mut out = [0u8; 32];
        self.conn.export_keying_material(&mut out, label, context).ok()?;
        Some(out)
    }

    #[allow(clippy::too_many_arguments)] // internal: every part of a stream, once
    pub(crate) fn new(
        send: quinn::SendStream,
        recv: quinn::RecvStream,
        codec: FrameCodec,
        remote: CertifiedPeer,
        remote_addr: std::net::SocketAddr,
        limits: FrameLimits,
        slot: Option<GaugeGuard>,
        conn: quinn::Connection,
    ) -> Self {
        FramedStream {
            send: FramedSend { inner: send, codec, buf: Vec::new() },
            recv: FramedRecv { inner: recv, codec, limits, _slot: slot },
            remote,
            remote_addr,
            conn,
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
        match &r {
            Err(NetError::Codec(_)) => self.send.reset(codes::BAD_FRAME),
            Err(NetError::FrameRefused { code, .. }) => self.send.reset(*code),
            _ => {}
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

    /// The last frame [`send`](Self::send) encoded, header included.
    pub(crate) fn last_frame(&self) -> &[u8] {
        &self.buf
    }

    /// Writes bytes as they are, without framing (for tests of garbage input, and for the
    /// driver's frames written again after a refusal).
    #[doc(hidden)]
    pub async fn send_raw(&mut self, bytes: &[u8]) -> Result<(), NetError> {
        self.inner.write_all(bytes).await?;
        Ok(())
    }

    /// Finishes the sending side: the peer's next `recv` returns `Ok(None)`.
    pub fn finish(&mut self) -> Result<(), NetError> {
        self.inner.finish().map_err(|_| NetError::StreamFinished)
    }

    /// Resolves when the peer stops this stream (STOP_SENDING), with the peer's code
    /// (`BUSY` for a stream it refused, `wire.md` §3); `None` when the stream was finished
    /// and acknowledged, or the connection was lost. The future does not borrow the stream.
    pub fn stopped(
        &self,
    ) -> impl std::future::Future<Output = Option<quinn::VarInt>> + Send + 'static {
        let stopped = self.inner.stopped();
        async move { stopped.await.ok().flatten() }
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
    /// returned: a peer that sent garbage on a stream cannot continue on it. The limits of
    /// `wire.md` §2 and §5 apply from the frame's first byte on: the 4-byte length is
    /// checked before the version byte is awaited; the frame must be complete by its
    /// deadline ([`codes::STALLED`]); it needs one of the connection's half-read-frame
    /// places, and its body bytes come out of the endpoint's buffer budget
    /// ([`codes::BUSY`] if either is exhausted). The body buffer grows as bytes arrive, so
    /// a peer holds only the memory it actually sent.
    #[allow(clippy::disallowed_methods)] // driver code: frame deadlines run on the real clock
    pub async fn recv<T: DeserializeOwned>(&mut self) -> Result<Option<T>, NetError> {
        // Between frames a stream may stay idle for as long as the connection lives.
        let mut length = [0u8; 4];
        match self.inner.read_exact(&mut length[..1]).await {
            Ok(()) => {}
            Err(quinn::ReadExactError::FinishedEarly(_)) => return Ok(None),
            Err(quinn::ReadExactError::ReadError(e)) => return Err(e.into()),
        }
        let started = tokio::time::Instant::now();
        let mut deadline = started + self.limits.frame_timeout;
        let Some(_half_read) = self.limits.half_read.try_enter(self.limits.max_half_read) else {
            return Err(self.refuse(codes::BUSY, "too many half-read frames on the connection"));
        };
        self.read_before(&mut length[1..], deadline).await?;
        let body_len = match self.codec.check_length(length) {
            Ok(n) => n,
            Err(e) => return Err(self.reject(e)),
        };
        let rate = u64::from(self.limits.min_rate.max(1));
        let allowance = u64::try_from(body_len).unwrap_or(u64::MAX) / rate;
        deadline += std::time::Duration::from_secs(allowance);
        let mut version = [0u8; 1];
        self.read_before(&mut version, deadline).await?;
        if let Err(e) = self.codec.check_version(version[0]) {
            return Err(self.reject(e));
        }
        // Allocation follows the bytes that arrive, bounded by the checked length.
        let mut budget = crate::limits::GaugeGuard::empty(&self.limits.buffered);
        let mut body = Vec::new();
        while body.len() < body_len {
            let want = body_len - body.len();
            let chunk =
                match tokio::time::timeout_at(deadline, self.inner.read_chunk(want, true)).await {
                    Err(_) => return Err(self.stalled()),
                    Ok(Ok(Some(chunk))) => chunk,
                    Ok(Ok(None)) => {
                        return Err(NetError::Truncated { read: body.len(), expected: body_len });
                    }
                    Ok(Err(e)) => return Err(e.into()),
                };
            if !budget.grow(chunk.bytes.len(), self.limits.max_buffered) {
                return Err(self.refuse(codes::BUSY, "the endpoint's frame buffer budget is spent"));
            }
            body.extend_from_slice(&chunk.bytes);
        }
        match self.codec.decode_body(&body) {
            Ok(msg) => Ok(Some(msg)),
            Err(e) => Err(self.reject(e)),
        }
    }

    /// Fills `buf` before `deadline`, or fails the frame.
    async fn read_before(
        &mut self,
        buf: &mut [u8],
        deadline: tokio::time::Instant,
    ) -> Result<(), NetError> {
        match tokio::time::timeout_at(deadline, self.inner.read_exact(buf)).await {
            Err(_) => Err(self.stalled()),
            Ok(Ok(())) => Ok(()),
            Ok(Err(quinn::ReadExactError::FinishedEarly(n))) => {
                Err(NetError::Truncated { read: n, expected: buf.len() })
            }
            Ok(Err(quinn::ReadExactError::ReadError(e))) => Err(e.into()),
        }
    }

    fn stalled(&mut self) -> NetError {
        bump(&self.limits.counters.frame_deadline);
        let _ = self.inner.stop(codes::STALLED);
        NetError::FrameRefused {
            code: codes::STALLED,
            reason: "frame not complete by its deadline",
        }
    }

    fn refuse(&mut self, code: quinn::VarInt, reason: &'static str) -> NetError {
        bump(&self.limits.counters.half_read_frames);
        let _ = self.inner.stop(code);
        NetError::FrameRefused { code, reason }
    }

    fn reject(&mut self, e: peergroup_base::CodecError) -> NetError {
        bump(&self.limits.counters.bad_frame);
        // Already stopped is fine.
        let _ = self.inner.stop(codes::BAD_FRAME);
        NetError::Codec(e)
    }

    /// Tells the peer to stop sending on this stream.
    pub fn stop(&mut self, code: quinn::VarInt) {
        let _ = self.inner.stop(code);
    }
}
