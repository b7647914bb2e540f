//! Errors of the reconciliation layer.

/// Why a session failed, or why an input was refused.
///
/// Variants name the failed check. After any error from
/// [`Session::handle`](crate::Session::handle) the session is failed and refuses further
/// input; the driver should close the stream.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A configuration value is out of its documented range.
    #[error("invalid configuration: {0} out of range")]
    InvalidConfig(&'static str),
    /// Digests passed as sorted are not strictly ascending.
    #[error("digests not strictly ascending at index {index}")]
    NotSorted {
        /// Position of the first digest out of order.
        index: usize,
    },
    /// A message is longer than this side's `max_message_bytes`.
    #[error("message of {len} bytes exceeds the maximum of {max}")]
    MessageTooLarge {
        /// Length of the message.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The bytes are not a valid encoding of a message.
    #[error("malformed message: {0}")]
    Malformed(String),
    /// The message decoded but bytes were left over.
    #[error("{0} unexpected trailing bytes after the message")]
    TrailingBytes(usize),
    /// The peer speaks another protocol version.
    #[error("unsupported protocol version {0}")]
    UnsupportedVersion(u8),
    /// A message that the protocol does not allow in this state.
    #[error("unexpected {got} message while waiting for {expected}")]
    UnexpectedMessage {
        /// What the session was waiting for.
        expected: &'static str,
        /// What arrived.
        got: &'static str,
    },
    /// A message arrived after the session finished.
    #[error("session already finished")]
    AlreadyFinished,
    /// The session failed earlier and accepts nothing more.
    #[error("session failed earlier")]
    SessionFailed,
    /// The difference sketch has the wrong length.
    #[error("difference sketch of {len} bytes, expected {expected}")]
    BadSketch {
        /// Length received.
        len: usize,
        /// Length required.
        expected: usize,
    },
    /// The peer announced a set larger than `max_set_len`, or our own set exceeds it.
    #[error("set of {len} items exceeds the limit of {max}")]
    SetTooLarge {
        /// Announced size.
        len: u64,
        /// The limit.
        max: u64,
    },
    /// More coded symbols than `max_symbols` would be sent or received.
    #[error("{count} coded symbols exceed the limit of {max}")]
    TooManySymbols {
        /// Symbols the attempt would reach.
        count: u64,
        /// The limit.
        max: u64,
    },
    /// An announced or carried count is out of range for this state.
    #[error("{what}: count {count} out of range (at most {max})")]
    CountOutOfRange {
        /// Which count.
        what: &'static str,
        /// The count received.
        count: u64,
        /// The most allowed here.
        max: u64,
    },
    /// A batch of coded symbols does not start where the previous one ended.
    #[error("coded symbols start at index {got}, expected {expected}")]
    SymbolOutOfOrder {
        /// Index expected.
        expected: u64,
        /// Index received.
        got: u64,
    },
    /// A key list is not strictly ascending.
    #[error("key list not strictly ascending")]
    KeysNotSorted,
    /// A digest list is not strictly ascending.
    #[error("digest list not strictly ascending")]
    DigestsNotSorted,
    /// A digest sent to confirm a key does not hash to that key.
    #[error("digest {index} of the confirmation does not match the requested key")]
    ConfirmMismatch {
        /// Position in the confirmation.
        index: u64,
    },
    /// The peer restarted with an attempt number that does not increase.
    #[error("attempt {got} does not follow attempt {current}")]
    BadAttempt {
        /// The current attempt.
        current: u8,
        /// The attempt the peer sent.
        got: u8,
    },
    /// Every attempt failed its key-collision or fingerprint check.
    #[error("reconciliation failed after {0} attempts (key collisions or inconsistent peer)")]
    TooManyAttempts(u8),
    /// The difference could not be decoded within `max_symbols` and no cheaper fallback
    /// exists.
    #[error("difference not decoded within the symbol limit")]
    DecodeFailed,
    /// The final check of the set fingerprints failed after the peer confirmed: the peer
    /// is inconsistent.
    #[error("set fingerprints disagree after confirmation")]
    FingerprintMismatch,
    /// A `Decoded` with nothing to confirm (`yours = 0`) fails the confirmer's checks (a
    /// digest with a key of the confirmer's own, or the fingerprint equation): the decoder
    /// checked both before sending it and has finished, so the peer is faulty and there is
    /// no restart (`proto-specs/reconcile.md` §8.3).
    #[error("a Decoded with nothing to confirm fails the checks: inconsistent peer")]
    InconsistentDecoded,
}

impl Error {
    /// Whether the error is a fault of the peer's bytes or behaviour (as opposed to local
    /// configuration or an exhausted retry budget).
    pub fn is_protocol_violation(&self) -> bool {
        !matches!(
            self,
            Self::InvalidConfig(_)
                | Self::NotSorted { .. }
                | Self::TooManyAttempts(_)
                | Self::AlreadyFinished
                | Self::SessionFailed
        )
    }

    /// Whether a limit (message size, set size, symbol count, a count field) was exceeded.
    pub fn is_limit_exceeded(&self) -> bool {
        matches!(
            self,
            Self::MessageTooLarge { .. }
                | Self::SetTooLarge { .. }
                | Self::TooManySymbols { .. }
                | Self::CountOutOfRange { .. }
        )
    }
}
