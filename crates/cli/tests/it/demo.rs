//! `p2p demo` runs real peers on loopback and reports what it measured.
#![allow(clippy::unwrap_used)]

use std::process::Command;

#[test]
fn demo_runs_and_reports_every_step() {
    let out = Command::new(env!("CARGO_BIN_EXE_p2p")).args(["demo", "--json"]).output().unwrap();
    assert!(out.status.success(), "stderr: {}", String::from_utf8_lossy(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let peers = report["peers"].as_array().unwrap();
    let classifiers: Vec<&str> = peers.iter().map(|p| p["classifier"].as_str().unwrap()).collect();
    assert_eq!(classifiers, ["alice", "bob", "carol", "dave"]);
    let alice = peers[0]["peer_name"].as_str().unwrap();
    // bob saw exactly alice's secure peer name, proved by the TLS handshake
    assert_eq!(report["server_saw_client_as"].as_str().unwrap(), alice);
    assert!(alice.ends_with(".alice") && alice.len() == 40 + 6);
    assert!(report["reply"].as_str().unwrap().starts_with("hello alice"));
    assert!(report["wrong_name_refused"].as_str().unwrap().starts_with("yes: wrong peer"));
    assert_eq!(report["connections_alice"].as_u64().unwrap(), 1);
    assert!(report["handshake_ms"].as_f64().unwrap() > 0.0);

    // PNRP on the same endpoints: both names registered, each resolved by the other peer
    // over QUIC to the other's listening address; a name nobody registered is not found.
    let pnrp = &report["pnrp"];
    assert_eq!(pnrp["protocol"], "pnrp/1");
    let regs = pnrp["registrations"].as_array().unwrap();
    assert_eq!(regs.len(), 2);
    for (reg, peer) in regs.iter().zip(peers) {
        assert_eq!(reg["name"], peer["peer_name"]);
        assert_eq!(reg["endpoints"][0], peer["listen"]);
        assert_eq!(reg["replicas"].as_u64().unwrap(), 1, "stored at the other peer");
    }
    let resolves = pnrp["resolves"].as_array().unwrap();
    assert_eq!(resolves.len(), 3);
    for (r, (by, target)) in resolves.iter().zip([("alice", 1), ("bob", 0)]) {
        assert_eq!(r["by"], by);
        assert_eq!(r["name"], peers[target]["peer_name"]);
        assert_eq!(r["outcome"], "found");
        assert_eq!(r["endpoints"][0], peers[target]["listen"]);
        assert!(r["requests"].as_u64().unwrap() >= 1, "the resolve crossed QUIC: {r}");
        assert!(r["ms"].as_f64().unwrap() > 0.0);
    }
    assert_eq!(resolves[2]["outcome"], "not found");
}

#[test]
fn demo_graph_replicates_syncs_sends_and_searches() {
    let out = Command::new(env!("CARGO_BIN_EXE_p2p")).args(["demo", "--json"]).output().unwrap();
    assert!(out.status.success(), "stderr: {}", String::from_utf8_lossy(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let graph = &report["graph"];
    let n = |key: &str| graph[key].as_u64().unwrap_or_else(|| panic!("{key}: {graph}"));
    let t = |key: &str| graph[key].as_f64().unwrap_or_else(|| panic!("{key}: {graph}"));
    assert_eq!(graph["protocol"], "graph/1");
    assert_eq!(graph["graph"], "peergroup-demo");

    // Alice's and bob's notes and carol's batch reached every replica, the late joiner's too.
    let published = n("records_published");
    assert_eq!(published, n("batch_records") + 2);
    assert!(n("batch_records") >= 1000);
    let gpeers = graph["peers"].as_array().unwrap();
    let names: Vec<&str> = gpeers.iter().map(|p| p["peer"].as_str().unwrap()).collect();
    assert_eq!(names, ["alice", "bob", "carol", "dave"]);
    for p in gpeers {
        assert_eq!(p["records"].as_u64().unwrap(), published, "{p}");
        assert_eq!(p["nodes_known"].as_u64().unwrap(), 3, "every node lists the others: {p}");
        assert!(!p["neighbours"].as_array().unwrap().is_empty(), "{p}");
        assert!(p["all_records_ms"].as_f64().unwrap() > 0.0, "{p}");
    }
    for p in &gpeers[..3] {
        assert!(p["all_records_ms"].as_f64().unwrap() <= t("publish_to_all_ms"), "{p}");
    }
    assert!(t("batch_commit_ms") > 0.0 && t("join_ms") > 0.0);

    // Dave joined through bob and caught up by synchronisation, not by flooding.
    assert_eq!(graph["late_joiner"], "dave");
    assert_eq!(graph["late_joiner_via"], "bob");
    assert!(gpeers[3]["neighbours"].as_array().unwrap().iter().any(|x| x == "bob"));
    assert_eq!(n("late_joiner_records"), published);
    assert_eq!(n("late_joiner_records_by_sync") + n("late_joiner_records_by_flood"), published);
    assert!(n("late_joiner_records_by_sync") >= 1, "{graph}");
    // the sync counters also count the members' presence records
    assert!(n("late_joiner_sync_records_stored") >= n("late_joiner_records_by_sync"));
    assert!(n("members_sync_records_sent") >= n("late_joiner_records_by_sync"));
    assert!(n("members_reconcile_bytes_sent") > 0);
    assert!(t("late_joiner_sync_ms") > 0.0);
    assert!(t("late_joiner_all_records_ms") > 0.0);
    assert!(t("node_lists_complete_ms") > 0.0);

    // Bob's data message reached alice whole, and her answer came back.
    assert_eq!(
        (graph["data_from"].as_str(), graph["data_to"].as_str()),
        (Some("bob"), Some("alice"))
    );
    assert!(n("data_bytes") > 0);
    assert_eq!(n("data_received_bytes"), n("data_bytes"));
    assert!(t("data_one_way_ms") > 0.0);
    assert!(t("data_round_trip_ms") >= t("data_one_way_ms"));

    // The search on dave's replica finds alice's and bob's notes.
    assert_eq!(graph["search_on"], "dave");
    assert_eq!(graph["search_query"], r#"text = "hello*""#);
    assert_eq!(n("search_hits"), 2);
    assert!(t("close_ms") > 0.0);
}

#[test]
fn demo_summary_is_readable() {
    let out = Command::new(env!("CARGO_BIN_EXE_p2p")).arg("demo").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("result: OK"), "{text}");
    assert!(text.contains("mutual authentication"), "{text}");
    assert!(text.contains("name resolution: PNRP (pnrp/1)"), "{text}");
    // rows: <by>  resolved  <name>:  <outcome> [-> <address>]  (<n> requests over QUIC)  <ms>
    let resolved = |outcome: &str| {
        let words = |l: &str| l.split_whitespace().skip(3).collect::<Vec<_>>().join(" ");
        let rows = text.lines().filter(|l| l.split_whitespace().nth(1) == Some("resolved"));
        rows.filter(|l| words(l).starts_with(outcome)).count()
    };
    assert_eq!(resolved("found -> 127.0.0.1:"), 2, "{text}");
    assert_eq!(resolved("not found"), 1, "{text}");
    assert!(text.contains("graph: Peer Graphing (graph/1)"), "{text}");
    assert!(text.contains("dave holds all 1002 notes"), "{text}");
    assert!(text.contains(r#"search text = "hello*" on dave's replica: 2 hits"#), "{text}");
    // The timed lines of the transport and graph sections end in one column.
    for section in ["\ntransport: ", "\ngraph: "] {
        let body = text.split(section).nth(1).unwrap().split("\n\n").next().unwrap();
        let timed: Vec<&str> =
            body.lines().filter(|l| l.ends_with(" ms") && !l.starts_with("    ")).collect();
        assert!(timed.len() >= 2, "{body}");
        let width = timed[0].chars().count();
        assert!(timed.iter().all(|l| l.chars().count() == width), "misaligned:\n{body}");
    }
}

/// `p2p demo | head`: the reader may close stdout before the summary is written; the demo
/// then ends quietly (exit 0, no panic), as every `p2p` command does.
#[test]
fn demo_ends_quietly_when_stdout_closes() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_p2p"))
        .arg("demo")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // the reader is gone before the demo prints: its summary meets a closed pipe
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "exit {:?}: {stderr}", out.status);
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn demo_group_admits_members_refuses_others_and_revokes() {
    let out = Command::new(env!("CARGO_BIN_EXE_p2p")).args(["demo", "--json"]).output().unwrap();
    assert!(out.status.success(), "stderr: {}", String::from_utf8_lossy(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let g = &report["group"];
    assert!(g["group"].as_str().unwrap().ends_with(".demo-club"));
    // group.md §14.1: `group/1/` and the first 16 hex digits of the group's authority
    assert_eq!(g["protocol"], format!("group/1/{}", &g["group"].as_str().unwrap()[..16]));
    for key in [
        "create_ms",
        "invite_ms",
        "join_ms",
        "set_password_ms",
        "password_join_ms",
        "second_join_ms",
        "publish_to_all_ms",
    ] {
        assert!(g[key].as_f64().unwrap() > 0.0, "{key}: {g}");
    }
    let roles: Vec<&str> =
        g["members"].as_array().unwrap().iter().map(|m| m["role"].as_str().unwrap()).collect();
    assert_eq!(roles.len(), 3, "{g}");
    for role in ["administrator", "member", "inviting member"] {
        assert!(roles.contains(&role), "{role} missing: {g}");
    }
    assert_eq!(g["records_published"], 3);
    assert_eq!(g["wrong_password"], "password join: wrong password");
    // another group's streams are not served (group.md §14.1): reset at alice's endpoint,
    // and dave's connection fails
    assert_eq!(
        g["nonmember_refused_locally"],
        "stream of a group not run here reset (UNKNOWN_PROTOCOL)"
    );
    assert!(!g["nonmember_told"].as_str().unwrap().is_empty(), "{g}");
    assert_eq!(g["revoked_reconnect_refused"], "membership revoked");
    assert_eq!(g["revoked_writes_kept"], 0);
}
