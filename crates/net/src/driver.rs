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
//! * A stream the peer refuses with `BUSY` (`wire.md` §3.1, §5: it already has its maximum
//!   of our streams of the protocol, or its handler queue is full) is closed at once on
//!   our side (reset and stopped, so it holds nothing at the peer) and opened again after
//!   a back-off that doubles from [`DriverConfig::busy_backoff`]; after
//!   [`DriverConfig::busy_retries`] refusals in a row the core receives `PeerDown`. The
//!   writer watches its stream for the refusal even while it has nothing to send, so a
//!   refused stream never lingers. A peer refuses a stream with `BUSY` before its handler
//!   reads any frame of it, so the messages written on the refused stream before the
//!   refusal arrived are written again, in order, on the next stream (`Unconfirmed`:
//!   those written in the stream's first 10 s, up to 256 KiB, the most a peer lets us
//!   write on a stream it has not read). A `BUSY` for a frame in the middle of an accepted
//!   stream (`wire.md` §5: half-read frames) can therefore deliver a message twice; the
//!   protocols above take duplicates (`pnrp.md` transaction ids, `graph.md` versions).
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
    /// After the peer refuses our stream with `BUSY`, wait this long before opening
    /// another, doubling with each refusal in a row (up to 32 times this). Default
    /// 100 ms: a peer's count of our streams drops as soon as it sees our reset of the
    /// refused one, a round trip later.
    pub busy_backoff: Duration,
    /// Streams opened again after refusals with `BUSY` in a row (no message written on an
    /// unrefused stream between them); the next refusal reports the peer down. Default 6:
    /// 6.3 s of back-off at the default [`busy_backoff`](Self::busy_backoff).
    pub busy_retries: u32,
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
            busy_backoff: Duration::from_millis(100),
            busy_retries: 6,
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

    /// A handle that reaches the core without keeping it running.
    pub fn downgrade(&self) -> WeakHandle<C> {
        WeakHandle { commands: self.commands.downgrade(), urgent: self.urgent.downgrade() }
    }
}

/// A [`Handle`] that does not keep the core running (from [`Handle::downgrade`]): for
/// whoever must be able to stop a core that someone else owns.
pub struct WeakHandle<C> {
    commands: mpsc::WeakSender<C>,
    urgent: mpsc::WeakSender<C>,
}

impl<C> std::fmt::Debug for WeakHandle<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WeakHandle").finish_non_exhaustive()
    }
}

impl<C> Clone for WeakHandle<C> {
    fn clone(&self) -> Self {
        WeakHandle { commands: self.commands.clone(), urgent: self.urgent.clone() }
    }
}

impl<C> WeakHandle<C> {
    /// The handle, while the core runs and some [`Handle`] to it is alive.
    pub fn upgrade(&self) -> Option<Handle<C>> {
        Some(Handle { commands: self.commands.upgrade()?, urgent: self.urgent.upgrade()? })
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
        let writer = Writer {
            endpoint: self.endpoint.clone(),
            protocol: self.protocol.clone(),
            max_frame_len: self.config.max_frame_len,
            to,
            busy: Busy::new(self.config.busy_backoff, self.config.busy_retries),
            unconfirmed: Unconfirmed::new(),
        };
        tokio::spawn(writer.run(rx, self.down_tx.clone()));
    }
}

