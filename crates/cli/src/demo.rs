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
//! dave's replica; all graphs close. Every figure in the report is measured; every wait is
//! bounded and, when it runs out, fails the demo with what did not happen. Grouping will
//! extend it.

// The demo measures real elapsed time.
#![allow(clippy::disallowed_methods)]

use std::fmt::Display;
use std::future::Future;
use std::path::Path;
use std::time::{Duration, Instant};

use peergroup_base::{NodeId, UnixTime};
use peergroup_graph::net::{Graph, GraphEvents, GraphNetError, GraphOptions, random_record_id};
use peergroup_graph::proto::{
    DataType, Event, NewRecord, RecordChange, RecordSource, TestProvider,
};
use peergroup_graph::{GraphId, RecordFilter, RecordType};
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
    pub(crate) graph: GraphReport,
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
    let carol_id = store.create("carol", "Carol")?;
    let dave_id = store.create("dave", "Dave")?;

    let alice = Endpoint::bind(alice_id.clone(), EndpointConfig::loopback()).await?;
    let bob = Endpoint::bind(bob_id.clone(), EndpointConfig::loopback()).await?;
    let carol = Endpoint::bind(carol_id, EndpointConfig::loopback()).await?;
    let dave = Endpoint::bind(dave_id, EndpointConfig::loopback()).await?;
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
    let graph = graph_part(data_dir, [&alice, &bob, &carol, &dave]).await?;

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
        handshake_ms: ms(handshake),
        round_trip_ms: ms(round_trip),
        server_saw_client_as: server_saw,
        reply,
        wrong_name_refused,
        connections_alice,
        pnrp,
        graph,
    };
    drop(stream);
    alice.close().await;
    bob.close().await;
    carol.close().await;
    dave.close().await;
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

// ----- the graph part -------------------------------------------------------------------

/// The demo graph.
const GRAPH_ID: &str = "peergroup-demo";
/// The record type of the demo's notes; the nodes' presence records have their own type,
/// so notes are counted by this one.
const NOTE: RecordType = RecordType::from_u128(0x0de7_0000_0000_4000_8000_6e6f_7465_0001);
/// The type of the demo's data messages (16 bytes, like a UUID).
const PING: DataType = DataType(*b"peergroup/demo/1");
/// Notes in carol's batch, and the payload size of each.
const BATCH_RECORDS: usize = 1_000;
const BATCH_PAYLOAD_BYTES: usize = 300;
/// How long a note lives.
const NOTE_LIFETIME: Duration = Duration::from_secs(3600);
/// The longest one step of the graph part may take before the demo gives up.
const GRAPH_WAIT: Duration = Duration::from_secs(15);
/// How often a replica is looked at while waiting for notes.
const POLL: Duration = Duration::from_millis(2);
/// The search run on the late joiner's replica; it must find alice's and bob's notes.
const SEARCH: &str = r#"text = "hello*""#;

fn graph_error(what: impl Display) -> impl FnOnce(GraphNetError) -> CliError {
    move |e| CliError::runtime(format!("demo: graph: {what}: {e}"))
}

fn gave_up(what: impl Display) -> CliError {
    CliError::runtime(format!("demo: graph: {what} did not happen within {GRAPH_WAIT:?}"))
}

/// Runs a graph operation, at most [`GRAPH_WAIT`]; an error names what did not happen.
async fn within<T>(
    what: &str,
    operation: impl Future<Output = Result<T, GraphNetError>>,
) -> Result<T, CliError> {
    match tokio::time::timeout(GRAPH_WAIT, operation).await {
        Ok(r) => r.map_err(graph_error(what)),
        Err(_) => Err(gave_up(what)),
    }
}

async fn wait_synchronized(graph: &Graph, peer: &str, via: &str) -> Result<(), CliError> {
    match graph.wait_status(GRAPH_WAIT, |s| s.synchronized).await {
        Some(_) => Ok(()),
        None => Err(gave_up(format!("{peer}'s synchronisation through {via}"))),
    }
}

