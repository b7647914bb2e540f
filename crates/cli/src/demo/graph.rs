//! The graph part of the demo: Peer Graphing on the demo's endpoints, every step measured
//! and bounded by [`GRAPH_WAIT`].

use std::fmt::Display;
use std::future::Future;
use std::path::Path;
use std::time::{Duration, Instant};

use peergroup_base::NodeId;
use peergroup_graph::net::{Graph, GraphEvents, GraphNetError, GraphOptions, random_record_id};
use peergroup_graph::proto::{
    DataType, Event, NewRecord, RecordChange, RecordSource, TestProvider,
};
use peergroup_graph::{GraphId, RecordFilter, RecordType, RedbStore};
use peergroup_net::Endpoint;

use super::{GraphPeerReport, GraphReport, ms};
use crate::CliError;

/// The demo's plain graph: records on disk, and the test provider (it accepts every record
/// and peer): security is the group part's business.
type DemoGraph = Graph<RedbStore, TestProvider>;

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

async fn wait_synchronized(graph: &DemoGraph, peer: &str, via: &str) -> Result<(), CliError> {
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

async fn count_notes(graph: &DemoGraph) -> Result<usize, GraphNetError> {
    Ok(graph.enumerate(RecordFilter::Type(NOTE)).await?.len())
}

/// Waits until `graph` holds `want` notes; returns when that was seen, counted from `since`.
async fn wait_notes(
    graph: &DemoGraph,
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
    graph: &DemoGraph,
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
    graph: &DemoGraph,
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
pub(super) async fn graph_part(
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
