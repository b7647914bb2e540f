//! `p2p demo`: real peers on loopback, every layer working, with a readable summary.
//!
//! Today's layers: identities in a temporary data directory, one QUIC endpoint per peer,
//! mutual TLS 1.3 with identity certificates, identity-checked dialling, framed messages on a
//! multiplexed stream, and PNRP on the same endpoints: both peers join one Global cloud
//! (bob bootstraps through alice's address), register their names, and resolve each
//! other's over real QUIC — plus a name nobody registered, which ends as not found.
//!
//! Then Peer Graphing on the same endpoints (protocol `graph/1` next to `demo/1` and
//! `pnrp/1`): alice, bob and carol form one graph (bob and carol join through alice), each
//! publishes notes — carol a batch of 1,000 in one durable commit — and the demo measures
//! how long until every replica holds every note; dave joins late through bob and catches
//! up by synchronisation; bob sends alice a data message and she answers; a search runs on
//! dave's replica; all graphs close.
//!
//! Then Peer Grouping (protocol `group/1/<tag>`, [`group`]): alice creates a group, invites bob and
//! carol from their identity info, they join and connect (each connection admitted by a
//! membership proof bound to its TLS session), signed notes reach every replica, dave —
//! a member of another group — is refused with the reason, alice revokes carol and carol is
//! refused when she reconnects. Every figure in the report is measured; every wait is
//! bounded and, when it runs out, fails the demo with what did not happen.

// The demo measures real elapsed time.
#![allow(clippy::disallowed_methods)]

use std::path::Path;
use std::time::Duration;

use peergroup_identity::IdentityStore;
use peergroup_net::{Endpoint, EndpointConfig};
use serde::Serialize;

use crate::CliError;
use crate::output;

mod graph;
mod group;
mod pnrp;
mod summary;
mod transport;

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
    pub(crate) graph: GraphReport,
    pub(crate) group: group::GroupReport,
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

/// The graph part of the demo. Times run from the start of the step they name.
#[derive(Debug, Serialize)]
pub(crate) struct GraphReport {
    pub(crate) protocol: String,
    pub(crate) graph: String,
    /// Every node of the graph, the late joiner last; counts taken after every step.
    pub(crate) peers: Vec<GraphPeerReport>,
    /// From alice creating the graph until bob and carol, joined through her address, were
    /// synchronized.
    pub(crate) join_ms: f64,
    /// Notes published (alice's, bob's and carol's batch).
    pub(crate) records_published: usize,
    /// The notes of carol's batch, and the payload size of each.
    pub(crate) batch_records: usize,
    pub(crate) batch_payload_bytes: usize,
    /// Carol's `add_records`: the whole batch in one durable commit.
    pub(crate) batch_commit_ms: f64,
    /// From alice's publish until alice, bob and carol each held every note.
    pub(crate) publish_to_all_ms: f64,
    pub(crate) late_joiner: String,
    /// The member the late joiner connected to.
    pub(crate) late_joiner_via: String,
    /// From the late joiner's connect until its status was synchronized.
    pub(crate) late_joiner_sync_ms: f64,
    /// From the late joiner's connect until it held every note.
    pub(crate) late_joiner_all_records_ms: f64,
    /// Notes the late joiner held then.
    pub(crate) late_joiner_records: usize,
    /// How those notes arrived, from the late joiner's record events.
    pub(crate) late_joiner_records_by_sync: u64,
    pub(crate) late_joiner_records_by_flood: u64,
    /// The late joiner's counter of records stored from synchronisation (presence records
    /// of the members included).
    pub(crate) late_joiner_sync_records_stored: u64,
    /// Reconciliation payload bytes the late joiner sent.
    pub(crate) late_joiner_reconcile_bytes_sent: u64,
    /// What the members' counters grew by while the late joiner caught up: reconciliation
    /// payload bytes and records sent by synchronisation.
    pub(crate) members_reconcile_bytes_sent: u64,
    pub(crate) members_sync_records_sent: u64,
    /// From the late joiner's connect until every node listed all the others (from their
    /// presence records).
    pub(crate) node_lists_complete_ms: f64,
    pub(crate) data_from: String,
    pub(crate) data_to: String,
    /// Bytes sent, and bytes that arrived in the receiver's data event.
    pub(crate) data_bytes: usize,
    pub(crate) data_received_bytes: usize,
    /// From the send until the receiver's data event.
    pub(crate) data_one_way_ms: f64,
    /// From the send until the receiver's answer arrived back.
    pub(crate) data_round_trip_ms: f64,
    pub(crate) search_on: String,
    pub(crate) search_query: String,
    pub(crate) search_hits: usize,
    pub(crate) search_ms: f64,
    /// Closing every graph (presence deleted, neighbours told, store flushed), all at once.
    pub(crate) close_ms: f64,
}

