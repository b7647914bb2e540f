//! What every `p2p` command shares: the error type, exit codes, and all of its output.
//!
//! Every line `p2p` writes goes through this module; the crate has no `println!` or
//! `eprintln!` (they panic when the stream is closed). Results go to stdout ([`line()`],
//! [`raw`], [`table`], [`details`]), diagnostics to stderr as `error: …` / `warning: …`
//! or plain notes ([`note`]). A write to a closed stdout (`p2p … | head`) is a
//! [`CliError::Output`] with `BrokenPipe`, which `main` turns into a quiet exit with status
//! 0; a closed stderr is ignored. Tables are laid out by comfy-table, by display width.

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

/// Prints `text` and a newline to stderr: progress and notes that are not the command's
/// result. A closed stderr is ignored (there is nowhere left to tell).
pub(crate) fn note(text: impl std::fmt::Display) {
    let _ = writeln!(io::stderr().lock(), "{text}");
}

/// Prints `warning: …` to stderr.
pub(crate) fn warn(text: impl std::fmt::Display) {
    note(format_args!("warning: {text}"));
}

/// Prints `error: …` to stderr.
pub(crate) fn error(e: &impl std::fmt::Display) {
    note(format_args!("error: {e}"));
}

/// Prints rows as left-aligned columns under a header, two spaces apart.
pub(crate) fn table(header: &[&str], rows: &[Vec<String>]) -> Result<(), CliError> {
    raw(&columns(Some(header), rows, 0, 2))
}

/// Prints `label: value` pairs with the values aligned.
pub(crate) fn details(pairs: &[(&str, String)]) -> Result<(), CliError> {
    let rows: Vec<Vec<String>> =
        pairs.iter().map(|(k, v)| vec![format!("{k}:"), v.clone()]).collect();
    raw(&columns(None, &rows, 0, 1))
}

/// Renders rows (under `header`, if any) as left-aligned columns `gap` spaces apart, every
/// line indented by `indent` spaces and ended by a newline, without trailing spaces.
///
/// Widths are display widths (comfy-table measures with unicode-width): a CJK character or
/// an emoji takes two columns, a combining mark none, so columns line up in a terminal
/// whatever the names hold. Nothing is wrapped or cut.
pub(crate) fn columns(
    header: Option<&[&str]>,
    rows: &[Vec<String>],
    indent: usize,
    gap: u16,
) -> String {
    let mut table = comfy_table::Table::new();
    table.load_style(comfy_table::presets::NOTHING);
    if let Some(header) = header {
        table.set_header(header.to_vec());
    }
    table.add_rows(rows.iter().cloned());
    let last = table.column_count().saturating_sub(1);
    for (i, column) in table.column_iter_mut().enumerate() {
        column.set_padding((0, if i == last { 0 } else { gap }));
    }
    let mut text = String::new();
    for l in table.lines() {
        text.extend(std::iter::repeat_n(' ', indent));
        text.push_str(l.trim_end());
        text.push('\n');
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(cells: &[&[&str]]) -> Vec<Vec<String>> {
        cells.iter().map(|r| r.iter().map(|c| (*c).to_owned()).collect()).collect()
    }

    #[test]
    fn columns_are_padded_to_the_widest_cell() {
        let text = columns(
            Some(&["NAME", "FRIENDLY NAME", "CREATED"]),
            &rows(&[&["a.alice", "Alice", "2026-01-01"], &["b.bob", "", "2026-01-02"]]),
            0,
            2,
        );
        assert_eq!(
            text,
            "NAME     FRIENDLY NAME  CREATED\n\
             a.alice  Alice          2026-01-01\n\
             b.bob                   2026-01-02\n"
        );
    }

    /// CJK characters and most emoji are two terminal columns wide: the column after them
    /// starts where it does on the other lines (a count of chars would put it too far right).
    #[test]
    fn wide_characters_count_as_two_columns() {
        let text = columns(
            Some(&["PEER NAME", "FRIENDLY NAME", "CREATED"]),
            &rows(&[
                &["a.alice", "日本語の名前", "2026-01-01"],
                &["b.bob", "🎉 party", "2026-01-02"],
                &["c.carol", "Carol", "2026-01-03"],
            ]),
            2,
            2,
        );
        // FRIENDLY NAME is 13 columns; 日本語の名前 is 12, 🎉 party is 8.
        assert_eq!(
            text,
            "  PEER NAME  FRIENDLY NAME  CREATED\n  \
             a.alice    日本語の名前   2026-01-01\n  \
             b.bob      🎉 party       2026-01-02\n  \
             c.carol    Carol          2026-01-03\n"
        );
    }

    #[test]
    fn details_align_values_after_the_labels() {
        let text = columns(
            None,
            &rows(&[&["peer name:", "a.alice"], &["friendly name:", "名前"], &["x:", ""]]),
            0,
            1,
        );
        assert_eq!(text, "peer name:     a.alice\nfriendly name: 名前\nx:\n");
    }

    #[test]
    fn an_empty_table_is_its_header() {
        assert_eq!(columns(Some(&["A", "B"]), &[], 0, 2), "A  B\n");
        assert_eq!(columns(None, &[], 4, 2), "");
    }
}