/// A note: its text as attribute `text`, and as payload, padded with dots to at least
/// `payload_bytes`.
fn note(text: &str, payload_bytes: usize) -> NewRecord {
    let mut payload = text.as_bytes().to_vec();
    payload.resize(payload_bytes.max(text.len()), b'.');
    NewRecord::new(random_record_id(), NOTE, NOTE_LIFETIME, payload).attribute("text", text)
}

async fn count_notes(graph: &Graph) -> Result<usize, GraphNetError> {
    Ok(graph.enumerate(RecordFilter::Type(NOTE)).await?.len())
}

/// Waits until `graph` holds `want` notes; returns when that was seen, counted from `since`.
async fn wait_notes(
    graph: &Graph,
    peer: &str,
    want: usize,
    since: Instant,
) -> Result<Duration, CliError> {
    let poll = async {
        loop {
            // The record count (presence records and tombstones included) is a cheap upper
            // bound; the notes are enumerated only once there can be enough of them.
            if graph.record_count().await? >= want as u64 && count_notes(graph).await? >= want {
                return Ok(since.elapsed());
            }
            tokio::time::sleep(POLL).await;
        }
    };
    match tokio::time::timeout(GRAPH_WAIT, poll).await {
        Ok(r) => r.map_err(graph_error(format!("{peer} counting its notes"))),
        Err(_) => {
            let held = count_notes(graph).await.map_or_else(|e| e.to_string(), |n| n.to_string());
            Err(gave_up(format!("{peer} holding all {want} notes (it holds {held})")))
        }
    }
}

/// Waits until `graph` lists `want` other nodes (from their presence records); returns when
/// that was seen, counted from `since`.
async fn wait_nodes(
    graph: &Graph,
    peer: &str,
    want: usize,
    since: Instant,
) -> Result<Duration, CliError> {
    let poll = async {
        loop {
            if graph.nodes().await?.len() >= want {
                return Ok(since.elapsed());
            }
            tokio::time::sleep(POLL).await;
        }
    };
    match tokio::time::timeout(GRAPH_WAIT, poll).await {
        Ok(r) => r.map_err(graph_error(format!("{peer} listing the nodes"))),
        Err(_) => {
            let known = graph.nodes().await.map_or_else(|e| e.to_string(), |n| n.len().to_string());
            Err(gave_up(format!("{peer} listing {want} other nodes (it lists {known})")))
        }
    }
}

/// Counts the notes a node's events report as added, by how they arrived (synchronisation,
/// flooding), until the graph closes and the stream ends.
fn count_arrivals(mut events: GraphEvents) -> tokio::task::JoinHandle<(u64, u64)> {
    tokio::spawn(async move {
        let (mut by_sync, mut by_flood) = (0, 0);
        while let Some(e) = events.next().await {
            if let Event::RecordChanged { change: RecordChange::Added, record_type, source, .. } = e
                && record_type == NOTE
            {
                match source {
                    RecordSource::Sync { .. } => by_sync += 1,
                    RecordSource::Flood { .. } => by_flood += 1,
                    _ => {}
                }
            }
        }
        (by_sync, by_flood)
    })
}

/// The next demo data message in `events`: its sender and bytes.
async fn next_data(events: &mut GraphEvents, to: &str) -> Result<(NodeId, Vec<u8>), CliError> {
    let wait = async {
        while let Some(e) = events.next().await {
            if let Event::IncomingData { peer, data_type, data } = e
                && data_type == PING
            {
                return Some((peer.node, data));
            }
        }
        None
    };
    match tokio::time::timeout(GRAPH_WAIT, wait).await {
        Ok(Some(got)) => Ok(got),
        Ok(None) => Err(CliError::runtime(format!(
            "demo: graph: {to}'s events ended before the data message arrived"
        ))),
        Err(_) => Err(gave_up(format!("a data message reaching {to}"))),
    }
}

