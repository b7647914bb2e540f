//! Presence records and the node list (`graph.md` §9.8, [MS-PPGRH] 2.2.3.4, 3.1.7.4).
//!
//! Every node publishes one presence record when it starts (unless configured not to):
//! type [`PRESENCE_TYPE`], a random id per instance, payload [`PresencePayload`] — its node
//! id, address and instance — and a lifetime of `presence_lifetime` (300 s). It refreshes
//! the record at half-life and deletes it on close; a crashed node's presence expires. The
//! live presence records form the node list: the nodes a node repairs its neighbour set
//! from and probes for partitions.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use std::time::Duration;

use peergroup_base::{NodeId, Now, UnixTime};
use serde::{Deserialize, Serialize};

use crate::id::{RecordId, RecordType};
use crate::proto::api::{
    Event, NodeChange, NodeInfo, RecordChange, RecordSource, Timer, TimerKind,
};
use crate::proto::node::{GraphNode, Out};
use crate::proto::security::SecurityProvider;
use crate::record::{Record, RecordBuilder};
use crate::store::{ApplyOutcome, RecordFilter, RecordStore};

/// The presence record type, `00000400-0000-0000-0000-000000000000` ([MS-PPGRH] 2.2.1.9
/// reserves it).
pub const PRESENCE_TYPE: RecordType =
    RecordType::from_u128(0x0000_0400_0000_0000_0000_0000_0000_0000);

/// The payload of a presence record (postcard).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PresencePayload {
    /// The node's id.
    pub node: NodeId,
    /// Where it listens.
    pub addr: SocketAddr,
    /// Its instance (new at every open).
    pub instance: u64,
}

impl PresencePayload {
    /// Decodes a presence payload; `None` if it is not one.
    pub fn decode(bytes: &[u8]) -> Option<Self> {
        match postcard::take_from_bytes::<PresencePayload>(bytes) {
            Ok((p, [])) => Some(p),
            _ => None,
        }
    }
}

/// This node's own presence record.
#[derive(Debug, Clone)]
pub(crate) struct OwnPresence {
    pub(crate) id: RecordId,
    pub(crate) generation: u64,
}

/// The node's presence state: its own presence record and the node list.
#[derive(Debug, Default)]
pub(crate) struct PresenceState {
    /// This node's presence record, once published.
    pub(crate) own: Option<OwnPresence>,
    /// The node list (live presence records), this node excluded.
    pub(crate) known: BTreeMap<NodeId, NodeInfo>,
}

impl PresenceState {
    /// Sets the refresh timer of our presence record for half its lifetime from now; an
    /// older refresh timer is ignored when it fires.
    fn arm_refresh(&mut self, now: Now, lifetime: Duration, out: &mut Out) {
        let Some(p) = self.own.as_mut() else {
            return;
        };
        p.generation += 1;
        let generation = p.generation;
        out.set_timer(now.instant + lifetime / 2, Timer(TimerKind::PresenceRefresh { generation }));
    }

    /// Fills the node list from the store (a reopened graph); `me` is left out.
    pub(crate) fn load(&mut self, store: &impl RecordStore, me: NodeId, now: UnixTime) {
        let Ok(records) = store.enumerate(&RecordFilter::Type(PRESENCE_TYPE), now) else {
            return;
        };
        for r in records {
            if let Some(info) = node_info(me, &r) {
                self.known.insert(info.node, info);
            }
        }
    }

