//! The frame codec (`proto-specs/wire.md` §2).
//!
//! ```text
//! frame = length:u32 big-endian ‖ version:u8 ‖ body
//! length = 1 + len(body)            (counts the version byte; 1 ≤ length ≤ max)
//! body   = postcard(message)        (must be consumed exactly)
//! ```
//!
//! The maximum frame length is checked on the 4-byte length field, before any buffer for
//! the body is allocated. Every failure is a [`CodecError`]; nothing here panics on input.

use serde::Serialize;
use serde::de::DeserializeOwned;

/// The wire version this code speaks (`proto-specs/wire.md` §2).
pub const WIRE_VERSION: u8 = 1;

/// Default maximum value of the length field: 1 MiB (DESIGN.md §4).
pub const DEFAULT_MAX_FRAME_LEN: u32 = 1 << 20;

/// Hard upper bound any configuration may set: 64 MiB (graph records may reach 60 MiB).
pub const ABSOLUTE_MAX_FRAME_LEN: u32 = 64 << 20;

/// Bytes before the body: the length field and the version byte.
pub const HEADER_LEN: usize = 5;

/// Why a frame could not be encoded or decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CodecError {
    /// The length field (or an encoded message) exceeds the configured maximum.
    #[error("frame of {len} bytes exceeds the maximum of {max}")]
    FrameTooLarge {
        /// The declared or encoded length.
        len: u64,
        /// The configured maximum.
        max: u32,
    },
    /// The length field is zero (a frame holds at least the version byte).
    #[error("frame length is zero")]
    EmptyFrame,
    /// The version byte is not one this codec speaks.
    #[error("unsupported wire version {got} (this peer speaks {expected})")]
    UnsupportedVersion {
        /// The version received.
        got: u8,
        /// The version expected.
        expected: u8,
    },
    /// The body is not a valid encoding of the expected message.
    #[error("malformed message: {0}")]
    Malformed(String),
    /// The body decoded, but bytes were left over.
    #[error("{0} unexpected trailing bytes after the message")]
    TrailingBytes(usize),
    /// The message could not be serialised.
    #[error("cannot encode message: {0}")]
    Encode(String),
}

/// Encodes and decodes frames with a version byte and a maximum length.
///
/// ```
/// use peergroup_base::FrameCodec;
/// let codec = FrameCodec::default();
/// let frame = codec.encode(&("hello", 42u32))?;
/// let (msg, used): ((String, u32), usize) = codec.decode(&frame)?.expect("complete frame");
/// assert_eq!(msg, ("hello".to_string(), 42));
/// assert_eq!(used, frame.len());
/// # Ok::<(), peergroup_base::CodecError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameCodec {
    max_frame_len: u32,
    version: u8,
}

impl Default for FrameCodec {
    fn default() -> Self {
        FrameCodec { max_frame_len: DEFAULT_MAX_FRAME_LEN, version: WIRE_VERSION }
    }
}

impl FrameCodec {
    /// A codec accepting frames up to `max_frame_len` bytes (clamped to 1 ..=
    /// [`ABSOLUTE_MAX_FRAME_LEN`]).
    pub fn new(max_frame_len: u32) -> Self {
        FrameCodec {
            max_frame_len: max_frame_len.clamp(1, ABSOLUTE_MAX_FRAME_LEN),
            ..Self::default()
        }
    }

    /// The configured maximum of the length field.
    pub fn max_frame_len(&self) -> u32 {
        self.max_frame_len
    }

    /// Encodes `msg` as one frame.
    pub fn encode<T: Serialize + ?Sized>(&self, msg: &T) -> Result<Vec<u8>, CodecError> {
        let mut out = Vec::with_capacity(64);
        self.encode_into(msg, &mut out)?;
        Ok(out)
    }

