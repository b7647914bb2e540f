//! The reconciliation state machine (`proto-specs/reconcile.md` §8).
//!
//! One [`Session`] per side: [`Session::initiator`] queues the `Hello`,
//! [`Session::responder`] waits for it. The driver loop is the same on both sides:
//!
//! 1. send every message [`Session::poll_transmit`] yields, in order, on one stream;
//! 2. feed every message received from the peer to [`Session::handle`], in order;
//! 3. stop when [`Session::is_finished`] is true (then [`Session::outcome`] holds the
//!    difference) or when `handle` returns an error (then close the stream).
//!
//! There are no timers: the protocol makes progress only when messages arrive, so the
//! driver owns any timeout. Messages come in *flights* — a header message announcing how
//! many list items follow, then the lists in messages each within the size limit — and a
//! session answers only once a whole flight has arrived, so a driver may send a flight's
//! messages back to back without waiting (pipelining).

use std::collections::VecDeque;

use crate::config::Config;
use crate::digest::{Digest, DigestSet};
use crate::error::Error;
use crate::message::{DIGEST_BYTES, KEY_BYTES, Key, LIST_OVERHEAD, Message, SYMBOL_BYTES, Symbol};
use crate::riblt::{Cell, Decoder, Encoder};
use crate::table::KeyTable;

mod flow;
mod opening;

/// Which end of the exchange a session is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Sends the `Hello` and picks the salt.
    Initiator,
    /// Answers a `Hello`.
    Responder,
}

/// The result of a finished session: the symmetric difference, split by side.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Outcome {
    /// Digests this side has and the peer lacks, ascending.
    pub local_only: Vec<Digest>,
    /// Digests the peer has and this side lacks, ascending.
    pub remote_only: Vec<Digest>,
}

/// Counters of one session (both directions, every attempt).
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct Stats {
    /// Messages sent.
    pub messages_sent: u64,
    /// Encoded bytes sent.
    pub bytes_sent: u64,
    /// The largest message sent, in bytes.
    pub largest_sent: usize,
    /// Messages received.
    pub messages_received: u64,
    /// Encoded bytes received.
    pub bytes_received: u64,
    /// Coded symbols sent (the probe included).
    pub symbols_sent: u64,
    /// Coded symbols received.
    pub symbols_received: u64,
    /// Keys sent (key lists and requests for digests).
    pub keys_sent: u64,
    /// Digests sent.
    pub digests_sent: u64,
    /// Attempts started (1 unless a key collision or a failed check forced a restart).
    pub attempts: u8,
    /// The responder's estimate of the difference, when the probe did not decode.
    pub estimated_difference: Option<f64>,
}

/// A reconciliation session: a sans-IO state machine for one side. See the module docs
/// for the driver contract and the crate docs for the protocol.
///
/// ```
/// use peergroup_reconcile::{Config, Digest, DigestSet, Session};
///
/// let a: DigestSet = (0u8..10).map(|i| Digest::new([i; 32])).collect();
/// let b: DigestSet = (2u8..12).map(|i| Digest::new([i; 32])).collect();
/// let mut alice = Session::initiator(Config::default(), a, [7; 16])?;
/// let mut bob = Session::responder(Config::default(), b)?;
/// while !(alice.is_finished() && bob.is_finished()) {
///     while let Some(m) = alice.poll_transmit() {
///         bob.handle(&m)?;
///     }
///     while let Some(m) = bob.poll_transmit() {
///         alice.handle(&m)?;
///     }
/// }
/// let outcome = alice.outcome().expect("finished");
/// assert_eq!(outcome.local_only, vec![Digest::new([0; 32]), Digest::new([1; 32])]);
/// assert_eq!(outcome.remote_only, vec![Digest::new([10; 32]), Digest::new([11; 32])]);
/// # Ok::<(), peergroup_reconcile::Error>(())
/// ```
#[derive(Debug)]
pub struct Session {
    role: Role,
    config: Config,
    set: DigestSet,
    state: State,
    /// Initiator: the current attempt. Responder: the last attempt seen.
    attempt_number: Option<u8>,
    /// Initiator: the salt of the current attempt.
    salt: [u8; 16],
    outbox: VecDeque<Vec<u8>>,
    stats: Stats,
    outcome: Option<Outcome>,
}

#[derive(Debug)]
enum State {
    /// Responder: waiting for a `Hello` (at the start, or after sending `Restart`).
    AwaitHello,
    /// An attempt is running.
    Active(Box<Attempt>),
    Finished,
    Failed,
}

/// What the peer told us about itself.
#[derive(Debug, Clone, Copy)]
struct Peer {
    items: u64,
    fingerprint: u64,
    max_message_bytes: usize,
}

/// One attempt: everything that depends on the salt.
#[derive(Debug)]
struct Attempt {
    number: u8,
    salt: [u8; 16],
    table: KeyTable,
    encoder: Encoder,
    /// Our own coded symbols produced so far, indices `0 .. own.len()`.
    own: Vec<Cell>,
    decoder: Decoder,
    /// Symbols we sent (responder) from index 0.
    symbols_sent: u64,
    peer: Peer,
    phase: Phase,
}

