//! `p2p demo`: real peers on loopback, every layer working, with a readable summary.
//!
//! Today's layers: identities in a temporary data directory, one QUIC endpoint per peer,
//! mutual TLS 1.3 with identity certificates, identity-checked dialling, framed messages on a
//! multiplexed stream, and PNRP on the same endpoints: both peers join one Global cloud
//! (bob bootstraps through alice's address), register their names, and resolve each
//! other's over real QUIC — plus a name nobody registered, which ends as not found. Later
//! layers (graph, group) extend it.

// The demo measures real elapsed time.
#![allow(clippy::disallowed_methods)]

use std::path::Path;
use std::time::{Duration, Instant};

use peergroup_base::UnixTime;
use peergroup_identity::Identity;
use peergroup_identity::IdentityStore;
use peergroup_net::{Endpoint, EndpointConfig, Expect, NetError, ProtocolId};
use peergroup_pnrp::net::{Endpoints, Pnrp, PnrpConfig, PnrpError, ResolveOptions, Seed};
use peergroup_pnrp::proto::{Cloud, ResolveOutcome};
use serde::{Deserialize, Serialize};

use crate::CliError;

/// The demo's own protocol on the shared endpoint.
const DEMO_PROTOCOL: &str = "demo/1";

#[derive(Debug, Serialize, Deserialize)]
enum DemoMsg {
    Hello { text: String, sent_at: UnixTime },
    Reply { text: String, bytes_received: u32 },
}

/// What the demo measured, for the summary (and for tests).
#[derive(Debug, Serialize)]
pub(crate) struct DemoReport {
    pub(crate) data_dir: String,
    pub(crate) peers: Vec<PeerReport>,
    pub(crate) handshake_ms: f64,
    pub(crate) round_trip_ms: f64,
    pub(crate) server_saw_client_as: String,
    pub(crate) reply: String,
    pub(crate) wrong_name_refused: String,
    pub(crate) connections_alice: usize,
    pub(crate) pnrp: PnrpReport,
}

/// The PNRP part of the demo.
#[derive(Debug, Serialize)]
pub(crate) struct PnrpReport {
    pub(crate) protocol: String,
    /// Time until both peers were Active in the Global cloud.
    pub(crate) bootstrap_ms: f64,
    pub(crate) registrations: Vec<RegistrationReport>,
    pub(crate) resolves: Vec<ResolveReport>,
}

#[derive(Debug, Serialize)]
pub(crate) struct RegistrationReport {
    pub(crate) peer: String,
    pub(crate) name: String,
    pub(crate) endpoints: Vec<String>,
    pub(crate) replicas: usize,
    pub(crate) ms: f64,
}

#[derive(Debug, Serialize)]
pub(crate) struct ResolveReport {
    pub(crate) by: String,
    pub(crate) name: String,
    pub(crate) outcome: String,
    pub(crate) endpoints: Vec<String>,
    pub(crate) comment: String,
    pub(crate) hops: u32,
    /// Requests sent over QUIC for this resolve.
    pub(crate) requests: u32,
    pub(crate) ms: f64,
}

#[derive(Debug, Serialize)]
pub(crate) struct PeerReport {
    pub(crate) classifier: String,
    pub(crate) peer_name: String,
    pub(crate) listen: String,
}

/// Runs the demo and prints its summary (or JSON).
pub(crate) async fn run(json: bool) -> Result<(), CliError> {
    let dir = tempfile::tempdir()
        .map_err(|e| CliError::runtime(format!("cannot create a temporary data dir: {e}")))?;
    let report = run_in(dir.path()).await?;
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).map_err(|e| CliError::runtime(e.to_string()))?
        );
    } else {
        print_summary(&report);
    }
    Ok(())
}

fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e6).round() / 1e3
}

