//! `p2p group` across three processes on three hosts: three network namespaces that the
//! test creates (joined by a bridge in a fourth) and removes, one `p2p` per namespace.
//! alice creates a password group; bob exports his identity info, alice invites him, he
//! joins; carol joins by password, proving it to alice's running node; all three run the group, publish, and see each other's records; alice
//! revokes carol; carol is dropped, her next connect is refused with the reason, and
//! nothing she writes afterwards is kept by alice or bob.
//!
//! Needs root and `ip` (iproute2) on Linux; elsewhere, or without them, it says why and
//! passes without running (CI runs as root). Every wait is bounded; children are killed and
//! namespaces deleted whatever happens.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};
use tokio::sync::mpsc;

const WAIT: Duration = Duration::from_secs(30);
const SUBNET: &str = "10.77.0";

/// The namespaces of one run, deleted on drop.
struct Hosts {
    prefix: String,
    made: Vec<String>,
}

impl Hosts {
    fn ns(&self, host: &str) -> String {
        format!("{}-{host}", self.prefix)
    }
}

impl Drop for Hosts {
    fn drop(&mut self) {
        for ns in self.made.iter().rev() {
            let _ = std::process::Command::new("ip").args(["netns", "del", ns]).status();
        }
    }
}

fn ip(args: &[&str]) -> Result<(), String> {
    let out = std::process::Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("cannot run ip: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!("ip {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim()))
    }
}

/// Three hosts `a`, `b`, `c` at `10.77.0.1`–`3`, on a bridge in a hub namespace.
fn make_hosts() -> Result<Hosts, String> {
    if !cfg!(target_os = "linux") {
        return Err("network namespaces exist on Linux only".into());
    }
    let mut hosts = Hosts { prefix: format!("pgt{}", std::process::id()), made: Vec::new() };
    let hub = hosts.ns("hub");
    ip(&["netns", "add", &hub])?;
    hosts.made.push(hub.clone());
    ip(&["-n", &hub, "link", "add", "br0", "type", "bridge"])?;
    ip(&["-n", &hub, "link", "set", "br0", "up"])?;
    for (i, h) in ["a", "b", "c"].iter().enumerate() {
        let ns = hosts.ns(h);
        ip(&["netns", "add", &ns])?;
        hosts.made.push(ns.clone());
        let peer = format!("v{h}");
        ip(&[
            "-n", &ns, "link", "add", "eth0", "type", "veth", "peer", "name", &peer, "netns", &hub,
        ])?;
        ip(&["-n", &hub, "link", "set", &peer, "master", "br0", "up"])?;
        ip(&["-n", &ns, "addr", "add", &format!("{SUBNET}.{}/24", i + 1), "dev", "eth0"])?;
        ip(&["-n", &ns, "link", "set", "eth0", "up"])?;
        ip(&["-n", &ns, "link", "set", "lo", "up"])?;
    }
    Ok(hosts)
}

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

