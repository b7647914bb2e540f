//! The event router: hands each event of the core to whoever waits for it.
//!
//! The core's events name the request they answer ([`ResolveId`], [`RegistrationId`]);
//! a caller registers its channel under the id *before* it sends the command, so no event
//! can arrive unrouted. `CloudInfo` answers carry no id: the core answers
//! [`Command::QueryCloud`] at once and in order, so waiters queue per cloud and the
//! commands are sent under a lock in the same order.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use peergroup_net::driver::{Events, Handle};
use tokio::sync::{mpsc, oneshot, watch};
use tracing::debug;

use crate::net::error::PnrpError;
use crate::proto::{
    Cloud, CloudInfo, CloudState, Command, Event, Instance, RegisterError, RegistrationId,
    ResolveId, ResolveOutcome, ResolveStats,
};

/// What a resolve's channel carries.
#[derive(Debug)]
pub(crate) enum ResolveEvent {
    Instance(Box<Instance>),
    Done { outcome: ResolveOutcome, instances: Vec<Instance>, stats: ResolveStats },
}

/// The last event of a registration, as its watch channel shows it.
#[derive(Debug, Clone, Default)]
pub(crate) struct RegState {
    /// Events seen so far (a waiter compares it with the count before its command).
    pub events: u64,
    /// The last confirmed version: (sequence, replicas).
    pub registered: Option<(u64, usize)>,
    /// The last refusal, with the event count it came at.
    pub failed: Option<(u64, RegisterError)>,
    /// Replicas that confirmed the revocation, once unregistered.
    pub unregistered: Option<usize>,
}

#[derive(Debug, Default)]
struct Routes {
    resolves: HashMap<ResolveId, mpsc::UnboundedSender<ResolveEvent>>,
    registrations: HashMap<RegistrationId, watch::Sender<RegState>>,
    infos: [VecDeque<oneshot::Sender<CloudInfo>>; 2],
}

/// State shared by the API handles, the router task and the housekeeping tasks.
#[derive(Debug)]
pub(crate) struct Shared {
    routes: Mutex<Routes>,
    states: [watch::Sender<CloudState>; 2],
    query_lock: tokio::sync::Mutex<()>,
    next_id: AtomicU64,
}

impl Shared {
    pub(crate) fn new(global: CloudState, link_local: CloudState) -> Self {
        Shared {
            routes: Mutex::new(Routes::default()),
            states: [watch::channel(global).0, watch::channel(link_local).0],
            query_lock: tokio::sync::Mutex::new(()),
            next_id: AtomicU64::new(1),
        }
    }

    pub(crate) fn next_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    fn routes(&self) -> std::sync::MutexGuard<'_, Routes> {
        // A panic while holding this lock would be a bug in this module; the data (maps of
        // channels) stays consistent either way, so keep going with it.
        self.routes.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub(crate) fn state(&self, cloud: Cloud) -> CloudState {
        *self.states[cloud.index()].borrow()
    }

    pub(crate) fn watch_state(&self, cloud: Cloud) -> watch::Receiver<CloudState> {
        self.states[cloud.index()].subscribe()
    }

    pub(crate) fn add_resolve(&self, id: ResolveId) -> mpsc::UnboundedReceiver<ResolveEvent> {
        let (tx, rx) = mpsc::unbounded_channel();
        self.routes().resolves.insert(id, tx);
        rx
    }

    pub(crate) fn remove_resolve(&self, id: ResolveId) {
        self.routes().resolves.remove(&id);
    }

    pub(crate) fn add_registration(&self, id: RegistrationId) -> watch::Receiver<RegState> {
        let (tx, rx) = watch::channel(RegState::default());
        self.routes().registrations.insert(id, tx);
        rx
    }

    pub(crate) fn remove_registration(&self, id: RegistrationId) {
        self.routes().registrations.remove(&id);
    }

    /// Asks the core for a cloud's info and waits for the answer.
    pub(crate) async fn query(
        &self,
        core: &Handle<Command>,
        cloud: Cloud,
    ) -> Result<CloudInfo, PnrpError> {
        let rx = {
            let _order = self.query_lock.lock().await;
            let (tx, rx) = oneshot::channel();
            self.routes().infos[cloud.index()].push_back(tx);
            if core.command(Command::QueryCloud { cloud }).await.is_err() {
                self.routes().infos[cloud.index()].pop_back();
                return Err(PnrpError::Stopped);
            }
            rx
        };
        rx.await.map_err(|_| PnrpError::Stopped)
    }

    fn dispatch(&self, event: Event) {
        match event {
            Event::CloudState { cloud, state } => {
                debug!(?cloud, ?state, "pnrp cloud state");
                self.states[cloud.index()].send_replace(state);
            }
            Event::Registered { id, sequence, replicas, .. } => {
                self.update_registration(id, |s| s.registered = Some((sequence, replicas)));
            }
            Event::RegistrationFailed { id, error } => {
                self.update_registration(id, |s| s.failed = Some((s.events, error)));
            }
            Event::Unregistered { id, replicas } => {
                self.update_registration(id, |s| s.unregistered = Some(replicas));
                self.remove_registration(id);
            }
            Event::ResolveInstance { id, instance } => {
                let mut routes = self.routes();
                if let Some(tx) = routes.resolves.get(&id)
                    && tx.send(ResolveEvent::Instance(instance)).is_err()
                {
                    routes.resolves.remove(&id);
                }
            }
            Event::ResolveDone { id, outcome, instances, stats } => {
                if let Some(tx) = self.routes().resolves.remove(&id) {
                    let _ = tx.send(ResolveEvent::Done { outcome, instances, stats });
                }
            }
            Event::CloudInfo(info) => {
                let waiter = self.routes().infos[info.cloud.index()].pop_front();
                if let Some(tx) = waiter {
                    let _ = tx.send(*info);
                }
            }
        }
    }

    fn update_registration(&self, id: RegistrationId, f: impl FnOnce(&mut RegState)) {
        if let Some(tx) = self.routes().registrations.get(&id) {
            tx.send_modify(|s| {
                s.events += 1;
                f(s);
            });
        }
    }

    /// The core stopped: every waiter learns it (its channel closes).
    fn close(&self) {
        let mut routes = self.routes();
        routes.resolves.clear();
        routes.registrations.clear();
        for q in &mut routes.infos {
            q.clear();
        }
    }
}

/// The router task: runs until the core stops.
pub(crate) async fn run(shared: std::sync::Arc<Shared>, mut events: Events<Event>) {
    while let Some(event) = events.next().await {
        shared.dispatch(event);
    }
    shared.close();
    debug!("pnrp router stopped");
}
