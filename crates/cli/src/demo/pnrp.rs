//! The PNRP part of the demo: name registration and resolution over real QUIC on the
//! demo's endpoints.

use std::time::{Duration, Instant};

use peergroup_identity::Identity;
use peergroup_net::Endpoint;
use peergroup_pnrp::net::{Endpoints, Pnrp, PnrpConfig, PnrpError, ResolveOptions, Seed};
use peergroup_pnrp::proto::{Cloud, ResolveOutcome};

use super::{PnrpReport, RegistrationReport, ResolveReport, ms};
use crate::CliError;

fn pnrp_error(e: PnrpError) -> CliError {
    CliError::runtime(format!("demo: pnrp: {e}"))
}

/// PNRP on the demo's endpoints: alice starts the cloud, bob joins through her address;
/// each registers its name and resolves the other's; then a name nobody registered.
pub(super) async fn pnrp_part(
    alice: &Endpoint,
    alice_id: &Identity,
    bob: &Endpoint,
    bob_id: &Identity,
) -> Result<PnrpReport, CliError> {
    let wait = Duration::from_secs(10);
    // Two disjoint lookup paths (S-Kademlia): a resolve does not stop at the replica a node
    // holds itself, it also asks the network and verifies what comes back — so in this
    // two-peer cloud every resolve crosses QUIC.
    let config = || {
        let mut c = PnrpConfig::loopback();
        c.core.disjoint_paths = 2;
        c
    };
    let started = Instant::now();
    let a = Pnrp::start(alice, alice_id, config()).await.map_err(pnrp_error)?;
    let b = Pnrp::start(bob, bob_id, config().with_seeds([Seed::Addr(alice.local_addr()?)]))
        .await
        .map_err(pnrp_error)?;
    a.wait_active(Cloud::Global, wait).await.map_err(pnrp_error)?;
    b.wait_active(Cloud::Global, wait).await.map_err(pnrp_error)?;
    let bootstrap = started.elapsed();

    let mut registrations = Vec::new();
    let mut held = Vec::new();
    for (peer, node, id) in [("alice", &a, alice_id), ("bob", &b, bob_id)] {
        let started = Instant::now();
        let comment = format!("{peer}'s demo service");
        let r = node
            .register(id.peer_name().clone(), Endpoints::Auto, &comment, None)
            .await
            .map_err(pnrp_error)?;
        registrations.push(RegistrationReport {
            peer: peer.into(),
            name: r.name().to_string(),
            endpoints: r.endpoints().iter().map(|e| e.to_string()).collect(),
            replicas: r.replicas(),
            ms: ms(started.elapsed()),
        });
        held.push(r);
    }

    let nobody = Identity::generate("nobody", "")?;
    let mut resolves = Vec::new();
    let options = ResolveOptions::default().with_timeout(wait);
    for (by, node, name) in [
        ("alice", &a, bob_id.peer_name()),
        ("bob", &b, alice_id.peer_name()),
        ("bob", &b, nobody.peer_name()),
    ] {
        let started = Instant::now();
        let r = node.resolve_detailed(name, options.clone()).await.map_err(pnrp_error)?;
        let elapsed = started.elapsed();
        let first = r.instances.first();
        resolves.push(ResolveReport {
            by: by.into(),
            name: name.to_string(),
            outcome: match r.outcome {
                ResolveOutcome::Found => "found",
                ResolveOutcome::NotFound => "not found",
                ResolveOutcome::TimedOut => "timed out",
                ResolveOutcome::CloudNotReady => "cloud not ready",
                ResolveOutcome::Busy => "busy",
            }
            .into(),
            endpoints: first
                .map(|i| i.endpoints.iter().map(|e| e.to_string()).collect())
                .unwrap_or_default(),
            comment: first.map(|i| i.comment.clone()).unwrap_or_default(),
            hops: r.stats.hops,
            requests: r.stats.requests,
            ms: ms(elapsed),
        });
    }
    for (r, want) in resolves.iter().zip(["found", "found", "not found"]) {
        if r.outcome != want {
            return Err(CliError::runtime(format!(
                "demo: pnrp: {} resolving {} ended {}, expected {want}",
                r.by, r.name, r.outcome
            )));
        }
    }
    for r in held {
        r.unregister().await.map_err(pnrp_error)?;
    }
    a.shutdown().await.map_err(pnrp_error)?;
    b.shutdown().await.map_err(pnrp_error)?;
    Ok(PnrpReport {
        protocol: peergroup_pnrp::net::PROTOCOL.into(),
        bootstrap_ms: ms(bootstrap),
        registrations,
        resolves,
    })
}
