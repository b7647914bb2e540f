//! Getting a password: from a file (`--password-file`) or from the terminal.

use std::io::{IsTerminal, Read};
use std::path::Path;

use zeroize::Zeroizing;

use crate::output::CliError;

/// Longest password file read, in bytes.
const MAX_PASSWORD_FILE_BYTES: u64 = 4096;

/// Reads a password file: UTF-8, one trailing newline (`\n` or `\r\n`) removed.
pub(crate) fn from_file(path: &Path) -> Result<Zeroizing<String>, CliError> {
    let file = std::fs::File::open(path).map_err(|e| CliError::file(path, "read", &e))?;
    let mut bytes = Zeroizing::new(Vec::new());
    file.take(MAX_PASSWORD_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| CliError::file(path, "read", &e))?;
    if bytes.len() as u64 > MAX_PASSWORD_FILE_BYTES {
        return Err(CliError::File {
            path: path.into(),
            reason: format!("password file is longer than {MAX_PASSWORD_FILE_BYTES} bytes"),
        });
    }
    let text = std::str::from_utf8(&bytes).map_err(|_| CliError::File {
        path: path.into(),
        reason: "password file is not UTF-8 text".into(),
    })?;
    let text = text.strip_suffix('\n').map_or(text, |t| t.strip_suffix('\r').unwrap_or(t));
    Ok(Zeroizing::new(text.to_owned()))
}

/// The password from `file` if given, else asked once on the terminal.
pub(crate) fn existing(file: Option<&Path>) -> Result<Zeroizing<String>, CliError> {
    match file {
        Some(f) => from_file(f),
        None => prompt("Password: "),
    }
}

/// The password from `file` if given, else asked twice on the terminal (must match).
pub(crate) fn new(file: Option<&Path>) -> Result<Zeroizing<String>, CliError> {
    if let Some(f) = file {
        return from_file(f);
    }
    let first = prompt("New password: ")?;
    if first.is_empty() {
        return Err(CliError::runtime("the password is empty"));
    }
    let second = prompt("Repeat the password: ")?;
    if *first != *second {
        return Err(CliError::runtime("the two passwords differ"));
    }
    Ok(first)
}

fn prompt(text: &str) -> Result<Zeroizing<String>, CliError> {
    if !std::io::stdin().is_terminal() {
        return Err(CliError::Usage(
            "no terminal to ask for a password: give one with --password-file FILE".into(),
        ));
    }
    rpassword::prompt_password(text)
        .map(Zeroizing::new)
        .map_err(|e| CliError::runtime(format!("cannot read the password: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_one_trailing_newline() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("pw");
        for (content, want) in [
            ("secret\n", "secret"),
            ("secret\r\n", "secret"),
            ("secret", "secret"),
            ("two\n\n", "two\n"),
            (" spaced \n", " spaced "),
        ] {
            std::fs::write(&p, content).unwrap();
            assert_eq!(from_file(&p).unwrap().as_str(), want);
        }
        std::fs::write(&p, [0xff, 0xfe]).unwrap();
        assert!(from_file(&p).is_err());
        assert!(from_file(&dir.path().join("missing")).is_err());
    }
}
