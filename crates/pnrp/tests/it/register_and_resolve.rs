//! A registered name resolves from every other node, with its endpoints, comment and
//! payload; instances stream before the end; the cost stays small.
#![allow(clippy::unwrap_used)] // test helpers: a failed unwrap is a failed test

use crate::common;

use peergroup_pnrp::proto::{Cloud, Event, ResolveOutcome};

#[test]
fn registered_name_resolves_everywhere_with_its_content() {
    let mut c = common::cloud(60, 21, common::config());
    let mut req = c.own_name_request(7);
    req.endpoints = vec![common::endpoint(7, 0), common::endpoint(7, 1)];
    req.comment = "printer on floor 3".into();
    req.payload = Some(b"model=xyz".to_vec());
    let (_, ev) = c.register(7, req);
    let Event::Registered { replicas, sequence, .. } = ev else {
        panic!("registration failed: {ev:?}");
    };
    assert!(replicas >= 15, "stored at {replicas} replicas");
    let name = c.nodes[7].name.clone();
    for i in [0, 1, 13, 42, 59] {
        let r = c.resolve(i, &name, 8);
        assert_eq!(r.outcome, ResolveOutcome::Found, "from node {i}");
        assert_eq!(r.instances.len(), 1);
        let inst = &r.instances[0];
        assert_eq!(inst.name, name);
        assert_eq!(inst.endpoints, vec![common::endpoint(7, 0), common::endpoint(7, 1)]);
        assert_eq!(inst.comment, "printer on floor 3");
        assert_eq!(inst.payload.as_deref(), Some(&b"model=xyz"[..]));
        assert_eq!(inst.sequence, sequence);
        assert!(!inst.unsecured && !inst.delegated);
        assert_eq!(inst.signer, c.nodes[7].signer.public_key());
        assert_eq!(r.streamed.len(), 1, "the instance streamed before the end");
        assert!(r.stats.requests <= 6, "{:?}", r.stats);
        assert!(r.stats.hops <= 2, "{:?}", r.stats);
    }
}

#[test]
fn replicas_are_the_nodes_closest_to_the_name_key() {
    let mut c = common::cloud(50, 22, common::config());
    let req = c.own_name_request(3);
    c.register(3, req);
    let key = peergroup_pnrp::proto::Key::of_name(&c.nodes[3].name.p2p_id());
    // the registrant answers for its own names; the r replicas are the others closest
    let mut order: Vec<usize> = (0..50).filter(|&i| i != 3).collect();
    order.sort_by_key(|&i| {
        key.distance(&peergroup_pnrp::proto::Key::of_node(&c.nodes[i].addr.node))
    });
    let holds =
        |c: &common::TestCloud, i: usize| !c.node(i).store(Cloud::Global).cpas_for(&key).is_empty();
    let closest_holding = order[..20].iter().filter(|&&i| holds(&c, i)).count();
    let far_holding = order[20..].iter().filter(|&&i| holds(&c, i)).count();
    assert!(closest_holding >= 18, "{closest_holding} of the 20 closest hold the cpa");
    let ranks: Vec<usize> =
        order.iter().enumerate().filter(|&(_, &i)| holds(&c, i)).map(|(r, _)| r).collect();
    assert_eq!(far_holding, 0, "nodes outside the 20 closest hold it: ranks {ranks:?}");
}
