//! What every `p2p` command shares: the error type, exit codes, and output helpers.
//!
//! Results go to stdout, diagnostics to stderr as `error: …` / `warning: …`. A closed
//! stdout (`p2p … | head`) ends the command quietly instead of panicking.

use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use peergroup_identity::IdentityError;

/// Exit status of a command that failed at run time (bad input data, missing identity, I/O).
pub(crate) const EXIT_FAILURE: u8 = 1;

/// Exit status of a malformed command line (clap uses the same value).
pub(crate) const EXIT_USAGE: u8 = 2;

/// Why a command failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CliError {
    /// The command line cannot be carried out as given (exit status 2).
    #[error("{0}")]
    Usage(String),
    /// The identity layer refused (exit status 1).
    #[error(transparent)]
    Identity(#[from] IdentityError),
    /// The transport refused (exit status 1).
    #[error(transparent)]
    Net(#[from] peergroup_net::NetError),
    /// A file given on the command line could not be used (exit status 1).
    #[error("{}: {reason}", path.display())]
    File {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// Any other run-time failure, described for the user (exit status 1).
    #[error("{0}")]
    Runtime(String),
    /// Writing to stdout failed.
    #[error("cannot write output: {0}")]
    Output(#[source] io::Error),
}

impl CliError {
    /// A [`CliError::File`] from an I/O error.
    pub(crate) fn file(path: impl Into<PathBuf>, action: &str, e: &io::Error) -> Self {
        CliError::File { path: path.into(), reason: format!("cannot {action}: {e}") }
    }

    /// A [`CliError::Runtime`].
    pub(crate) fn runtime(message: impl Into<String>) -> Self {
        CliError::Runtime(message.into())
    }

    /// The process exit code for this error.
    pub(crate) fn exit_code(&self) -> ExitCode {
        match self {
            CliError::Usage(_) => ExitCode::from(EXIT_USAGE),
            _ => ExitCode::from(EXIT_FAILURE),
        }
    }

    /// `true` when stdout was closed by the reader (nothing to report).
    pub(crate) fn is_broken_pipe(&self) -> bool {
        matches!(self, CliError::Output(e) if e.kind() == io::ErrorKind::BrokenPipe)
    }
}

/// Prints `text` and a newline to stdout.
pub(crate) fn line(text: impl AsRef<str>) -> Result<(), CliError> {
    let mut out = io::stdout().lock();
    writeln!(out, "{}", text.as_ref()).map_err(CliError::Output)
}

/// Prints `text` to stdout as is.
pub(crate) fn raw(text: &str) -> Result<(), CliError> {
    let mut out = io::stdout().lock();
    out.write_all(text.as_bytes()).and_then(|()| out.flush()).map_err(CliError::Output)
}

/// Prints `warning: …` to stderr.
pub(crate) fn warn(text: impl std::fmt::Display) {
    eprintln!("warning: {text}");
}

/// Prints `error: …` to stderr.
pub(crate) fn error(e: &CliError) {
    eprintln!("error: {e}");
}

/// Prints rows as left-aligned columns under a header, two spaces apart.
pub(crate) fn table(header: &[&str], rows: &[Vec<String>]) -> Result<(), CliError> {
    let columns = header.len();
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let render = |cells: &mut dyn Iterator<Item = &str>| {
        let mut s = String::new();
        for (i, cell) in cells.enumerate() {
            s.push_str(cell);
            if i + 1 < columns {
                let pad = widths.get(i).copied().unwrap_or(0).saturating_sub(cell.chars().count());
                s.extend(std::iter::repeat_n(' ', pad + 2));
            }
        }
        s.trim_end().to_owned()
    };
    line(render(&mut header.iter().copied()))?;
    for row in rows {
        line(render(&mut row.iter().map(String::as_str)))?;
    }
    Ok(())
}

/// Prints `label: value` pairs with the values aligned.
pub(crate) fn details(pairs: &[(&str, String)]) -> Result<(), CliError> {
    let width = pairs.iter().map(|(k, _)| k.chars().count()).max().unwrap_or(0);
    for (k, v) in pairs {
        line(format!("{k}:{:pad$} {v}", "", pad = width - k.chars().count()))?;
    }
    Ok(())
}
