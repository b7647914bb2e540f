//! `p2p pnrp` across processes: one `p2p` registers and stays up, others resolve its name
//! through it as a seed, over real QUIC on loopback. Every wait is bounded; children are
//! killed when a test ends, whatever happens.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, ChildStdout, Command};

/// Upper bound of any wait for a child.
const WAIT: Duration = Duration::from_secs(30);

fn p2p(data_dir: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_p2p"));
    c.arg("--data-dir")
        .arg(data_dir)
        .env_remove("PEERGROUP_DATA_DIR")
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .kill_on_drop(true);
    c
}

/// A registering `p2p` process and what its first line said.
struct Registrar {
    /// Killed when the `Registrar` drops (`kill_on_drop`). Read only by the Unix-only
    /// interrupt test: Windows has no portable way to send a child Ctrl-C.
    #[cfg_attr(not(unix), allow(dead_code))]
    child: Child,
    /// The rest of its standard output (kept open so the child never meets a closed pipe).
    #[cfg_attr(not(unix), allow(dead_code))]
    lines: tokio::io::Lines<BufReader<ChildStdout>>,
    listen: String,
    node: String,
    name: String,
}

async fn start_registrar(data_dir: &Path, extra: &[&str]) -> Registrar {
    let mut child = p2p(data_dir)
        .args(["pnrp", "register", "chat", "--listen", "127.0.0.1:0"])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = match tokio::time::timeout(WAIT, lines.next_line()).await {
        Ok(Ok(Some(line))) => line,
        other => {
            let _ = child.kill().await;
            let err = child.wait_with_output().await.unwrap();
            panic!(
                "registrar gave no first line ({other:?}): {}",
                String::from_utf8_lossy(&err.stderr)
            );
        }
    };
    // listening <ADDR> node <NODE ID> registered <NAME>
    let words: Vec<&str> = first.splitn(6, ' ').collect();
    assert_eq!(words.len(), 6, "{first}");
    assert_eq!((words[0], words[2], words[4]), ("listening", "node", "registered"), "{first}");
    Registrar {
        child,
        lines,
        listen: words[1].to_owned(),
        node: words[3].to_owned(),
        name: words[5].to_owned(),
    }
}

struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
    elapsed: Duration,
}

async fn run(mut cmd: Command) -> Run {
    #[allow(clippy::disallowed_methods)] // measuring how long the process ran
    let started = std::time::Instant::now();
    let child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let out = tokio::time::timeout(WAIT, child.wait_with_output())
        .await
        .expect("the child ends in time")
        .unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(!stderr.contains("panicked"), "{stderr}");
    Run {
        code: out.status.code(),
        stdout: String::from_utf8(out.stdout).unwrap(),
        stderr,
        elapsed: started.elapsed(),
    }
}

#[tokio::test]
async fn a_second_process_resolves_the_name_through_the_first() {
    let dir = tempfile::tempdir().unwrap();
    let payload = dir.path().join("payload.bin");
    std::fs::write(&payload, [7u8; 300]).unwrap();
    let reg = start_registrar(
        &dir.path().join("a"),
        &["--comment", "hello there", "--payload-file", payload.to_str().unwrap()],
    )
    .await;
    assert!(reg.name.ends_with(".chat") && reg.name.len() == 40 + 5, "{}", reg.name);
    assert!(reg.node.starts_with(&reg.name[..40]), "the name's authority is the node's key");

    // text output
    let mut cmd = p2p(&dir.path().join("b"));
    cmd.args(["pnrp", "resolve", &reg.name, "--seed", &reg.listen, "--timeout", "10"]);
    let out = run(cmd).await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(out.stdout.starts_with("1 instance found"), "{}", out.stdout);
    assert!(out.stdout.contains(&format!("endpoints:   {}", reg.listen)), "{}", out.stdout);
    assert!(out.stdout.contains("comment:     hello there"), "{}", out.stdout);
    assert!(out.stdout.contains("payload:     300 bytes"), "{}", out.stdout);

    // JSON output, the seed given with its node id this time
    let mut cmd = p2p(&dir.path().join("b"));
    let seed = format!("{}@{}", reg.node, reg.listen);
    cmd.args(["pnrp", "resolve", &reg.name, "--seed", &seed, "--json"]);
    let out = run(cmd).await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(v["outcome"], "found");
    let inst = &v["instances"][0];
    assert_eq!(inst["name"], reg.name.as_str());
    assert_eq!(inst["endpoints"][0], reg.listen.as_str());
    assert_eq!(inst["payload_size"], 300);
    assert_eq!(inst["payload_hex"].as_str().unwrap(), "07".repeat(300));
    assert_eq!(inst["unsecured"], false);
    drop(reg); // kills the registrar
}

