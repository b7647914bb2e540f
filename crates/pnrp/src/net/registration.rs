//! A registered name, as the application holds it.

use std::net::SocketAddr;
use std::time::Duration;

use peergroup_base::PeerName;
use tokio::sync::watch;

use crate::net::error::PnrpError;
use crate::net::router::RegState;
use crate::net::{Endpoints, Pnrp};
use crate::proto::{Cloud, Command, RegistrationId};

/// A name this node keeps registered. Its CPA is republished by the core as long as the
/// registration lives.
///
/// [`unregister`](Self::unregister) revokes it and waits for the replicas to confirm.
/// Dropping it without unregistering also unregisters (best effort, in the background);
/// [`detach`](Self::detach) keeps it registered until the node stops instead.
#[derive(Debug)]
pub struct Registration {
    pub(crate) pnrp: Pnrp,
    pub(crate) id: RegistrationId,
    pub(crate) name: PeerName,
    pub(crate) cloud: Cloud,
    pub(crate) state: watch::Receiver<RegState>,
    pub(crate) endpoints: Vec<SocketAddr>,
    pub(crate) finished: bool,
}

impl Registration {
    /// The core's id of this registration.
    pub fn id(&self) -> RegistrationId {
        self.id
    }

    /// The registered name.
    pub fn name(&self) -> &PeerName {
        &self.name
    }

    /// Its cloud.
    pub fn cloud(&self) -> Cloud {
        self.cloud
    }

    /// The endpoints of the current version.
    pub fn endpoints(&self) -> &[SocketAddr] {
        &self.endpoints
    }

    /// The sequence (version) last confirmed.
    pub fn sequence(&self) -> u64 {
        self.state.borrow().registered.map_or(0, |(s, _)| s)
    }

    /// Replicas that confirmed holding the version last confirmed (0 when the cloud was
    /// alone).
    pub fn replicas(&self) -> usize {
        self.state.borrow().registered.map_or(0, |(_, r)| r)
    }

    /// Publishes a new version with these endpoints, comment and payload; returns once
    /// its replicas confirmed it.
    pub async fn update(
        &mut self,
        endpoints: Endpoints,
        comment: &str,
        payload: Option<Vec<u8>>,
    ) -> Result<(), PnrpError> {
        let endpoints = self.pnrp.resolve_endpoints(endpoints)?;
        let before = self.state.borrow().events;
        let before_seq = self.sequence();
        self.pnrp
            .command(Command::Update {
                id: self.id,
                endpoints: endpoints.clone(),
                comment: comment.to_owned(),
                payload,
            })
            .await?;
        let timeout = self.pnrp.inner.confirm_timeout;
        let state = self
            .wait(timeout, |s| {
                s.events > before
                    && (s.failed.as_ref().is_some_and(|(at, _)| *at > before)
                        || s.registered.is_some_and(|(seq, _)| seq > before_seq))
            })
            .await?;
        if let Some((at, e)) = state.failed
            && at > before
        {
            return Err(PnrpError::Registration(e));
        }
        self.endpoints = endpoints;
        Ok(())
    }

    /// Revokes the name (a signed revocation goes to the replicas) and returns how many
    /// replicas confirmed it.
    pub async fn unregister(mut self) -> Result<usize, PnrpError> {
        self.finished = true;
        let before = self.state.borrow().events;
        self.pnrp.command(Command::Unregister { id: self.id }).await?;
        let timeout = self.pnrp.inner.confirm_timeout;
        let state = self
            .wait(timeout, |s| {
                s.unregistered.is_some() || s.failed.as_ref().is_some_and(|(at, _)| *at > before)
            })
            .await?;
        match (state.unregistered, state.failed) {
            (Some(replicas), _) => Ok(replicas),
            (None, Some((_, e))) => Err(PnrpError::Registration(e)),
            (None, None) => Err(PnrpError::Stopped),
        }
    }

    /// Leaves the name registered until the node stops, without keeping this handle.
    pub fn detach(mut self) {
        self.finished = true;
    }

    async fn wait(
        &mut self,
        timeout: Duration,
        done: impl FnMut(&RegState) -> bool,
    ) -> Result<RegState, PnrpError> {
        let waited = tokio::time::timeout(timeout, async {
            self.state.wait_for(done).await.map(|s| s.clone()).map_err(|_| ())
        })
        .await;
        match waited {
            Ok(Ok(s)) => Ok(s),
            // The router dropped the channel: the node stopped, unless the last event was
            // the unregistration (the router forgets the registration right after it).
            Ok(Err(())) => {
                let s = self.state.borrow().clone();
                if s.unregistered.is_some() { Ok(s) } else { Err(PnrpError::Stopped) }
            }
            Err(_) => {
                Err(PnrpError::RegistrationTimedOut { name: self.name.clone(), after: timeout })
            }
        }
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        let Ok(core) = self.pnrp.core() else {
            return;
        };
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let id = self.id;
        rt.spawn(async move {
            let _ = core.command(Command::Unregister { id }).await;
        });
    }
}
