//! The generic tokio driver of a sans-IO protocol core (DESIGN.md §2).
//!
//! [`spawn`] moves a core (anything implementing [`peergroup_base::Protocol`]) into one
//! tokio task — an actor — that owns it, a timer heap, and the core's streams on the shared
//! [`Endpoint`]. It honours the run-loop contract of `peergroup_base::sansio`:
//!
//! * `Input::Start` first; then, one at a time, commands from [`Handle`]s, messages from
//!   peers, timers that came due and `PeerDown` notices.
//! * `Output::Send { to, msg }` goes out on one long-lived stream per peer for this protocol
//!   (so messages to one peer stay in order), over a connection dialled with
//!   [`Expect::Node`]`(to.node)` — a peer that is not who the core thinks is never sent
//!   anything. If dialling or writing fails, the core receives `Input::PeerDown(to)`. At most
//!   [`DriverConfig::peer_queue`] messages wait per peer; beyond that they are dropped
//!   (best effort, like a lossy link) and counted in the log.
//! * `Input::Recv { from, .. }` carries the TLS-verified node id of the sender and its
//!   address. A frame that does not decode closes that stream only.
//! * `Output::Emit(event)` goes to the [`Events`] stream (bounded; the actor waits for a
//!   slow reader, and drops events once the [`Events`] value is dropped).
//! * `Output::SetTimer` fires at or after its time; `Output::Disconnect` closes the
//!   connection.
//! * The actor stops when every [`Handle`] is dropped.
//!
//! Time: `Now::instant` counts microseconds since the driver started; `Now::unix` is the
//! wall clock.

// The driver is where the real clock is read on the core's behalf.
#![allow(clippy::disallowed_methods)]

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use peergroup_base::sansio::{InputOf, OutboxOf};
use peergroup_base::{Input, Instant, NodeId, Now, Output, PeerAddr, Protocol, UnixTime};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::sync::mpsc;
use tracing::{debug, warn};

use crate::{Connection, Endpoint, Expect, FramedStream, NetError, ProtocolId};

/// Queue sizes of a driver. `Default` suits a protocol with moderate traffic.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct DriverConfig {
    /// Commands waiting for the actor. Default 1,024.
    pub command_queue: usize,
    /// Events waiting for the application. Default 1,024.
    pub event_queue: usize,
    /// Messages waiting per peer before further ones are dropped. Default 1,024.
    pub peer_queue: usize,
    /// Received messages waiting for the actor. Default 4,096.
    pub inbound_queue: usize,
    /// The largest frame on this protocol's streams, both directions; `None` (the default)
    /// keeps the endpoint's [`EndpointConfig::max_frame_len`](crate::EndpointConfig).
    pub max_frame_len: Option<u32>,
    /// Backpressure on the application: while any peer's queue holds more than this many
    /// messages, the actor takes no new commands (it keeps handling messages from peers
    /// and timers), so a fast local writer is slowed to what its peers take instead of
    /// overflowing their queues. `None` (the default): commands are always taken.
    pub pause_commands_above: Option<usize>,
    /// Incoming streams of this protocol one connection may have open at once; a further
    /// one is reset with `BUSY` (`wire.md` §5). Default 4: a peer writes on one stream
    /// (it opens a new one only after the old one failed), so 4 leave room for streams
    /// whose failure we have not noticed yet.
    pub max_incoming_streams_per_connection: usize,
}

impl Default for DriverConfig {
    fn default() -> Self {
        DriverConfig {
            command_queue: 1024,
            event_queue: 1024,
            peer_queue: 1024,
            inbound_queue: 4096,
            max_frame_len: None,
            pause_commands_above: None,
            max_incoming_streams_per_connection: 4,
        }
    }
}

/// Sends commands to a running core. Cheap to clone; the core stops when the last clone is
/// dropped.
#[derive(Debug)]
pub struct Handle<C> {
    commands: mpsc::Sender<C>,
    urgent: mpsc::Sender<C>,
}

impl<C> Clone for Handle<C> {
    fn clone(&self) -> Self {
        Handle { commands: self.commands.clone(), urgent: self.urgent.clone() }
    }
}

impl<C> Handle<C> {
    /// Queues a command, waiting if the queue is full.
    pub async fn command(&self, command: C) -> Result<(), NetError> {
        self.commands.send(command).await.map_err(|_| NetError::DriverStopped)
    }