    /// Appends one frame holding `msg` to `out`. On error `out` is left as it was.
    pub fn encode_into<T: Serialize + ?Sized>(
        &self,
        msg: &T,
        out: &mut Vec<u8>,
    ) -> Result<(), CodecError> {
        let start = out.len();
        out.extend_from_slice(&[0, 0, 0, 0, self.version]);
        let mut buf = std::mem::take(out);
        let res = postcard::to_extend(msg, buf);
        match res {
            Ok(b) => buf = b,
            Err(e) => {
                // postcard consumed the buffer; nothing we wrote is kept
                return Err(CodecError::Encode(e.to_string()));
            }
        }
        let len = (buf.len() - start - 4) as u64;
        if len > u64::from(self.max_frame_len) {
            buf.truncate(start);
            *out = buf;
            return Err(CodecError::FrameTooLarge { len, max: self.max_frame_len });
        }
        // len ≤ max_frame_len ≤ u32::MAX, checked just above
        let len32 = u32::try_from(len).unwrap_or(u32::MAX);
        buf[start..start + 4].copy_from_slice(&len32.to_be_bytes());
        *out = buf;
        Ok(())
    }

    /// Checks the 4-byte length field alone and returns the body length that follows the
    /// version byte. A receiver calls it as soon as those 4 bytes arrived, before waiting
    /// for the version byte (`wire.md` §2).
    pub fn check_length(&self, length: [u8; 4]) -> Result<usize, CodecError> {
        let len = u32::from_be_bytes(length);
        if len == 0 {
            return Err(CodecError::EmptyFrame);
        }
        if len > self.max_frame_len {
            return Err(CodecError::FrameTooLarge { len: u64::from(len), max: self.max_frame_len });
        }
        Ok(len as usize - 1)
    }

    /// Checks the version byte of a frame.
    pub fn check_version(&self, version: u8) -> Result<(), CodecError> {
        if version != self.version {
            return Err(CodecError::UnsupportedVersion { got: version, expected: self.version });
        }
        Ok(())
    }

    /// Checks a frame header and returns the body length that follows it.
    ///
    /// This is where the maximum is enforced: call it before allocating the body.
    pub fn parse_header(&self, header: &[u8; HEADER_LEN]) -> Result<usize, CodecError> {
        let body_len = self.check_length([header[0], header[1], header[2], header[3]])?;
        self.check_version(header[4])?;
        Ok(body_len)
    }

    /// Decodes a frame body (after [`parse_header`](Self::parse_header)).
    pub fn decode_body<T: DeserializeOwned>(&self, body: &[u8]) -> Result<T, CodecError> {
        let (msg, rest) =
            postcard::take_from_bytes(body).map_err(|e| CodecError::Malformed(e.to_string()))?;
        if !rest.is_empty() {
            return Err(CodecError::TrailingBytes(rest.len()));
        }
        Ok(msg)
    }

    /// Decodes the first frame of `buf`: `Ok(None)` if `buf` holds only part of a frame,
    /// otherwise the message and the number of bytes it used.
    pub fn decode<T: DeserializeOwned>(
        &self,
        buf: &[u8],
    ) -> Result<Option<(T, usize)>, CodecError> {
        let Some(header) = buf.get(..HEADER_LEN) else {
            // A partial header is judged on its length field as soon as that is complete.
            if let Some(length) = buf.get(..4) {
                self.check_length([length[0], length[1], length[2], length[3]])?;
            }
            return Ok(None);
        };
        let mut h = [0u8; HEADER_LEN];
        h.copy_from_slice(header);
        let body_len = self.parse_header(&h)?;
        let end = HEADER_LEN + body_len;
        let Some(body) = buf.get(HEADER_LEN..end) else {
            return Ok(None);
        };
        Ok(Some((self.decode_body(body)?, end)))
    }
}

