//! The core as the tokio driver runs it: [`Driven`] wraps a [`GraphNode`] with what the
//! API needs on the actor's side — acknowledged commands, reads of the node's state, event
//! fan-out to any number of subscribers, and store durability.
//!
//! Durability: records received from peers are written with
//! [`WriteMode::Deferred`] (they can be synchronised again after a crash) and flushed every
//! [`FLUSH_INTERVAL`] while anything happens; a command the application waits for
//! ([`Request::Run`] with `durable`) is acknowledged only after a durable flush, which also
//! covers every deferred write before it.

use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use peergroup_base::{Input, Now, Outbox, Output, Protocol};
use tokio::sync::{mpsc, oneshot, watch};
use tracing::warn;

use crate::error::GraphError;
use crate::proto::{
    Command, Event, GraphNode, Message, ProtoError, SecurityProvider, Status, Timer,
};
use crate::store::{RecordStore, WriteMode};

/// How often deferred writes are flushed while the node is busy.
pub(crate) const FLUSH_INTERVAL: Duration = Duration::from_millis(500);

/// A closure run on the actor with the node.
pub(crate) type InspectFn<S, P> = Box<dyn FnOnce(Now, &GraphNode<S, P>) + Send>;

/// Per-command results of a [`Request::Run`].
pub(crate) type RunResult = Result<Vec<Result<(), ProtoError>>, GraphError>;

/// What the API sends the actor.
pub(crate) enum Request<S, P> {
    /// Run commands; reply with each one's result (a `CommandFailed` event it caused, or
    /// `Ok`), after a durable flush if `durable`.
    Run { commands: Vec<Command>, durable: bool, reply: oneshot::Sender<RunResult> },
    /// Run a closure with the node (reads).
    Inspect(InspectFn<S, P>),
    /// Leave the graph and flush the store.
    Shutdown(oneshot::Sender<Result<(), GraphError>>),
}

/// The timers of [`Driven`].
#[derive(Debug)]
pub(crate) enum DrivenTimer {
    Core(Timer),
    Flush,
}

/// State shared between the API and the actor.
#[derive(Debug)]
pub(crate) struct Shared {
    subscribers: Mutex<Vec<mpsc::Sender<Event>>>,
    pub(crate) status: watch::Sender<Status>,
    /// Set when the actor dropped the node (and with it the store).
    pub(crate) stopped: watch::Sender<bool>,
    dropped: AtomicU64,
    queue: usize,
}

impl Shared {
    pub(crate) fn new(queue: usize) -> Self {
        Shared {
            subscribers: Mutex::new(Vec::new()),
            status: watch::channel(Status::default()).0,
            stopped: watch::channel(false).0,
            dropped: AtomicU64::new(0),
            queue: queue.max(1),
        }
    }

    pub(crate) fn subscribe(&self) -> GraphEvents {
        let (tx, rx) = mpsc::channel(self.queue);
        self.subscribers.lock().unwrap_or_else(PoisonError::into_inner).push(tx);
        GraphEvents { rx }
    }

    pub(crate) fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    fn publish(&self, event: Event) {
        if let Event::Status(s) = &event {
            self.status.send_replace(*s);
        }
        let mut subs = self.subscribers.lock().unwrap_or_else(PoisonError::into_inner);
        subs.retain(|tx| match tx.try_send(event.clone()) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
                true
            }
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        });
    }
}

/// The events of a graph, as a [`futures_core::Stream`] (or with [`GraphEvents::next`]).
///
/// Each subscriber has its own bounded queue
/// ([`GraphOptions::event_queue`](crate::net::GraphOptions)); a subscriber that falls
/// behind misses events rather than stalling the graph, and
/// [`Graph::events_dropped`](crate::net::Graph::events_dropped) counts what was missed.
#[derive(Debug)]
pub struct GraphEvents {
    rx: mpsc::Receiver<Event>,
}

impl GraphEvents {
    /// The next event; `None` once the graph closed.
    pub async fn next(&mut self) -> Option<Event> {
        self.rx.recv().await
    }

    /// The next event if one is waiting, without waiting.
    pub fn try_next(&mut self) -> Option<Event> {
        self.rx.try_recv().ok()
    }
}

impl futures_core::Stream for GraphEvents {
    type Item = Event;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Event>> {
        self.rx.poll_recv(cx)
    }
}

