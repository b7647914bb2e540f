//! The security provider hook ([MS-PPGRH] 1.3.4, 3.1.7.27–28; `graph.md` §7.5).
//!
//! The graph layer moves records and keeps connections; it does not know who may write
//! what. A [`SecurityProvider`] — the grouping layer, in a group — decides:
//!
//! * whether a record that arrived is valid ([`Validation`]): accepted, rejected with a
//!   reason, or *deferred* (not decidable yet — typically its author's membership record
//!   has not arrived). Deferred records are kept and validated again on
//!   [`Command::RetryDeferred`](crate::proto::Command::RetryDeferred);
//! * the security data of a record this node writes (its signature);
//! * whether a peer may connect ([`Admission`]);
//! * which record types are *security records*, synchronised before all others.
//!
//! `TestProvider` (feature `sim`) is a provider for tests and simulations: it accepts
//! everything unless given rules, and can sign records with a keyed hash that it checks on
//! arrival.

use std::fmt;
use std::sync::Arc;

use peergroup_base::{PeerAddr, PeerName, UnixTime};

use crate::id::{GraphId, RecordId, RecordType};
use crate::proto::message::LinkKind;
use crate::record::Record;
use crate::store::{RecordFilter, RecordStore};

/// Why a provider refused a record or a peer: a typed error, cheap to clone.
///
/// The grouping layer puts its own error enum inside (`NotAMember`, `Revoked`, …);
/// [`ProviderRejection::downcast_ref`] gets it back, so the reason survives to
/// [`ProtoError`](crate::proto::ProtoError) and the application's events.
#[derive(Clone)]
pub struct ProviderRejection(Arc<dyn std::error::Error + Send + Sync + 'static>);

impl ProviderRejection {
    /// Wraps a typed reason.
    pub fn new<E: std::error::Error + Send + Sync + 'static>(reason: E) -> Self {
        ProviderRejection(Arc::new(reason))
    }

    /// A reason that is only a message (tests, simple providers).
    pub fn message(reason: impl Into<String>) -> Self {
        ProviderRejection(Arc::new(Message(reason.into())))
    }

    /// The typed reason, if it is a `T`.
    pub fn downcast_ref<T: std::error::Error + 'static>(&self) -> Option<&T> {
        self.0.downcast_ref::<T>()
    }

    /// The reason as an error.
    pub fn as_error(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
        &*self.0
    }
}

impl fmt::Debug for ProviderRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl fmt::Display for ProviderRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&*self.0, f)
    }
}

/// Two rejections are equal when they read the same (the typed reasons are not
/// comparable in general).
impl PartialEq for ProviderRejection {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0) || self.0.to_string() == other.0.to_string()
    }
}

impl Eq for ProviderRejection {}

/// A reason that is only a message.
#[derive(Debug)]
struct Message(String);

impl fmt::Display for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Message {}

/// A provider's verdict on a record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Validation {
    /// Valid: store and flood it.
    Accept,
    /// Invalid: drop it; the reason is reported in an event.
    Reject(ProviderRejection),
    /// Not decidable yet: keep it aside and ask again on `RetryDeferred`.
    Defer,
}

/// A provider's verdict on a peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Admission {
    /// The peer may connect.
    Allow,
    /// The peer is refused; the reason is reported in an event.
    Deny(ProviderRejection),
}

/// What a provider knows about a peer asking to connect (or answering our `Connect`).
#[derive(Debug, Clone, Copy)]
pub struct PeerInfo<'a> {
    /// The peer's authenticated node id and address.
    pub addr: &'a PeerAddr,
    /// The peer name it claims (the grouping layer checks it against the peer's
    /// credentials).
    pub peer: &'a PeerName,
    /// The connection asked for.
    pub kind: LinkKind,
}

/// Why a provider could not sign a record.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct SigningError {
    /// What went wrong.
    pub reason: String,
}

/// A read-only view of the graph's records, lent to the provider on every call.
///
/// Reads see what the store holds at the call's `now`: expired records are invisible,
/// tombstones are returned by [`get`](RecordLookup::get) and skipped by
/// [`enumerate`](RecordLookup::enumerate). A store that fails to read reports the record
/// as absent (the provider then defers or refuses; the failure itself surfaces on the
/// node's next write).
pub trait RecordLookup {
    /// The stored record with this id (a tombstone included), unless expired.
    fn get(&self, id: &RecordId) -> Option<Record>;
    /// Live records matching `filter`, in id order.
    fn enumerate(&self, filter: &RecordFilter) -> Vec<Record>;
    /// Every unexpired record, tombstones included, in sync order. Default: the live
    /// records only.
    fn all_with_tombstones(&self) -> Vec<Record> {
        self.enumerate(&RecordFilter::All)
    }
}

