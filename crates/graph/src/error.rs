//! The graph layer's errors.
//!
//! [`GraphError`] is the one error type of this crate; every variant names the check that
//! failed, after the Win32 `PEER_E_*` codes where one fits (`MaxRecordSizeExceeded` is
//! `PEER_E_MAX_RECORD_SIZE_EXCEEDED`, `InvalidRecordExpiration` is
//! `PEER_E_INVALID_RECORD_EXPIRATION`, …). [`Rejection`] is the small, copyable subset a
//! store reports when it refuses a record during a merge
//! ([`ApplyOutcome::Rejected`](crate::store::ApplyOutcome::Rejected)); it converts into the
//! matching [`GraphError`] variant.

use std::path::PathBuf;

use peergroup_base::UnixTime;

use crate::hlc::Hlc;
use crate::id::{GraphId, RecordId};
use crate::search::QueryError;

/// Errors of the graph layer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GraphError {
    // --- record limits (graph configuration) ---
    /// The encoded record is larger than the graph's maximum record size
    /// (`PEER_E_MAX_RECORD_SIZE_EXCEEDED`).
    #[error("record of {size} bytes exceeds the maximum record size of {max} bytes")]
    MaxRecordSizeExceeded {
        /// Encoded size of the record (or of the input, when checked before decoding).
        size: usize,
        /// The configured maximum.
        max: u32,
    },
    /// A configured maximum record size is outside 1 KiB ..= 60 MiB
    /// (`PEER_E_INVALID_RECORD_SIZE`).
    #[error("maximum record size {requested} is outside the allowed range {min}..={max} bytes")]
    InvalidRecordSize {
        /// The value asked for.
        requested: u32,
        /// Smallest allowed value.
        min: u32,
        /// Largest allowed value.
        max: u32,
    },
    /// The record has more attributes than allowed (`PEER_E_TOO_MANY_ATTRIBUTES`).
    #[error("record has {count} attributes, more than the {max} allowed")]
    TooManyAttributes {
        /// Number of attributes.
        count: usize,
        /// The limit.
        max: u32,
    },
    /// The attributes together are larger than allowed (`PEER_E_INVALID_ATTRIBUTES`).
    #[error("record attributes take {size} bytes, more than the {max} allowed")]
    AttributesTooLarge {
        /// Total attribute size (names plus values).
        size: usize,
        /// The limit.
        max: u32,
    },
    /// An attribute name breaks the naming rule (`PEER_E_INVALID_ATTRIBUTES`).
    #[error("invalid attribute name {name:?}: {reason}")]
    InvalidAttributeName {
        /// The name (truncated to 64 bytes).
        name: String,
        /// Which rule it broke.
        reason: &'static str,
    },
    /// Two attributes have the same name (`PEER_E_INVALID_ATTRIBUTES`).
    #[error("attribute {name:?} appears more than once")]
    DuplicateAttribute {
        /// The repeated name.
        name: String,
    },
    /// Decoded attributes are not in strictly increasing name order (the canonical form).
    #[error("attributes are not in canonical (strictly increasing name) order at {name:?}")]
    AttributesOutOfOrder {
        /// The first name out of order.
        name: String,
    },
    /// The security data is larger than allowed.
    #[error("security data of {size} bytes exceeds the maximum of {max} bytes")]
    SecurityDataTooLarge {
        /// Its size.
        size: usize,
        /// The limit.
        max: u32,
    },

    // --- record validity ---
    /// The record's version is not valid: 0, or one past `u32::MAX` for an update
    /// (`PEER_E_INVALID_RECORD`).
    #[error("invalid record version {version}: {reason}")]
    InvalidRecordVersion {
        /// The version (for an exhausted counter: the predecessor's).
        version: u32,
        /// Which rule it broke.
        reason: &'static str,
    },
    /// A version-1 record whose modification time or modifier differs from its creation.
    #[error("version 1 of a record must have modified == created and last modifier == creator")]
    InconsistentFirstVersion,
    /// The last-modified time is earlier than the creation time.
    #[error("record modified at {modified} before it was created at {created}")]
    ModifiedBeforeCreated {
        /// Creation time.
        created: Hlc,
        /// Modification time.
        modified: Hlc,
    },
    /// The expiration is not after the last modification, or an update moves it earlier
    /// (`PEER_E_INVALID_RECORD_EXPIRATION`).
    #[error("invalid record expiration {expires}: {reason}")]
    InvalidRecordExpiration {
        /// The record's expiration.
        expires: UnixTime,
        /// Which rule it broke.
        reason: &'static str,
    },
    /// A deleted record (tombstone) carries a payload or attributes.
    #[error("a deleted record must have an empty payload and no attributes")]
    TombstoneNotEmpty,
    /// The record's expiration time has passed.
    #[error("record {id} expired at {expires}")]
    RecordExpired {
        /// The record.
        id: RecordId,
        /// When it expired.
        expires: UnixTime,
    },

    // --- update rules ([MS-PPGRH] 3.1.7.8) ---
    /// An update names a different record id than its predecessor.
    #[error("update is for record {update}, not {existing}")]
    RecordIdMismatch {
        /// The stored record.
        existing: RecordId,
        /// The update.
        update: RecordId,
    },
    /// An update changes the record type.
    #[error("an update must not change the record type of {id}")]
    TypeChanged {
        /// The record.
        id: RecordId,
    },
    /// An update changes the creator.
    #[error("an update must not change the creator of {id}")]
    CreatorChanged {
        /// The record.
        id: RecordId,
    },
    /// An update changes the creation time.
    #[error("an update must not change the creation time of {id}")]
    CreationTimeChanged {
        /// The record.
        id: RecordId,
    },
    /// An update's version is not strictly greater than the stored one.
    #[error("update of {id} has version {update}, not greater than the stored {existing}")]
    VersionNotGreater {
        /// The record.
        id: RecordId,
        /// Stored version.
        existing: u32,
        /// Version of the update.
        update: u32,
    },
    /// An update's modification time is not after its predecessor's (the writer's clock
    /// has not observed the record it updates).
    #[error("update of {id} is stamped {update}, not after the stored {existing}")]
    ModifiedNotAfterPredecessor {
        /// The record.
        id: RecordId,
        /// Stored modification time.
        existing: Hlc,
        /// The update's.
        update: Hlc,
    },
    /// The record is deleted (a tombstone); it cannot be updated.
    #[error("record {id} is deleted and cannot be updated")]
    RecordDeleted {
        /// The record.
        id: RecordId,
    },
    /// No record with this id (`PEER_E_RECORD_NOT_FOUND`).
    #[error("record {id} not found")]
    RecordNotFound {
        /// The id looked up.
        id: RecordId,
    },
    /// A record with this id already exists (`PEER_E_ALREADY_EXISTS`).
    #[error("record {id} already exists")]
    RecordAlreadyExists {
        /// The id.
        id: RecordId,
    },
    /// An update lost to the stored record in the conflict order (a concurrent update won).
    #[error("update of {id} lost to a newer stored version")]
    UpdateSuperseded {
        /// The record.
        id: RecordId,
    },

    // --- encoding ---
    /// The bytes are not a valid record encoding.
    #[error("malformed record: {reason}")]
    MalformedRecord {
        /// What the decoder found.
        reason: String,
    },
    /// The bytes decode, but are not the canonical encoding of what they decode to.
    #[error("record encoding is not canonical")]
    NonCanonicalRecord,
    /// The record's format byte is not one this code reads.
    #[error("unsupported record format {format} (this code reads format 1)")]
    UnsupportedRecordFormat {
        /// The format found.
        format: u8,
    },
    /// A graph id breaks the naming rule.
    #[error("invalid graph id: {reason}")]
    InvalidGraphId {
        /// Which rule it broke.
        reason: &'static str,
    },
    /// A record id or type is not a UUID.
    #[error("invalid UUID {input:?}")]
    InvalidUuid {
        /// The input (truncated to 64 bytes).
        input: String,
    },

    // --- clock ---
    /// A remote timestamp is further ahead of the local wall clock than allowed.
    #[error("remote clock {remote} is {ahead_ms} ms ahead of local time, more than {max_ms} ms")]
    ClockDrift {
        /// The remote timestamp.
        remote: Hlc,
        /// How far ahead of the local wall clock it is.
        ahead_ms: u64,
        /// The configured maximum.
        max_ms: u64,
    },

    // --- search ---
    /// A search query does not parse (`PEER_E_INVALID_SEARCH`).
    #[error("invalid search: {0}")]
    InvalidSearch(#[from] QueryError),

    // --- storage ---
    /// The storage engine failed (I/O, locking, …).
    #[error("record store {}: cannot {operation}: {reason}", path.display())]
    Storage {
        /// The store's file or directory.
        path: PathBuf,
        /// What was being done.
        operation: &'static str,
        /// What the engine said.
        reason: String,
    },
    /// The store is open already: by another process, or elsewhere in this one (the
    /// engine locks its file while open, on every OS). Close it there first.
    #[error(
        "record store {} is already open (by another process, or elsewhere in this one); \
         close it there first",
        path.display()
    )]
    StoreInUse {
        /// The store's file or directory.
        path: PathBuf,
    },
    /// The store's files are damaged or not a record store (`PEER_E_INVALID_DATABASE`).
    #[error("record store {} is corrupted or not a record store: {reason}", path.display())]
    CorruptStore {
        /// The store's file or directory.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A record read back from the store fails a check.
    #[error("record store {}: stored record {key} is invalid: {source}", path.display())]
    InvalidStoredRecord {
        /// The store's file or directory.
        path: PathBuf,
        /// The record's key (id in UUID form, or the raw key in hex).
        key: String,
        /// The failed check.
        #[source]
        source: Box<GraphError>,
    },
    /// The store was written by a newer program.
    #[error("record store {} has format {found}, this program reads format {expected}", path.display())]
    UnsupportedStoreFormat {
        /// The store's file or directory.
        path: PathBuf,
        /// The format found.
        found: u32,
        /// The format this code reads.
        expected: u32,
    },

    // --- database export files (`graph.md` §12, `crate::export`) ---
    /// The input does not start with the export magic `PGGRAPHX`: it is not a database
    /// export.
    #[error("not a graph database export (bad magic bytes)")]
    ExportNotAnExport,
    /// The export was written in a format version this code does not read.
    #[error("unsupported graph database export version {version} (this code reads version 1)")]
    UnsupportedExportVersion {
        /// The version found.
        version: u8,
    },
    /// The export holds the records of another graph.
    #[error("database export is of graph {found}, not of graph {expected}")]
    ExportWrongGraph {
        /// The graph the caller imports into.
        expected: GraphId,
        /// The graph named in the export.
        found: GraphId,
    },
    /// The export ends before its end: inside `part`.
    #[error("database export is truncated: it ends inside the {part}")]
    ExportTruncated {
        /// What was being read: `"magic"`, `"header"`, `"record length"`, `"record"` or
        /// `"checksum"`.
        part: &'static str,
    },
    /// The export's SHA-256 checksum does not match its contents (accidental damage).
    #[error("database export checksum does not match its contents")]
    ExportChecksumMismatch,
    /// Bytes follow the export's checksum.
    #[error("database export has trailing data after its checksum")]
    ExportTrailingData,
    /// An export writer was given a different number of records than it declared in the
    /// header.
    #[error("database export declares {declared} records but {written} were written")]
    ExportCountMismatch {
        /// The count written in the header.
        declared: u64,
        /// The records written (when too many: the count including the one refused).
        written: u64,
    },
    /// Reading or writing an export failed.
    #[error("database export: cannot {operation}: {source}")]
    ExportIo {
        /// What was being done.
        operation: &'static str,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

impl GraphError {
    /// `true` if a record lookup found nothing.
    pub fn is_not_found(&self) -> bool {
        matches!(self, GraphError::RecordNotFound { .. })
    }

    /// `true` if the store's files are damaged or not readable as a record store.
    pub fn is_corrupt_store(&self) -> bool {
        matches!(
            self,
            GraphError::CorruptStore { .. }
                | GraphError::InvalidStoredRecord { .. }
                | GraphError::UnsupportedStoreFormat { .. }
        )
    }

    /// `true` if the store is open already, in another process or elsewhere in this one.
    pub fn is_store_in_use(&self) -> bool {
        matches!(self, GraphError::StoreInUse { .. })
    }

    /// `true` for a failure of the storage engine or its files (rather than of a record).
    pub fn is_storage(&self) -> bool {
        matches!(self, GraphError::Storage { .. } | GraphError::StoreInUse { .. })
            || self.is_corrupt_store()
    }

    /// `true` if a record (built locally, decoded, or read back) breaks a record-size or
    /// attribute limit.
    pub fn is_limit_exceeded(&self) -> bool {
        matches!(
            self,
            GraphError::MaxRecordSizeExceeded { .. }
                | GraphError::TooManyAttributes { .. }
                | GraphError::AttributesTooLarge { .. }
                | GraphError::SecurityDataTooLarge { .. }
        )
    }

    /// `true` if an update broke one of the update rules of [MS-PPGRH] 3.1.7.8.
    pub fn is_update_rule_violation(&self) -> bool {
        matches!(
            self,
            GraphError::RecordIdMismatch { .. }
                | GraphError::TypeChanged { .. }
                | GraphError::CreatorChanged { .. }
                | GraphError::CreationTimeChanged { .. }
                | GraphError::VersionNotGreater { .. }
                | GraphError::ModifiedNotAfterPredecessor { .. }
                | GraphError::RecordDeleted { .. }
                | GraphError::InvalidRecordExpiration { .. }
        )
    }
}

/// Why a store refused a record during [`apply`](crate::store::RecordStore::apply).
///
/// A rejection leaves the store unchanged. Every variant converts into the [`GraphError`]
/// of the same name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum Rejection {
    /// The record had expired when it arrived.
    #[error("the record has expired")]
    RecordExpired,
    /// Larger than this store's maximum record size.
    #[error("record of {size} bytes exceeds the maximum record size of {max} bytes")]
    MaxRecordSizeExceeded {
        /// Encoded size.
        size: usize,
        /// This store's limit.
        max: u32,
    },
    /// More attributes than this store allows.
    #[error("record has {count} attributes, more than the {max} allowed")]
    TooManyAttributes {
        /// Number of attributes.
        count: usize,
        /// This store's limit.
        max: u32,
    },
    /// Attributes larger than this store allows.
    #[error("record attributes take {size} bytes, more than the {max} allowed")]
    AttributesTooLarge {
        /// Total attribute size.
        size: usize,
        /// This store's limit.
        max: u32,
    },
    /// Security data larger than this store allows.
    #[error("security data of {size} bytes exceeds the maximum of {max} bytes")]
    SecurityDataTooLarge {
        /// Its size.
        size: usize,
        /// This store's limit.
        max: u32,
    },
    /// Same id as a stored record, but a different record type.
    #[error("a stored record with this id has another type")]
    TypeChanged,
    /// Same id as a stored record, but a different creator.
    #[error("a stored record with this id has another creator")]
    CreatorChanged,
    /// Same id as a stored record, but a different creation time.
    #[error("a stored record with this id has another creation time")]
    CreationTimeChanged,
    /// A higher version of a record the store holds as deleted (no update after delete).
    #[error("the record is deleted; a live version cannot replace its tombstone")]
    RecordDeleted,
    /// A higher version whose expiration is earlier than the stored one's.
    #[error("a higher version may not move the expiration earlier")]
    InvalidRecordExpiration,
}

impl Rejection {
    /// The matching [`GraphError`] for record `id` with expiration `expires`.
    pub fn into_error(self, id: RecordId, expires: UnixTime) -> GraphError {
        match self {
            Rejection::RecordExpired => GraphError::RecordExpired { id, expires },
            Rejection::MaxRecordSizeExceeded { size, max } => {
                GraphError::MaxRecordSizeExceeded { size, max }
            }
            Rejection::TooManyAttributes { count, max } => {
                GraphError::TooManyAttributes { count, max }
            }
            Rejection::AttributesTooLarge { size, max } => {
                GraphError::AttributesTooLarge { size, max }
            }
            Rejection::SecurityDataTooLarge { size, max } => {
                GraphError::SecurityDataTooLarge { size, max }
            }
            Rejection::TypeChanged => GraphError::TypeChanged { id },
            Rejection::CreatorChanged => GraphError::CreatorChanged { id },
            Rejection::CreationTimeChanged => GraphError::CreationTimeChanged { id },
            Rejection::RecordDeleted => GraphError::RecordDeleted { id },
            Rejection::InvalidRecordExpiration => GraphError::InvalidRecordExpiration {
                expires,
                reason: "an update may not move the expiration earlier",
            },
        }
    }
}

/// Truncates user-supplied text for inclusion in an error message.
pub(crate) fn truncate_for_error(s: &str) -> String {
    const MAX: usize = 64;
    if s.len() <= MAX {
        return s.to_owned();
    }
    let mut end = MAX;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}