async fn peer_report(
    graph: &Graph,
    peer: &str,
    all_records: Duration,
    all_nodes: Duration,
) -> Result<GraphPeerReport, CliError> {
    let records = within(&format!("{peer} counting its notes"), count_notes(graph)).await?;
    let mut neighbours: Vec<String> =
        within(&format!("{peer} listing its neighbours"), graph.neighbours())
            .await?
            .iter()
            .map(|n| n.name.classifier().to_string())
            .collect();
    neighbours.sort();
    let nodes_known = within(&format!("{peer} listing the nodes"), graph.nodes()).await?.len();
    Ok(GraphPeerReport {
        peer: peer.into(),
        records,
        all_records_ms: ms(all_records),
        neighbours,
        nodes_known,
        all_nodes_ms: ms(all_nodes),
    })
}

/// Peer Graphing on the demo's endpoints (alice, bob, carol, dave): a graph of three
/// publishing notes, a late joiner catching up through bob, a data message and its answer,
/// a search on the late joiner's replica, and a clean close.
async fn graph_part(
    data_dir: &Path,
    [alice, bob, carol, dave]: [&Endpoint; 4],
) -> Result<GraphReport, CliError> {
    let graph_id =
        GraphId::new(GRAPH_ID).map_err(|e| CliError::runtime(format!("demo: graph: {e}")))?;
    let create = |endpoint: &Endpoint, peer: &str| {
        let options = GraphOptions::new(graph_id.clone()).data_dir(data_dir);
        Graph::create(endpoint, options, TestProvider::new())
            .map_err(graph_error(format!("{peer} creating graph {GRAPH_ID}")))
    };
    let alice_addr = alice.local_addr()?;
    let bob_addr = bob.local_addr()?;
    let alice_node = alice.identity().node_id();
    let bob_node = bob.identity().node_id();

    // 1. Alice starts the graph; bob and carol join through her address.
    let started = Instant::now();
    let mut ga = create(alice, "alice")?;
    let mut gb = create(bob, "bob")?;
    let mut gc = create(carol, "carol")?;
    within("alice listening", ga.listen()).await?;
    within("bob connecting to alice", gb.connect(alice_addr)).await?;
    within("carol connecting to alice", gc.connect(alice_addr)).await?;
    wait_synchronized(&gb, "bob", "alice").await?;
    wait_synchronized(&gc, "carol", "alice").await?;
    let join = started.elapsed();

    // 2. Alice and bob publish a note each, carol a batch in one durable commit; every
    // replica must end up with all of them.
    let started = Instant::now();
    let from_alice =
        within("alice publishing a note", ga.add_record(note("hello from alice", 0))).await?;
    let from_bob =
        within("bob publishing a note", gb.add_record(note("hello from bob", 0))).await?;
    let batch: Vec<NewRecord> = (0..BATCH_RECORDS)
        .map(|i| {
            note(&format!("note {i} from carol"), BATCH_PAYLOAD_BYTES).attribute("n", i as i64)
        })
        .collect();
    let batch_started = Instant::now();
    let stored = within("carol publishing her batch", gc.add_records(batch)).await?;
    let batch_commit = batch_started.elapsed();
    let published = 2 + stored.len();
    let (at_alice, at_bob, at_carol) = tokio::try_join!(
        wait_notes(&ga, "alice", published, started),
        wait_notes(&gb, "bob", published, started),
        wait_notes(&gc, "carol", published, started),
    )?;
    let publish_to_all = at_alice.max(at_bob).max(at_carol);

    // 3. Dave joins late, through bob, and catches up by synchronisation.
    let members = [(&ga, "alice"), (&gb, "bob"), (&gc, "carol")];
    let mut before = Vec::new();
    for (graph, peer) in members {
        before.push(within(&format!("{peer} reading its counters"), graph.counters()).await?);
    }
    let mut gd = create(dave, "dave")?;
    let arrivals = count_arrivals(gd.events());
    let started = Instant::now();
    within("dave connecting to bob", gd.connect(bob_addr)).await?;
    wait_synchronized(&gd, "dave", "bob").await?;
    let late_sync = started.elapsed();
    let at_dave = wait_notes(&gd, "dave", published, started).await?;
    let dave_counters = within("dave reading his counters", gd.counters()).await?;
    let mut members_reconcile_bytes_sent = 0;
    let mut members_sync_records_sent = 0;
    for ((graph, peer), before) in members.into_iter().zip(&before) {
        let after = within(&format!("{peer} reading its counters"), graph.counters()).await?;
        members_reconcile_bytes_sent +=
            after.reconcile_bytes_sent.saturating_sub(before.reconcile_bytes_sent);
        members_sync_records_sent +=
            after.sync_records_sent.saturating_sub(before.sync_records_sent);
    }

    // Every node learns of every other from the presence records, dave's included.
    let others = members.len();
    let listed = tokio::try_join!(
        wait_nodes(&ga, "alice", others, started),
        wait_nodes(&gb, "bob", others, started),
        wait_nodes(&gc, "carol", others, started),
        wait_nodes(&gd, "dave", others, started),
    )?;
    let node_lists_complete = listed.0.max(listed.1).max(listed.2).max(listed.3);

    // 4. Bob sends alice a data message on their connection; she answers.
    let mut alice_events = ga.events();
    let mut bob_events = gb.events();
    let ping = b"ping from bob".to_vec();
    let started = Instant::now();
    within("bob sending alice data", gb.send_data(alice_node, PING, ping.clone())).await?;
    let (sender, received) = next_data(&mut alice_events, "alice").await?;
    let one_way = started.elapsed();
    if sender != bob_node || received != ping {
        return Err(CliError::runtime(format!(
            "demo: graph: alice received {} bytes from {sender}, not bob's {} bytes",
            received.len(),
            ping.len()
        )));
    }
    let pong = b"pong from alice".to_vec();
    within("alice answering bob", ga.send_data(bob_node, PING, pong.clone())).await?;
    let (sender, answer) = next_data(&mut bob_events, "bob").await?;
    let round_trip = started.elapsed();
    if sender != alice_node || answer != pong {
        return Err(CliError::runtime(format!(
            "demo: graph: bob received {} bytes from {sender}, not alice's answer",
            answer.len()
        )));
    }
    drop((alice_events, bob_events));

    // 5. A search on dave's replica finds alice's and bob's notes.
    let started = Instant::now();
    let hits = within("the search on dave's replica", gd.search(SEARCH)).await?;
    let search = started.elapsed();
    let found = |id| hits.iter().any(|r| r.id() == id);
    if hits.len() != 2 || !found(from_alice.id()) || !found(from_bob.id()) {
        return Err(CliError::runtime(format!(
            "demo: graph: the search {SEARCH} on dave's replica found {} notes, not alice's and bob's",
            hits.len()
        )));
    }

    let peers = vec![
        peer_report(&ga, "alice", at_alice, listed.0).await?,
        peer_report(&gb, "bob", at_bob, listed.1).await?,
        peer_report(&gc, "carol", at_carol, listed.2).await?,
        peer_report(&gd, "dave", at_dave, listed.3).await?,
    ];

    // 6. Every node leaves the graph.
    let started = Instant::now();
    let closed = tokio::join!(
        within("alice closing the graph", ga.close()),
        within("bob closing the graph", gb.close()),
        within("carol closing the graph", gc.close()),
        within("dave closing the graph", gd.close()),
    );
    let close = started.elapsed();
    let ((), (), (), ()) = (closed.0?, closed.1?, closed.2?, closed.3?);
    let (by_sync, by_flood) = match tokio::time::timeout(GRAPH_WAIT, arrivals).await {
        Ok(Ok(counts)) => counts,
        Ok(Err(e)) => {
            return Err(CliError::runtime(format!("demo: graph: counting dave's events: {e}")));
        }
        Err(_) => return Err(gave_up("the end of dave's events after the close")),
    };

    Ok(GraphReport {
        protocol: peergroup_graph::net::PROTOCOL.into(),
        graph: GRAPH_ID.into(),
        join_ms: ms(join),
        records_published: published,
        batch_records: stored.len(),
        batch_payload_bytes: BATCH_PAYLOAD_BYTES,
        batch_commit_ms: ms(batch_commit),
        publish_to_all_ms: ms(publish_to_all),
        late_joiner: "dave".into(),
        late_joiner_via: "bob".into(),
        late_joiner_sync_ms: ms(late_sync),
        late_joiner_all_records_ms: ms(at_dave),
        late_joiner_records: peers[3].records,
        late_joiner_records_by_sync: by_sync,
        late_joiner_records_by_flood: by_flood,
        late_joiner_sync_records_stored: dave_counters.sync_records_stored,
        late_joiner_reconcile_bytes_sent: dave_counters.reconcile_bytes_sent,
        members_reconcile_bytes_sent,
        members_sync_records_sent,
        node_lists_complete_ms: ms(node_lists_complete),
        data_from: "bob".into(),
        data_to: "alice".into(),
        data_bytes: ping.len(),
        data_received_bytes: received.len(),
        data_one_way_ms: ms(one_way),
        data_round_trip_ms: ms(round_trip),
        search_on: "dave".into(),
        search_query: SEARCH.into(),
        search_hits: hits.len(),
        search_ms: ms(search),
        close_ms: ms(close),
        peers,
    })
}