pub(crate) async fn run_in(data_dir: &Path) -> Result<DemoReport, CliError> {
    let store = IdentityStore::open(data_dir)?;
    let alice_id = store.create("alice", "Alice")?;
    let bob_id = store.create("bob", "Bob")?;

    let alice = Endpoint::bind(alice_id.clone(), EndpointConfig::loopback()).await?;
    let bob = Endpoint::bind(bob_id.clone(), EndpointConfig::loopback()).await?;
    let protocol = ProtocolId::new(DEMO_PROTOCOL)?;

    // Bob answers every Hello on the demo protocol, naming the verified sender.
    let mut incoming = bob.register(protocol.clone())?;
    let (seen_tx, seen_rx) = tokio::sync::oneshot::channel::<String>();
    let server = tokio::spawn(async move {
        let mut seen_tx = Some(seen_tx);
        while let Some(mut stream) = incoming.next().await {
            let sender = stream.remote.peer_name.to_string();
            if let Some(tx) = seen_tx.take() {
                let _ = tx.send(sender.clone());
            }
            while let Ok(Some(DemoMsg::Hello { text, .. })) = stream.recv::<DemoMsg>().await {
                let reply = DemoMsg::Reply {
                    text: format!("hello {}, this is bob", stream.remote.peer_name.classifier()),
                    bytes_received: u32::try_from(text.len()).unwrap_or(u32::MAX),
                };
                if stream.send(&reply).await.is_err() {
                    break;
                }
            }
        }
    });

    let bob_addr = bob.local_addr()?;
    let started = Instant::now();
    let conn = alice.connect(bob_addr, Expect::Name(bob.peer_name().clone())).await?;
    let handshake = started.elapsed();

    let mut stream = conn.open(&protocol).await?;
    let started = Instant::now();
    stream.send(&DemoMsg::Hello { text: "hello bob".into(), sent_at: UnixTime::now() }).await?;
    let reply = stream.recv::<DemoMsg>().await?;
    let round_trip = started.elapsed();
    let reply = match reply {
        Some(DemoMsg::Reply { text, bytes_received }) => {
            format!("{text} ({bytes_received} bytes received)")
        }
        other => return Err(CliError::runtime(format!("demo: unexpected reply {other:?}"))),
    };
    let server_saw =
        seen_rx.await.map_err(|_| CliError::runtime("demo: bob never saw a stream"))?;

    // Dialling bob's address while expecting someone else must fail inside the handshake.
    let impostor = peergroup_identity::Identity::generate("bob", "")?;
    let wrong_name_refused = match alice
        .connect(bob_addr, Expect::Name(impostor.peer_name().clone()))
        .await
    {
        Err(e @ NetError::WrongPeer { .. }) => format!("yes: {e}"),
        Err(e) => {
            return Err(CliError::runtime(format!("demo: wrong-name dial failed oddly: {e}")));
        }
        Ok(_) => {
            return Err(CliError::runtime("demo: a dial expecting the wrong peer name succeeded"));
        }
    };

    let connections_alice = alice.connections().len();
    let pnrp = pnrp_part(&alice, &alice_id, &bob, &bob_id).await?;

    let report = DemoReport {
        data_dir: data_dir.display().to_string(),
        peers: vec![
            PeerReport {
                classifier: "alice".into(),
                peer_name: alice.peer_name().to_string(),
                listen: alice.local_addr()?.to_string(),
            },
            PeerReport {
                classifier: "bob".into(),
                peer_name: bob.peer_name().to_string(),
                listen: bob_addr.to_string(),
            },
        ],
        handshake_ms: ms(handshake),
        round_trip_ms: ms(round_trip),
        server_saw_client_as: server_saw,
        reply,
        wrong_name_refused,
        connections_alice,
        pnrp,
    };
    drop(stream);
    alice.close().await;
    bob.close().await;
    server.abort();
    Ok(report)
}

fn pnrp_error(e: PnrpError) -> CliError {
    CliError::runtime(format!("demo: pnrp: {e}"))
}

/// PNRP on the demo's endpoints: alice starts the cloud, bob joins through her address;
/// each registers its name and resolves the other's; then a name nobody registered.
async fn pnrp_part(
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

fn print_summary(r: &DemoReport) {
    println!("peergroup demo: {} peers on loopback", r.peers.len());
    println!();
    println!("identities (fresh, in temporary data dir {})", r.data_dir);
    for p in &r.peers {
        println!("  {:<6} {}  listening on {}", p.classifier, p.peer_name, p.listen);
    }
    println!();
    println!("transport: QUIC, TLS 1.3, mutual authentication with Ed25519 identity certificates");
    println!(
        "  alice -> bob handshake, bob's name checked in the handshake  {:>8.3} ms",
        r.handshake_ms
    );
    println!(
        "  bob saw the client as                                         {}",
        r.server_saw_client_as
    );
    println!(
        "  framed message round trip on stream demo/1                    {:>8.3} ms",
        r.round_trip_ms
    );
    println!("  reply                                                         {}", r.reply);
    println!("  dial bob's address expecting another peer name: refused {}", r.wrong_name_refused);
    println!(
        "  connections open at alice                                     {}",
        r.connections_alice
    );
    println!();
    println!(
        "name resolution: PNRP ({}) on the same endpoints; bob joined through alice's address in {:.3} ms",
        r.pnrp.protocol, r.pnrp.bootstrap_ms
    );
    for g in &r.pnrp.registrations {
        println!(
            "  {:<6} registered {}  at {}  ({} replicas)  {:>8.3} ms",
            g.peer,
            g.name,
            g.endpoints.join(", "),
            g.replicas,
            g.ms
        );
    }
    for v in &r.pnrp.resolves {
        let at = if v.endpoints.is_empty() {
            String::new()
        } else {
            format!(" -> {}", v.endpoints.join(", "))
        };
        println!(
            "  {:<6} resolved {}: {}{at}  ({} requests over QUIC)  {:>8.3} ms",
            v.by, v.name, v.outcome, v.requests, v.ms
        );
    }
    println!();
    println!("result: OK");
}