/// A [`RecordStore`] seen at one instant.
pub(crate) struct StoreView<'a, S> {
    pub(crate) store: &'a S,
    pub(crate) now: UnixTime,
}

impl<S: RecordStore> RecordLookup for StoreView<'_, S> {
    fn get(&self, id: &RecordId) -> Option<Record> {
        self.store.get(id, self.now).ok().flatten()
    }

    fn enumerate(&self, filter: &RecordFilter) -> Vec<Record> {
        self.store.enumerate(filter, self.now).unwrap_or_default()
    }

    fn all_with_tombstones(&self) -> Vec<Record> {
        self.store
            .sync_records(&crate::store::SyncRange::ALL, usize::MAX, self.now)
            .unwrap_or_default()
    }
}

/// No records at all (for calls made before a store exists, and for tests).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoRecords;

impl RecordLookup for NoRecords {
    fn get(&self, _id: &RecordId) -> Option<Record> {
        None
    }

    fn enumerate(&self, _filter: &RecordFilter) -> Vec<Record> {
        Vec::new()
    }
}

/// What every provider call is told: the graph, the wall-clock time and a read-only view
/// of the records.
#[derive(Clone, Copy)]
pub struct ProviderContext<'a> {
    /// The graph.
    pub graph: &'a GraphId,
    /// The wall-clock time.
    pub now: UnixTime,
    /// The records this node holds.
    pub records: &'a dyn RecordLookup,
}

impl fmt::Debug for ProviderContext<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProviderContext")
            .field("graph", self.graph)
            .field("now", &self.now)
            .finish_non_exhaustive()
    }
}

/// What the node should do after a provider saw a record stored
/// ([`SecurityProvider::stored`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProviderActions {
    /// Validate the deferred records again (the record may be what they waited for).
    pub retry_deferred: bool,
    /// Remove these records from the store outright (no tombstone): the provider no
    /// longer accepts them (a revocation invalidated their signer). The node emits
    /// [`RecordChange::Invalidated`](crate::proto::RecordChange::Invalidated) for each.
    pub purge: Vec<RecordId>,
}

/// Record security and connection admission, supplied by the layer above the graph.
pub trait SecurityProvider {
    /// Validates a record that arrived from a peer (flooded or synchronised).
    fn validate(&mut self, cx: &ProviderContext<'_>, record: &Record) -> Validation;

    /// The security data of a record this node wrote (its signature). `record` carries no
    /// security data; sign [`Record::signing_bytes`].
    fn secure(
        &mut self,
        cx: &ProviderContext<'_>,
        record: &Record,
    ) -> Result<Vec<u8>, SigningError>;

    /// [`secure`](Self::secure) for several records written together, in order (a provider
    /// may sign them on several cores). Each result is what `secure` would give for that
    /// record. Default: one by one.
    fn secure_batch(
        &mut self,
        cx: &ProviderContext<'_>,
        records: &[Record],
    ) -> Vec<Result<Vec<u8>, SigningError>> {
        records.iter().map(|r| self.secure(cx, r)).collect()
    }

    /// Whether `peer` may connect (asked on both ends of every connection).
    fn admit(&mut self, cx: &ProviderContext<'_>, peer: &PeerInfo<'_>) -> Admission;

    /// The security record types (membership, revocations, group properties): they are
    /// synchronised before every other record. Default: none.
    fn security_record_types(&self) -> &[RecordType] {
        &[]
    }

    /// A record was stored (written here, or validated and received). `cx.records`
    /// already holds it. Default: nothing to do.
    fn stored(&mut self, cx: &ProviderContext<'_>, record: &Record) -> ProviderActions {
        let _ = (cx, record);
        ProviderActions::default()
    }

    /// Whether [`prepare`](Self::prepare) does anything for a batch of `records` records:
    /// when `false`, callers skip decoding records for it. Default: `false`.
    fn prepares(&self, records: usize) -> bool {
        let _ = records;
        false
    }

    /// A batch of records from one message is about to be validated one by one: the
    /// provider may do the batch's expensive work up front, e.g. verify its signatures
    /// in parallel. It must not change any verdict [`validate`](Self::validate) would
    /// give. Default: nothing.
    fn prepare(&mut self, cx: &ProviderContext<'_>, records: &[&Record]) {
        let _ = (cx, records);
    }

    /// A record left the store (expired, or purged on the provider's request).
    /// Default: nothing.
    fn removed(&mut self, cx: &ProviderContext<'_>, record: &Record) {
        let _ = (cx, record);
    }
}
