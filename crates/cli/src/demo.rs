//! `p2p demo`: real peers on loopback, every layer working, with a readable summary.
//!
//! Today's layers: identities in a temporary data directory, one QUIC endpoint per peer,
//! mutual TLS 1.3 with identity certificates, identity-checked dialling, framed messages on a
//! multiplexed stream. Later layers (PNRP, graph, group) extend it.

// The demo measures real elapsed time.
#![allow(clippy::disallowed_methods)]

use std::path::Path;
use std::time::{Duration, Instant};

use peergroup_base::UnixTime;
use peergroup_identity::IdentityStore;
use peergroup_net::{Endpoint, EndpointConfig, Expect, NetError, ProtocolId};
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

    let alice = Endpoint::bind(alice_id, EndpointConfig::loopback()).await?;
    let bob = Endpoint::bind(bob_id, EndpointConfig::loopback()).await?;
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
        connections_alice: alice.connections().len(),
    };
    drop(stream);
    alice.close().await;
    bob.close().await;
    server.abort();
    Ok(report)
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
    println!("result: OK");
}
