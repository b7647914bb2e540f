//! `p2p sim …`: scale runs of the protocol cores on the simulator (or in memory), with
//! `--json` output for scripts and benchmarks.

use clap::Subcommand;
use peergroup_reconcile::{MAX_MESSAGE_BYTES, MIN_MESSAGE_BYTES};

use crate::CliError;
use crate::output;

/// Largest set `p2p sim sync` builds (two replicas of this many 32-byte digests plus their
/// coded symbols fit comfortably in memory).
const MAX_SYNC_RECORDS: usize = 20_000_000;

/// Simulation commands.
#[derive(Debug, Subcommand)]
pub(crate) enum SimCommand {
    /// Reconcile two replicas of N records that differ by D (graph sync), in memory.
    Sync {
        /// Records in each replica (before the difference).
        #[arg(long, default_value_t = 100_000)]
        records: usize,
        /// Records that differ, split between both sides.
        #[arg(long, default_value_t = 1_000)]
        diff: usize,
        /// Largest message either side may send, in bytes.
        #[arg(long, default_value_t = 60 * 1024)]
        max_message_bytes: usize,
        /// Seed of the replicas' contents and of the session salt.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Print one JSON object instead of a summary.
        #[arg(long)]
        json: bool,
    },
}

/// Runs a simulation command.
pub(crate) fn run(command: SimCommand) -> Result<(), CliError> {
    match command {
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