/// Runs a short `p2p` command (outside any namespace: it only touches files); its stdout.
async fn once(data_dir: &Path, args: &[&str]) -> String {
    let out = tokio::time::timeout(WAIT, p2p(data_dir).args(args).output())
        .await
        .expect("in time")
        .unwrap();
    assert!(out.status.success(), "p2p {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// A `p2p group run` in a namespace: its stdin, and its stdout lines as they come.
struct Member {
    _child: Child,
    stdin: ChildStdin,
    lines: mpsc::UnboundedReceiver<String>,
    seen: Vec<String>,
    addr: String,
}

impl Member {
    async fn start(
        ns: &str,
        data_dir: &Path,
        who: &str,
        group: &str,
        host: u8,
        peer: Option<&str>,
    ) -> Member {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", ns, env!("CARGO_BIN_EXE_p2p"), "--data-dir"])
            .arg(data_dir)
            .args(["group", "run", group, "--identity", who, "--listen"])
            .arg(format!("{SUBNET}.{host}:0"))
            .env_remove("PEERGROUP_DATA_DIR")
            .env_remove("RUST_LOG")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true);
        if let Some(p) = peer {
            cmd.args(["--peer", p]);
        }
        let mut child = cmd.spawn().unwrap();
        let stdin = child.stdin.take().unwrap();
        let mut out = BufReader::new(child.stdout.take().unwrap()).lines();
        let (tx, lines) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Ok(Some(l)) = out.next_line().await {
                if tx.send(l).is_err() {
                    break;
                }
            }
        });
        let mut m = Member { _child: child, stdin, lines, seen: Vec::new(), addr: String::new() };
        let first = m.expect(who, |l| l.starts_with("listening ")).await;
        m.addr = first.split(' ').nth(1).unwrap().to_owned();
        m
    }

    async fn say(&mut self, line: &str) {
        self.stdin.write_all(format!("{line}\n").as_bytes()).await.unwrap();
        self.stdin.flush().await.unwrap();
    }

    /// The first line (since the start) matching `pred`.
    async fn expect(&mut self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        if let Some(l) = self.seen.iter().find(|l| pred(l)) {
            return l.clone();
        }
        let wait = async {
            while let Some(l) = self.lines.recv().await {
                self.seen.push(l.clone());
                if pred(&l) {
                    return l;
                }
            }
            panic!("{what}: the process ended; it printed:\n{}", self.seen.join("\n"));
        };
        match tokio::time::timeout(WAIT, wait).await {
            Ok(l) => l,
            Err(_) => panic!("timed out waiting for {what}; printed:\n{}", self.seen.join("\n")),
        }
    }

    /// Asks for the records until every text of `want` is listed.
    async fn wait_records(&mut self, who: &str, want: &[&str]) {
        let wait = async {
            loop {
                self.say("records").await;
                tokio::time::sleep(Duration::from_millis(300)).await;
                while let Ok(l) = self.lines.try_recv() {
                    self.seen.push(l);
                }
                if want.iter().all(|w| self.seen.iter().any(|l| l.ends_with(&format!("  {w}")))) {
                    return;
                }
            }
        };
        if tokio::time::timeout(WAIT, wait).await.is_err() {
            panic!("{who} never listed {want:?}; printed:\n{}", self.seen.join("\n"));
        }
    }

    /// The record texts listed by a fresh `records` command.
    async fn records_now(&mut self) -> Vec<String> {
        let mark = self.seen.len();
        self.say("records").await;
        self.say("members").await;
        // the members table follows the records: wait for its header
        self.expect("members header", |l| l.starts_with("MEMBER ")).await;
        let header = self.seen.iter().rposition(|l| l.starts_with("MEMBER ")).unwrap();
        self.seen[mark..header]
            .iter()
            .filter(|l| l.len() > 36 && l.as_bytes()[8] == b'-')
            .cloned()
            .collect()
    }
}

