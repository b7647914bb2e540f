//! Two peers share a graph over QUIC on loopback: alice creates it and listens, bob joins,
//! alice publishes a record, bob's event stream reports it and bob reads it back.
//!
//! Run with `cargo run -p peergroup-graph --example two_peers`. Data goes to a temporary
//! directory.

use std::error::Error;
use std::time::Duration;

use peergroup_graph::net::{Graph, GraphOptions, random_record_id};
use peergroup_graph::proto::{Event, NewRecord, TestProvider};
use peergroup_graph::{GraphId, RecordType};
use peergroup_identity::Identity;
use peergroup_net::{Endpoint, EndpointConfig};

const NOTE: RecordType = RecordType::from_u128(0x6e6f_7465_0000_4000_8000_0000_0000_0001);

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let dir = tempfile::tempdir()?;
    let options = || -> Result<GraphOptions, Box<dyn Error>> {
        Ok(GraphOptions::new(GraphId::new("example-graph")?).data_dir(dir.path()))
    };

    // One QUIC endpoint per peer, shared by every protocol the peer runs.
    let alice_ep =
        Endpoint::bind(Identity::generate("alice", "")?, EndpointConfig::loopback()).await?;
    let bob_ep = Endpoint::bind(Identity::generate("bob", "")?, EndpointConfig::loopback()).await?;

    // TestProvider accepts every record and peer; the grouping layer supplies a real one.
    let mut alice = Graph::create(&alice_ep, options()?, TestProvider::new())?;
    let mut bob = Graph::create(&bob_ep, options()?, TestProvider::new())?;
    let mut bob_events = bob.events();

    alice.listen().await?;
    bob.connect(alice_ep.local_addr()?).await?;
    bob.wait_status(Duration::from_secs(10), |s| s.synchronized)
        .await
        .ok_or("bob did not synchronise")?;

    let note =
        NewRecord::new(random_record_id(), NOTE, Duration::from_secs(3600), b"hi bob".to_vec())
            .attribute("topic", "greetings");
    let stored = alice.add_record(note).await?;
    println!("alice stored {} (version {})", stored.id(), stored.version());

    let arrived = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(event) = bob_events.next().await {
            if let Event::RecordChanged { id, change, source, .. } = event
                && id == stored.id()
            {
                return Some((change, source));
            }
        }
        None
    })
    .await?
    .ok_or("bob's graph closed")?;
    println!("bob: {:?} by {:?}", arrived.0, arrived.1);

    let found = bob.search("topic = \"greet*\"").await?;
    let first = found.first().ok_or("bob's search found nothing")?;
    println!(
        "bob's search found {} record(s), the first says {:?}",
        found.len(),
        String::from_utf8_lossy(first.payload())
    );

    bob.close().await?;
    alice.close().await?;
    Ok(())
}
