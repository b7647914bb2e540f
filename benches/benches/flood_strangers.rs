//! A PNRP node under a flood of strangers (issue 11, `proto-specs/wire.md` §5): does an
//! honest client still get its answers, and what does the flood cost the node?
//!
//! Run with `cargo bench -p peergroup-benches --bench flood_strangers`. Processes, all on
//! loopback:
//!
//! * **node** — a real PNRP node on an endpoint with the default limits of `wire.md` §5
//!   (bound to 127.0.0.1, not `EndpointConfig::loopback`, so the per-prefix limits are on);
//!   it registers its own name. It reports its resident memory (`VmRSS`, peak `VmHWM`), CPU
//!   time and the endpoint's refusals by reason when asked.
//! * **flood** × `FLOOD_PROCS` (default 4) — `FLOOD_CONNS` connections in total (default
//!   2,000), each from a fresh identity, from source addresses spread over 127.10+k.x.y (60
//!   per /24, so the per-prefix limit of 64 admits them all: the flood is as large as the
//!   limits allow). Every connection keeps opening every stream it can — `pnrp/1` streams
//!   that write a frame header announcing 255 bytes and 2 bytes of body, then stall, and
//!   one stream in 8 for a protocol nobody serves — and opens more as the node resets them.
//!   With `FLOOD_MODE=churn` each connection instead **churns streams**: it opens a
//!   `pnrp/1` stream (preamble only) and closes it at once — a clean finish and a reset in
//!   turn — as fast as QUIC's stream credit lets it, so the node keeps accepting, reading
//!   preambles, dispatching and tearing down streams. A connection the node closes for it
//!   (`wire.md` §5.1) is dialled again at once and churns on.
//! * **burst** — a handshake burst: 16 loops that each dial with a fresh identity from
//!   127.50.x.1, then drop the connection, as fast as they can, for the flood's duration.
//! * the **honest client** (the parent) — sessions of 20 `FindName` requests for the
//!   node's name, each session on a new connection with a fresh identity (so the handshake
//!   path is measured too), each request answered with the node's CPA or counted failed
//!   after 2 s. It answers the node's own requests as a pure client (`pnrp.md` §5.6).
//!
//! The honest client runs `HONEST_SESSIONS` sessions (default 10) quiet, then the same
//! under the flood once every flood connection is up (or after 120 s); a phase starts no
//! new session after `HONEST_MAX_SECS` (default 300), so a flood under which requests time
//! out still ends (the report gives the sessions run). Progress goes to stderr. Prints one JSON
//! object: success and latency (median, p99) quiet and under flood; node RSS and peak RSS,
//! node CPU seconds per phase; the flood's connections and streams opened; the burst's
//! attempts; and the node's refusals by reason. For example
//! `FLOOD_MODE=churn HONEST_SESSIONS=150 cargo bench -p peergroup-benches --bench flood_strangers`.

// A benchmark measures real time and spawns processes.
#![allow(clippy::disallowed_methods)]
#![allow(clippy::unwrap_used)] // a benchmark harness: a failure ends the run

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use peergroup_base::{NodeId, PeerName};
use peergroup_identity::Identity;
use peergroup_net::{
    Connection, Endpoint, EndpointConfig, Expect, FramedSend, NetError, ProtocolId, codes,
};
use peergroup_pnrp::net::{Endpoints, Pnrp, PnrpConfig};
use peergroup_pnrp::proto::{Body, Cloud, Message, Reason, StoreStatus};
use serde_json::json;
use tokio::sync::{Mutex, oneshot};

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    match std::env::var("FLOOD_ROLE").as_deref() {
        Ok("node") => rt.block_on(node()),
        Ok("flood") => rt.block_on(flood()),
        Ok("burst") => rt.block_on(burst()),
        _ => rt.block_on(parent()),
    }
}

// ----- the node ---------------------------------------------------------------------------

fn proc_status(field: &str) -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// utime + stime of this process, in seconds (Linux clock ticks of 10 ms).
fn cpu_seconds() -> f64 {
    let s = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = s.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    let tick = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    // fields after the name: state is 0, utime 11, stime 12
    (tick(11) + tick(12)) as f64 / 100.0
}