    /// Keeps the node list in step with presence records; `me` is left out.
    pub(crate) fn changed(&mut self, me: NodeId, r: &Record, change: RecordChange, out: &mut Out) {
        match change {
            RecordChange::Added | RecordChange::Updated => {
                let Some(info) = node_info(me, r) else {
                    return;
                };
                let node = info.node;
                let peer = info.peer.clone();
                let previous = self.known.insert(node, info);
                let change =
                    if previous.is_some() { NodeChange::Updated } else { NodeChange::Connected };
                out.emit(Event::NodeChanged { change, node, peer });
            }
            RecordChange::Deleted | RecordChange::Expired | RecordChange::Invalidated => {
                let gone: Vec<NodeId> =
                    self.known.values().filter(|n| n.record == r.id()).map(|n| n.node).collect();
                for node in gone {
                    if let Some(info) = self.known.remove(&node) {
                        out.emit(Event::NodeChanged {
                            change: NodeChange::Disconnected,
                            node,
                            peer: info.peer,
                        });
                    }
                }
            }
        }
    }
}

/// The node-list entry of a presence record, unless it is `me`'s or not a presence payload.
fn node_info(me: NodeId, r: &Record) -> Option<NodeInfo> {
    let p = PresencePayload::decode(r.payload())?;
    (p.node != me).then(|| NodeInfo {
        node: p.node,
        addr: p.addr,
        peer: r.creator().clone(),
        record: r.id(),
    })
}

impl<S: RecordStore, P: SecurityProvider> GraphNode<S, P> {
    pub(crate) fn publish_presence(&mut self, now: Now, out: &mut Out) {
        let mut bytes = [0u8; 16];
        rand::Rng::fill(&mut self.rng, &mut bytes);
        let id = RecordId::random(bytes);
        let payload =
            PresencePayload { node: self.me.node, addr: self.me.addr, instance: self.instance };
        let created = self.hlc.now(now.unix);
        let expires = now.unix.saturating_add(self.config.presence.presence_lifetime);
        let built = RecordBuilder::new(PRESENCE_TYPE, id, self.name.clone(), created, expires)
            .payload(postcard::to_allocvec(&payload).unwrap_or_default())
            .build(self.store.limits());
        let result = built.map_err(Into::into).and_then(|r| self.sign(now, r)).and_then(|r| {
            self.store.add(&r, now.unix)?;
            Ok(r)
        });
        match result {
            Ok(r) => {
                self.presence.own = Some(OwnPresence { id, generation: 0 });
                self.on_stored(now, &r, ApplyOutcome::Added, RecordSource::Local, out);
                self.publish_flood(now, &r, out);
                self.presence.arm_refresh(now, self.config.presence.presence_lifetime, out);
            }
            Err(e) => self.command_failed("PublishPresence", e, out),
        }
    }

    pub(crate) fn refresh_presence(&mut self, now: Now, generation: u64, out: &mut Out) {
        let Some(p) = self.presence.own.clone() else {
            return;
        };
        if p.generation != generation {
            return;
        }
        let result = (|| {
            let current = self
                .store
                .get(&p.id, now.unix)?
                .ok_or(crate::GraphError::RecordNotFound { id: p.id })?;
            let expires = now.unix.saturating_add(self.config.presence.presence_lifetime);
            let next = current
                .update(self.name.clone(), self.hlc.now(now.unix))
                .expires(expires.max(current.expires()))
                .build(self.store.limits())?;
            let next = self.sign(now, next)?;
            self.store.update(&next, now.unix)?;
            Ok::<_, crate::proto::ProtoError>((next, current.version()))
        })();
        match result {
            Ok((r, previous_version)) => {
                let outcome = ApplyOutcome::Updated { previous_version };
                self.on_stored(now, &r, outcome, RecordSource::Local, out);
                self.publish_flood(now, &r, out);
                self.presence.arm_refresh(now, self.config.presence.presence_lifetime, out);
            }
            Err(_) => {
                // Our presence expired (the node was stalled) or was replaced: publish anew.
                self.publish_presence(now, out);
            }
        }
    }

    pub(crate) fn withdraw_presence(&mut self, now: Now, out: &mut Out) {
        if let Some(p) = self.presence.own.take()
            && let Err(e) = self.delete_local(now, p.id, out)
        {
            self.command_failed("Close", e, out);
        }
    }
}