/// One node of the demo graph.
#[derive(Debug, Serialize)]
pub(crate) struct GraphPeerReport {
    pub(crate) peer: String,
    /// Notes in its replica.
    pub(crate) records: usize,
    /// When it first held every note: after alice's publish (members) or after its
    /// connect (the late joiner).
    pub(crate) all_records_ms: f64,
    /// Its neighbours, by classifier.
    pub(crate) neighbours: Vec<String>,
    /// Other nodes it knows from their presence records.
    pub(crate) nodes_known: usize,
    /// When it first listed every other node: after the late joiner's connect.
    pub(crate) all_nodes_ms: f64,
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
        output::line(
            serde_json::to_string_pretty(&report).map_err(|e| CliError::runtime(e.to_string()))?,
        )
    } else {
        output::raw(&summary::render(&report))
    }
}

fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e6).round() / 1e3
}

pub(crate) async fn run_in(data_dir: &Path) -> Result<DemoReport, CliError> {
    let store = IdentityStore::open(data_dir)?;
    let alice_id = store.create("alice", "Alice")?;
    let bob_id = store.create("bob", "Bob")?;
    let carol_id = store.create("carol", "Carol")?;
    let dave_id = store.create("dave", "Dave")?;

    let alice = Endpoint::bind(alice_id.clone(), EndpointConfig::loopback()).await?;
    let bob = Endpoint::bind(bob_id.clone(), EndpointConfig::loopback()).await?;
    let carol = Endpoint::bind(carol_id, EndpointConfig::loopback()).await?;
    let dave = Endpoint::bind(dave_id, EndpointConfig::loopback()).await?;

    let transport = transport::transport_part(&alice, &bob).await?;
    let connections_alice = alice.connections().len();
    let pnrp = pnrp::pnrp_part(&alice, &alice_id, &bob, &bob_id).await?;
    let graph = graph::graph_part(data_dir, [&alice, &bob, &carol, &dave]).await?;
    let group = group::group_part(data_dir, [&alice, &bob, &carol, &dave]).await?;

    let mut peers = Vec::new();
    for (classifier, endpoint) in
        [("alice", &alice), ("bob", &bob), ("carol", &carol), ("dave", &dave)]
    {
        peers.push(PeerReport {
            classifier: classifier.into(),
            peer_name: endpoint.peer_name().to_string(),
            listen: endpoint.local_addr()?.to_string(),
        });
    }
    let report = DemoReport {
        data_dir: data_dir.display().to_string(),
        peers,
        handshake_ms: ms(transport.handshake),
        round_trip_ms: ms(transport.round_trip),
        server_saw_client_as: transport.server_saw,
        reply: transport.reply,
        wrong_name_refused: transport.wrong_name_refused,
        connections_alice,
        pnrp,
        graph,
        group,
    };
    drop(transport.stream);
    alice.close().await;
    bob.close().await;
    carol.close().await;
    dave.close().await;
    transport.server.abort();
    drop(transport.conn);
    Ok(report)
}
