//! Register and resolve over real QUIC on loopback: several peers, every name resolved
//! by every other peer, streaming resolves, updates, unregistration and not-found.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::net_support;

use std::time::Duration;

use net_support::{WAIT, cloud, within};
use peergroup_identity::Identity;
use peergroup_pnrp::net::{Endpoints, PnrpError, ResolveOptions};
use peergroup_pnrp::proto::{Cloud, CloudState, ResolveOutcome};

fn opts() -> ResolveOptions {
    ResolveOptions::default().with_timeout(Duration::from_secs(10))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_peer_resolves_every_other_peers_name() {
    let peers = cloud(4).await;
    let mut registrations = Vec::new();
    for (i, p) in peers.iter().enumerate() {
        let name = p.identity.peer_name().clone();
        let payload = vec![i as u8; 100 + i];
        let r = within(
            "register",
            p.pnrp.register(name, Endpoints::Auto, &format!("peer {i}"), Some(payload)),
        )
        .await
        .unwrap();
        assert_eq!(r.endpoints(), [p.endpoint.local_addr().unwrap()]);
        assert!(r.sequence() > 0);
        registrations.push(r);
    }
    for (i, resolver) in peers.iter().enumerate() {
        for (j, target) in peers.iter().enumerate() {
            if i == j {
                continue;
            }
            let name = target.identity.peer_name();
            let found = within("resolve", resolver.pnrp.resolve(name, opts())).await.unwrap();
            assert_eq!(found.len(), 1, "{i} resolving {j}");
            let inst = &found[0];
            assert_eq!(&inst.name, name);
            assert_eq!(inst.endpoints, vec![target.endpoint.local_addr().unwrap()]);
            assert_eq!(inst.comment, format!("peer {j}"));
            assert_eq!(inst.payload.as_deref(), Some(&vec![j as u8; 100 + j][..]));
            assert!(!inst.unsecured);
            assert_eq!(inst.signer, target.identity.public_key());
        }
    }
    let info = within("cloud info", peers[0].pnrp.cloud_info(Cloud::Global)).await.unwrap();
    assert_eq!(info.state, CloudState::Active);
    assert_eq!(info.table.len(), peers.len() - 1, "{info:?}");
    assert!(info.stored_cpas > 0, "replicas hold the others' CPAs: {info:?}");
    assert_eq!(info.registrations, 1);
    let ll = within("cloud info", peers[0].pnrp.cloud_info(Cloud::LinkLocal)).await.unwrap();
    assert_eq!(ll.state, CloudState::Disabled);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streaming_resolve_yields_instances_then_the_outcome() {
    let peers = cloud(3).await;
    let name = peers[2].identity.peer_name().clone();
    let _reg =
        within("register", peers[2].pnrp.register(name.clone(), Endpoints::Auto, "streamed", None))
            .await
            .unwrap();
    let mut stream =
        within("resolve_stream", peers[0].pnrp.resolve_stream(&name, opts())).await.unwrap();
    assert!(stream.outcome().is_none());
    let first = within("first instance", stream.next()).await.expect("an instance");
    assert_eq!(first.comment, "streamed");
    while within("stream end", stream.next()).await.is_some() {}
    let done = stream.outcome().expect("an outcome");
    assert_eq!(done.outcome, ResolveOutcome::Found);
    assert_eq!(done.instances.len(), 1);
    assert_eq!(done.instances[0].digest, first.digest, "the streamed instance is the result");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unregistered_name_is_not_found_within_the_timeout() {
    let peers = cloud(3).await;
    let nobody = Identity::generate("nobody", "").unwrap();
    let timeout = Duration::from_secs(5);
    #[allow(clippy::disallowed_methods)] // measuring a real network's answer time
    let started = std::time::Instant::now();
    let err = tokio::time::timeout(
        timeout + Duration::from_secs(1),
        peers[1].pnrp.resolve(nobody.peer_name(), opts().with_timeout(timeout)),
    )
    .await
    .expect("the resolve ends by its timeout")
    .unwrap_err();
    assert!(err.is_not_found(), "{err}");
    assert!(started.elapsed() < timeout, "not found is decided by the lookup, not the timeout");
    assert!(matches!(err, PnrpError::NotFound { ref name } if name == nobody.peer_name()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn update_changes_and_unregister_removes_the_name() {
    let peers = cloud(4).await;
    let owner = &peers[3];
    let name = owner.identity.peer_name().clone();
    let mut reg =
        within("register", owner.pnrp.register(name.clone(), Endpoints::Auto, "v1", None))
            .await
            .unwrap();
    let seq1 = reg.sequence();
    let found = within("resolve", peers[1].pnrp.resolve(&name, opts())).await.unwrap();
    assert_eq!(found[0].comment, "v1");

    let other: std::net::SocketAddr = "127.0.0.1:4242".parse().unwrap();
    within("update", reg.update(Endpoints::Explicit(vec![other]), "v2", Some(b"x".to_vec())))
        .await
        .unwrap();
    assert!(reg.sequence() > seq1);
    let found = within("resolve", peers[2].pnrp.resolve(&name, opts())).await.unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].comment, "v2");
    assert_eq!(found[0].endpoints, vec![other]);

    // an update the core refuses (more than 10 endpoints) changes nothing
    let err = within("bad update", reg.update(Endpoints::Explicit(vec![other; 11]), "v3", None))
        .await
        .unwrap_err();
    assert!(matches!(err, PnrpError::Registration(_)), "{err}");
    assert_eq!(reg.endpoints(), [other]);
    let found = within("resolve", peers[0].pnrp.resolve(&name, opts())).await.unwrap();
    assert_eq!(found[0].comment, "v2");

    let replicas = within("unregister", reg.unregister()).await.unwrap();
    assert!(replicas >= 1, "the revocation reached the replicas");
    for p in &peers[..3] {
        let err = within("resolve", p.pnrp.resolve(&name, opts())).await.unwrap_err();
        assert!(err.is_not_found(), "{err}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registering_someone_elses_name_is_refused() {
    let peers = cloud(2).await;
    let stranger = Identity::generate("stranger", "").unwrap();
    let err = within(
        "register",
        peers[0].pnrp.register(stranger.peer_name().clone(), Endpoints::Auto, "", None),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, PnrpError::Registration(_)), "{err}");
    // the node keeps serving
    let name = peers[0].identity.peer_name().clone();
    let _r = within("register", peers[0].pnrp.register(name.clone(), Endpoints::Auto, "", None))
        .await
        .unwrap();
    assert_eq!(within("resolve", peers[1].pnrp.resolve(&name, opts())).await.unwrap().len(), 1);
    let _ = WAIT;
}
