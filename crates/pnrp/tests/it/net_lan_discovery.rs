//! LinkLocal: two nodes with no seed find each other by UDP multicast on the loopback
//! interface (IP_MULTICAST_LOOP), then register and resolve in the LinkLocal cloud. Junk
//! and forged announcements on the group change nothing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::net_support;

use std::net::{Ipv4Addr, SocketAddr, UdpSocket};

use net_support::{WAIT, peer_with, within};
use peergroup_base::NodeId;
use peergroup_pnrp::net::discovery::{Announcement, DiscoveryConfig, Kind};
use peergroup_pnrp::net::{PnrpConfig, ResolveOptions};
use peergroup_pnrp::proto::{Cloud, CloudState, CpaSigner, RegisterRequest};

/// A multicast port nobody on this host uses right now, and a group of this test's own.
fn private_group() -> (Ipv4Addr, u16) {
    let probe = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0)).unwrap();
    let port = probe.local_addr().unwrap().port();
    drop(probe);
    (Ipv4Addr::new(239, 255, (port >> 8) as u8, port as u8), port)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn link_local_peers_find_each_other_without_seeds() {
    let (group, port) = private_group();
    let discovery = DiscoveryConfig::loopback(group, port);
    let config = || {
        let mut c = PnrpConfig::loopback();
        c.link_local = Some(discovery.clone());
        c
    };

    // Junk and a forged announcement (a node id nobody has, at a dead port) on the group.
    let sender = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    sender.set_multicast_loop_v4(true).unwrap();
    let to = SocketAddr::from((group, port));
    let forged = Announcement { kind: Kind::Announce, port: 9, node: NodeId([0x42; 32]) };

    let x = peer_with("x", config()).await;
    sender.send_to(b"not an announcement", to).unwrap();
    sender.send_to(&forged.encode(), to).unwrap();
    sender.send_to(&[0u8; 2000], to).unwrap();
    let y = peer_with("y", config()).await;
    assert!(x.pnrp.link_local_enabled());

    for p in [&x, &y] {
        p.pnrp.wait_active(Cloud::LinkLocal, WAIT).await.unwrap();
        // Global has neither seeds nor cache: it stays alone
        assert_eq!(p.pnrp.cloud_state(Cloud::Global), CloudState::Alone);
    }
    let info = within("info", y.pnrp.cloud_info(Cloud::LinkLocal)).await.unwrap();
    assert!(info.table.iter().any(|e| e.peer.node == x.identity.node_id()), "{info:?}");
    assert!(
        info.table.iter().all(|e| e.peer.node != forged.node),
        "forged peer admitted: {info:?}"
    );

    let name = x.identity.peer_name().clone();
    let mut request = RegisterRequest::new(
        name.clone(),
        CpaSigner::from_identity(&x.identity),
        x.pnrp.auto_endpoints(),
    );
    request.cloud = Cloud::LinkLocal;
    request.comment = "on the lan".into();
    let reg = within("register", x.pnrp.register_request(request)).await.unwrap();
    assert_eq!(reg.cloud(), Cloud::LinkLocal);

    let found =
        within("resolve", y.pnrp.resolve(&name, ResolveOptions::in_cloud(Cloud::LinkLocal)))
            .await
            .unwrap();
    assert_eq!(found[0].comment, "on the lan");
    assert_eq!(found[0].endpoints, vec![x.endpoint.local_addr().unwrap()]);
    // the clouds are separate: the name is not in Global
    let err =
        within("resolve", y.pnrp.resolve(&name, ResolveOptions::default())).await.unwrap_err();
    assert!(err.is_not_found(), "{err}");
}
