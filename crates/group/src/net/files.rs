//! A group's files (`group.md` §14.3): `<data>/groups/<identity authority>/<group
//! authority>/` with `group.json`, the replica, and the creator's group key; listing an
//! identity's groups from their metadata alone; deleting a closed group.

use std::path::{Path, PathBuf};

use peergroup_base::{PeerName, UnixTime};
use peergroup_graph::store::RedbStore;
use peergroup_net::Endpoint;
use serde::{Deserialize, Serialize};

use super::{GroupNetError, GroupOptions, KEY_FILE, METADATA_FILE, STORE_FILE};
use crate::cert::Role;
use crate::chain::Chain;

pub(super) const METADATA_FORMAT: &str = "peergroup-group/1";

/// The `group.json` of a group's directory.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct Metadata {
    pub(super) format: String,
    pub(super) group: String,
    pub(super) friendly_name: String,
    pub(super) cloud: String,
    pub(super) member_data_lifetime_secs: u64,
    pub(super) presence_lifetime_secs: u64,
    /// This member's chain (`group.md` §3.2), hex.
    pub(super) chain: String,
}

/// A group of an identity, as [`list_groups`] reads it from disk.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct GroupSummary {
    /// The group's peer name.
    pub name: PeerName,
    /// Its friendly name (as of the last time the group was created, joined or closed).
    pub friendly_name: String,
    /// The PNRP cloud it registers in.
    pub cloud: String,
    /// This member's role.
    pub role: Role,
    /// This member's chain length (certificates, root included).
    pub chain_len: usize,
    /// When this member's certificate expires.
    pub not_after: UnixTime,
    /// Whether this identity holds the group key (the creator).
    pub creator: bool,
    /// The group's directory.
    pub dir: PathBuf,
}

/// The directory of the groups of the identity with this authority.
pub fn identity_groups_dir(
    identity: &PeerName,
    options: &GroupOptions,
) -> Result<PathBuf, GroupNetError> {
    Ok(options.data()?.join("groups").join(identity.authority().to_string()))
}

/// The directory of `group` for the identity of `endpoint`.
pub fn group_dir(
    endpoint: &Endpoint,
    group: &PeerName,
    options: &GroupOptions,
) -> Result<PathBuf, GroupNetError> {
    Ok(identity_groups_dir(endpoint.peer_name(), options)?.join(group.authority().to_string()))
}

/// The groups of the identity named `identity` (`PeerGroupEnum`), read from their
/// metadata files without opening their stores (so also while they are open). A damaged
/// directory is reported in the second list and does not hide the others.
pub fn list_groups(
    identity: &PeerName,
    options: &GroupOptions,
) -> Result<(Vec<GroupSummary>, Vec<GroupNetError>), GroupNetError> {
    let dir = identity_groups_dir(identity, options)?;
    let entries = match std::fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((Vec::new(), Vec::new())),
        Err(e) => return Err(GroupNetError::Io { operation: "list", path: dir, source: e }),
    };
    let mut found = Vec::new();
    let mut damaged = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path();
        if !path.join(METADATA_FILE).exists() {
            continue;
        }
        match read_metadata(&path).and_then(|m| summary(&path, &m)) {
            Ok(s) => found.push(s),
            Err(e) => damaged.push(e),
        }
    }
    found.sort_by_key(|g| g.name.to_string());
    Ok((found, damaged))
}

pub(super) fn summary(dir: &Path, m: &Metadata) -> Result<GroupSummary, GroupNetError> {
    let chain = metadata_chain(dir, m)?;
    let leaf = chain.leaf().ok_or_else(|| corrupt(dir, "empty chain"))?;
    Ok(GroupSummary {
        name: parse_name(dir, &m.group)?,
        friendly_name: m.friendly_name.clone(),
        cloud: m.cloud.clone(),
        role: leaf.role(),
        chain_len: chain.certs().len(),
        not_after: leaf.not_after(),
        creator: dir.join(KEY_FILE).exists(),
        dir: dir.to_path_buf(),
    })
}

pub(super) fn corrupt(dir: &Path, reason: impl Into<String>) -> GroupNetError {
    GroupNetError::CorruptMetadata { path: dir.join(METADATA_FILE), reason: reason.into() }
}

pub(super) fn parse_name(dir: &Path, s: &str) -> Result<PeerName, GroupNetError> {
    PeerName::parse(s).map_err(|e| corrupt(dir, format!("group name: {e}")))
}

pub(super) fn metadata_chain(dir: &Path, m: &Metadata) -> Result<Chain, GroupNetError> {
    let bytes = hex::decode(&m.chain).map_err(|e| corrupt(dir, format!("chain: {e}")))?;
    Chain::decode(&bytes).map_err(|e| corrupt(dir, format!("chain: {e}")))
}

pub(super) fn read_metadata(dir: &Path) -> Result<Metadata, GroupNetError> {
    let path = dir.join(METADATA_FILE);
    let bytes = std::fs::read(&path).map_err(GroupNetError::io("read", &path))?;
    if bytes.len() > 64 << 10 {
        return Err(corrupt(dir, "larger than 64 KiB"));
    }
    let m: Metadata = serde_json::from_slice(&bytes).map_err(|e| corrupt(dir, e.to_string()))?;
    if m.format != METADATA_FORMAT {
        return Err(corrupt(dir, format!("unknown format {:?}", m.format)));
    }
    Ok(m)
}

pub(super) fn write_metadata(dir: &Path, m: &Metadata) -> Result<(), GroupNetError> {
    let path = dir.join(METADATA_FILE);
    let bytes = serde_json::to_vec_pretty(m).map_err(|e| corrupt(dir, e.to_string()))?;
    peergroup_base::fsutil::write_atomic(&path, &bytes).map_err(GroupNetError::io("write", &path))
}

/// Deletes a group's files (`PeerGroupDelete`): its replica, metadata and, for the
/// creator, the group key. The group must not be open: its store is locked while open.
pub fn delete_group(
    endpoint: &Endpoint,
    group: &PeerName,
    options: &GroupOptions,
) -> Result<(), GroupNetError> {
    let dir = group_dir(endpoint, group, options)?;
    if !dir.join(METADATA_FILE).exists() {
        return Err(GroupNetError::NotFound { group: group.to_string(), path: dir });
    }
    // Opening the store proves nobody has it open.
    drop(RedbStore::open_with_cache(
        dir.join(STORE_FILE),
        options.limits,
        options.store_cache_bytes,
    )?);
    std::fs::remove_dir_all(&dir).map_err(GroupNetError::io("remove", &dir))?;
    if let Some(parent) = dir.parent() {
        peergroup_base::fsutil::sync_dir(parent);
    }
    Ok(())
}
