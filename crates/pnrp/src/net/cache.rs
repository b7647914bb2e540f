//! The routing cache: the Global cloud's routing table, persisted so that the next start
//! bootstraps from it (`proto-specs/pnrp-driver.md` §3).
//!
//! The file is JSON, written atomically (temporary file in the same directory, `fsync`,
//! rename, directory `fsync` on Unix), so a crash leaves the old cache or the new one.
//! Reading never fails the start: a missing, oversized or damaged file is an empty cache
//! (with a warning), and entries that do not parse are skipped one by one.

use std::fs;
use std::io::Read;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use peergroup_base::{NodeId, PeerAddr, UnixTime};
use serde::{Deserialize, Serialize};
use tracing::{debug, warn};

use crate::net::error::PnrpError;
use crate::proto::TableEntry;

/// The `format` member of every cache file.
pub const CACHE_FORMAT: &str = "peergroup-pnrp-routing-cache";
/// The `version` this code writes and reads.
pub const CACHE_VERSION: u32 = 1;
/// Files larger than this are refused unread: 1 MiB (≈ 10,000 entries, far above
/// [`MAX_CACHE_ENTRIES`]).
pub const MAX_CACHE_FILE_BYTES: u64 = 1024 * 1024;
/// Most entries written (the freshest first) and read.
pub const MAX_CACHE_ENTRIES: usize = 256;
/// File name of the Global cloud's cache inside `<data dir>/pnrp/`.
pub const GLOBAL_CACHE_FILE: &str = "global.cache";

/// `<data dir>/pnrp/global.cache`.
pub fn cache_path_in(data_dir: &Path) -> PathBuf {
    data_dir.join("pnrp").join(GLOBAL_CACHE_FILE)
}

#[derive(Debug, Serialize, Deserialize)]
struct CacheFile {
    format: String,
    version: u32,
    cloud: String,
    /// The node that wrote it (informational).
    node: String,
    saved_at_ms: u64,
    peers: Vec<CacheEntry>,
}

#[derive(Debug, Serialize, Deserialize)]
struct CacheEntry {
    node: String,
    addr: String,
}

/// Encodes a cache of `peers` written by `me` at `now` (freshest entries first).
pub fn encode(me: NodeId, peers: &[PeerAddr], now: UnixTime) -> Vec<u8> {
    let file = CacheFile {
        format: CACHE_FORMAT.to_owned(),
        version: CACHE_VERSION,
        cloud: "global".to_owned(),
        node: me.to_hex(),
        saved_at_ms: now.as_millis(),
        peers: peers
            .iter()
            .take(MAX_CACHE_ENTRIES)
            .map(|p| CacheEntry { node: p.node.to_hex(), addr: p.addr.to_string() })
            .collect(),
    };
    // A struct of strings and integers always serialises.
    serde_json::to_vec_pretty(&file).unwrap_or_default()
}

/// Decodes a cache file's bytes: the usable entries (not `me`, port ≠ 0), at most
/// [`MAX_CACHE_ENTRIES`]. `None` if the document is not a cache of this format.
pub fn decode(bytes: &[u8], me: NodeId) -> Option<Vec<PeerAddr>> {
    let file: CacheFile = serde_json::from_slice(bytes).ok()?;
    if file.format != CACHE_FORMAT || file.version != CACHE_VERSION || file.cloud != "global" {
        return None;
    }
    let mut out: Vec<PeerAddr> = Vec::new();
    for e in file.peers.iter().take(MAX_CACHE_ENTRIES) {
        let (Some(node), Ok(addr)) = (NodeId::from_hex(&e.node), e.addr.parse::<SocketAddr>())
        else {
            continue;
        };
        if node == me || addr.port() == 0 || out.iter().any(|p| p.node == node) {
            continue;
        }
        out.push(PeerAddr { node, addr });
    }
    Some(out)
}

