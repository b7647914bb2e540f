//! The demo's readable summary: labelled rows with right-aligned times, and tables.

use std::fmt::{Display, Write as _};

/// `writeln!` into a `String` (which cannot fail).
macro_rules! outln {
    ($o:expr) => {
        $o.push('\n')
    };
    ($o:expr, $($arg:tt)*) => {{
        let _ = writeln!($o, $($arg)*);
    }};
}

use super::DemoReport;

/// Width of the summary's label column; values (times right-aligned) start after it.
const LABEL_WIDTH: usize = 60;

/// One summary line: an indented label, padded to the value column, and its value.
fn row(o: &mut String, label: impl Display, value: impl Display) {
    outln!(o, "  {:<width$} {value}", label.to_string(), width = LABEL_WIDTH);
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

/// Appends rows of cells as columns two spaces apart, indented by `indent` spaces.
fn table(o: &mut String, indent: usize, rows: &[Vec<String>]) {
    o.push_str(&crate::output::columns(None, rows, indent, 2));
}

/// The summary as text (printed by the caller, so that a closed stdout is an error it
/// handles, not a panic).
pub(super) fn render(r: &DemoReport) -> String {
    let mut text = String::new();
    let o = &mut text;
    outln!(o, "peergroup demo: {} peers on loopback", r.peers.len());
    outln!(o);
    outln!(o, "identities (fresh, in temporary data dir {})", r.data_dir);
    let rows: Vec<Vec<String>> = r
        .peers
        .iter()
        .map(|p| {
            vec![p.classifier.clone(), p.peer_name.clone(), format!("listening on {}", p.listen)]
        })
        .collect();
    table(o, 2, &rows);
    outln!(o);
    outln!(o, "transport: QUIC, TLS 1.3, mutual authentication with Ed25519 identity certificates");
    row(o, "alice -> bob handshake, bob's name checked in the handshake", time(r.handshake_ms));
    row(o, "framed message round trip on stream demo/1", time(r.round_trip_ms));
    row(o, "bob saw the client as", &r.server_saw_client_as);
    row(o, "reply", &r.reply);
    row(o, "dial bob's address expecting another peer name: refused", &r.wrong_name_refused);
    row(o, "connections open at alice", figure(r.connections_alice));
    outln!(o);
    outln!(o, "name resolution: PNRP ({}) on the same endpoints", r.pnrp.protocol);
    row(o, "bob joined the Global cloud through alice's address", time(r.pnrp.bootstrap_ms));
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
    table(o, 2, &rows);
    outln!(o);
    let g = &r.graph;
    outln!(
        o,
        "graph: Peer Graphing ({}) on the same endpoints, graph \"{}\", {} peers",
        g.protocol,
        g.graph,
        g.peers.len()
    );
    row(o, "bob and carol joined through alice's address, synchronized", time(g.join_ms));
    row(
        o,
        format!(
            "carol's batch: {} notes of {} bytes, one durable commit",
            g.batch_records, g.batch_payload_bytes
        ),
        time(g.batch_commit_ms),
    );
    row(
        o,
        format!(
            "all {} notes (alice 1, bob 1, carol {}) at every member",
            g.records_published, g.batch_records
        ),
        time(g.publish_to_all_ms),
    );
    row(
        o,
        format!("{} joined late through {}, synchronized", g.late_joiner, g.late_joiner_via),
        time(g.late_joiner_sync_ms),
    );
    row(
        o,
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
        o,
        format!("  records {} stored by sync, presence records included", g.late_joiner),
        figure(g.late_joiner_sync_records_stored),
    );
    row(o, "  records the members sent by sync", figure(g.members_sync_records_sent));
    row(
        o,
        format!("  reconciliation bytes sent by {}", g.late_joiner),
        figure(g.late_joiner_reconcile_bytes_sent),
    );
    row(o, "  reconciliation bytes sent by the members", figure(g.members_reconcile_bytes_sent));
    row(
        o,
        format!(
            "after {}'s connect, every node lists the {} others",
            g.late_joiner,
            g.peers.len().saturating_sub(1)
        ),
        time(g.node_lists_complete_ms),
    );
    row(
        o,
        format!(
            "{} -> {} data message, {} bytes ({} arrived), one way",
            g.data_from, g.data_to, g.data_bytes, g.data_received_bytes
        ),
        time(g.data_one_way_ms),
    );
    row(o, format!("{} answered, round trip", g.data_to), time(g.data_round_trip_ms));
    row(
        o,
        format!(
            "search {} on {}'s replica: {}",
            g.search_query,
            g.search_on,
            count(g.search_hits as u64, "hit")
        ),
        time(g.search_ms),
    );
    row(o, format!("closed all {} graphs at once", g.peers.len()), time(g.close_ms));
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
    table(o, 4, &rows);
    outln!(
        o,
        "    (notes: after alice's publish, {0} after his connect; nodes: after {0}'s connect)",
        g.late_joiner
    );
    outln!(o);
    let p = &r.group;
    outln!(
        o,
        "group: Peer Grouping ({}) on the same endpoints, group \"{}\" {}",
        p.protocol,
        p.friendly_name,
        p.group
    );
    row(o, "alice created it (key, root cert, her GMC, properties)", time(p.create_ms));
    row(o, "alice wrote bob's invitation from his identity info", time(p.invite_ms));
    row(o, "bob: invitation in hand -> admitted, holding every note", time(p.join_ms));
    row(o, "alice set a password (OPAQUE registration, Argon2id)", time(p.set_password_ms));
    row(o, "a wrong password", format!("\"{}\"", p.wrong_password));
    row(o, "carol's password join (OPAQUE with alice, Argon2id)", time(p.password_join_ms));
    row(o, "carol: password in hand -> admitted, holding every note", time(p.second_join_ms));
    row(
        o,
        format!("{} signed notes, one per member, at every member", p.records_published),
        time(p.publish_to_all_ms),
    );
    let members: Vec<String> = p
        .members
        .iter()
        .map(|m| format!("{} ({})", m.peer.rsplit('.').next().unwrap_or(&m.peer), m.role))
        .collect();
    row(o, "members alice lists", members.join(", "));
    row(o, format!("{} (another group) refused", p.nonmember), time(p.nonmember_refused_ms));
    row(
        o,
        "  reason at alice / told",
        format!("\"{}\" / \"{}\"", p.nonmember_refused_locally, p.nonmember_told),
    );
    row(o, format!("alice revoked {}; bob knows", p.revoked), time(p.revocation_to_bob_ms));
    row(
        o,
        format!("{} reconnects: refused", p.revoked),
        format!("\"{}\"", p.revoked_reconnect_refused),
    );
    row(
        o,
        format!("notes {} wrote after her revocation kept by alice or bob", p.revoked),
        figure(p.revoked_writes_kept),
    );
    row(o, "closed all groups at once", time(p.close_ms));
    outln!(o);
    outln!(o, "result: OK");
    text
}
