//! Helpers of the loopback driver tests (`net_*.rs`): real QUIC endpoints on 127.0.0.1,
//! ephemeral ports, every wait bounded.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used)]

use std::future::Future;
use std::time::Duration;

use peergroup_identity::Identity;
use peergroup_net::{Endpoint, EndpointConfig};
use peergroup_pnrp::net::{Pnrp, PnrpConfig, Seed};
use peergroup_pnrp::proto::Cloud;

/// Upper bound of any single wait in these tests.
pub const WAIT: Duration = Duration::from_secs(20);

/// A peer: its identity, endpoint and PNRP node.
pub struct Peer {
    pub identity: Identity,
    pub endpoint: Endpoint,
    pub pnrp: Pnrp,
}

impl Peer {
    /// The seed others use to reach this peer (address only: dialled, node id learned).
    pub fn seed(&self) -> Seed {
        Seed::Addr(self.endpoint.local_addr().unwrap())
    }
}

/// Starts a peer with `classifier` and `config` on a fresh loopback endpoint.
pub async fn peer_with(classifier: &str, config: PnrpConfig) -> Peer {
    let identity = Identity::generate(classifier, "").unwrap();
    let endpoint = Endpoint::bind(identity.clone(), EndpointConfig::loopback()).await.unwrap();
    let pnrp = Pnrp::start(&endpoint, &identity, config).await.unwrap();
    Peer { identity, endpoint, pnrp }
}

/// Starts a peer seeded with `seeds`, no cache.
pub async fn peer(classifier: &str, seeds: &[Seed]) -> Peer {
    peer_with(classifier, PnrpConfig::loopback().with_seeds(seeds.iter().copied())).await
}

/// `n` peers: the first alone, the others bootstrapping through it; returns once every
/// one of them is Active in the Global cloud.
pub async fn cloud(n: usize) -> Vec<Peer> {
    let first = peer("p0", &[]).await;
    let seed = first.seed();
    let mut peers = vec![first];
    for i in 1..n {
        peers.push(peer(&format!("p{i}"), &[seed]).await);
    }
    for p in &peers {
        p.pnrp.wait_active(Cloud::Global, WAIT).await.unwrap();
    }
    peers
}

/// Awaits `f`, failing the test if it takes longer than [`WAIT`].
pub async fn within<T>(what: &str, f: impl Future<Output = T>) -> T {
    match tokio::time::timeout(WAIT, f).await {
        Ok(v) => v,
        Err(_) => panic!("{what}: no result within {WAIT:?}"),
    }
}
