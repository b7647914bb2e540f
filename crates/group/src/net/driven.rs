//! The group core as the tokio driver runs it: [`Driven`] wraps a [`GroupNode`] with
//! acknowledged commands, reads of the node's state, event fan-out and store durability
//! (the pattern of the graph's driver, `peergroup_graph::net`).
//!
//! Durability: records received from peers are written with [`WriteMode::Deferred`] and
//! flushed every [`FLUSH_INTERVAL`] while anything happens; a command the application
//! waits for ([`Request::Run`] with `durable`) is acknowledged only after a durable flush.

use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use peergroup_base::{Input, Now, Outbox, Output, Protocol};
use peergroup_graph::GraphError;
use peergroup_graph::proto::{Command as GraphCommand, Event as GraphEvent, Status};
use peergroup_graph::store::{RecordStore, RedbStore, WriteMode};
use peergroup_net::driver::WeakHandle;
use tokio::sync::{mpsc, oneshot, watch};
use tracing::warn;

use crate::net::error::CommandFailure;
use crate::node::{Command, Event, GroupNode, Message, Timer};

/// How often deferred writes are flushed while the node is busy.
pub(crate) const FLUSH_INTERVAL: Duration = Duration::from_millis(500);

/// A closure run on the actor with the node.
pub(crate) type InspectFn = Box<dyn FnOnce(Now, &mut GroupNode<RedbStore>) + Send>;

/// Per-command results of a [`Request::Run`].
pub(crate) type RunResult = Result<Vec<Result<(), CommandFailure>>, GraphError>;

/// What the API sends the actor.
pub(crate) enum Request {
    /// Run commands; reply with each one's result, after a durable flush if `durable`.
    Run { commands: Vec<Command>, durable: bool, reply: oneshot::Sender<RunResult> },
    /// Run a closure with the node.
    Inspect(InspectFn),
    /// Leave the group and flush the store.
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
    /// The running actor, without keeping it running (set when it starts): how a
    /// [`GroupCloser`](super::GroupCloser) reaches it.
    pub(crate) handle: Mutex<Option<WeakHandle<Request>>>,
    /// Set when the actor handled [`Request::Shutdown`]: it answers nothing after that
    /// (the API sees `Closed`), and stops when the last handle is dropped.
    pub(crate) shut: std::sync::atomic::AtomicBool,
}

impl Shared {
    pub(crate) fn new(queue: usize) -> Self {
        Shared {
            subscribers: Mutex::new(Vec::new()),
            status: watch::channel(Status::default()).0,
            stopped: watch::channel(false).0,
            dropped: AtomicU64::new(0),
            queue: queue.max(1),
            handle: Mutex::new(None),
            shut: std::sync::atomic::AtomicBool::new(false),
        }
    }

    pub(crate) fn subscribe(&self) -> GroupEvents {
        let (tx, rx) = mpsc::channel(self.queue);
        self.subscribers.lock().unwrap_or_else(PoisonError::into_inner).push(tx);
        GroupEvents { rx }
    }

    pub(crate) fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Hands an event to every subscriber (from tasks beside the actor).
    pub(crate) fn publish_event(&self, event: Event) {
        self.publish(event);
    }