/// Reads the cache at `path`; an absent or unusable file is an empty cache.
pub fn load(path: &Path, me: NodeId) -> Vec<PeerAddr> {
    let file = match fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Vec::new(),
        Err(e) => {
            warn!(path = %path.display(), error = %e, "cannot read the routing cache");
            return Vec::new();
        }
    };
    let mut bytes = Vec::new();
    if let Err(e) = file.take(MAX_CACHE_FILE_BYTES + 1).read_to_end(&mut bytes) {
        warn!(path = %path.display(), error = %e, "cannot read the routing cache");
        return Vec::new();
    }
    if bytes.len() as u64 > MAX_CACHE_FILE_BYTES {
        warn!(path = %path.display(), "routing cache larger than 1 MiB: ignored");
        return Vec::new();
    }
    match decode(&bytes, me) {
        Some(peers) => {
            debug!(path = %path.display(), peers = peers.len(), "routing cache loaded");
            peers
        }
        None => {
            warn!(path = %path.display(), "routing cache is damaged or of another format: ignored");
            Vec::new()
        }
    }
}

/// The table entries worth persisting, freshest and most reliable first.
pub fn select(mut table: Vec<TableEntry>) -> Vec<PeerAddr> {
    table.sort_by(|a, b| a.failures.cmp(&b.failures).then(b.last_seen.cmp(&a.last_seen)));
    table.into_iter().take(MAX_CACHE_ENTRIES).map(|e| e.peer).collect()
}

/// Writes `bytes` to `path` atomically: temporary file in the same directory, `fsync`,
/// rename over `path`, `fsync` of the directory (Unix). Creates the directory.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), PnrpError> {
    peergroup_base::fsutil::write_atomic(path, bytes)
        .map_err(|source| PnrpError::CacheWrite { path: path.to_path_buf(), source })
}

#[cfg(test)]
mod tests {
    use super::*;
    use peergroup_base::Instant;

    fn peer(b: u8, port: u16) -> PeerAddr {
        PeerAddr { node: NodeId([b; 32]), addr: SocketAddr::from(([127, 0, 0, 1], port)) }
    }

    #[test]
    fn round_trip_skips_self_duplicates_and_junk() {
        let me = NodeId([9; 32]);
        let peers = vec![peer(1, 1000), peer(2, 2000), peer(9, 3000), peer(1, 4000)];
        let bytes = encode(me, &peers, UnixTime::from_secs(1_800_000_000));
        let back = decode(&bytes, me).unwrap();
        assert_eq!(back, vec![peer(1, 1000), peer(2, 2000)]);

        let text = String::from_utf8(bytes).unwrap().replace(&NodeId([2; 32]).to_hex(), "zz");
        assert_eq!(decode(text.as_bytes(), me).unwrap(), vec![peer(1, 1000)]);
        assert!(decode(b"{\"format\":\"other\"}", me).is_none());
        assert!(decode(b"\xff\xfe garbage", me).is_none());
    }

    #[test]
    fn atomic_write_then_load() {
        let dir = tempfile::tempdir().unwrap();
        let path = cache_path_in(dir.path());
        let me = NodeId([7; 32]);
        assert!(load(&path, me).is_empty(), "absent file is an empty cache");
        write_atomic(&path, &encode(me, &[peer(3, 3333)], UnixTime::EPOCH)).unwrap();
        assert_eq!(load(&path, me), vec![peer(3, 3333)]);
        fs::write(&path, b"not json").unwrap();
        assert!(load(&path, me).is_empty(), "damaged file is an empty cache");
        let leftovers: Vec<_> = fs::read_dir(path.parent().unwrap())
            .unwrap()
            .filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().contains(".tmp."))
            .collect();
        assert!(leftovers.is_empty());
    }

    #[test]
    fn select_prefers_reliable_then_fresh() {
        let e = |b: u8, failures: u8, seen: u64| TableEntry {
            peer: peer(b, 1000 + u16::from(b)),
            bucket: 0,
            last_seen: Instant::from_micros(seen),
            failures,
        };
        let order = select(vec![e(1, 1, 50), e(2, 0, 10), e(3, 0, 40)]);
        assert_eq!(order.iter().map(|p| p.node.0[0]).collect::<Vec<_>>(), vec![3, 2, 1]);
    }
}