async fn sleep_until(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// The refusals with `BUSY` of one writer's streams, in a row, and the back-off they cost.
#[derive(Debug)]
struct Busy {
    first: Duration,
    retries: u32,
    in_a_row: u32,
}

impl Busy {
    fn new(first: Duration, retries: u32) -> Self {
        Busy { first, retries, in_a_row: 0 }
    }

    /// The wait before the next stream after one more refusal; `None` once the refusals
    /// in a row exceed the budget (the peer is then reported down).
    fn refused(&mut self) -> Option<Duration> {
        self.in_a_row += 1;
        if self.in_a_row > self.retries {
            return None;
        }
        Some(self.first.saturating_mul(1 << (self.in_a_row - 1).min(5)))
    }

    /// A message went out on a stream the peer had not refused.
    fn written(&mut self) {
        self.in_a_row = 0;
    }
}

/// How long after a stream opened its frames are kept for writing again: a peer refuses
/// a stream at dispatch, within its preamble timeout of the stream's arrival (5 s,
/// `wire.md` §3.1); after this the stream counts as accepted.
const UNCONFIRMED_WINDOW: Duration = Duration::from_secs(10);
/// The most bytes of frames kept: a peer's flow-control window per stream (`wire.md` §1.4,
/// 256 KiB) is all we can write on a stream it has not read. A stream that took more was
/// read, so it was accepted.
const UNCONFIRMED_BYTES: usize = 256 * 1024;

/// The frames written on the current stream while it may still be refused with `BUSY`
/// at dispatch (its first [`UNCONFIRMED_WINDOW`], up to [`UNCONFIRMED_BYTES`]). After a
/// refusal they are written again on the next stream; once the window or the size is
/// passed, the stream counts as accepted and nothing more is kept.
#[derive(Debug)]
struct Unconfirmed {
    frames: Vec<Vec<u8>>,
    bytes: usize,
    since: tokio::time::Instant,
    accepted: bool,
}

impl Unconfirmed {
    fn new() -> Self {
        Unconfirmed {
            frames: Vec::new(),
            bytes: 0,
            since: tokio::time::Instant::now(),
            accepted: false,
        }
    }

    /// A frame written on the current stream.
    fn written(&mut self, frame: &[u8]) {
        if self.accepted {
            return;
        }
        if self.since.elapsed() > UNCONFIRMED_WINDOW || self.bytes + frame.len() > UNCONFIRMED_BYTES
        {
            *self = Unconfirmed { accepted: true, ..Unconfirmed::new() };
            return;
        }
        self.bytes += frame.len();
        self.frames.push(frame.to_vec());
    }
}

/// The code of a write error that says the peer stopped our stream.
fn stopped_code(e: &NetError) -> Option<quinn::VarInt> {
    match e {
        NetError::Write(quinn::WriteError::Stopped(code)) => Some(*code),
        _ => None,
    }
}

/// Closes our side of a stream the peer refused or that failed: reset what we send, stop
/// what we would read, so the stream holds nothing at either end.
fn abandon(stream: &mut FramedStream, code: quinn::VarInt) {
    stream.send.reset(code);
    stream.recv.stop(code);
}

/// Resolves when the peer stops the stream (`Some(code)`), or never: a finished stream or
/// a lost connection is noticed at the next write, as before.
type Refusal = Pin<Box<dyn std::future::Future<Output = quinn::VarInt> + Send>>;

fn refusal(stream: &FramedStream) -> Refusal {
    let stopped = stream.send.stopped();
    Box::pin(async move {
        match stopped.await {
            Some(code) => code,
            None => std::future::pending().await,
        }
    })
}

/// One peer's writer: dials `to` (checking its node id), opens the protocol's stream and
/// writes every queued message to it; on failure reports `to` down.
///
/// A peer that restarted leaves our old connection to it dead; QUIC notices (a stateless
/// reset, or the idle timeout) only after we wrote into it. So before each write the writer
/// checks that its connection is still open, and after a failed write it dials once more and
/// retries that message, before giving up and reporting the peer down. A stream refused
/// with `BUSY` is closed and opened again after a back-off ([`Busy`]), see the module docs;
/// one refused with `UNKNOWN_PROTOCOL` reports the peer down at once (it serves no such
/// protocol, so every stream would be refused).
struct Writer {
    endpoint: Endpoint,
    protocol: ProtocolId,
    max_frame_len: Option<u32>,
    to: PeerAddr,
    busy: Busy,
    unconfirmed: Unconfirmed,
}

impl Writer {
    /// Dials (or reuses the connection) and opens a new stream; what the old one kept for
    /// writing again is dropped ([`Writer::reopen_after_busy`] takes it first).
    async fn open(&mut self) -> Result<(Connection, FramedStream), NetError> {
        let conn = self.endpoint.connect(self.to.addr, Expect::Node(self.to.node)).await?;
        let mut stream = conn.open(&self.protocol).await?;
        if let Some(max) = self.max_frame_len {
            stream.set_max_frame_len(max);
        }
        self.unconfirmed = Unconfirmed::new();
        Ok((conn, stream))
    }

    /// After a refusal with `BUSY`: backs off, opens a new stream and writes on it again
    /// the frames the refused one carried ([`Unconfirmed`]); while those are refused too,
    /// again, until the back-off budget is spent.
    async fn reopen_after_busy(&mut self) -> Result<(Connection, FramedStream), NetError> {
        let frames = std::mem::take(&mut self.unconfirmed.frames);
        loop {
            self.back_off().await?;
            let (conn, mut stream) = self.open().await?;
            let mut failed = None;
            for frame in &frames {
                match stream.send.send_raw(frame).await {
                    Ok(()) => self.unconfirmed.written(frame),
                    Err(e) => {
                        failed = Some(e);
                        break;
                    }
                }
            }
            let Some(e) = failed else { return Ok((conn, stream)) };
            let code = stopped_code(&e);
            abandon(&mut stream, code.unwrap_or(crate::codes::OK));
            if code != Some(crate::codes::BUSY) {
                return Err(e);
            }
        }
    }

    /// After a refusal with `BUSY`: waits out the back-off, or fails once the refusals in a
    /// row exceed the budget.
    async fn back_off(&mut self) -> Result<(), NetError> {
        match self.busy.refused() {
            Some(wait) => {
                debug!(peer = ?self.to, protocol = %self.protocol, ?wait, "stream refused (BUSY)");
                tokio::time::sleep(wait).await;
                Ok(())
            }
            None => Err(NetError::StreamRefused(crate::codes::BUSY.into_inner())),
        }
    }

    async fn run<M: Serialize + Send + Sync>(
        mut self,
        mut rx: mpsc::Receiver<M>,
        down: mpsc::UnboundedSender<PeerAddr>,
    ) {
        let result = self.write_all(&mut rx).await;
        if let Err(e) = result {
            debug!(peer = ?self.to, protocol = %self.protocol, error = %e, "peer unreachable");
            rx.close();
            let _ = down.send(self.to);
        }
    }

    async fn write_all<M: Serialize + Send + Sync>(
        &mut self,
        rx: &mut mpsc::Receiver<M>,
    ) -> Result<(), NetError> {
        let (mut conn, mut stream) = self.open().await?;
        let mut refused = refusal(&stream);
        // The stream was stopped for another reason than BUSY or UNKNOWN_PROTOCOL (which
        // end the writer): open a new one for the next message, not at once.
        let mut stale = false;
        loop {
            let msg = tokio::select! {
                // A refusal is handled before the next message is written into the stream.
                biased;
                code = &mut refused => {
                    abandon(&mut stream, code);
                    if code == crate::codes::UNKNOWN_PROTOCOL {
                        // The peer serves no such protocol (for a group: it runs no such
                        // group): every stream would be refused alike.
                        return Err(NetError::StreamRefused(code.into_inner()));
                    }
                    if code == crate::codes::BUSY {
                        (conn, stream) = self.reopen_after_busy().await?;
                        refused = refusal(&stream);
                    } else {
                        refused = Box::pin(std::future::pending());
                        stale = true;
                    }
                    continue;
                }
                msg = rx.recv() => match msg {
                    Some(msg) => msg,
                    None => break,
                },
            };
            let mut redialled = false;
            loop {
                if stale || conn.is_closed() {
                    (conn, stream) = self.open().await?;
                    refused = refusal(&stream);
                    stale = false;
                }
                let e = match stream.send(&msg).await {
                    Ok(()) => {
                        self.busy.written();
                        self.unconfirmed.written(stream.send.last_frame());
                        break;
                    }
                    Err(e) => e,
                };
                let code = stopped_code(&e);
                abandon(&mut stream, code.unwrap_or(crate::codes::OK));
                if code == Some(crate::codes::UNKNOWN_PROTOCOL) {
                    return Err(e);
                }
                if code == Some(crate::codes::BUSY) {
                    // the frames before `msg` go again first, then `msg` (this loop)
                    (conn, stream) = self.reopen_after_busy().await?;
                } else if redialled {
                    return Err(e);
                } else {
                    redialled = true;
                    (conn, stream) = self.open().await?;
                }
                refused = refusal(&stream);
            }
        }
        // the actor dropped the queue: finish the stream cleanly (a stopped one is closed)
        if stale { Ok(()) } else { stream.send.finish() }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn busy_back_off_doubles_is_capped_and_gives_up() {
        let mut busy = Busy::new(Duration::from_millis(100), 8);
        let waits: Vec<_> = std::iter::from_fn(|| busy.refused()).collect();
        let ms: Vec<u128> = waits.iter().map(Duration::as_millis).collect();
        assert_eq!(ms, [100, 200, 400, 800, 1600, 3200, 3200, 3200]);
        assert_eq!(busy.refused(), None, "still refused: given up");
        busy.written();
        assert_eq!(busy.refused(), Some(Duration::from_millis(100)), "a write starts over");
    }
}
