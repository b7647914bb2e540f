//! The shape of every protocol core (DESIGN.md §2).
//!
//! A core is a deterministic state machine. A driver — a tokio actor in production, the
//! simulator in tests — owns it and calls [`Protocol::handle`] with the current time and
//! one [`Input`]; the core appends what it wants done to an [`Outbox`]:
//!
//! ```text
//!            Input::Start / Recv / Command / Timer / PeerDown
//!  driver ──────────────────────────────────────────────────────► core.handle(now, input, out)
//!    ▲                                                                 │
//!    └──────── Output::Send / Emit / SetTimer / Disconnect ◄───────────┘
//! ```
//!
//! The run-loop contract:
//! 1. The driver delivers [`Input::Start`] once, before anything else (and again after a
//!    simulated restart, to a fresh state).
//! 2. Every `SetTimer { at, timer }` makes the driver deliver `Input::Timer(timer)` at or
//!    after `at`. Timers are never cancelled: a core that no longer wants one ignores it
//!    when it fires (keep a generation number in the timer value).
//! 3. `Send` is best effort. When the driver learns that a peer is unreachable or a
//!    connection broke, it delivers `PeerDown`. `from` in `Recv` is authenticated: on the
//!    network it is the key the TLS handshake proved.
//! 4. The core never reads a clock, sleeps, spawns or does I/O; [`Now`] carries both the
//!    monotonic and the wall-clock time. Randomness comes from an RNG the core owns, seeded
//!    by whoever built it.
//!
//! The outbox is a reusable buffer rather than a returned iterator so that a simulator
//! running millions of events allocates nothing per event.

use std::fmt;
use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

use crate::id::NodeId;
use crate::time::{Instant, UnixTime};

/// The time at which an input is handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Now {
    /// Monotonic time, for timers and timeouts.
    pub instant: Instant,
    /// Wall-clock time, for anything compared across machines (validity, expiry).
    pub unix: UnixTime,
}

/// Where a peer is: its node id (proved by its key on every connection) and a socket
/// address to reach it.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct PeerAddr {
    /// The peer's node id.
    pub node: NodeId,
    /// A UDP address the peer listens on.
    pub addr: SocketAddr,
}

impl fmt::Debug for PeerAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}@{}", self.node, self.addr)
    }
}

/// What a driver hands a core.
#[derive(Debug, Clone)]
pub enum Input<M, C, T> {
    /// The core has just been created (or restarted); schedule initial timers here.
    Start,
    /// A message arrived from an authenticated peer.
    Recv {
        /// The sender.
        from: PeerAddr,
        /// The decoded message.
        msg: M,
    },
    /// A command from the local application.
    Command(C),
    /// A timer set earlier with [`Output::SetTimer`] fired.
    Timer(T),
    /// The peer is unreachable or its connection broke.
    PeerDown(PeerAddr),
}

/// What a core asks its driver to do.
#[derive(Debug, Clone)]
pub enum Output<M, E, T> {
    /// Send a message to a peer (best effort).
    Send {
        /// The destination.
        to: PeerAddr,
        /// The message.
        msg: M,
    },
    /// Report an event to the local application.
    Emit(E),
    /// Deliver `Input::Timer(timer)` at or after `at`.
    SetTimer {
        /// When to fire.
        at: Instant,
        /// What to deliver.
        timer: T,
    },
    /// Close the connection to a peer.
    Disconnect(PeerAddr),
}

/// The buffer a core appends its outputs to; drained by the driver after each call.
#[derive(Debug)]
pub struct Outbox<M, E, T> {
    items: Vec<Output<M, E, T>>,
}

impl<M, E, T> Default for Outbox<M, E, T> {
    fn default() -> Self {
        Outbox { items: Vec::new() }
    }
}

impl<M, E, T> Outbox<M, E, T> {
    /// An empty outbox.
    pub fn new() -> Self {
        Self::default()
    }

    /// Queue a message.
    pub fn send(&mut self, to: PeerAddr, msg: M) {
        self.items.push(Output::Send { to, msg });
    }

    /// Queue an application event.
    pub fn emit(&mut self, event: E) {
        self.items.push(Output::Emit(event));
    }

    /// Queue a timer.
    pub fn set_timer(&mut self, at: Instant, timer: T) {
        self.items.push(Output::SetTimer { at, timer });
    }

    /// Queue a disconnect.
    pub fn disconnect(&mut self, peer: PeerAddr) {
        self.items.push(Output::Disconnect(peer));
    }

    /// Queue any output.
    pub fn push(&mut self, output: Output<M, E, T>) {
        self.items.push(output);
    }

    /// Number of queued outputs.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// `true` if nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Removes and yields every queued output, keeping the allocation for reuse.
    pub fn drain(&mut self) -> std::vec::Drain<'_, Output<M, E, T>> {
        self.items.drain(..)
    }
}

/// A sans-IO protocol core.
pub trait Protocol {
    /// Messages exchanged between peers (encoded with the frame codec on the wire).
    type Message: Serialize + Clone;
    /// Commands from the local application.
    type Command;
    /// Events for the local application.
    type Event;
    /// Timer payloads.
    type Timer;

    /// Handles one input at time `now`, appending outputs to `out`.
    fn handle(
        &mut self,
        now: Now,
        input: Input<Self::Message, Self::Command, Self::Timer>,
        out: &mut OutboxOf<Self>,
    );

    /// A hint from a driver that has `batch` — messages received together, in arrival
    /// order — queued, before it hands them to [`handle`](Protocol::handle) one by one: a
    /// protocol may do work for all of them at once here, such as verifying their
    /// signatures on several cores. It must not change what `handle` then outputs; the
    /// default does nothing. Simulators need not call it.
    fn prepare(&mut self, now: Now, batch: &[(PeerAddr, Self::Message)]) {
        let _ = (now, batch);
    }
}

/// The [`Input`] type of a protocol.
pub type InputOf<P> =
    Input<<P as Protocol>::Message, <P as Protocol>::Command, <P as Protocol>::Timer>;
/// The [`Output`] type of a protocol.
pub type OutputOf<P> =
    Output<<P as Protocol>::Message, <P as Protocol>::Event, <P as Protocol>::Timer>;
/// The [`Outbox`] type of a protocol.
pub type OutboxOf<P> =
    Outbox<<P as Protocol>::Message, <P as Protocol>::Event, <P as Protocol>::Timer>;
