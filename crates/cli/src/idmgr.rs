//! `p2p idmgr`: the identity manager, after `netsh p2p idmgr`.
//!
//! Every command works on the identity store of the data directory
//! (`proto-specs/identity.md` §8). An identity `<NAME>` may be given as its full peer name,
//! its 40-hex-digit authority, its classifier, or an unambiguous classifier prefix
//! (`IdentityStore::find`).

use std::fs::OpenOptions;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use clap::Subcommand;
use peergroup_identity::export::{DEFAULT_ITERATIONS, MAX_ITERATIONS, MIN_ITERATIONS};
use peergroup_identity::{
    DocumentKind, EncryptedIdentity, ExportOptions, Identity, IdentityError, IdentityInfo,
    IdentityStore, MAX_DOCUMENT_BYTES, export_identity,
};

use crate::output::{self, CliError};
use crate::password;

/// `p2p idmgr …` subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum IdmgrCommand {
    /// Create a new identity (a fresh Ed25519 key) and print its peer name.
    CreateIdentity {
        /// The classifier: 1 to 149 characters, no control characters.
        classifier: String,
        /// A name for people (default: empty).
        #[arg(long, default_value = "", value_name = "TEXT")]
        friendly_name: String,
    },
    /// Show stored identities.
    Show {
        #[command(subcommand)]
        what: ShowCommand,
    },
    /// Write the public identity info (no private key) that an inviter needs.
    ExportInfo {
        /// The identity.
        name: String,
        /// Write to this file instead of stdout.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Export the full identity, private key included, encrypted under a password.
    Export {
        /// The identity.
        name: String,
        /// The file to write.
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
        /// Read the password from this file (one trailing newline is removed) instead of
        /// asking twice on the terminal.
        #[arg(long, value_name = "FILE")]
        password_file: Option<PathBuf>,
        /// PBKDF2-HMAC-SHA256 iterations.
        #[arg(
            long,
            default_value_t = DEFAULT_ITERATIONS,
            value_name = "N",
            value_parser = clap::value_parser!(u32).range(i64::from(MIN_ITERATIONS)..=i64::from(MAX_ITERATIONS)),
        )]
        iterations: u32,
        /// Overwrite FILE if it exists.
        #[arg(long)]
        force: bool,
    },
    /// Import an identity from a password-protected export.
    Import {
        /// The export file (`-----BEGIN PEERGROUP IDENTITY-----`).
        file: PathBuf,
        /// Read the password from this file (one trailing newline is removed) instead of
        /// asking on the terminal.
        #[arg(long, value_name = "FILE")]
        password_file: Option<PathBuf>,
    },
    /// Delete an identity and its private key from the store (no confirmation).
    Delete {
        /// The identity.
        name: String,
    },
    /// Change an identity's friendly name.
    SetFriendlyName {
        /// The identity.
        name: String,
        /// The new friendly name (may be empty).
        friendly_name: String,
    },
}

