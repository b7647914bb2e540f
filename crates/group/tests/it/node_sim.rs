//! `GroupNode` on the simulator: admission, refusal, revocation of a live peer, re-issue
//! of the certificates beneath a revoked inviter, the member list; and the group key file.
#![allow(clippy::unwrap_used)]

use crate::common;

use std::time::Duration;

use common::*;
use peergroup_base::{NodeId, PeerAddr};
use peergroup_graph::proto::{
    Command as GraphCommand, Event as GraphEvent, GraphNode, NewRecord, NodeParams, RecordChange,
};
use peergroup_graph::record::RecordLimits;
use peergroup_graph::store::{MemStore, RecordStore};
use peergroup_graph::{RecordFilter, RecordId};
use peergroup_group::admission::Refusal;
use peergroup_group::node::{Command, Event, SimBinding};
use peergroup_group::records::RevocationReason;
use peergroup_group::{GroupKey, GroupNode, GroupSecurity, LocalMember, Verifier};
use peergroup_sim::{Latency, LinkConfig, NodeIdx, Sim, SimConfig};

type Node = GroupNode<MemStore>;

fn add(sim: &mut Sim<Node>, f: &Fixture, m: &LocalMember, creator: bool) -> NodeIdx {
    let m = m.clone();
    let root = f.group.root().clone();
    let graph = f.graph().clone();
    let seeds = if creator { vec![f.group.properties_record.clone()] } else { Vec::new() };
    let key = creator.then(|| f.group.key.clone());
    sim.add_node_with_id(m.identity.node_id(), move |ctx| {
        let mut store = MemStore::new(RecordLimits::default());
        for r in &seeds {
            store.apply(r, T0).unwrap();
        }
        let security = GroupSecurity::new(&root, Some(m.clone()), key.clone(), Verifier::new());
        let g = GraphNode::new(NodeParams {
            graph: graph.clone(),
            me: ctx.addr,
            peer_name: m.identity.peer_name().clone(),
            config: Default::default(),
            store,
            provider: security,
            seed: ctx.seed,
        });
        GroupNode::new(g, Box::new(SimBinding), Duration::from_secs(86_400))
    })
}

fn holds(sim: &Sim<Node>, n: NodeIdx, id: RecordId) -> bool {
    let now = sim.now_full().unix;
    sim.node_state(n).unwrap().graph().store().get(&id, now).unwrap().is_some()
}

fn publish(sim: &mut Sim<Node>, n: NodeIdx, id: u128) -> RecordId {
    let id = RecordId::from_u128(id);
    sim.command(
        n,
        Command::Graph(GraphCommand::AddRecord(NewRecord::new(
            id,
            DATA,
            Duration::from_secs(600),
            vec![1; 10],
        ))),
    );
    id
}

