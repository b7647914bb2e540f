//! `p2p sim …`: scale runs of the protocol cores on the simulator (or in memory), with
//! `--json` output for scripts and benchmarks.

use clap::Subcommand;
use peergroup_reconcile::{MAX_MESSAGE_BYTES, MIN_MESSAGE_BYTES};

use crate::CliError;
use crate::output;

/// Largest set `p2p sim sync` builds (two replicas of this many 32-byte digests plus their
/// coded symbols fit comfortably in memory).
const MAX_SYNC_RECORDS: usize = 20_000_000;

/// Largest PNRP network `p2p sim pnrp` builds (memory grows about 100 KiB per node: the
/// peak is 10.2 GB for 100,000 nodes and 100,000 resolves).
const MAX_PNRP_NODES: usize = 200_000;

/// Largest graph `p2p sim graph` builds.
const MAX_GRAPH_MEMBERS: usize = 100_000;
/// Most records `p2p sim graph` publishes.
const MAX_GRAPH_RECORDS: usize = 1_000_000;

/// Parses `MIN..MAX` milliseconds.
fn latency_range(s: &str) -> Result<(u64, u64), String> {
    let (lo, hi) = s.split_once("..").ok_or_else(|| format!("expected MIN..MAX, got {s:?}"))?;
    let lo: u64 = lo.trim().parse().map_err(|_| format!("bad minimum in {s:?}"))?;
    let hi: u64 = hi.trim().parse().map_err(|_| format!("bad maximum in {s:?}"))?;
    if lo > hi || hi > 60_000 {
        return Err(format!("need MIN ≤ MAX ≤ 60000 ms, got {s:?}"));
    }
    Ok((lo, hi))
}

/// Simulation commands.
#[derive(Debug, Subcommand)]
pub(crate) enum SimCommand {
    /// PNRP: N nodes bootstrap through seeds, register their names, then R resolves run.
    Pnrp {
        /// Simulated nodes.
        #[arg(long, default_value_t = 1_000, value_name = "N")]
        nodes: usize,
        /// Resolves of registered names from random nodes.
        #[arg(long, default_value_t = 10_000, value_name = "N")]
        resolves: usize,
        /// Churn: exponential session lengths with this median, in seconds (none if absent).
        #[arg(long, value_name = "S")]
        churn_median_secs: Option<f64>,
        /// Fraction of nodes that answer with forged or stale CPAs and lying routing entries.
        #[arg(long, default_value_t = 0.0, value_name = "F")]
        adversarial_fraction: f64,
        /// Disjoint lookup paths per resolve (S-Kademlia); 0 or 1 means a single lookup.
        #[arg(long, default_value_t = 0, value_name = "D")]
        disjoint_paths: usize,
        /// Seed of every random choice in the run.
        #[arg(long, default_value_t = 2026, value_name = "X")]
        seed: u64,
        /// Print one JSON object instead of a summary.
        #[arg(long)]
        json: bool,
    },
    /// Graph: N members flood R records published from random members over simulated links.
    Graph {
        /// Members of the graph.
        #[arg(long, default_value_t = 1_000, value_name = "N")]
        members: usize,
        /// Records published.
        #[arg(long, default_value_t = 1_000, value_name = "N")]
        records: usize,
        /// Fraction of members crashed at once mid-run (figures are over the survivors).
        #[arg(long, default_value_t = 0.0, value_name = "F")]
        crash_fraction: f64,
        /// Per-link latency range in milliseconds.
        #[arg(long, default_value = "10..100", value_parser = latency_range, value_name = "MIN..MAX")]
        latency_ms: (u64, u64),
        /// Seconds between anti-entropy re-synchronisations of neighbours (graph.md §8.6);
        /// 0 turns them off. Default: the protocol default (15).
        #[arg(long, value_name = "S")]
        resync_secs: Option<u64>,
        /// Seed of every random choice in the run.
        #[arg(long, default_value_t = 1, value_name = "X")]
        seed: u64,
        /// Print one JSON object instead of a summary.
        #[arg(long)]
        json: bool,
    },
    /// Group: N members joined by invitation chains publish R records; K certificates are
    /// revoked mid-run; non-members, forgers and revoked members attack (group.md §10).
    Group {
        /// Members of the group.
        #[arg(long, default_value_t = 1_000, value_name = "N")]
        members: usize,
        /// Records published.
        #[arg(long, default_value_t = 10_000, value_name = "N")]
        records: usize,
        /// Certificates revoked mid-run (a quarter of them inviting members).
        #[arg(long, default_value_t = 20, value_name = "K")]
        revoke: usize,
        /// Per-link latency range in milliseconds.
        #[arg(long, default_value = "10..100", value_parser = latency_range, value_name = "MIN..MAX")]
        latency_ms: (u64, u64),
        /// Members that join only after the last record (join-time figures).
        #[arg(long, value_name = "L")]
        late_joiners: Option<usize>,
        /// Seed of every random choice in the run.
        #[arg(long, default_value_t = 1, value_name = "X")]
        seed: u64,
        /// Print one JSON object instead of a summary.
        #[arg(long)]
        json: bool,
    },
    /// Reconcile two replicas of N records that differ by D (graph sync), in memory.
    Sync {
        /// Records in each replica (before the difference).
        #[arg(long, default_value_t = 100_000, value_name = "N")]
        records: usize,
        /// Records that differ, split between both sides.
        #[arg(long, default_value_t = 1_000, value_name = "D")]
        diff: usize,
        /// Largest message either side may send, in bytes.
        #[arg(long, default_value_t = 60 * 1024, value_name = "B")]
        max_message_bytes: usize,
        /// Seed of the replicas' contents and of the session salt.
        #[arg(long, default_value_t = 1, value_name = "X")]
        seed: u64,
        /// Print one JSON object instead of a summary.
        #[arg(long)]
        json: bool,
    },
}

