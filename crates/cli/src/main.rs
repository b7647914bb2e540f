//! `p2p`: the peergroup command-line tool, after `netsh p2p` (DESIGN.md §8).
//!
//! The commands and their options are the clap definition below ([`Cli`] and each
//! module's subcommand enum); `p2p --help` and `p2p <command> --help` print them, and the
//! README's synopsis is generated from the same definition (`usage.rs`, checked by a test).
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
#[cfg(test)]
mod usage;

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
