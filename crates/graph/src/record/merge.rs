//! The update rules and the merge of two versions of a record.
//!
//! [`check_update`] is [MS-PPGRH] 3.1.7.8 as written: what a writer must respect when it
//! makes the next version of a record. [`merge`] is what a replica does with two versions
//! it holds: keep the greater under [`Record::conflict_cmp`]. The order is built so that
//! the two agree — a version that passes `check_update` against its predecessor is
//! greater than it — and so that an update breaking a rule loses against its predecessor
//! on every replica, whatever the order in which the two arrive.

use crate::error::GraphError;
use crate::record::Record;

/// The update rules of [MS-PPGRH] 3.1.7.8 (`graph.md` §3.2): `update` may replace
/// `existing` only if it has the same id, type, creator and creation time, a strictly
/// greater version, an expiration no earlier, a modification time strictly later, and
/// `existing` is not deleted.
pub fn check_update(existing: &Record, update: &Record) -> Result<(), GraphError> {
    let id = existing.id();
    if update.id() != id {
        return Err(GraphError::RecordIdMismatch { existing: id, update: update.id() });
    }
    if update.record_type() != existing.record_type() {
        return Err(GraphError::TypeChanged { id });
    }
    if update.creator() != existing.creator() {
        return Err(GraphError::CreatorChanged { id });
    }
    if update.created() != existing.created() {
        return Err(GraphError::CreationTimeChanged { id });
    }
    if existing.is_deleted() {
        return Err(GraphError::RecordDeleted { id });
    }
    if update.version() <= existing.version() {
        return Err(GraphError::VersionNotGreater {
            id,
            existing: existing.version(),
            update: update.version(),
        });
    }
    if update.expires() < existing.expires() {
        return Err(GraphError::InvalidRecordExpiration {
            expires: update.expires(),
            reason: "an update may not move the expiration earlier",
        });
    }
    if update.modified() <= existing.modified() {
        return Err(GraphError::ModifiedNotAfterPredecessor {
            id,
            existing: existing.modified(),
            update: update.modified(),
        });
    }
    Ok(())
}

/// The merge of two versions of one record: the greater under [`Record::conflict_cmp`].
///
/// Commutative, associative and idempotent (a join on a total order), so replicas that
/// have seen the same set of versions hold the same one.
pub fn merge(a: &Record, b: &Record) -> Record {
    if b.conflict_cmp(a).is_gt() { b.clone() } else { a.clone() }
}
