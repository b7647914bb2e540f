//! `p2p`: the peergroup command-line tool, after `netsh p2p` (DESIGN.md §8).
//!
//! ```text
//! p2p [--data-dir DIR] idmgr create-identity <classifier> [--friendly-name NAME]
//! p2p [--data-dir DIR] idmgr show identities | show identity <NAME>
//! p2p [--data-dir DIR] idmgr export-info <NAME> [--out FILE]
//! p2p [--data-dir DIR] idmgr export <NAME> --out FILE [--password-file F]
//! p2p [--data-dir DIR] idmgr import FILE [--password-file F]
//! p2p [--data-dir DIR] idmgr delete <NAME>
//! p2p [--data-dir DIR] idmgr set-friendly-name <NAME> <FRIENDLY>
//! p2p [--data-dir DIR] pnrp register <NAME> [--identity NAME] [--comment C] [--payload-file F]
//!                                     [--listen ADDR] [--seed ADDR]...
//! p2p [--data-dir DIR] pnrp resolve <PEER NAME> [--seed ADDR]... [--max N] [--timeout S] [--json]
//! p2p [--data-dir DIR] group create <classifier> [--friendly-name F] [--comment C]
//!                                    [--password-file P [--password-role R] [--password-out F]]
//! p2p [--data-dir DIR] group set-password <group> [--password-file P] [--role R] [--out F]
//! p2p [--data-dir DIR] group password-join FILE [--password-file P] --peer ADDR...
//! p2p [--data-dir DIR] group list [--json] | show <group> [--json]
//! p2p [--data-dir DIR] group invite <group> --info FILE [--role R] [--days D] [--out FILE]
//! p2p [--data-dir DIR] group join FILE
//! p2p [--data-dir DIR] group run <group> [--listen ADDR] [--peer ADDR]...
//! p2p [--data-dir DIR] group members|records <group> [--json]
//! p2p [--data-dir DIR] group publish <group> TEXT [--peer ADDR]...
//! p2p [--data-dir DIR] group revoke <group> <member> [--peer ADDR]...
//! p2p [--data-dir DIR] group delete <group>
//!   (every group command takes --identity NAME; default: the identity `default`)
//! p2p demo [--json]
//! p2p sim graph --members N --records R [--crash-fraction F] [--latency-ms MIN..MAX] [--seed X] [--json]
//! p2p sim sync --records N --diff D [--max-message-bytes B] [--seed X] [--json]
//! p2p sim pnrp --nodes N --resolves R [--churn-median-secs S] [--adversarial-fraction F]
//!              [--disjoint-paths D] [--seed X] [--json]
//! ```
//!
//! Exit status: 0 on success, 1 when the operation fails, 2 for a malformed command line.
//! Errors are printed to stderr as `error: …`; user mistakes never panic.
//!
//! Adding a top-level command: a variant in [`Command`], a module with its own subcommand
//! enum and a `run` function, and one arm in [`run`].

mod demo;
mod group;
mod idmgr;
mod output;
mod password;
mod pnrp;
mod sim;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use peergroup_identity::datadir::{DATA_DIR_ENV, data_dir_or_default};

use crate::output::CliError;

/// The peergroup command-line tool.
#[derive(Debug, Parser)]
#[command(name = "p2p", version, about, propagate_version = true)]
struct Cli {
    /// Data directory (default: the per-user data directory, e.g.
    /// ~/.local/share/peergroup on Linux, %APPDATA%\peergroup on Windows).
    #[arg(long, global = true, env = DATA_DIR_ENV, value_name = "DIR")]
    data_dir: Option<PathBuf>,

    #[command(subcommand)]
    command: Command,
}

/// Top-level commands.
#[derive(Debug, Subcommand)]
enum Command {
    /// Manage identities (netsh p2p idmgr).
    #[command(subcommand)]
    Idmgr(idmgr::IdmgrCommand),
    /// Register and resolve peer names over PNRP (netsh p2p pnrp).
    #[command(subcommand)]
    Pnrp(pnrp::PnrpCommand),
    /// Create, join and run groups (netsh p2p group).
    #[command(subcommand)]
    Group(group::GroupCommand),
    /// Run real peers on loopback and show every layer working (uses a temporary data dir).
    Demo {
        /// Print the measurements as JSON instead of the summary.
        #[arg(long)]
        json: bool,
    },
    /// Scale runs of the protocols on the simulator.
    #[command(subcommand)]
    Sim(sim::SimCommand),
}

/// Runs a parsed command line.
fn run(cli: Cli) -> Result<(), CliError> {
    match cli.command {
        Command::Idmgr(command) => {
            let data_dir = data_dir_or_default(cli.data_dir.as_deref())?;
            idmgr::run(&data_dir, command)
        }
        Command::Pnrp(command) => {
            let data_dir = data_dir_or_default(cli.data_dir.as_deref())?;
            runtime()?.block_on(pnrp::run(&data_dir, command))
        }
        Command::Group(command) => {
            let data_dir = data_dir_or_default(cli.data_dir.as_deref())?;
            runtime()?.block_on(group::run(&data_dir, command))
        }
        Command::Demo { json } => runtime()?.block_on(demo::run(json)),
        Command::Sim(command) => sim::run(command),
    }
}

/// The one tokio runtime every networked command runs on.
fn runtime() -> Result<tokio::runtime::Runtime, CliError> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::runtime(format!("cannot start the async runtime: {e}")))
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // --help and --version land here too, with exit code 0.
            let _ = e.print();
            return ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(output::EXIT_USAGE));
        }
    };
    // Colour codes only for a terminal, not for a file or a pipe.
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .init();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.is_broken_pipe() => ExitCode::SUCCESS,
        Err(e) => {
            output::error(&e);
            e.exit_code()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_line_definition_is_valid() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
