//! Resolves through the driver: options, the streaming form, and the final result.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use peergroup_base::{PeerName, ServiceLocation};
use tokio::sync::mpsc;

use crate::net::error::PnrpError;
use crate::net::router::{ResolveEvent, Shared};
use crate::proto::{Cloud, Instance, ResolveId, ResolveOutcome, ResolveStats};

/// Grace the driver adds to a resolve's timeout before it stops waiting for the core's
/// own verdict (which comes at the timeout): covers a busy actor.
pub(crate) const RESOLVE_GRACE: Duration = Duration::from_secs(2);

/// How to resolve a name. `Default`: Global cloud, up to 16 instances, 30 s, no hint.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ResolveOptions {
    /// The cloud. Default Global.
    pub cloud: Cloud,
    /// Most instances, 1..=64 (clamped). Default 16.
    pub max_results: usize,
    /// Give up after this long. Default 30 s ([MS-PNRP]'s API default).
    pub timeout: Duration,
    /// Rank instances nearest to this service location. Default none (newest first).
    pub hint: Option<ServiceLocation>,
}

impl Default for ResolveOptions {
    fn default() -> Self {
        ResolveOptions {
            cloud: Cloud::Global,
            max_results: 16,
            timeout: Duration::from_secs(30),
            hint: None,
        }
    }
}

impl ResolveOptions {
    /// Defaults in `cloud`.
    pub fn in_cloud(cloud: Cloud) -> Self {
        ResolveOptions { cloud, ..Self::default() }
    }

    /// These options with another timeout.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// These options with another result limit.
    pub fn with_max_results(mut self, max_results: usize) -> Self {
        self.max_results = max_results;
        self
    }
}

/// How a resolve ended, with what it found and what it cost.
#[derive(Debug, Clone)]
pub struct Resolved {
    /// The name resolved.
    pub name: PeerName,
    /// The cloud.
    pub cloud: Cloud,
    /// Found, not found, timed out, cloud not ready or busy.
    pub outcome: ResolveOutcome,
    /// The instances, ranked (nearest to the hint, else newest first).
    pub instances: Vec<Instance>,
    /// Hops, messages and bytes.
    pub stats: ResolveStats,
}

/// The instances of a name as the lookup finds them: a [`futures_core::Stream`] of
/// [`Instance`]s (a newer version of an instance already yielded is yielded again). When
/// it ends, [`outcome`](Self::outcome) tells how; [`finish`](Self::finish) drains it into a
/// [`Resolved`].
#[derive(Debug)]
pub struct ResolveStream {
    pub(crate) shared: std::sync::Arc<Shared>,
    pub(crate) id: ResolveId,
    pub(crate) name: PeerName,
    pub(crate) cloud: Cloud,
    pub(crate) timeout: Duration,
    pub(crate) rx: mpsc::UnboundedReceiver<ResolveEvent>,
    pub(crate) deadline: Pin<Box<tokio::time::Sleep>>,
    pub(crate) done: Option<Resolved>,
    pub(crate) stopped: bool,
}

impl ResolveStream {
    /// The name being resolved.
    pub fn name(&self) -> &PeerName {
        &self.name
    }

    /// How the resolve ended, once the stream has ended (`None` before, or if the node
    /// stopped).
    pub fn outcome(&self) -> Option<&Resolved> {
        self.done.as_ref()
    }

    /// The next instance; `None` at the end.
    pub async fn next(&mut self) -> Option<Instance> {
        std::future::poll_fn(|cx| Pin::new(&mut *self).poll_next_instance(cx)).await
    }

    /// Waits for the end and returns the result, whatever the outcome.
    pub async fn finish(mut self) -> Result<Resolved, PnrpError> {
        while self.next().await.is_some() {}
        match self.done.take() {
            Some(r) => Ok(r),
            None => Err(PnrpError::Stopped),
        }
    }

    fn poll_next_instance(&mut self, cx: &mut Context<'_>) -> Poll<Option<Instance>> {
        if self.done.is_some() || self.stopped {
            return Poll::Ready(None);
        }
        match self.rx.poll_recv(cx) {
            Poll::Ready(Some(ResolveEvent::Instance(i))) => return Poll::Ready(Some(*i)),
            Poll::Ready(Some(ResolveEvent::Done { outcome, instances, stats })) => {
                self.done = Some(Resolved {
                    name: self.name.clone(),
                    cloud: self.cloud,
                    outcome,
                    instances,
                    stats,
                });
                return Poll::Ready(None);
            }
            Poll::Ready(None) => {
                self.stopped = true;
                return Poll::Ready(None);
            }
            Poll::Pending => {}
        }
        if self.deadline.as_mut().poll(cx).is_ready() {
            // The core did not answer within timeout + grace: a stalled actor. Report a
            // timeout rather than hang.
            self.shared.remove_resolve(self.id);
            self.done = Some(Resolved {
                name: self.name.clone(),
                cloud: self.cloud,
                outcome: ResolveOutcome::TimedOut,
                instances: Vec::new(),
                stats: ResolveStats::default(),
            });
            return Poll::Ready(None);
        }
        Poll::Pending
    }
}

impl futures_core::Stream for ResolveStream {
    type Item = Instance;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Instance>> {
        self.poll_next_instance(cx)
    }
}

impl Drop for ResolveStream {
    fn drop(&mut self) {
        // The core ends the resolve at its timeout; nobody listens any more.
        if self.done.is_none() && !self.stopped {
            self.shared.remove_resolve(self.id);
        }
    }
}