#[tokio::test]
async fn a_name_nobody_registered_is_not_found_within_the_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let reg = start_registrar(&dir.path().join("a"), &[]).await;
    let nobody = format!("{}.nobody-here", &reg.name[..40]);
    let timeout = 8.0;
    let mut cmd = p2p(&dir.path().join("b"));
    cmd.args([
        "pnrp",
        "resolve",
        &nobody,
        "--seed",
        &reg.listen,
        "--timeout",
        &timeout.to_string(),
    ]);
    let out = run(cmd).await;
    assert_ne!(out.code, Some(0));
    assert!(out.stderr.contains(&format!("error: not found: {nobody}")), "{}", out.stderr);
    assert!(out.stdout.is_empty(), "{}", out.stdout);
    assert!(
        out.elapsed < Duration::from_secs_f64(timeout),
        "took {:?}, more than the {timeout} s timeout",
        out.elapsed
    );
    drop(reg);
}

#[tokio::test]
async fn resolve_fails_clearly_when_no_seed_answers_or_input_is_bad() {
    let dir = tempfile::tempdir().unwrap();
    // a port nobody listens on: bind one and let it go
    let port = std::net::UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let name = format!("{}.x", "ab".repeat(20));
    let seed = format!("127.0.0.1:{port}");
    let mut cmd = p2p(&dir.path().join("b"));
    cmd.args(["pnrp", "resolve", &name, "--seed", &seed, "--listen", "127.0.0.1:0"]);
    let out = run(cmd).await;
    assert_eq!(out.code, Some(1));
    assert!(out.stderr.contains("no seed answered"), "{}", out.stderr);

    for bad in [
        vec!["pnrp", "resolve", "not-a-name"],
        vec!["pnrp", "resolve", &name, "--seed", "nowhere"],
        vec!["pnrp", "resolve", &name, "--max", "0"],
        vec!["pnrp", "resolve", &name, "--timeout", "-1"],
    ] {
        let mut cmd = p2p(&dir.path().join("b"));
        cmd.args(&bad);
        let out = run(cmd).await;
        assert_eq!(out.code, Some(2), "{bad:?}: {}", out.stderr);
        assert!(out.stderr.starts_with("error: "), "{}", out.stderr);
    }
}

#[cfg(unix)]
#[tokio::test]
async fn registrar_unregisters_when_interrupted() {
    let dir = tempfile::tempdir().unwrap();
    let mut reg = start_registrar(&dir.path().join("a"), &[]).await;
    let second = tokio::time::timeout(WAIT, reg.lines.next_line()).await.unwrap().unwrap().unwrap();
    assert!(second.starts_with("endpoints 127.0.0.1:"), "{second}");
    let pid = reg.child.id().unwrap().to_string();
    let killed = std::process::Command::new("kill").args(["-INT", &pid]).status().unwrap();
    assert!(killed.success());
    let last = tokio::time::timeout(WAIT, reg.lines.next_line()).await.unwrap().unwrap().unwrap();
    assert_eq!(last, format!("unregistered {} (0 replicas)", reg.name));
    let status = tokio::time::timeout(WAIT, reg.child.wait()).await.unwrap().unwrap();
    assert!(status.success());
    // the routing cache was written in the data directory... only if the table had peers:
    // this registrar was alone, so there is nothing to keep.
    assert!(!dir.path().join("a/pnrp/global.cache").exists());
}
