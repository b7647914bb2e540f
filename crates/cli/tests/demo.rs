//! `p2p demo` runs real peers on loopback and reports what it measured.
#![allow(clippy::unwrap_used)]

use std::process::Command;

#[test]
fn demo_runs_and_reports_every_step() {
    let out = Command::new(env!("CARGO_BIN_EXE_p2p")).args(["demo", "--json"]).output().unwrap();
    assert!(out.status.success(), "stderr: {}", String::from_utf8_lossy(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let peers = report["peers"].as_array().unwrap();
    assert_eq!(peers.len(), 2);
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
fn demo_summary_is_readable() {
    let out = Command::new(env!("CARGO_BIN_EXE_p2p")).arg("demo").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("result: OK"), "{text}");
    assert!(text.contains("mutual authentication"), "{text}");
    assert!(text.contains("name resolution: PNRP (pnrp/1)"), "{text}");
    assert_eq!(text.matches(": found -> 127.0.0.1:").count(), 2, "{text}");
    assert!(text.contains(": not found"), "{text}");
}
