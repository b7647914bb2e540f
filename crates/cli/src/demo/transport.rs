//! The transport part of the demo: alice dials bob over QUIC with mutual TLS 1.3, checking
//! his name in the handshake, sends a framed message on the demo's own protocol and reads
//! his answer; a dial expecting another peer name at bob's address must be refused.

use std::time::{Duration, Instant};

use peergroup_base::UnixTime;
use peergroup_net::{Connection, Endpoint, Expect, FramedStream, NetError, ProtocolId};
use serde::{Deserialize, Serialize};
use tokio::task::JoinHandle;

use crate::CliError;

/// The demo's own protocol on the shared endpoint.
const DEMO_PROTOCOL: &str = "demo/1";

#[derive(Debug, Serialize, Deserialize)]
enum DemoMsg {
    Hello { text: String, sent_at: UnixTime },
    Reply { text: String, bytes_received: u32 },
}

/// What the transport part measured, and what it leaves open until the demo ends.
pub(super) struct Transport {
    pub(super) handshake: Duration,
    pub(super) round_trip: Duration,
    pub(super) server_saw: String,
    pub(super) reply: String,
    pub(super) wrong_name_refused: String,
    /// Alice's demo stream to bob; dropped just before the endpoints close.
    pub(super) stream: FramedStream,
    /// Alice's connection to bob, open until the demo ends.
    pub(super) conn: Connection,
    /// Bob's demo server; aborted once the endpoints are closed.
    pub(super) server: JoinHandle<()>,
}

/// The demo protocol between alice and bob on their endpoints: the handshake, one framed
/// round trip, and a dial expecting the wrong peer name.
pub(super) async fn transport_part(
    alice: &Endpoint,
    bob: &Endpoint,
) -> Result<Transport, CliError> {
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

    Ok(Transport {
        handshake,
        round_trip,
        server_saw,
        reply,
        wrong_name_refused,
        stream,
        conn,
        server,
    })
}