#[derive(Debug)]
enum Phase {
    /// Initiator, after `Hello`.
    AwaitReply,
    /// Initiator, after `Reply`: `Decoded`, `SymbolsFollow`, `KeysFollow` or `RequestKeys`.
    AwaitAnnouncement,
    /// Responder, after sending symbols or keys: `RequestSymbols`, `RequestKeys`,
    /// `Decoded` (or a new `Hello`).
    AwaitDecoderReply,
    /// Initiator, after `RequestSymbols`: `SymbolsFollow` or `KeysFollow`.
    AwaitMoreSymbols,
    /// After `RequestKeys`: `KeysFollow`.
    AwaitKeys,
    /// After sending our key list: `Decoded`.
    AwaitDecoded,
    /// Decoder, after `Decoded` with `yours > 0`: the digests of those keys.
    AwaitConfirm {
        requested: Vec<u64>,
        received: Vec<(Digest, u64)>,
        local_only: Vec<Digest>,
        local_terms: u64,
    },
    ReceivingSymbols {
        remaining: u64,
    },
    ReceivingKeys {
        remaining: u64,
        keys: Vec<u64>,
    },
    ReceivingDecoded {
        keys_remaining: u64,
        digests_remaining: u64,
        keys: Vec<u64>,
        digests: Vec<Digest>,
    },
}

impl Phase {
    /// Whether the phase waits for the start of a peer flight, where a restart may come.
    fn awaits_flight(&self) -> bool {
        match self {
            Self::AwaitReply
            | Self::AwaitAnnouncement
            | Self::AwaitDecoderReply
            | Self::AwaitMoreSymbols
            | Self::AwaitKeys
            | Self::AwaitDecoded => true,
            Self::AwaitConfirm { received, .. } => received.is_empty(),
            Self::ReceivingSymbols { .. }
            | Self::ReceivingKeys { .. }
            | Self::ReceivingDecoded { .. } => false,
        }
    }

    fn expects(&self) -> &'static str {
        match self {
            Self::AwaitReply => "Reply or Restart",
            Self::AwaitAnnouncement => "Decoded, SymbolsFollow, KeysFollow or RequestKeys",
            Self::AwaitDecoderReply => "RequestSymbols, RequestKeys, Decoded or Hello",
            Self::AwaitMoreSymbols => "SymbolsFollow or KeysFollow",
            Self::AwaitKeys => "KeysFollow",
            Self::AwaitDecoded => "Decoded",
            Self::AwaitConfirm { .. } => "Digests",
            Self::ReceivingSymbols { .. } => "Symbols",
            Self::ReceivingKeys { .. } => "Keys",
            Self::ReceivingDecoded { keys_remaining, .. } => {
                if *keys_remaining > 0 {
                    "Keys"
                } else {
                    "Digests"
                }
            }
        }
    }
}

impl Attempt {
    /// The largest message we may send: our limit and the peer's, whichever is smaller.
    fn send_cap(&self, config: &Config) -> usize {
        config.max_message_bytes.min(self.peer.max_message_bytes)
    }

    /// Makes sure our own symbols `0 .. end` exist.
    fn ensure_own(&mut self, end: u64) {
        let have = self.own.len() as u64;
        if end > have {
            let more = self.encoder.produce((end - have) as usize);
            self.own.extend(more);
        }
    }
}

impl Session {
    /// A session that opens the exchange over `set`, with `salt` as the SipHash key of the
    /// first attempt. The salt should be fresh random bytes for every session (an adversary
    /// who knows it in advance can craft digests whose keys collide, which costs restarts).
    /// The `Hello` is queued at once.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`], [`Error::SetTooLarge`], or [`Error::TooManyAttempts`] if
    /// every salt of the budget gives a local key collision.
    pub fn initiator(config: Config, set: DigestSet, salt: [u8; 16]) -> Result<Self, Error> {
        let mut session = Self::new(Role::Initiator, config, set, salt)?;
        session.state = session.start_attempt(0)?;
        Ok(session)
    }

    /// A session that answers a peer's `Hello` over `set`.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] or [`Error::SetTooLarge`].
    pub fn responder(config: Config, set: DigestSet) -> Result<Self, Error> {
        Self::new(Role::Responder, config, set, [0; 16])
    }

    fn new(role: Role, config: Config, set: DigestSet, salt: [u8; 16]) -> Result<Self, Error> {
        config.validate()?;
        if set.len() as u64 > config.max_set_len {
            return Err(Error::SetTooLarge { len: set.len() as u64, max: config.max_set_len });
        }
        Ok(Self {
            role,
            config,
            set,
            state: State::AwaitHello,
            attempt_number: None,
            salt,
            outbox: VecDeque::new(),
            stats: Stats::default(),
            outcome: None,
        })
    }

    /// This session's role.
    pub fn role(&self) -> Role {
        self.role
    }