/// Size in bytes of `msg` encoded with postcard (the body of its frame), without
/// allocating. The simulator uses it to count bytes as they would be on the wire.
pub fn body_len<T: Serialize + ?Sized>(msg: &T) -> Result<usize, CodecError> {
    postcard::serialize_with_flavor(msg, postcard::ser_flavors::Size::default())
        .map_err(|e| CodecError::Encode(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde::Deserialize;

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    enum Msg {
        Ping(u64),
        Data {
            #[serde(with = "serde_bytes")]
            bytes: Vec<u8>,
            name: String,
        },
    }

    fn msg_strategy() -> impl Strategy<Value = Msg> {
        prop_oneof![
            any::<u64>().prop_map(Msg::Ping),
            (proptest::collection::vec(any::<u8>(), 0..2000), ".{0,40}")
                .prop_map(|(bytes, name)| Msg::Data { bytes, name }),
        ]
    }

    #[test]
    fn rejects_oversize_before_allocating() {
        let codec = FrameCodec::new(16);
        let mut header = [0u8; 5];
        header[..4].copy_from_slice(&u32::MAX.to_be_bytes());
        header[4] = WIRE_VERSION;
        assert_eq!(
            codec.parse_header(&header),
            Err(CodecError::FrameTooLarge { len: u64::from(u32::MAX), max: 16 })
        );
        let big = Msg::Data { bytes: vec![0; 100], name: String::new() };
        assert!(matches!(codec.encode(&big), Err(CodecError::FrameTooLarge { .. })));
        let mut out = vec![1, 2, 3];
        assert!(codec.encode_into(&big, &mut out).is_err());
        assert_eq!(out, vec![1, 2, 3], "a failed encode leaves the buffer unchanged");
    }

    #[test]
    fn rejects_bad_version_empty_and_trailing() {
        let codec = FrameCodec::default();
        let mut frame = codec.encode(&Msg::Ping(7)).unwrap();
        frame[4] = 9;
        assert_eq!(
            codec.decode::<Msg>(&frame).err(),
            Some(CodecError::UnsupportedVersion { got: 9, expected: 1 })
        );
        assert_eq!(codec.decode::<Msg>(&[0, 0, 0, 0, 1]).err(), Some(CodecError::EmptyFrame));
        let mut frame = codec.encode(&Msg::Ping(7)).unwrap();
        frame.push(0);
        let len = (frame.len() - 4) as u32;
        frame[..4].copy_from_slice(&len.to_be_bytes());
        assert_eq!(codec.decode::<Msg>(&frame).err(), Some(CodecError::TrailingBytes(1)));
        assert!(matches!(
            codec.decode::<Msg>(&[0, 0, 0, 2, 1, 0xff]),
            Err(CodecError::Malformed(_))
        ));
    }

    #[test]
    fn partial_frames_need_more() {
        let codec = FrameCodec::default();
        let frame = codec.encode(&Msg::Ping(300)).unwrap();
        for cut in 0..frame.len() {
            assert_eq!(codec.decode::<Msg>(&frame[..cut]).unwrap(), None, "cut at {cut}");
        }
        // a bad length field is refused as soon as its 4 bytes are there (wire.md §2)
        assert!(matches!(
            codec.decode::<Msg>(&[0xff, 0xff, 0xff, 0xff]),
            Err(CodecError::FrameTooLarge { .. })
        ));
        assert_eq!(codec.decode::<Msg>(&[0, 0, 0, 0]), Err(CodecError::EmptyFrame));
    }

    proptest! {
        #[test]
        fn round_trip(msgs in proptest::collection::vec(msg_strategy(), 1..8)) {
            let codec = FrameCodec::default();
            let mut stream = Vec::new();
            for m in &msgs {
                codec.encode_into(m, &mut stream).unwrap();
            }
            let mut at = 0;
            for m in &msgs {
                let (got, used): (Msg, usize) = codec.decode(&stream[at..]).unwrap().unwrap();
                prop_assert_eq!(&got, m);
                prop_assert_eq!(used - HEADER_LEN, body_len(m).unwrap());
                at += used;
            }
            prop_assert_eq!(at, stream.len());
        }

        #[test]
        fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = FrameCodec::new(256).decode::<Msg>(&bytes);
        }
    }
}