    fn publish(&self, event: Event) {
        if let Event::Graph(GraphEvent::Status(s)) = &event {
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

/// The events of a group ([`Event`]: member changes, admissions and refusals, and the
/// graph's events — records, connections, status, data), as a [`futures_core::Stream`] or
/// with [`GroupEvents::next`].
///
/// Each subscriber has its own bounded queue; one that falls behind misses events rather
/// than stalling the group ([`Group::events_dropped`](crate::net::Group::events_dropped)).
#[derive(Debug)]
pub struct GroupEvents {
    rx: mpsc::Receiver<Event>,
}

impl GroupEvents {
    /// The next event; `None` once the group closed.
    pub async fn next(&mut self) -> Option<Event> {
        self.rx.recv().await
    }

    /// The next event if one is waiting.
    pub fn try_next(&mut self) -> Option<Event> {
        self.rx.try_recv().ok()
    }
}

impl futures_core::Stream for GroupEvents {
    type Item = Event;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Event>> {
        self.rx.poll_recv(cx)
    }
}

/// The node plus the actor-side machinery.
pub(crate) struct Driven {
    pub(crate) node: GroupNode<RedbStore>,
    inner: Outbox<Message, Event, Timer>,
    shared: Arc<Shared>,
    flush_armed: bool,
    _stopped: StopGuard,
}

/// The driver's event type: [`Driven`] hands events to subscribers itself.
#[derive(Debug)]
pub(crate) enum Never {}

impl Driven {
    pub(crate) fn new(node: GroupNode<RedbStore>, shared: Arc<Shared>) -> Self {
        Driven {
            node,
            inner: Outbox::new(),
            _stopped: StopGuard(shared.clone()),
            shared,
            flush_armed: false,
        }
    }

    /// Runs one input and moves its outputs on; returns the first command failure.
    fn step(
        &mut self,
        now: Now,
        input: Input<Message, Command, Timer>,
        out: &mut Outbox<Message, Never, DrivenTimer>,
    ) -> Result<(), CommandFailure> {
        self.node.handle(now, input, &mut self.inner);
        let mut result = Ok(());
        for output in self.inner.drain() {
            match output {
                Output::Send { to, msg } => out.send(to, msg),
                Output::SetTimer { at, timer } => out.set_timer(at, DrivenTimer::Core(timer)),
                Output::Disconnect(peer) => out.disconnect(peer),
                Output::Emit(event) => {
                    if result.is_ok() {
                        match &event {
                            Event::CommandFailed { error } => {
                                result = Err(CommandFailure::Group(error.clone()));
                            }
                            Event::Graph(GraphEvent::CommandFailed { error, .. }) => {
                                result = Err(CommandFailure::Graph(error.clone()));
                            }
                            _ => {}
                        }
                    }
                    self.shared.publish(event);
                }
            }
        }
        result
    }

    fn flush(&mut self) -> Result<(), GraphError> {
        let r = self.node.graph_mut().store_mut().flush();
        if let Err(e) = &r {
            warn!(error = %e, "group store flush failed");
        }
        r
    }
}

impl Protocol for Driven {
    type Message = Message;
    type Command = Request;
    type Event = Never;
    type Timer = DrivenTimer;

    fn prepare(&mut self, now: Now, batch: &[(peergroup_base::PeerAddr, Message)]) {
        self.node.prepare(now, batch);
    }

    fn handle(
        &mut self,
        now: Now,
        input: Input<Message, Request, DrivenTimer>,
        out: &mut Outbox<Message, Never, DrivenTimer>,
    ) {
        if self.shared.shut.load(Ordering::Relaxed) {
            // Closed: requests are dropped unanswered (their replies say `Closed`), and a
            // second shutdown has nothing left to flush.
            if let Input::Command(Request::Shutdown(reply)) = input {
                let _ = reply.send(Ok(()));
            }
            return;
        }
        match input {
            Input::Start => {
                self.node.graph_mut().store_mut().set_write_mode(WriteMode::Deferred);
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
            Input::Command(Request::Inspect(f)) => f(now, &mut self.node),
            Input::Command(Request::Shutdown(reply)) => {
                let _ = self.step(now, Input::Command(Command::Graph(GraphCommand::Close)), out);
                self.shared.shut.store(true, Ordering::Relaxed);
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

impl Drop for Driven {
    fn drop(&mut self) {
        let _ = self.node.graph_mut().store_mut().flush();
    }
}

/// Tells `close` that the store is gone: the last field of [`Driven`], so it drops after
/// the node and its store.
struct StopGuard(Arc<Shared>);

impl Drop for StopGuard {
    fn drop(&mut self) {
        self.0.stopped.send_replace(true);
    }
}