    /// Queues a command that is taken even while the actor pauses commands for
    /// backpressure ([`DriverConfig::pause_commands_above`]): for reads of the core's
    /// state, which add no messages. Its queue is separate from the ordinary one, so it is
    /// not stuck behind writes either.
    pub async fn command_urgent(&self, command: C) -> Result<(), NetError> {
        self.urgent.send(command).await.map_err(|_| NetError::DriverStopped)
    }

    /// `true` once the actor has stopped.
    pub fn is_stopped(&self) -> bool {
        self.commands.is_closed()
    }
}

/// The events a core emits, as a [`futures_core::Stream`] (or with [`Events::next`]).
#[derive(Debug)]
pub struct Events<E> {
    rx: mpsc::Receiver<E>,
}

impl<E> Events<E> {
    /// The next event; `None` once the actor stopped.
    pub async fn next(&mut self) -> Option<E> {
        self.rx.recv().await
    }
}

impl<E> futures_core::Stream for Events<E> {
    type Item = E;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<E>> {
        self.rx.poll_recv(cx)
    }
}

/// What [`spawn`] returns: the command handle and the event stream of a running core.
pub type Running<P> = (Handle<<P as Protocol>::Command>, Events<<P as Protocol>::Event>);

/// Starts `state` on `endpoint` under `protocol`; returns the command handle and the event
/// stream. Must be called inside a tokio runtime.
pub fn spawn<P>(
    endpoint: &Endpoint,
    protocol: ProtocolId,
    state: P,
    config: DriverConfig,
) -> Result<Running<P>, NetError>
where
    P: Protocol + Send + 'static,
    P::Message: Serialize + DeserializeOwned + Send + Sync + 'static,
    P::Command: Send + 'static,
    P::Event: Send + 'static,
    P::Timer: Send + 'static,
{
    let incoming =
        endpoint.register_limited(protocol.clone(), config.max_incoming_streams_per_connection)?;
    let (cmd_tx, cmd_rx) = mpsc::channel(config.command_queue.max(1));
    let (urgent_tx, urgent_rx) = mpsc::channel(config.command_queue.max(1));
    let (event_tx, event_rx) = mpsc::channel(config.event_queue.max(1));
    let (inbound_tx, inbound_rx) = mpsc::channel(config.inbound_queue.max(1));
    let (down_tx, down_rx) = mpsc::unbounded_channel();
    let actor = Actor {
        state,
        endpoint: endpoint.clone(),
        protocol,
        config,
        origin: tokio::time::Instant::now(),
        outbox: OutboxOf::<P>::new(),
        timers: BinaryHeap::new(),
        timer_payloads: HashMap::new(),
        next_timer: 0,
        peers: HashMap::new(),
        events: Some(event_tx),
        inbound_tx,
        down_tx,
        received: Vec::new(),
    };
    tokio::spawn(actor.run(cmd_rx, urgent_rx, incoming, inbound_rx, down_rx));
    Ok((Handle { commands: cmd_tx, urgent: urgent_tx }, Events { rx: event_rx }))
}

struct Actor<P: Protocol> {
    state: P,
    endpoint: Endpoint,
    protocol: ProtocolId,
    config: DriverConfig,
    origin: tokio::time::Instant,
    outbox: OutboxOf<P>,
    timers: BinaryHeap<Reverse<(Instant, u64)>>,
    timer_payloads: HashMap<u64, P::Timer>,
    next_timer: u64,
    peers: HashMap<NodeId, (std::net::SocketAddr, mpsc::Sender<P::Message>)>,
    events: Option<mpsc::Sender<P::Event>>,
    inbound_tx: mpsc::Sender<(PeerAddr, P::Message)>,
    down_tx: mpsc::UnboundedSender<PeerAddr>,
    /// The buffer of [`Actor::received`], kept for reuse.
    received: Vec<(PeerAddr, P::Message)>,
}

/// Received messages handed to [`Protocol::prepare`] together, at most.
const MAX_RECEIVED_BATCH: usize = 256;

