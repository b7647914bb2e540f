//! The Global routing table survives a restart: written at shutdown, read at start, and
//! enough to bootstrap without any seed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::net_support;

use std::time::Duration;

use net_support::{WAIT, peer, within};
use peergroup_net::{Endpoint, EndpointConfig};
use peergroup_pnrp::net::{CacheLocation, Endpoints, Pnrp, PnrpConfig, ResolveOptions, cache};
use peergroup_pnrp::proto::{Cloud, CloudState};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routing_cache_survives_restart() {
    let dir = tempfile::tempdir().unwrap();
    let cache_location = CacheLocation::in_data_dir(dir.path());
    let CacheLocation::At(path) = cache_location.clone() else { unreachable!() };

    let b = peer("b", &[]).await;
    let c = peer("c", &[b.seed()]).await;
    let name = c.identity.peer_name().clone();
    let _reg = within("register", c.pnrp.register(name.clone(), Endpoints::Auto, "c", None))
        .await
        .unwrap();

    // a joins through b, with a cache file
    let a_id = peergroup_identity::Identity::generate("a", "").unwrap();
    let a_ep = Endpoint::bind(a_id.clone(), EndpointConfig::loopback()).await.unwrap();
    let mut config = PnrpConfig::loopback().with_seeds([b.seed()]);
    config.cache = cache_location.clone();
    let a = Pnrp::start(&a_ep, &a_id, config).await.unwrap();
    assert_eq!(a.cache_path(), Some(path.as_path()));
    a.wait_active(Cloud::Global, WAIT).await.unwrap();
    // wait until a's table holds both others (c enters after its reachability check);
    // the core emits no event for table changes, so poll its info, bounded by WAIT
    within("table of 2", async {
        loop {
            if a.cloud_info(Cloud::Global).await.unwrap().table.len() == 2 {
                break;
            }
            tokio::task::yield_now().await;
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    within("shutdown", a.shutdown()).await.unwrap();
    assert!(a.cloud_info(Cloud::Global).await.unwrap_err().is_stopped());
    drop(a);
    a_ep.close().await;

    let saved = cache::load(&path, a_id.node_id());
    let mut nodes: Vec<_> = saved.iter().map(|p| p.node).collect();
    nodes.sort();
    let mut want = vec![b.identity.node_id(), c.identity.node_id()];
    want.sort();
    assert_eq!(nodes, want, "the cache holds a's table");

    // a restarts on another port with no seed: the cache bootstraps it
    let a_ep = Endpoint::bind(a_id.clone(), EndpointConfig::loopback()).await.unwrap();
    let mut config = PnrpConfig::loopback();
    config.cache = cache_location;
    let a = Pnrp::start(&a_ep, &a_id, config).await.unwrap();
    // (The first answers to the restarted node can be lost: its peers still hold a stream
    // to its old connection. The core's bootstrap retry covers it; see the report on
    // crates/net's driver.)
    a.wait_active(Cloud::Global, WAIT).await.unwrap();
    assert_eq!(a.cloud_state(Cloud::Global), CloudState::Active);
    let found = within("resolve", a.resolve(&name, ResolveOptions::default())).await.unwrap();
    assert_eq!(found[0].endpoints, vec![c.endpoint.local_addr().unwrap()]);
    assert_eq!(within("save", a.save_cache()).await.unwrap(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_cache_is_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pnrp").join("global.cache");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, b"{\"format\": \"peergroup-pnrp-routing-cache\", \"version\": 1, trunc")
        .unwrap();
    let mut config = PnrpConfig::loopback();
    config.cache = CacheLocation::At(path.clone());
    let p = net_support::peer_with("d", config).await;
    // alone: nothing usable in the cache, and no seed
    let state = p.pnrp.wait_state(Cloud::Global, WAIT, |s| s == CloudState::Alone).await.unwrap();
    assert_eq!(state, CloudState::Alone);
    // an empty table never overwrites the file
    assert_eq!(p.pnrp.save_cache().await.unwrap(), 0);
    p.pnrp.shutdown().await.unwrap();
    assert!(std::fs::read(&path).unwrap().ends_with(b"trunc"));
}
