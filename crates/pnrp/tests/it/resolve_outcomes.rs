//! Every resolve ends with a clear outcome: found, not found, timed out, cloud not ready.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers: a failure is a failed test

use crate::common;

use std::time::Duration;

use peergroup_base::PeerName;
use peergroup_pnrp::proto::{Cloud, Command, Event, ResolveId, ResolveOutcome, ResolveRequest};
use peergroup_sim::NodeIdx;

#[test]
fn a_name_nobody_registered_is_not_found_quickly() {
    let mut c = common::cloud(40, 31, common::config());
    let name: PeerName = "0.nobody-here".parse().unwrap();
    let r = c.resolve(5, &name, 4);
    assert_eq!(r.outcome, ResolveOutcome::NotFound);
    assert!(r.instances.is_empty());
    assert!(r.stats.elapsed_micros < 2_000_000, "{:?}", r.stats);
}

#[test]
fn a_cut_off_resolver_times_out() {
    let mut c = common::cloud(30, 32, common::config());
    let req = c.own_name_request(4);
    c.register(4, req);
    // a resolver that does not hold the name itself, cut off from everyone else
    let key = peergroup_pnrp::proto::Key::of_name(&c.nodes[4].name.p2p_id());
    let lonely = (0..30)
        .find(|&i| i != 4 && c.node(i).store(Cloud::Global).cpas_for(&key).is_empty())
        .expect("with 30 nodes and 20 replicas some node is not a replica");
    let others: Vec<NodeIdx> =
        (0..30).filter(|&i| i != lonely).map(|i| NodeIdx(i as u32)).collect();
    c.sim.partition(&[&others]);
    let mut req = ResolveRequest::new(c.nodes[4].name.clone());
    req.timeout = Duration::from_secs(3);
    let r = c.resolve_with(lonely, req);
    assert_eq!(r.outcome, ResolveOutcome::TimedOut);
    assert!(r.stats.elapsed_micros >= 3_000_000);
}

#[test]
fn a_disabled_cloud_is_not_ready() {
    let mut c = common::cloud(10, 33, common::config());
    let mut req = ResolveRequest::new("0.x".parse().unwrap());
    req.cloud = Cloud::LinkLocal; // not enabled in these nodes
    let r = c.resolve_with(1, req);
    assert_eq!(r.outcome, ResolveOutcome::CloudNotReady);
}

#[test]
fn a_resolve_on_a_synchronising_node_waits_for_the_cloud() {
    let mut c = common::cloud(20, 34, common::config());
    let req = c.own_name_request(2);
    c.register(2, req);
    // restart node 15 and resolve at once: the cloud is synchronising, the resolve waits
    assert_eq!(restart_and_resolve(&mut c, 15, 2), ResolveOutcome::Found);
}

/// Restarts `node` and at once resolves `owner`'s name from it (its cloud synchronising);
/// runs until the resolve ends and returns its outcome.
fn restart_and_resolve(c: &mut common::TestCloud, node: usize, owner: usize) -> ResolveOutcome {
    c.sim.restart(NodeIdx(node as u32));
    let id = ResolveId(999);
    let request = ResolveRequest::new(c.nodes[owner].name.clone());
    c.sim.command(NodeIdx(node as u32), Command::Resolve { id, request });
    let done = c
        .run_until_event(
            Duration::from_secs(30),
            |e| matches!(e, Event::ResolveDone { id: x, .. } if *x == id),
        )
        .expect("ends");
    let Event::ResolveDone { outcome, .. } = done else { unreachable!() };
    outcome
}

/// A joining node's bootstrap can wait on contacts that have gone (1 s per unanswered
/// request); a resolve waiting for the cloud starts as soon as a contact has answered the
/// bootstrap (pnrp.md §8 step 1), and ends before the bootstrap does.
#[test]
fn a_waiting_resolve_starts_when_the_bootstrap_has_an_answer() {
    let mut c = common::cloud(20, 35, common::config());
    let req = c.own_name_request(2);
    c.register(2, req);
    // nodes the seeds know that are gone: the bootstrap asks them and waits
    for i in 5..12 {
        c.sim.crash(NodeIdx(i));
    }
    let seen = c.sim.events().len();
    assert_eq!(restart_and_resolve(&mut c, 15, 2), ResolveOutcome::Found);
    let active_before = c.sim.events()[seen..].iter().any(|e| {
        e.node == NodeIdx(15)
            && matches!(
                e.event,
                Event::CloudState { state: peergroup_pnrp::proto::CloudState::Active, .. }
            )
    });
    assert!(!active_before, "the resolve waited for the whole bootstrap");
}
