//! The outcomes of a resolve that finds nothing are told apart: timed out while the cloud
//! is still bootstrapping, cloud not ready once its bootstrap failed or when it is
//! disabled (not found is in `net_register_resolve.rs`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::net_support;

use std::net::UdpSocket;
use std::time::Duration;

use net_support::{WAIT, peer_with, within};
use peergroup_base::{NodeId, PeerAddr};
use peergroup_identity::Identity;
use peergroup_pnrp::net::{Endpoints, PnrpConfig, PnrpError, ResolveOptions, Seed};
use peergroup_pnrp::proto::{Cloud, CloudState, RegisterError};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timed_out_then_cloud_not_ready_when_the_only_seed_is_a_black_hole() {
    // A UDP socket that swallows everything: the seed's handshake never completes.
    let hole = UdpSocket::bind("127.0.0.1:0").unwrap();
    let seed = Seed::Peer(PeerAddr { node: NodeId([0x5e; 32]), addr: hole.local_addr().unwrap() });
    let p = peer_with("lonely", PnrpConfig::loopback().with_seeds([seed])).await;
    assert_eq!(p.pnrp.cloud_state(Cloud::Global), CloudState::Synchronising);
    let name = Identity::generate("anyone", "").unwrap().peer_name().clone();

    // The bootstrap needs the request timeout (1 s) to fail; a 200 ms resolve runs out
    // first.
    let short = ResolveOptions::default().with_timeout(Duration::from_millis(200));
    let err = within("resolve", p.pnrp.resolve(&name, short)).await.unwrap_err();
    assert!(err.is_timed_out(), "{err}");
    assert!(
        matches!(err, PnrpError::TimedOut { after, .. } if after == Duration::from_millis(200))
    );

    let state = p.pnrp.wait_state(Cloud::Global, WAIT, |s| s == CloudState::Dead).await.unwrap();
    assert_eq!(state, CloudState::Dead);
    let err =
        within("resolve", p.pnrp.resolve(&name, ResolveOptions::default())).await.unwrap_err();
    assert!(err.is_cloud_not_ready(), "{err}");
    assert!(matches!(
        err,
        PnrpError::CloudNotReady { cloud: Cloud::Global, state: CloudState::Dead }
    ));
    drop(hole);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disabled_cloud_is_not_ready_and_refuses_registrations() {
    let p = peer_with("off", PnrpConfig::loopback()).await;
    // LinkLocal is off unless discovery is configured
    assert!(!p.pnrp.link_local_enabled());
    assert_eq!(p.pnrp.cloud_state(Cloud::LinkLocal), CloudState::Disabled);
    let name = p.identity.peer_name().clone();
    let err = within("resolve", p.pnrp.resolve(&name, ResolveOptions::in_cloud(Cloud::LinkLocal)))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            PnrpError::CloudNotReady { cloud: Cloud::LinkLocal, state: CloudState::Disabled }
        ),
        "{err}"
    );
    let mut request = peergroup_pnrp::proto::RegisterRequest::new(
        name.clone(),
        peergroup_pnrp::proto::CpaSigner::from_identity(&p.identity),
        p.pnrp.auto_endpoints(),
    );
    request.cloud = Cloud::LinkLocal;
    let err = within("register", p.pnrp.register_request(request)).await.unwrap_err();
    assert!(
        matches!(err, PnrpError::Registration(RegisterError::CloudDisabled(Cloud::LinkLocal))),
        "{err}"
    );
    // a first node alone still serves its own names in Global
    let _reg =
        within("register", p.pnrp.register(name.clone(), Endpoints::Auto, "", None)).await.unwrap();
    assert_eq!(p.pnrp.cloud_state(Cloud::Global), CloudState::Alone);
    let found = within("resolve", p.pnrp.resolve(&name, ResolveOptions::default())).await.unwrap();
    assert_eq!(found.len(), 1);
}