/// Width of the summary's label column; values (times right-aligned) start after it.
const LABEL_WIDTH: usize = 60;

/// One summary line: an indented label, padded to the value column, and its value.
fn row(label: impl Display, value: impl Display) {
    println!("  {:<width$} {value}", label.to_string(), width = LABEL_WIDTH);
}

/// A time for the value column: right-aligned, in ms.
fn time(ms: f64) -> String {
    format!("{ms:>10.3} ms")
}

/// A figure for the value column, right-aligned with the times' digits.
fn figure(value: impl Display) -> String {
    format!("{:>10}", value.to_string())
}

/// `n` and a noun, plural unless `n` is 1.
fn count(n: impl Into<u64>, noun: &str) -> String {
    let n = n.into();
    if n == 1 { format!("{n} {noun}") } else { format!("{n} {noun}s") }
}

/// Prints rows of cells as columns two spaces apart, each padded to its widest cell (the
/// last cell of a row is not padded), indented by `indent` spaces.
fn table(indent: usize, rows: &[Vec<String>]) {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|c| rows.iter().filter_map(|r| r.get(c)).map(|s| s.chars().count()).max().unwrap_or(0))
        .collect();
    for r in rows {
        let cells: Vec<String> =
            r.iter().zip(&widths).map(|(cell, &width)| format!("{cell:<width$}")).collect();
        println!("{:indent$}{}", "", cells.join("  ").trim_end());
    }
}