impl<P> Actor<P>
where
    P: Protocol + Send + 'static,
    P::Message: Serialize + DeserializeOwned + Send + Sync + 'static,
    P::Command: Send + 'static,
    P::Event: Send + 'static,
    P::Timer: Send + 'static,
{
    async fn run(
        mut self,
        mut commands: mpsc::Receiver<P::Command>,
        mut urgent: mpsc::Receiver<P::Command>,
        mut incoming: crate::Incoming,
        mut inbound: mpsc::Receiver<(PeerAddr, P::Message)>,
        mut down: mpsc::UnboundedReceiver<PeerAddr>,
    ) {
        self.handle(Input::Start).await;
        loop {
            let next_timer = self
                .timers
                .peek()
                .map(|Reverse((at, _))| self.origin + Duration::from_micros(at.as_micros()));
            let congested = self.congested();
            tokio::select! {
                Some(c) = urgent.recv() => self.handle(Input::Command(c)).await,
                command = commands.recv(), if !congested => match command {
                    Some(c) => self.handle(Input::Command(c)).await,
                    None => break,
                },
                // Queues drain without waking the actor: look again shortly.
                () = tokio::time::sleep(Duration::from_millis(2)), if congested => {}
                Some(mut stream) = incoming.next() => {
                    if let Some(max) = self.config.max_frame_len {
                        stream.set_max_frame_len(max);
                    }
                    tokio::spawn(read_stream::<P::Message>(stream, self.inbound_tx.clone()));
                }
                Some(first) = inbound.recv() => self.received(first, &mut inbound).await,
                Some(peer) = down.recv() => {
                    if self.peers.get(&peer.node).is_some_and(|(_, tx)| tx.is_closed()) {
                        self.peers.remove(&peer.node);
                    }
                    self.handle(Input::PeerDown(peer)).await;
                }
                () = sleep_until(next_timer), if next_timer.is_some() => self.fire_due_timers().await,
            }
        }
        debug!(protocol = %self.protocol, "driver stopped: all handles dropped");
    }

    /// Handles `first` and whatever else is already queued behind it (at most
    /// [`MAX_RECEIVED_BATCH`]), after letting the protocol
    /// [`prepare`](Protocol::prepare) them as one batch.
    async fn received(
        &mut self,
        first: (PeerAddr, P::Message),
        inbound: &mut mpsc::Receiver<(PeerAddr, P::Message)>,
    ) {
        let mut batch = std::mem::take(&mut self.received);
        batch.push(first);
        while batch.len() < MAX_RECEIVED_BATCH {
            match inbound.try_recv() {
                Ok(m) => batch.push(m),
                Err(_) => break,
            }
        }
        if batch.len() > 1 {
            let now = self.now();
            self.state.prepare(now, &batch);
        }
        for (from, msg) in batch.drain(..) {
            self.handle(Input::Recv { from, msg }).await;
        }
        self.received = batch;
    }

    /// Whether some peer's queue is over [`DriverConfig::pause_commands_above`].
    fn congested(&self) -> bool {
        let Some(limit) = self.config.pause_commands_above else {
            return false;
        };
        self.peers
            .values()
            .any(|(_, tx)| !tx.is_closed() && tx.max_capacity() - tx.capacity() > limit)
    }

    fn now(&self) -> Now {
        let elapsed = tokio::time::Instant::now().saturating_duration_since(self.origin);
        Now {
            instant: Instant::from_micros(u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX)),
            unix: UnixTime::now(),
        }
    }

    async fn fire_due_timers(&mut self) {
        let now = self.now().instant;
        while let Some(Reverse((at, seq))) = self.timers.peek().copied() {
            if at > now {
                break;
            }
            self.timers.pop();
            if let Some(timer) = self.timer_payloads.remove(&seq) {
                self.handle(Input::Timer(timer)).await;
            }
        }
    }

    async fn handle(&mut self, input: InputOf<P>) {
        let now = self.now();
        self.state.handle(now, input, &mut self.outbox);
        let outputs: Vec<_> = self.outbox.drain().collect();
        for output in outputs {
            match output {
                Output::Send { to, msg } => self.send(to, msg),
                Output::Emit(event) => {
                    if let Some(tx) = &self.events
                        && tx.send(event).await.is_err()
                    {
                        // the application dropped its Events: stop emitting
                        self.events = None;
                    }
                }
                Output::SetTimer { at, timer } => {
                    let seq = self.next_timer;
                    self.next_timer += 1;
                    self.timers.push(Reverse((at, seq)));
                    self.timer_payloads.insert(seq, timer);
                }
                Output::Disconnect(peer) => {
                    self.peers.remove(&peer.node);
                    for conn in self.endpoint.connections() {
                        if conn.remote().node_id == peer.node {
                            conn.close("disconnect");
                        }
                    }
                }
            }
        }
    }

    fn send(&mut self, to: PeerAddr, msg: P::Message) {
        let msg = match self.peers.get(&to.node) {
            // a writer for this node at this address: queue behind it
            Some((addr, tx)) if *addr == to.addr => match tx.try_send(msg) {
                Ok(()) => return,
                Err(mpsc::error::TrySendError::Full(_)) => {
                    warn!(peer = ?to, protocol = %self.protocol, "peer queue full: message dropped");
                    return;
                }
                Err(mpsc::error::TrySendError::Closed(msg)) => msg,
            },
            // no writer, or the core now knows the node at another address: a new writer
            _ => msg,
        };
        let (tx, rx) = mpsc::channel(self.config.peer_queue.max(1));
        // A fresh channel has room for one message.
        let _ = tx.try_send(msg);
        self.peers.insert(to.node, (to.addr, tx));
        tokio::spawn(write_peer(
            self.endpoint.clone(),
            self.protocol.clone(),
            self.config.max_frame_len,
            to,
            rx,
            self.down_tx.clone(),
        ));
    }
}