async fn node() {
    let id = Identity::generate("flood-node", "").unwrap();
    let config = EndpointConfig::with_bind("127.0.0.1:0".parse().unwrap());
    let endpoint = Endpoint::bind(id.clone(), config).await.unwrap();
    let pnrp = Pnrp::start(&endpoint, &id, PnrpConfig::loopback()).await.unwrap();
    let _registration =
        pnrp.register(id.peer_name().clone(), Endpoints::Auto, "flood", None).await.unwrap();
    println!("{} {} {}", endpoint.local_addr().unwrap(), id.node_id().to_hex(), id.peer_name());
    std::io::stdout().flush().unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::channel::<String>(4);
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            let Ok(line) = line else { break };
            if tx.blocking_send(line).is_err() {
                break;
            }
        }
    });
    while let Some(line) = rx.recv().await {
        if line.trim() != "stats" {
            break;
        }
        let r = endpoint.refusals();
        let stats = json!({
            "rss_kib": proc_status("VmRSS:"),
            "peak_rss_kib": proc_status("VmHWM:"),
            "cpu_s": cpu_seconds(),
            "connections": endpoint.connections().len(),
            "refusals": {
                "connections_total": r.connections_total,
                "connections_per_prefix": r.connections_per_prefix,
                "handshake_rate": r.handshake_rate,
                "retries": r.retries,
                "handshakes_failed": r.handshakes_failed,
                "streams_per_protocol": r.streams_per_protocol,
                "handler_queue": r.handler_queue,
                "bad_preamble": r.bad_preamble,
                "unknown_protocol": r.unknown_protocol,
                "bad_frame": r.bad_frame,
                "half_read_frames": r.half_read_frames,
                "frame_deadline": r.frame_deadline,
                "stream_rate": r.stream_rate,
                "stream_rate_closed": r.stream_rate_closed,
            },
        });
        println!("{stats}");
        std::io::stdout().flush().unwrap();
    }
}