/// Runs a simulation command.
pub(crate) fn run(command: SimCommand) -> Result<(), CliError> {
    match command {
        SimCommand::Pnrp {
            nodes,
            resolves,
            churn_median_secs,
            adversarial_fraction,
            disjoint_paths,
            seed,
            json,
        } => {
            if nodes == 0 || nodes > MAX_PNRP_NODES {
                return Err(CliError::Usage(format!("--nodes must be 1 to {MAX_PNRP_NODES}")));
            }
            if !(0.0..1.0).contains(&adversarial_fraction) {
                return Err(CliError::Usage(
                    "--adversarial-fraction must be at least 0 and below 1".into(),
                ));
            }
            if churn_median_secs.is_some_and(|s| !(s.is_finite() && s > 0.0)) {
                return Err(CliError::Usage("--churn-median-secs must be positive".into()));
            }
            let mut params = peergroup_pnrp::scenario::Params::new(nodes, resolves);
            params.churn_median_session_secs = churn_median_secs;
            params.adversarial_fraction = adversarial_fraction;
            params.disjoint_paths = disjoint_paths;
            params.seed = seed;
            let report = peergroup_pnrp::scenario::run(&params)
                .map_err(|e| CliError::runtime(format!("pnrp simulation: {e}")))?;
            let text = serde_json::to_string(&report)
                .map_err(|e| CliError::runtime(format!("cannot encode the report: {e}")))?;
            if json {
                output::line(text)
            } else {
                print_fields(
                    &text,
                    &[
                        "nodes",
                        "resolves",
                        "succeeded",
                        "success_rate",
                        "hops_median",
                        "hops_p99",
                        "messages_per_resolve_median",
                        "messages_per_resolve_p99",
                        "maintenance_bytes_per_node_per_sec",
                        "forged_accepted",
                        "setup_seconds",
                        "sim_seconds",
                        "wall_seconds",
                        "peak_rss_bytes",
                    ],
                )
            }
        }
        SimCommand::Graph {
            members,
            records,
            crash_fraction,
            latency_ms,
            resync_secs,
            seed,
            json,
        } => {
            if !(2..=MAX_GRAPH_MEMBERS).contains(&members) {
                return Err(CliError::Usage(format!("--members must be 2 to {MAX_GRAPH_MEMBERS}")));
            }
            if records > MAX_GRAPH_RECORDS {
                return Err(CliError::Usage(format!(
                    "--records must be at most {MAX_GRAPH_RECORDS}"
                )));
            }
            if !(0.0..1.0).contains(&crash_fraction) {
                return Err(CliError::Usage(
                    "--crash-fraction must be at least 0 and below 1".into(),
                ));
            }
            let mut params = peergroup_graph::scenario::Params::new(members, records);
            params.crash_fraction = crash_fraction;
            params.latency_ms = latency_ms;
            params.seed = seed;
            if let Some(s) = resync_secs {
                params.config.sync.resync_interval =
                    (s > 0).then(|| std::time::Duration::from_secs(s));
            }
            let report = peergroup_graph::scenario::run(&params);
            let text = serde_json::to_string(&report)
                .map_err(|e| CliError::runtime(format!("cannot encode the report: {e}")))?;
            if json {
                output::line(text)
            } else {
                print_fields(
                    &text,
                    &[
                        "members",
                        "records",
                        "delivered_fraction",
                        "copies_per_delivery",
                        "control_messages_per_delivery",
                        "overhead_bytes_per_delivery",
                        "last_delivery_hop_median",
                        "last_delivery_ms_median",
                        "partitioned",
                        "wall_seconds",
                    ],
                )
            }
        }
        SimCommand::Group { members, records, revoke, latency_ms, late_joiners, seed, json } => {
            if !(2..=MAX_GRAPH_MEMBERS).contains(&members) {
                return Err(CliError::Usage(format!("--members must be 2 to {MAX_GRAPH_MEMBERS}")));
            }
            if records > MAX_GRAPH_RECORDS {
                return Err(CliError::Usage(format!(
                    "--records must be at most {MAX_GRAPH_RECORDS}"
                )));
            }
            if revoke >= members / 2 {
                return Err(CliError::Usage("--revoke must be less than half of --members".into()));
            }
            let mut params = peergroup_group::scenario::Params::new(members, records, revoke);
            params.latency_ms = latency_ms;
            params.seed = seed;
            if let Some(l) = late_joiners {
                params.late_joiners = l.min(members / 2);
            }
            let report = peergroup_group::scenario::run(&params);
            let text = serde_json::to_string(&report)
                .map_err(|e| CliError::runtime(format!("cannot encode the report: {e}")))?;
            if json {
                output::line(text)
            } else {
                print_fields(
                    &text,
                    &[
                        "members",
                        "records_written",
                        "revoked_members",
                        "delivered_fraction",
                        "join_ms_median",
                        "revocation_ms_p99",
                        "accepted_from_revoked_after_rule",
                        "replicas_disagree",
                        "forged_accepted",
                        "nonmember_admitted",
                        "copies_per_delivery",
                        "wall_seconds",
                    ],
                )
            }
        }
        SimCommand::Sync { records, diff, max_message_bytes, seed, json } => {
            if records > MAX_SYNC_RECORDS {
                return Err(CliError::Usage(format!(
                    "--records {records} is more than the {MAX_SYNC_RECORDS} this command builds"
                )));
            }
            if diff > records {
                return Err(CliError::Usage(format!(
                    "--diff {diff} cannot exceed --records {records}"
                )));
            }
            if !(MIN_MESSAGE_BYTES..=MAX_MESSAGE_BYTES).contains(&max_message_bytes) {
                return Err(CliError::Usage(format!(
                    "--max-message-bytes must be between {MIN_MESSAGE_BYTES} and {MAX_MESSAGE_BYTES}"
                )));
            }
            let report = peergroup_reconcile::bench::run(records, diff, max_message_bytes, seed);
            if json {
                let text = serde_json::to_string(&report)
                    .map_err(|e| CliError::runtime(format!("cannot encode the report: {e}")))?;
                output::line(text)
            } else {
                output::details(&[
                    ("records", report.records.to_string()),
                    ("diff", report.diff.to_string()),
                    ("round trips", report.round_trips.to_string()),
                    ("reconcile bytes", report.reconcile_bytes.to_string()),
                    ("largest message", report.max_message_bytes.to_string()),
                    ("records transferred", report.records_transferred.to_string()),
                    ("wall seconds", format!("{:.3}", report.wall_seconds)),
                ])
            }
        }
    }
}

/// Prints the named fields of a JSON report as aligned `label: value` lines.
fn print_fields(json: &str, keys: &[&str]) -> Result<(), CliError> {
    let v: serde_json::Value = serde_json::from_str(json)
        .map_err(|e| CliError::runtime(format!("cannot read the report: {e}")))?;
    let pairs: Vec<(&str, String)> = keys.iter().map(|k| (*k, v[*k].to_string())).collect();
    output::details(&pairs)
}