    /// The next message to send, if any. Every message is at most the smaller of both
    /// sides' `max_message_bytes`.
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        self.outbox.pop_front()
    }

    /// Whether the session has finished successfully ([`Session::outcome`] is set).
    pub fn is_finished(&self) -> bool {
        matches!(self.state, State::Finished)
    }

    /// Whether an error ended the session.
    pub fn is_failed(&self) -> bool {
        matches!(self.state, State::Failed)
    }

    /// The difference, once finished.
    pub fn outcome(&self) -> Option<&Outcome> {
        self.outcome.as_ref()
    }

    /// Takes the difference out of a finished session.
    pub fn take_outcome(&mut self) -> Option<Outcome> {
        self.outcome.take()
    }

    /// The session's counters.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Processes one message from the peer.
    ///
    /// # Errors
    /// Any check the message fails (see [`Error`]); the session is then failed for good.
    pub fn handle(&mut self, bytes: &[u8]) -> Result<(), Error> {
        match self.state {
            State::Finished => return Err(Error::AlreadyFinished),
            State::Failed => return Err(Error::SessionFailed),
            State::AwaitHello | State::Active(_) => {}
        }
        self.stats.messages_received += 1;
        self.stats.bytes_received += bytes.len() as u64;
        let state = std::mem::replace(&mut self.state, State::Failed);
        let next = Message::decode(bytes, self.config.max_message_bytes)
            .and_then(|message| self.step(state, message))?;
        self.state = next;
        Ok(())
    }

    fn step(&mut self, state: State, message: Message) -> Result<State, Error> {
        match (state, message) {
            (State::AwaitHello, Message::Hello(hello)) => self.on_hello(hello),
            (State::AwaitHello, other) => {
                Err(Error::UnexpectedMessage { expected: "Hello", got: other.name() })
            }
            (State::Active(a), Message::Hello(hello))
                if self.role == Role::Responder && a.phase.awaits_flight() =>
            {
                self.on_hello(hello)
            }
            (State::Active(a), Message::Restart)
                if self.role == Role::Initiator && a.phase.awaits_flight() =>
            {
                self.start_attempt(a.number + 1)
            }
            (State::Active(mut a), message) => {
                let phase = std::mem::replace(&mut a.phase, Phase::AwaitDecoded);
                self.on_active(a, phase, message)
            }
            (State::Finished, _) => Err(Error::AlreadyFinished),
            (State::Failed, _) => Err(Error::SessionFailed),
        }
    }

    // ----------------------------------------------------------------- sending

    fn send(&mut self, message: &Message) {
        let bytes = message.encode();
        self.stats.messages_sent += 1;
        self.stats.bytes_sent += bytes.len() as u64;
        self.stats.largest_sent = self.stats.largest_sent.max(bytes.len());
        self.outbox.push_back(bytes);
    }

    /// Sends `items` in list messages of at most `cap` bytes.
    fn send_list<T: Copy>(
        &mut self,
        items: &[T],
        item_bytes: usize,
        cap: usize,
        make: impl Fn(u64, &[T]) -> Message,
    ) {
        let per = ((cap - LIST_OVERHEAD) / item_bytes).max(1);
        let mut offset = 0u64;
        for chunk in items.chunks(per) {
            let message = make(offset, chunk);
            debug_assert!(message.encode().len() <= cap, "list message within the cap");
            self.send(&message);
            offset += chunk.len() as u64;
        }
    }

    fn send_keys(&mut self, keys: &[u64], cap: usize) {
        self.stats.keys_sent += keys.len() as u64;
        self.send_list(keys, KEY_BYTES, cap, |_, chunk| {
            Message::Keys(chunk.iter().map(|&k| Key::from(k)).collect())
        });
    }

    fn send_digests(&mut self, digests: &[Digest], cap: usize) {
        self.stats.digests_sent += digests.len() as u64;
        self.send_list(digests, DIGEST_BYTES, cap, |_, chunk| Message::Digests(chunk.to_vec()));
    }

    /// Sends our whole key list (`KeysFollow` and the lists).
    fn send_key_list(&mut self, a: &Attempt) {
        let keys: Vec<u64> = a.table.entries().iter().map(|e| e.key).collect();
        self.send(&Message::KeysFollow { count: keys.len() as u64 });
        self.send_keys(&keys, a.send_cap(&self.config));
    }

    /// Sends our next `count` coded symbols (`SymbolsFollow` and the lists).
    fn send_symbols(&mut self, a: &mut Attempt, count: u64) {
        let first = a.symbols_sent;
        let end = first + count;
        a.ensure_own(end);
        let cap = a.send_cap(&self.config);
        self.send(&Message::SymbolsFollow { count });
        let cells = &a.own[first as usize..end as usize];
        self.stats.symbols_sent += count;
        self.send_list(cells, SYMBOL_BYTES, cap, |offset, chunk| Message::Symbols {
            first: first + offset,
            symbols: chunk.iter().map(|&c| Symbol::from(c)).collect(),
        });
        a.symbols_sent = end;
    }
}