struct NodeProc {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl NodeProc {
    fn stats(&mut self) -> serde_json::Value {
        writeln!(self.stdin, "stats").unwrap();
        self.stdin.flush().unwrap();
        let mut line = String::new();
        self.stdout.read_line(&mut line).unwrap();
        serde_json::from_str(&line).unwrap()
    }
}

// ----- the flood ---------------------------------------------------------------------------

fn node_target() -> (SocketAddr, NodeId) {
    let addr = std::env::var("FLOOD_NODE").unwrap().parse().unwrap();
    let node = NodeId::from_hex(&std::env::var("FLOOD_NODE_ID").unwrap()).unwrap();
    (addr, node)
}

async fn flood() {
    let (addr, node) = node_target();
    let index = env_usize("FLOOD_INDEX", 0);
    let conns = env_usize("FLOOD_CONNS", 500);
    let connected = Arc::new(AtomicU64::new(0));
    let streams = Arc::new(AtomicU64::new(0));
    let reconnects = Arc::new(AtomicU64::new(0));
    for j in 0..conns {
        let (connected, streams, reconnects) =
            (connected.clone(), streams.clone(), reconnects.clone());
        let source: SocketAddr =
            SocketAddr::from(([127, 10 + index as u8, (j / 60) as u8, (j % 60) as u8 + 1], 0));
        tokio::spawn(async move {
            stranger(source, addr, node, &connected, &streams, &reconnects).await
        });
        if j % 50 == 49 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    // report until killed
    loop {
        println!(
            "{} {} {}",
            connected.load(Ordering::Relaxed),
            streams.load(Ordering::Relaxed),
            reconnects.load(Ordering::Relaxed)
        );
        std::io::stdout().flush().unwrap();
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// One hostile connection: connect (retrying while refused), then hold every stream it can,
/// stalled mid-frame, and open new ones as the node resets them.
async fn stranger(
    source: SocketAddr,
    addr: SocketAddr,
    node: NodeId,
    connected: &AtomicU64,
    streams: &AtomicU64,
    reconnects: &AtomicU64,
) {
    let Ok(id) = Identity::generate("stranger", "") else { return };
    let Ok(ep) = Endpoint::bind(id, EndpointConfig::with_bind(source)).await else { return };
    let mut conn = None;
    for _ in 0..120 {
        if let Ok(c) = ep.connect(addr, Expect::Node(node)).await {
            conn = Some(c);
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let Some(mut conn) = conn else { return };
    connected.fetch_add(1, Ordering::Relaxed);
    if std::env::var("FLOOD_MODE").as_deref() == Ok("churn") {
        // A closed connection (wire.md §5.1) is dialled again at once, as an attacker
        // would: each reconnect costs a handshake, which the per-prefix limits bound.
        loop {
            churn(&conn, streams).await;
            loop {
                match ep.connect(addr, Expect::Node(node)).await {
                    Ok(c) => {
                        conn = c;
                        break;
                    }
                    Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
                }
            }
            reconnects.fetch_add(1, Ordering::Relaxed);
        }
    }
    let pnrp = ProtocolId::new("pnrp/1").unwrap();
    let other = ProtocolId::new("nobody/1").unwrap();
    let mut held = Vec::new();
    let mut n = 0u64;
    loop {
        // open what the stream limit allows now
        loop {
            let protocol = if n % 8 == 7 { &other } else { &pnrp };
            match tokio::time::timeout(Duration::from_millis(50), conn.open(protocol)).await {
                Ok(Ok(mut s)) => {
                    // a header announcing 255 bytes, and 2 of them: stalled mid-frame
                    let _ = s.send.send_raw(&[0, 0, 0, 0xff, 1, 0, 0]).await;
                    n += 1;
                    streams.fetch_add(1, Ordering::Relaxed);
                    held.push(s);
                }
                Ok(Err(_)) => {
                    if conn.is_closed() {
                        return;
                    }
                    break;
                }
                Err(_) => break, // no stream credit: the node allows no more now
            }
        }
        // The node resets what it refuses or what stalls past its deadline, and QUIC then
        // returns the stream credit; the stranger's own handles are dropped in batches.
        tokio::time::sleep(Duration::from_millis(1000)).await;
        if held.len() > 512 {
            held.drain(..256);
        }
    }
}

/// `FLOOD_MODE=churn`: opens a `pnrp/1` stream (the preamble is written) and closes it at
/// once, in turn finished cleanly and reset, as fast as the stream credit allows, until the
/// connection closes.
async fn churn(conn: &Connection, streams: &AtomicU64) {
    let pnrp = ProtocolId::new("pnrp/1").unwrap();
    let mut n = 0u64;
    loop {
        match conn.open(&pnrp).await {
            Ok(mut s) => {
                if n.is_multiple_of(2) {
                    let _ = s.send.finish();
                } else {
                    s.send.reset(codes::OK);
                }
                s.recv.stop(codes::OK);
                n += 1;
                streams.fetch_add(1, Ordering::Relaxed);
            }
            Err(_) if conn.is_closed() => return,
            // No credit right now, or a transient error: let the other connections run.
            Err(_) => tokio::task::yield_now().await,
        }
        if n.is_multiple_of(64) {
            tokio::task::yield_now().await;
        }
    }
}

async fn burst() {
    let (addr, node) = node_target();
    let attempts = Arc::new(AtomicU64::new(0));
    let ok = Arc::new(AtomicU64::new(0));
    for l in 0..16u8 {
        let (attempts, ok) = (attempts.clone(), ok.clone());
        tokio::spawn(async move {
            let source = SocketAddr::from(([127, 50, l, 1], 0));
            loop {
                let Ok(id) = Identity::generate("burst", "") else { return };
                let Ok(ep) = Endpoint::bind(id, EndpointConfig::with_bind(source)).await else {
                    return;
                };
                attempts.fetch_add(1, Ordering::Relaxed);
                if let Ok(Ok(c)) = tokio::time::timeout(
                    Duration::from_secs(2),
                    ep.connect(addr, Expect::Node(node)),
                )
                .await
                {
                    ok.fetch_add(1, Ordering::Relaxed);
                    c.close("burst");
                }
                drop(ep);
            }
        });
    }
    loop {
        println!("{} {}", attempts.load(Ordering::Relaxed), ok.load(Ordering::Relaxed));
        std::io::stdout().flush().unwrap();
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

// ----- the honest client ---------------------------------------------------------------------

type Waiting = Arc<Mutex<HashMap<u64, oneshot::Sender<usize>>>>;

/// Answers what the node asks a pure client (`pnrp.md` §5.6) and hands `Found` answers to
/// the request that waits for them.
async fn client_reader(ep: Endpoint, waiting: Waiting, out: Arc<Mutex<Option<FramedSend>>>) {
    let Ok(mut incoming) = ep.register(ProtocolId::new("pnrp/1").unwrap()) else { return };
    while let Some(mut stream) = incoming.next().await {
        let (waiting, out) = (waiting.clone(), out.clone());
        tokio::spawn(async move {
            while let Ok(Some(msg)) = stream.recv::<Message>().await {
                let reply = match msg.body {
                    Body::Found { txid, cpas, .. } => {
                        if let Some(tx) = waiting.lock().await.remove(&txid) {
                            let _ = tx.send(cpas.len());
                        }
                        None
                    }
                    Body::Ping { nonce } => Some(Body::Pong { nonce }),
                    Body::FindNode { txid, .. } => Some(Body::Nodes { txid, nodes: Vec::new() }),
                    Body::FindName { txid, .. } => {
                        Some(Body::Found { txid, nodes: Vec::new(), cpas: Vec::new(), holds: None })
                    }
                    Body::Store { txid, .. } => {
                        Some(Body::StoreAck { txid, status: StoreStatus::Full })
                    }
                    _ => None,
                };
                if let Some(body) = reply
                    && let Some(send) = out.lock().await.as_mut()
                {
                    let _ = send.send(&Message { cloud: msg.cloud, body }).await;
                }
            }
        });
    }
}

/// One phase's requests, and why each failed one failed.
#[derive(Default)]
struct Tally {
    ok: usize,
    failed: usize,
    latencies_ms: Vec<f64>,
    /// Sessions whose handshake did not complete: timed out (the endpoint's 10 s, or the
    /// session's 5 s for handshake and stream together)…
    handshake_timeouts: usize,
    /// …or failed: refused by the node (a limit of `wire.md` §5) or the connection closed.
    handshake_errors: usize,
    /// Sessions whose handshake completed but whose `pnrp/1` stream could not be opened.
    stream_open_errors: usize,
    /// Requests that could not be written (the stream was reset or the connection closed).
    send_errors: usize,
    /// Requests sent but not answered within 2 s.
    answer_timeouts: usize,
    /// Requests answered without the node's CPA.
    empty_answers: usize,
}

impl Tally {
    fn summary(&mut self) -> serde_json::Value {
        self.latencies_ms.sort_by(|a, b| a.total_cmp(b));
        let q = |p: f64| {
            let v = &self.latencies_ms;
            if v.is_empty() {
                return f64::NAN;
            }
            v[((v.len() as f64 - 1.0) * p).round() as usize]
        };
        let total = self.ok + self.failed;
        json!({
            "requests": total,
            "ok": self.ok,
            "success": self.ok as f64 / total.max(1) as f64,
            "median_ms": q(0.5),
            "p99_ms": q(0.99),
            "max_ms": q(1.0),
            // why requests failed: a session that cannot connect fails all its 20
            "failed_sessions": {
                "handshake_timeout": self.handshake_timeouts,
                "handshake_error": self.handshake_errors,
                "stream_open_error": self.stream_open_errors,
            },
            "failed_requests": {
                "in_failed_sessions": 20 * (self.handshake_timeouts + self.handshake_errors + self.stream_open_errors),
                "send_error": self.send_errors,
                "answer_timeout": self.answer_timeouts,
                "empty_answer": self.empty_answers,
            },
        })
    }
}

/// One session: a fresh identity connects and asks 20 times.
async fn session(addr: SocketAddr, node: NodeId, name: &PeerName, tally: &mut Tally) {
    const REQUESTS: usize = 20;
    let start = Instant::now();
    let id = Identity::generate("honest", "").unwrap();
    let ep = Endpoint::bind(id, EndpointConfig::loopback()).await.unwrap();
    let waiting: Waiting = Arc::default();
    let out: Arc<Mutex<Option<FramedSend>>> = Arc::default();
    tokio::spawn(client_reader(ep.clone(), waiting.clone(), out.clone()));
    let stream = match tokio::time::timeout(Duration::from_secs(5), async {
        let conn = ep.connect(addr, Expect::Node(node)).await.map_err(|e| (true, e))?;
        conn.open(&ProtocolId::new("pnrp/1").unwrap()).await.map_err(|e| (false, e))
    })
    .await
    {
        Ok(Ok(s)) => s,
        failed => {
            match failed {
                Ok(Err((true, NetError::HandshakeTimeout { .. }))) | Err(_) => {
                    tally.handshake_timeouts += 1
                }
                Ok(Err((true, _))) => tally.handshake_errors += 1,
                _ => tally.stream_open_errors += 1,
            }
            tally.failed += REQUESTS;
            return;
        }
    };
    *out.lock().await = Some(stream.send);
    let _keep_recv = stream.recv;
    let connect_ms = start.elapsed().as_secs_f64() * 1000.0;
    for i in 0..REQUESTS {
        let txid = rand_txid(i);
        let (tx, rx) = oneshot::channel();
        waiting.lock().await.insert(txid, tx);
        let msg = Message {
            cloud: Cloud::Global,
            body: Body::FindName {
                txid,
                p2p: name.p2p_id(),
                count: 8,
                max_results: 4,
                hint: None,
                probe: None,
                reason: Reason::Resolve,
            },
        };
        let t = Instant::now();
        let sent = match out.lock().await.as_mut() {
            Some(send) => send.send(&msg).await.is_ok(),
            None => false,
        };
        if !sent {
            tally.send_errors += 1;
            tally.failed += 1;
            continue;
        }
        match tokio::time::timeout(Duration::from_secs(2), rx).await {
            Ok(Ok(n)) if n >= 1 => {
                tally.ok += 1;
                // the first request of a session carries the handshake
                let extra = if i == 0 { connect_ms } else { 0.0 };
                tally.latencies_ms.push(t.elapsed().as_secs_f64() * 1000.0 + extra);
            }
            Ok(_) => {
                tally.empty_answers += 1;
                tally.failed += 1;
            }
            Err(_) => {
                tally.answer_timeouts += 1;
                tally.failed += 1;
            }
        }
    }
    ep.close().await;
}

/// Runs up to `sessions` sessions, starting none after `max`; returns how many ran.
async fn run_sessions(
    phase: &str,
    sessions: usize,
    max: Duration,
    addr: SocketAddr,
    node: NodeId,
    name: &PeerName,
    tally: &mut Tally,
) -> usize {
    let start = Instant::now();
    let mut ran = 0;
    while ran < sessions && start.elapsed() < max {
        session(addr, node, name, tally).await;
        ran += 1;
        if ran % 10 == 0 {
            eprintln!(
                "{phase}: {ran} sessions, {} ok, {} failed, {:.0} s",
                tally.ok,
                tally.failed,
                start.elapsed().as_secs_f64()
            );
        }
    }
    ran
}

fn rand_txid(i: usize) -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    nanos ^ ((i as u64) << 48)
}

fn spawn_role(role: &str, env: &[(&str, String)]) -> Child {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.env("FLOOD_ROLE", role).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.spawn().unwrap()
}

/// The last line a reporting child printed: two numbers, and a third if it printed one.
fn watch(child: &mut Child) -> Arc<std::sync::Mutex<(u64, u64, u64)>> {
    let last = Arc::new(std::sync::Mutex::new((0, 0, 0)));
    let stdout = child.stdout.take().unwrap();
    let l = last.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            let mut it = line.split_whitespace().filter_map(|v| v.parse::<u64>().ok());
            if let (Some(a), Some(b)) = (it.next(), it.next())
                && let Ok(mut g) = l.lock()
            {
                *g = (a, b, it.next().unwrap_or(0));
            }
        }
    });
    last
}

async fn parent() {
    let mode = std::env::var("FLOOD_MODE").unwrap_or_else(|_| "stall".to_owned());
    let procs = env_usize("FLOOD_PROCS", 4).max(1);
    let total = env_usize("FLOOD_CONNS", 2000);
    let sessions = env_usize("HONEST_SESSIONS", 10);
    let max_phase = Duration::from_secs(env_usize("HONEST_MAX_SECS", 300) as u64);

    let mut child = spawn_role("node", &[]);
    let stdin = child.stdin.take().unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    let mut parts = line.split_whitespace();
    let addr: SocketAddr = parts.next().unwrap().parse().unwrap();
    let node_hex = parts.next().unwrap().to_owned();
    let node = NodeId::from_hex(&node_hex).unwrap();
    let name: PeerName = parts.next().unwrap().parse().unwrap();
    let mut node_proc = NodeProc { child, stdin, stdout };
    let at_start = node_proc.stats();

    // quiet
    let mut quiet = Tally::default();
    let t = Instant::now();
    let quiet_sessions =
        run_sessions("quiet", sessions, max_phase, addr, node, &name, &mut quiet).await;
    let quiet_wall = t.elapsed().as_secs_f64();
    let after_quiet = node_proc.stats();

    // the flood
    let env = |extra: Vec<(&'static str, String)>| {
        let mut e = vec![
            ("FLOOD_NODE", addr.to_string()),
            ("FLOOD_NODE_ID", node_hex.clone()),
            ("FLOOD_MODE", mode.clone()),
        ];
        e.extend(extra);
        e
    };
    let mut floods = Vec::new();
    let mut flood_watch = Vec::new();
    for k in 0..procs {
        let share = total / procs + usize::from(k < total % procs);
        let mut c = spawn_role(
            "flood",
            &env(vec![("FLOOD_INDEX", k.to_string()), ("FLOOD_CONNS", share.to_string())]),
        );
        flood_watch.push(watch(&mut c));
        floods.push(c);
    }
    let mut burst = spawn_role("burst", &env(Vec::new()));
    let burst_watch = watch(&mut burst);
    let flood_started = Instant::now();
    let connected = || flood_watch.iter().map(|w| w.lock().map(|g| g.0).unwrap_or(0)).sum::<u64>();
    while connected() < total as u64 && flood_started.elapsed() < Duration::from_secs(120) {
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let ramp_s = flood_started.elapsed().as_secs_f64();
    let before_flood_phase = node_proc.stats();
    let streams_before =
        flood_watch.iter().map(|w| w.lock().map(|g| g.1).unwrap_or(0)).sum::<u64>();
    let mut flooded = Tally::default();
    let t = Instant::now();
    let flood_sessions =
        run_sessions("flood", sessions, max_phase, addr, node, &name, &mut flooded).await;
    let flood_wall = t.elapsed().as_secs_f64();
    let after_flood = node_proc.stats();
    let streams = flood_watch.iter().map(|w| w.lock().map(|g| g.1).unwrap_or(0)).sum::<u64>();
    let flood_connected = connected();
    let (burst_attempts, burst_ok, _) = burst_watch.lock().map(|g| *g).unwrap_or((0, 0, 0));
    let reconnects = flood_watch.iter().map(|w| w.lock().map(|g| g.2).unwrap_or(0)).sum::<u64>();
    for mut c in floods {
        let _ = c.kill();
        let _ = c.wait();
    }
    let _ = burst.kill();
    let _ = burst.wait();
    let _ = node_proc.child.kill();
    let _ = node_proc.child.wait();

    let cpu = |a: &serde_json::Value, b: &serde_json::Value| {
        b["cpu_s"].as_f64().unwrap_or(0.0) - a["cpu_s"].as_f64().unwrap_or(0.0)
    };
    let report = json!({
        "benchmark": "flood_strangers",
        "flood": {
            "mode": mode,
            "connections_target": total,
            "connections_up": flood_connected,
            "processes": procs,
            "ramp_s": ramp_s,
            "streams_opened": streams,
            "reconnects_after_close": reconnects,
            "streams_opened_per_s_flood_phase": (streams - streams_before.min(streams)) as f64 / flood_wall.max(1e-9),
            "burst_handshake_attempts": burst_attempts,
            "burst_handshakes_completed": burst_ok,
        },
        "honest_sessions_quiet": quiet_sessions,
        "honest_sessions_flood": flood_sessions,
        "honest_quiet": quiet.summary(),
        "honest_flood": flooded.summary(),
        "node": {
            "rss_kib_start": at_start["rss_kib"],
            "rss_kib_after_quiet": after_quiet["rss_kib"],
            "rss_kib_flood": after_flood["rss_kib"],
            "peak_rss_kib": after_flood["peak_rss_kib"],
            "connections_during_flood": after_flood["connections"],
            "cpu_s_quiet_phase": cpu(&at_start, &after_quiet),
            "quiet_phase_s": quiet_wall,
            "cpu_s_ramp": cpu(&after_quiet, &before_flood_phase),
            "ramp_phase_s": ramp_s,
            "cpu_s_flood_phase": cpu(&before_flood_phase, &after_flood),
            "flood_phase_s": flood_wall,
        },
        "refusals": after_flood["refusals"],
    });
    println!("{}", serde_json::to_string_pretty(&report).unwrap());
}