/// The node plus the actor-side API machinery.
pub(crate) struct Driven<S: RecordStore, P> {
    pub(crate) node: GraphNode<S, P>,
    inner: Outbox<Message, Event, Timer>,
    shared: Arc<Shared>,
    flush_armed: bool,
    _stopped: StopGuard,
}

impl<S: RecordStore, P: SecurityProvider> Driven<S, P> {
    pub(crate) fn new(node: GraphNode<S, P>, shared: Arc<Shared>) -> Self {
        Driven {
            node,
            inner: Outbox::new(),
            _stopped: StopGuard(shared.clone()),
            shared,
            flush_armed: false,
        }
    }

    /// Runs one input of the core and moves its outputs on: messages and timers to the
    /// driver, events to the subscribers. Returns the error of the first `CommandFailed`
    /// among them.
    fn step(
        &mut self,
        now: Now,
        input: Input<Message, Command, Timer>,
        out: &mut Outbox<Message, Never, DrivenTimer>,
    ) -> Result<(), ProtoError> {
        self.node.handle(now, input, &mut self.inner);
        let mut result = Ok(());
        for output in self.inner.drain() {
            match output {
                Output::Send { to, msg } => out.send(to, msg),
                Output::SetTimer { at, timer } => out.set_timer(at, DrivenTimer::Core(timer)),
                Output::Disconnect(peer) => out.disconnect(peer),
                Output::Emit(event) => {
                    if let Event::CommandFailed { error, .. } = &event
                        && result.is_ok()
                    {
                        result = Err(error.clone());
                    }
                    self.shared.publish(event);
                }
            }
        }
        result
    }

    fn flush(&mut self) -> Result<(), GraphError> {
        let r = self.node.store_mut().flush();
        if let Err(e) = &r {
            warn!(error = %e, "graph store flush failed");
        }
        r
    }
}

/// The driver's event type: [`Driven`] hands events to subscribers itself.
#[derive(Debug)]
pub(crate) enum Never {}

impl<S, P> Protocol for Driven<S, P>
where
    S: RecordStore,
    P: SecurityProvider,
{
    type Message = Message;
    type Command = Request<S, P>;
    type Event = Never;
    type Timer = DrivenTimer;

    fn prepare(&mut self, now: Now, batch: &[(peergroup_base::PeerAddr, Message)]) {
        self.node.prepare(now, batch);
    }

    fn handle(
        &mut self,
        now: Now,
        input: Input<Message, Request<S, P>, DrivenTimer>,
        out: &mut Outbox<Message, Never, DrivenTimer>,
    ) {
        match input {
            Input::Start => {
                self.node.store_mut().set_write_mode(WriteMode::Deferred);
                let _ = self.step(now, Input::Start, out);
            }
            Input::Recv { from, msg } => {
                let _ = self.step(now, Input::Recv { from, msg }, out);
            }
            Input::PeerDown(p) => {
                let _ = self.step(now, Input::PeerDown(p), out);
            }
            Input::Timer(DrivenTimer::Core(t)) => {
                let _ = self.step(now, Input::Timer(t), out);
            }
            Input::Timer(DrivenTimer::Flush) => {
                self.flush_armed = false;
                let _ = self.flush();
                return;
            }
            Input::Command(Request::Run { commands, durable, reply }) => {
                let results: Vec<_> =
                    commands.into_iter().map(|c| self.step(now, Input::Command(c), out)).collect();
                let flushed = if durable { self.flush() } else { Ok(()) };
                let _ = reply.send(flushed.map(|()| results));
            }
            Input::Command(Request::Inspect(f)) => f(now, &self.node),
            Input::Command(Request::Shutdown(reply)) => {
                let _ = self.step(now, Input::Command(Command::Close), out);
                let _ = reply.send(self.flush());
                return;
            }
        }
        if !self.flush_armed {
            self.flush_armed = true;
            out.set_timer(now.instant + FLUSH_INTERVAL, DrivenTimer::Flush);
        }
    }
}

impl<S: RecordStore, P> Drop for Driven<S, P> {
    fn drop(&mut self) {
        // The actor stopped (every handle dropped): keep what was received.
        let _ = self.node.store.flush();
    }
}

/// Tells `close` that the store is gone: the last field of [`Driven`], so it drops after
/// the node and its store (fields drop in declaration order).
struct StopGuard(Arc<Shared>);

impl Drop for StopGuard {
    fn drop(&mut self) {
        self.0.stopped.send_replace(true);
    }
}