fn print_summary(r: &DemoReport) {
    println!("peergroup demo: {} peers on loopback", r.peers.len());
    println!();
    println!("identities (fresh, in temporary data dir {})", r.data_dir);
    let rows: Vec<Vec<String>> = r
        .peers
        .iter()
        .map(|p| {
            vec![p.classifier.clone(), p.peer_name.clone(), format!("listening on {}", p.listen)]
        })
        .collect();
    table(2, &rows);
    println!();
    println!("transport: QUIC, TLS 1.3, mutual authentication with Ed25519 identity certificates");
    row("alice -> bob handshake, bob's name checked in the handshake", time(r.handshake_ms));
    row("framed message round trip on stream demo/1", time(r.round_trip_ms));
    row("bob saw the client as", &r.server_saw_client_as);
    row("reply", &r.reply);
    row("dial bob's address expecting another peer name: refused", &r.wrong_name_refused);
    row("connections open at alice", figure(r.connections_alice));
    println!();
    println!("name resolution: PNRP ({}) on the same endpoints", r.pnrp.protocol);
    row("bob joined the Global cloud through alice's address", time(r.pnrp.bootstrap_ms));
    let mut rows = Vec::new();
    for g in &r.pnrp.registrations {
        rows.push(vec![
            g.peer.clone(),
            "registered".into(),
            g.name.clone(),
            format!("at {}", g.endpoints.join(", ")),
            format!("({})", count(g.replicas as u64, "replica")),
            time(g.ms),
        ]);
    }
    for v in &r.pnrp.resolves {
        let at = if v.endpoints.is_empty() {
            String::new()
        } else {
            format!(" -> {}", v.endpoints.join(", "))
        };
        rows.push(vec![
            v.by.clone(),
            "resolved".into(),
            format!("{}:", v.name),
            format!("{}{at}", v.outcome),
            format!("({} over QUIC)", count(v.requests, "request")),
            time(v.ms),
        ]);
    }
    table(2, &rows);
    println!();
    let g = &r.graph;
    println!(
        "graph: Peer Graphing ({}) on the same endpoints, graph \"{}\", {} peers",
        g.protocol,
        g.graph,
        g.peers.len()
    );
    row("bob and carol joined through alice's address, synchronized", time(g.join_ms));
    row(
        format!(
            "carol's batch: {} notes of {} bytes, one durable commit",
            g.batch_records, g.batch_payload_bytes
        ),
        time(g.batch_commit_ms),
    );
    row(
        format!(
            "all {} notes (alice 1, bob 1, carol {}) at every member",
            g.records_published, g.batch_records
        ),
        time(g.publish_to_all_ms),
    );
    row(
        format!("{} joined late through {}, synchronized", g.late_joiner, g.late_joiner_via),
        time(g.late_joiner_sync_ms),
    );
    row(
        format!(
            "{} holds all {} notes ({} by sync, {} by flooding)",
            g.late_joiner,
            g.late_joiner_records,
            g.late_joiner_records_by_sync,
            g.late_joiner_records_by_flood
        ),
        time(g.late_joiner_all_records_ms),
    );
    row(
        format!("  records {} stored by sync, presence records included", g.late_joiner),
        figure(g.late_joiner_sync_records_stored),
    );
    row("  records the members sent by sync", figure(g.members_sync_records_sent));
    row(
        format!("  reconciliation bytes sent by {}", g.late_joiner),
        figure(g.late_joiner_reconcile_bytes_sent),
    );
    row("  reconciliation bytes sent by the members", figure(g.members_reconcile_bytes_sent));
    row(
        format!(
            "after {}'s connect, every node lists the {} others",
            g.late_joiner,
            g.peers.len().saturating_sub(1)
        ),
        time(g.node_lists_complete_ms),
    );
    row(
        format!(
            "{} -> {} data message, {} bytes ({} arrived), one way",
            g.data_from, g.data_to, g.data_bytes, g.data_received_bytes
        ),
        time(g.data_one_way_ms),
    );
    row(format!("{} answered, round trip", g.data_to), time(g.data_round_trip_ms));
    row(
        format!(
            "search {} on {}'s replica: {}",
            g.search_query,
            g.search_on,
            count(g.search_hits as u64, "hit")
        ),
        time(g.search_ms),
    );
    row(format!("closed all {} graphs at once", g.peers.len()), time(g.close_ms));
    let mut rows = vec![vec![
        "replica".to_string(),
        "notes".into(),
        "  all notes after".into(),
        "nodes known".into(),
        "  all nodes after".into(),
        "neighbours".into(),
    ]];
    for p in &g.peers {
        rows.push(vec![
            p.peer.clone(),
            format!("{:>5}", p.records),
            format!("{:>17}", time(p.all_records_ms)),
            format!("{:>11}", p.nodes_known),
            format!("{:>17}", time(p.all_nodes_ms)),
            p.neighbours.join(", "),
        ]);
    }
    table(4, &rows);
    println!(
        "    (notes: after alice's publish, {0} after his connect; nodes: after {0}'s connect)",
        g.late_joiner
    );
    println!();
    println!("result: OK");
}