#[test]
fn members_connect_strangers_are_refused_and_revocation_cuts_and_reissue_restores() {
    let f = Fixture::new();
    // One delay per link: a connection delivers in order, as a QUIC stream does.
    let link = LinkConfig::default().with_latency(Latency::PerLink {
        min: Duration::from_millis(10),
        max: Duration::from_millis(60),
    });
    let mut sim: Sim<Node> = Sim::new(SimConfig {
        start_unix: at(60),
        record_events: true,
        default_link: link,
        ..SimConfig::with_seed(3)
    });
    let c = add(&mut sim, &f, &f.creator, true);
    let i = add(&mut sim, &f, &f.inviter, false);
    let a = add(&mut sim, &f, &f.alice, false);
    let k = add(&mut sim, &f, &f.carol, false);
    // A stranger with a chain of another group.
    let other = peergroup_group::create_group(
        &ident("x", 50),
        GroupKey::from_seed([51; 32]).unwrap(),
        &peergroup_group::CreateOptions::new("tests"),
        T0,
        [[0; 16]; 2],
    )
    .unwrap();
    let stranger = LocalMember {
        identity: other.creator.identity.clone(),
        chain: other.creator.chain.clone(),
    };
    let s = add(&mut sim, &f, &stranger, false);
    let addr = |sim: &Sim<Node>, n| sim.peer_addr(n).unwrap();
    for n in [i, a, k] {
        let to = addr(&sim, c);
        sim.command(n, Command::Graph(GraphCommand::Connect(to)));
    }
    let to = addr(&sim, a);
    sim.command(s, Command::Graph(GraphCommand::Connect(to)));
    sim.run_for(Duration::from_secs(10)).unwrap();
    let events = sim.drain_events();
    let stranger_node: NodeId = other.creator.identity.node_id();
    assert!(events.iter().any(|e| e.node == a && matches!(&e.event, Event::AuthenticationFailed { peer, reason: Refusal::WrongGroup, local: true, .. } if peer.node == stranger_node)));
    assert!(!events.iter().any(
        |e| matches!(&e.event, Event::PeerAdmitted { peer, .. } if peer.node == stranger_node)
    ));

    let r1 = publish(&mut sim, a, 1);
    sim.run_for(Duration::from_secs(5)).unwrap();
    for n in [c, i, k] {
        assert!(holds(&sim, n, r1), "record reached {n:?}");
    }
    assert!(!holds(&sim, s, r1));

    // The creator revokes the inviter: alice (beneath it) is cut off.
    let leaf = f.inviter.chain.leaf();
    sim.command(
        c,
        Command::Revoke {
            target: leaf.id(),
            target_not_after: leaf.not_after(),
            reason: RevocationReason::Left,
            as_group: false,
        },
    );
    sim.run_for(Duration::from_secs(5)).unwrap();
    let now = sim.now_full().unix;
    let members = sim.node_state_mut(k).unwrap().members(now);
    let alice_info = members.iter().find(|m| m.peer == *f.alice.identity.peer_name()).unwrap();
    assert!(alice_info.revoked.is_some());
    assert!(
        members.iter().find(|m| m.peer == *f.carol.identity.peer_name()).unwrap().revoked.is_none()
    );
    let r2 = publish(&mut sim, a, 2);
    sim.run_for(Duration::from_secs(5)).unwrap();
    assert!(!holds(&sim, c, r2) && !holds(&sim, k, r2), "a revoked member's new record is refused");
    assert!(holds(&sim, c, r1), "the record the revoker held stands");

    // The creator re-issues alice's certificate under its own.
    sim.command(
        c,
        Command::Reissue { revoked: leaf.id(), validity: Duration::from_secs(30 * 86_400) },
    );
    sim.run_for(Duration::from_secs(5)).unwrap();
    // Alice connects again (her own node holds off knocking where she was refused): the
    // creator admits her by the re-issued membership it holds, and she adopts it.
    let to = addr(&sim, c);
    sim.command(a, Command::Graph(GraphCommand::Connect(to)));
    sim.run_for(Duration::from_secs(5)).unwrap();
    let now = sim.now_full().unix;
    let a_chain = sim.node_state(a).unwrap().local_chain().unwrap().clone();
    assert_eq!(a_chain.certs().len(), 3, "alice now hangs under the creator");
    let members = sim.node_state_mut(c).unwrap().members(now);
    assert!(
        members.iter().find(|m| m.peer == *f.alice.identity.peer_name()).unwrap().revoked.is_none()
    );
    let r3 = publish(&mut sim, a, 3);
    sim.run_for(Duration::from_secs(5)).unwrap();
    assert!(holds(&sim, c, r3) && holds(&sim, k, r3), "re-issued alice writes again");
    let ev = sim.drain_events();
    assert!(ev.iter().any(|e| matches!(
        &e.event,
        Event::MemberChanged(peergroup_group::MemberChange::Revoked { .. })
    )));
    assert!(ev.iter().any(|e| matches!(
        &e.event,
        Event::Graph(GraphEvent::RecordChanged { change: RecordChange::Added, .. })
    )));
    let _ = PeerAddr::clone;
    let _ = RecordFilter::All;
}

#[test]
fn the_group_key_file_is_private_and_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("groups").join("k").join("group.key");
    let key = GroupKey::from_seed([42; 32]).unwrap();
    key.save(&path).unwrap();
    let back = GroupKey::load(&path).unwrap();
    assert_eq!(back.public_key(), key.public_key());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
    }
    std::fs::write(&path, "not a key").unwrap();
    assert!(GroupKey::load(&path).is_err());
    std::fs::write(&path, vec![b'x'; 5000]).unwrap();
    assert!(GroupKey::load(&path).is_err());
}