async fn sleep_until(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Dials `to` (checking its node id), opens the protocol's stream and writes every queued
/// message to it; on failure reports `to` down.
///
/// A peer that restarted leaves our old connection to it dead; QUIC notices (a stateless
/// reset, or the idle timeout) only after we wrote into it. So before each write the writer
/// checks that its connection is still open, and after a failed write it dials once more and
/// retries that message, before giving up and reporting the peer down.
async fn write_peer<M: Serialize + Send + Sync>(
    endpoint: Endpoint,
    protocol: ProtocolId,
    max_frame_len: Option<u32>,
    to: PeerAddr,
    mut rx: mpsc::Receiver<M>,
    down: mpsc::UnboundedSender<PeerAddr>,
) {
    let open = async || -> Result<(Connection, FramedStream), NetError> {
        let conn = endpoint.connect(to.addr, Expect::Node(to.node)).await?;
        let mut stream = conn.open(&protocol).await?;
        if let Some(max) = max_frame_len {
            stream.set_max_frame_len(max);
        }
        Ok((conn, stream))
    };
    let result: Result<(), NetError> = async {
        let (mut conn, mut stream) = open().await?;
        while let Some(msg) = rx.recv().await {
            if conn.is_closed() {
                (conn, stream) = open().await?;
            }
            if stream.send(&msg).await.is_err() {
                (conn, stream) = open().await?;
                stream.send(&msg).await?;
            }
        }
        // the actor dropped the queue: finish the stream cleanly
        stream.send.finish()
    }
    .await;
    if let Err(e) = result {
        debug!(peer = ?to, %protocol, error = %e, "peer unreachable");
        rx.close();
        let _ = down.send(to);
    }
}

/// Reads every frame of one inbound stream and hands it to the actor.
///
/// It stops as soon as the actor is gone (every handle of the protocol dropped), not at the
/// next frame: dropping the stream tells the peer at once (QUIC `STOP_SENDING`), so that
/// its writer's next write fails and it opens a stream to whatever handler this endpoint
/// registers next — otherwise the first message after a close and reopen of the protocol
/// on the same endpoint would be read here and lost.
async fn read_stream<M: DeserializeOwned>(
    mut stream: FramedStream,
    inbound: mpsc::Sender<(PeerAddr, M)>,
) {
    let from = PeerAddr { node: stream.remote.node_id, addr: stream.remote_addr };
    loop {
        let frame = tokio::select! {
            frame = stream.recv::<M>() => frame,
            () = inbound.closed() => break,
        };
        match frame {
            Ok(Some(msg)) => {
                if inbound.send((from, msg)).await.is_err() {
                    break;
                }
            }
            Ok(None) => break,
            Err(e) => {
                debug!(peer = ?from, error = %e, "inbound stream closed");
                break;
            }
        }
    }
}