fn dir(root: &Path, who: &str) -> PathBuf {
    root.join(who)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_hosts_create_invite_join_publish_and_revoke() {
    let hosts = match make_hosts() {
        Ok(h) => h,
        Err(why) => {
            eprintln!("skipped: cannot create network namespaces: {why}");
            return;
        }
    };
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let (a, b, c) = (dir(root, "alice"), dir(root, "bob"), dir(root, "carol"));
    once(&a, &["idmgr", "create-identity", "alice"]).await;
    once(&b, &["idmgr", "create-identity", "bob"]).await;
    let carol_name = once(&c, &["idmgr", "create-identity", "carol"]).await.trim().to_owned();
    let pw = root.join("password");
    std::fs::write(&pw, "correct horse battery\n").unwrap();
    let pw_inv = root.join("club.password-invitation");
    let group = once(
        &a,
        &[
            "group",
            "create",
            "club",
            "--friendly-name",
            "Club",
            "--identity",
            "alice",
            "--password-file",
            pw.to_str().unwrap(),
            "--password-out",
            pw_inv.to_str().unwrap(),
        ],
    )
    .await
    .trim()
    .to_owned();
    assert!(group.ends_with(".club"), "{group}");
    for (who, d) in [("bob", &b)] {
        let info = root.join(format!("{who}.info"));
        let inv = root.join(format!("{who}.invitation"));
        once(d, &["idmgr", "export-info", who, "--out", info.to_str().unwrap()]).await;
        once(
            &a,
            &[
                "group",
                "invite",
                &group,
                "--info",
                info.to_str().unwrap(),
                "--out",
                inv.to_str().unwrap(),
                "--identity",
                "alice",
            ],
        )
        .await;
        let joined = once(d, &["group", "join", inv.to_str().unwrap(), "--identity", who]).await;
        assert_eq!(joined.trim(), group);
    }

    let mut alice = Member::start(&hosts.ns("a"), &a, "alice", &group, 1, None).await;
    // carol joins by password, on her host, proving it to alice
    let out = tokio::time::timeout(
        WAIT,
        Command::new("ip")
            .args(["netns", "exec", &hosts.ns("c"), env!("CARGO_BIN_EXE_p2p"), "--data-dir"])
            .arg(&c)
            .args(["group", "password-join", pw_inv.to_str().unwrap(), "--identity", "carol"])
            .args(["--password-file", pw.to_str().unwrap(), "--peer", &alice.addr])
            .env_remove("PEERGROUP_DATA_DIR")
            .output(),
    )
    .await
    .expect("in time")
    .unwrap();
    assert!(out.status.success(), "password join: {}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), group);
    alice
        .expect("alice verified carol", |l| l.starts_with("password join ") && l.contains("joined"))
        .await;
    let mut bob = Member::start(&hosts.ns("b"), &b, "bob", &group, 2, Some(&alice.addr)).await;
    let mut carol = Member::start(&hosts.ns("c"), &c, "carol", &group, 3, Some(&alice.addr)).await;
    assert!(alice.addr.starts_with("10.77.0.1:"), "{}", alice.addr);
    bob.expect("bob admitted", |l| l.starts_with("admitted ")).await;
    carol.expect("carol admitted", |l| l.starts_with("admitted ")).await;

    alice.say("publish hello from alice").await;
    bob.say("publish hello from bob").await;
    carol.say("publish hello from carol").await;
    let all = ["hello from alice", "hello from bob", "hello from carol"];
    alice.wait_records("alice", &all).await;
    bob.wait_records("bob", &all).await;
    carol.wait_records("carol", &all).await;

    // alice revokes carol: carol's connections are dropped with the reason
    alice.say(&format!("revoke {carol_name}")).await;
    alice.expect("alice revoked carol", |l| l.starts_with("revoked ")).await;
    carol
        .expect("carol refused", |l| l.starts_with("refused ") && l.contains("membership revoked"))
        .await;
    // (bob refuses her too once the revocation reached him: let both arrive)
    tokio::time::sleep(Duration::from_secs(1)).await;
    while let Ok(l) = carol.lines.try_recv() {
        carol.seen.push(l);
    }
    let refusals = carol.seen.iter().filter(|l| l.starts_with("refused ")).count();
    // carol writes on and reconnects: refused again, with the reason
    carol.say("publish carol after revocation").await;
    carol.say(&format!("connect {}", alice.addr)).await;
    let wait = async {
        loop {
            while let Ok(l) = carol.lines.try_recv() {
                carol.seen.push(l);
            }
            if carol
                .seen
                .iter()
                .filter(|l| l.starts_with("refused ") && l.contains("membership revoked"))
                .count()
                > refusals
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    tokio::time::timeout(WAIT, wait).await.unwrap_or_else(|_| {
        panic!("carol's reconnect was not refused; printed:\n{}", carol.seen.join("\n"))
    });
    tokio::time::sleep(Duration::from_secs(1)).await;
    for (who, m) in [("alice", &mut alice), ("bob", &mut bob)] {
        let records = m.records_now().await;
        assert!(
            !records.iter().any(|l| l.ends_with("carol after revocation")),
            "{who} kept a record carol wrote after her revocation: {records:?}"
        );
        assert!(records.iter().any(|l| l.ends_with("hello from carol")), "{who}: {records:?}");
    }
    for m in [&mut alice, &mut bob, &mut carol] {
        m.say("quit").await;
    }
    for (who, m) in [("alice", &mut alice), ("bob", &mut bob), ("carol", &mut carol)] {
        m.expect(&format!("{who} closed"), |l| l == "closed").await;
    }
    drop(hosts);
}