/// `p2p idmgr show …`.
#[derive(Debug, Subcommand)]
pub(crate) enum ShowCommand {
    /// List every identity: peer name, friendly name, creation time.
    Identities,
    /// Details of one identity.
    Identity {
        /// The identity.
        name: String,
    },
    /// The groups of an identity, in netsh's shape: the identity's P2P ID and peer name,
    /// then per group its P2P ID, chain length, peer name, friendly name and validity.
    /// `ALL`: every identity's groups.
    Groups {
        /// An identity, or `ALL` (default: every identity).
        name: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Runs one `idmgr` command against the store in `data_dir`.
pub(crate) fn run(data_dir: &Path, command: IdmgrCommand) -> Result<(), CliError> {
    let store = IdentityStore::open(data_dir)?;
    match command {
        IdmgrCommand::CreateIdentity { classifier, friendly_name } => {
            let identity = store.create(&classifier, &friendly_name)?;
            output::line(identity.peer_name().to_string())
        }
        IdmgrCommand::Show { what: ShowCommand::Identities } => show_identities(&store),
        IdmgrCommand::Show { what: ShowCommand::Identity { name } } => {
            show_identity(&store, &store.find(&name)?)
        }
        IdmgrCommand::Show { what: ShowCommand::Groups { name, json } } => {
            let identities = match name.as_deref() {
                None => store.list()?.into_iter().filter_map(Result::ok).collect(),
                Some(n) if n.eq_ignore_ascii_case("all") => {
                    store.list()?.into_iter().filter_map(Result::ok).collect()
                }
                Some(n) => vec![store.find(n)?],
            };
            show_groups(data_dir, &identities, json)
        }
        IdmgrCommand::ExportInfo { name, out } => {
            let text = IdentityInfo::export(&store.find(&name)?);
            match out {
                Some(path) => {
                    std::fs::write(&path, text).map_err(|e| CliError::file(&path, "write", &e))
                }
                None => output::raw(&text),
            }
        }
        IdmgrCommand::Export { name, out, password_file, iterations, force } => {
            let identity = store.find(&name)?;
            if out.exists() && !force {
                return Err(CliError::File {
                    path: out,
                    reason: "already exists (use --force to overwrite it)".into(),
                });
            }
            let password = password::new(password_file.as_deref())?;
            let text =
                export_identity(&identity, &password, &ExportOptions::with_iterations(iterations))?;
            write_private(&out, text.as_bytes(), force)?;
            output::line(format!("exported {} to {}", identity.peer_name(), out.display()))
        }
        IdmgrCommand::Import { file, password_file } => {
            let text = read_document(&file)?;
            let encrypted = match DocumentKind::detect(&text) {
                Some(DocumentKind::IdentityInfo) => {
                    return Err(CliError::File {
                        path: file,
                        reason: IdentityError::NoPrivateKey.to_string(),
                    });
                }
                _ => EncryptedIdentity::parse(&text)?,
            };
            let password = password::existing(password_file.as_deref())?;
            let identity = encrypted.decrypt(&password)?;
            store.import(&identity)?;
            output::line(format!("imported {}", identity.peer_name()))
        }
        IdmgrCommand::Delete { name } => {
            let identity = store.find(&name)?;
            store.delete(identity.peer_name())?;
            output::line(format!("deleted {}", identity.peer_name()))
        }
        IdmgrCommand::SetFriendlyName { name, friendly_name } => {
            let identity = store.find(&name)?;
            store.set_friendly_name(identity.peer_name(), &friendly_name)?;
            Ok(())
        }
    }
}

fn show_identities(store: &IdentityStore) -> Result<(), CliError> {
    let mut rows = Vec::new();
    for entry in store.list()? {
        match entry {
            Ok(i) => rows.push(vec![
                i.peer_name().to_string(),
                i.friendly_name().to_owned(),
                i.created().to_string(),
            ]),
            Err(e) => output::warn(format_args!("skipping unreadable identity: {e}")),
        }
    }
    if rows.is_empty() {
        output::warn(format_args!("no identities in {}", store.identities_dir().display()));
        return Ok(());
    }
    output::table(&["PEER NAME", "FRIENDLY NAME", "CREATED"], &rows)
}

fn show_identity(store: &IdentityStore, identity: &Identity) -> Result<(), CliError> {
    let fingerprint = ring::digest::digest(&ring::digest::SHA256, identity.certificate_der());
    output::details(&[
        ("peer name", identity.peer_name().to_string()),
        ("friendly name", identity.friendly_name().to_owned()),
        ("node id", identity.node_id().to_hex()),
        ("public key", hex::encode(identity.public_key())),
        ("P2P ID", identity.peer_name().p2p_id().to_hex()),
        ("created", identity.created().to_string()),
        ("certificate SHA-256", hex::encode(fingerprint.as_ref())),
        ("file", store.file_of(identity.peer_name()).display().to_string()),
    ])
}

/// Reads an armoured document, refusing files over [`MAX_DOCUMENT_BYTES`] without reading
/// them whole.
fn read_document(path: &Path) -> Result<String, CliError> {
    let file = std::fs::File::open(path).map_err(|e| CliError::file(path, "read", &e))?;
    let mut bytes = Vec::new();
    file.take(MAX_DOCUMENT_BYTES as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| CliError::file(path, "read", &e))?;
    if bytes.len() > MAX_DOCUMENT_BYTES {
        return Err(CliError::File {
            path: path.into(),
            reason: format!(
                "larger than the {MAX_DOCUMENT_BYTES} bytes an identity document may have"
            ),
        });
    }
    String::from_utf8(bytes)
        .map_err(|_| CliError::File { path: path.into(), reason: "not a text file".into() })
}

/// Writes a file that holds (encrypted) key material: owner-only (mode 0600 on Unix, an
/// owner-only ACL on Windows); refuses to replace an existing file unless `overwrite`.
fn write_private(path: &Path, bytes: &[u8], overwrite: bool) -> Result<(), CliError> {
    let mut options = OpenOptions::new();
    options.write(true);
    if overwrite {
        options.create(true).truncate(true);
    } else {
        options.create_new(true);
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut f = options.open(path).map_err(|e| CliError::file(path, "create", &e))?;
    // Before the content goes in; also narrows a replaced file's mode. Best effort: the
    // content is password-encrypted, and an export may go where there are no permissions
    // (a FAT-formatted stick).
    let _ = peergroup_os::restrict_to_owner(path);
    f.write_all(bytes).and_then(|()| f.sync_all()).map_err(|e| CliError::file(path, "write", &e))
}

/// `p2p idmgr show groups`: netsh's layout, one block per identity.
fn show_groups(data_dir: &Path, identities: &[Identity], json: bool) -> Result<(), CliError> {
    let options = peergroup_group::net::GroupOptions::default().data_dir(data_dir);
    let mut all = Vec::new();
    for identity in identities {
        let (groups, damaged) = peergroup_group::net::list_groups(identity.peer_name(), &options)
            .map_err(|e| CliError::runtime(e.to_string()))?;
        for d in damaged {
            output::warn(d);
        }
        if json {
            all.push(serde_json::json!({
                "identity": identity.peer_name().to_string(),
                "p2p_id": peergroup_base::P2pId::of(identity.peer_name()).to_string(),
                "groups": groups.iter().map(|g| serde_json::json!({
                    "p2p_id": peergroup_base::P2pId::of(&g.name).to_string(),
                    "peer_name": g.name.to_string(),
                    "friendly_name": g.friendly_name,
                    "gmc_chain_len": g.chain_len,
                    "role": g.role.to_string(),
                    "valid_until": g.not_after.to_string(),
                })).collect::<Vec<_>>(),
            }));
            continue;
        }
        output::line(format!(
            "Identity P2P ID: {}",
            peergroup_base::P2pId::of(identity.peer_name())
        ))?;
        output::line(format!("Identity peer name: {}", identity.peer_name()))?;
        if groups.is_empty() {
            output::line("  (no groups)")?;
        }
        for g in &groups {
            output::line(format!(
                "  Group P2P ID: {}    GMC chain len={}",
                peergroup_base::P2pId::of(&g.name),
                g.chain_len
            ))?;
            output::line(format!("    Peer name:     {}", g.name))?;
            output::line(format!("    Friendly name: {}", g.friendly_name))?;
            output::line(format!("    Role:          {}", g.role))?;
            output::line(format!("    Valid until:   {}", g.not_after))?;
        }
        output::line("")?;
    }
    if json {
        return output::line(serde_json::Value::Array(all).to_string());
    }
    Ok(())
}
