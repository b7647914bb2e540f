//! Damaged, foreign or invalid data on disk gives an error that names the file — never a
//! panic — and a failed batch leaves nothing behind.
#![allow(clippy::unwrap_used)]

use crate::common;

use std::path::Path;

use common::*;
use peergroup_graph::record::RecordLimits;
use peergroup_graph::{GraphError, RecordFilter, RecordStore, RedbStore, SyncRange};

fn names(err: &GraphError, path: &Path) -> bool {
    err.to_string().contains(&path.display().to_string())
}

#[test]
fn redb_refuses_a_file_that_is_not_a_store() {
    let dir = tempfile::tempdir().unwrap();
    for (i, content) in [vec![0u8; 10], b"hello, not a database".repeat(500), vec![0xffu8; 8192]]
        .into_iter()
        .enumerate()
    {
        let path = dir.path().join(format!("garbage-{i}.redb"));
        std::fs::write(&path, &content).unwrap();
        let err = RedbStore::open(&path, RecordLimits::default()).unwrap_err();
        assert!(err.is_storage(), "{err}");
        assert!(names(&err, &path), "{err}");
    }
}

#[test]
fn redb_survives_damaged_bytes_without_panicking() {
    let dir = tempfile::tempdir().unwrap();
    let clean = dir.path().join("clean.redb");
    {
        let mut s = RedbStore::open(&clean, RecordLimits::default()).unwrap();
        let batch: Vec<_> =
            (0..200).map(|i| rec(i, 1, "0.alice", u64::try_from(i).unwrap())).collect();
        s.apply_batch(&batch, NOW).unwrap();
    }
    let original = std::fs::read(&clean).unwrap();
    let mut seed = 0x1234_5678_u64;
    let mut errors = 0;
    for trial in 0..40 {
        let mut bytes = original.clone();
        // damage a run of bytes somewhere in the file (header, pages, or the end)
        seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        let at = usize::try_from(seed >> 33).unwrap() % bytes.len();
        let len = 1 + (trial % 64);
        for b in bytes.iter_mut().skip(at).take(len) {
            *b ^= 0x5a;
        }
        if trial % 5 == 4 {
            bytes.truncate(at); // or cut the file short
        }
        let path = dir.path().join(format!("damaged-{trial}.redb"));
        std::fs::write(&path, &bytes).unwrap();
        // Whatever happens must be an error naming the file, or correct operation.
        match RedbStore::open(&path, RecordLimits::default()) {
            Err(e) => {
                assert!(names(&e, &path), "{e}");
                errors += 1;
            }
            Ok(mut s) => {
                for r in [
                    s.enumerate(&RecordFilter::All, NOW).map(|v| v.len()),
                    s.sync_records(&SyncRange::ALL, usize::MAX, NOW).map(|v| v.len()),
                    s.apply(&rec(1000, 1, "0.bob", 0), NOW).map(|_| 0),
                ] {
                    if let Err(e) = r {
                        assert!(names(&e, &path), "{e}");
                        errors += 1;
                    }
                }
            }
        }
    }
    // Most damage is detected (redb checksums pages); some lands in free space.
    assert!(errors > 0);
}

/// Writes `value` under `key` in a redb table, behind the store's back.
fn redb_poke(path: &Path, table: &str, key: &[u8], value: &[u8]) {
    let db = redb::Database::create(path).unwrap();
    let txn = db.begin_write().unwrap();
    {
        let def: redb::TableDefinition<'_, &[u8], &[u8]> = redb::TableDefinition::new(table);
        let mut t = txn.open_table(def).unwrap();
        t.insert(key, value).unwrap();
    }
    txn.commit().unwrap();
}

#[test]
fn redb_invalid_stored_record_is_an_error_and_a_failed_batch_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("records.redb");
    let r1 = rec(1, 1, "0.alice", 0);
    {
        let mut s = RedbStore::open(&path, RecordLimits::default()).unwrap();
        s.add(&r1, NOW).unwrap();
    }
    redb_poke(&path, "records", r1.id().as_bytes(), b"\x03\x01\x02\x03\x00");
    let mut s = RedbStore::open(&path, RecordLimits::default()).unwrap();
    let err = s.get(&r1.id(), NOW).unwrap_err();
    assert!(
        matches!(&err, GraphError::InvalidStoredRecord { key, .. } if *key == r1.id().to_string()),
        "{err}"
    );
    assert!(err.is_corrupt_store() && names(&err, &path), "{err}");
    assert!(s.enumerate(&RecordFilter::All, NOW).is_err());
    assert!(s.sync_records(&SyncRange::ALL, usize::MAX, NOW).is_err());
    // A batch that has to read the bad record fails as a whole.
    let r2 = rec(2, 1, "0.alice", 0);
    let err = s.apply_batch(&[r2.clone(), bump(&r1, "0.bob", 5)], NOW).unwrap_err();
    assert!(err.is_corrupt_store(), "{err}");
    assert!(s.get(&r2.id(), NOW).unwrap().is_none());
    assert_eq!(s.sync_entries(&SyncRange::ALL, usize::MAX, NOW).unwrap().len(), 1);
    drop(s);
    // A record stored under another record's id is caught too.
    redb_poke(&path, "records", r1.id().as_bytes(), rec(9, 1, "0.alice", 0).encoded());
    let s = RedbStore::open(&path, RecordLimits::default()).unwrap();
    assert!(matches!(s.get(&r1.id(), NOW), Err(GraphError::InvalidStoredRecord { .. })));
}

#[test]
fn redb_limits_apply_to_records_loaded_from_disk() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("records.redb");
    let roomy = RecordLimits::default().with_max_record_size(4 << 20).unwrap();
    let big = builder(1, 1, "0.alice", 0).payload(vec![7; 2 << 20]).build(&roomy).unwrap();
    {
        let mut s = RedbStore::open(&path, roomy).unwrap();
        s.add(&big, NOW).unwrap();
        assert_eq!(s.get(&big.id(), NOW).unwrap().unwrap(), big);
    }
    let s = RedbStore::open(&path, RecordLimits::default()).unwrap();
    let err = s.get(&big.id(), NOW).unwrap_err();
    match &err {
        GraphError::InvalidStoredRecord { source, .. } => {
            assert!(
                matches!(**source, GraphError::MaxRecordSizeExceeded { max: 1_048_576, .. }),
                "{err}"
            );
        }
        other => panic!("{other}"),
    }
}

#[test]
fn redb_refuses_a_newer_store_format() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("records.redb");
    drop(RedbStore::open(&path, RecordLimits::default()).unwrap());
    redb_poke(&path, "meta", b"format", &2u32.to_be_bytes());
    let err = RedbStore::open(&path, RecordLimits::default()).unwrap_err();
    assert!(
        matches!(err, GraphError::UnsupportedStoreFormat { found: 2, expected: 1, .. }),
        "{err}"
    );
    redb_poke(&path, "meta", b"format", b"x");
    let err = RedbStore::open(&path, RecordLimits::default()).unwrap_err();
    assert!(matches!(err, GraphError::CorruptStore { .. }) && names(&err, &path), "{err}");
}

#[test]
fn redb_store_persists_across_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("records.redb");
    let r1 = rec(1, 1, "0.alice", 0);
    let r2 = bump(&rec(2, 2, "0.bob", 0), "0.carol", 9);
    {
        let mut s = RedbStore::open(&path, RecordLimits::default()).unwrap();
        s.apply_batch(&[r1.clone(), rec(2, 2, "0.bob", 0), r2.clone()], NOW).unwrap();
    }
    let s = RedbStore::open(&path, RecordLimits::default()).unwrap();
    assert_eq!(s.path(), path);
    assert_eq!(s.get(&r1.id(), NOW).unwrap().unwrap().encoded(), r1.encoded());
    assert_eq!(s.get(&r2.id(), NOW).unwrap().unwrap().encoded(), r2.encoded());
    assert_eq!(s.enumerate(&RecordFilter::Creator(name("0.bob")), NOW).unwrap(), [r2]);
    assert_eq!(s.len().unwrap(), 2);
}

#[test]
fn redb_second_open_of_the_same_file_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("records.redb");
    let _first = RedbStore::open(&path, RecordLimits::default()).unwrap();
    let err = RedbStore::open(&path, RecordLimits::default()).unwrap_err();
    assert!(matches!(err, GraphError::StoreInUse { .. }) && names(&err, &path), "{err}");
    assert!(err.is_store_in_use() && err.is_storage());
}

#[cfg(feature = "sled")]
mod sled_backend {
    use super::*;
    use peergroup_graph::SledStore;

    #[test]
    fn invalid_stored_record_is_an_error_and_a_failed_batch_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("records.sled");
        let r1 = rec(1, 1, "0.alice", 0);
        {
            let mut s = SledStore::open(&path, RecordLimits::default()).unwrap();
            s.add(&r1, NOW).unwrap();
        }
        {
            let db = sled::open(&path).unwrap();
            let mut key = vec![1u8]; // the records table prefix
            key.extend_from_slice(r1.id().as_bytes());
            db.insert(key, &b"\x01\x00\x00"[..]).unwrap();
            db.flush().unwrap();
        }
        let mut s = SledStore::open(&path, RecordLimits::default()).unwrap();
        let err = s.get(&r1.id(), NOW).unwrap_err();
        assert!(err.is_corrupt_store() && names(&err, &path), "{err}");
        let r2 = rec(2, 1, "0.alice", 0);
        assert!(s.apply_batch(&[r2.clone(), bump(&r1, "0.bob", 5)], NOW).is_err());
        assert!(s.get(&r2.id(), NOW).unwrap().is_none());
    }

    #[test]
    fn damaged_files_give_an_error_naming_the_directory() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("records.sled");
        {
            let mut s = SledStore::open(&path, RecordLimits::default()).unwrap();
            let batch: Vec<_> = (0..100).map(|i| rec(i, 1, "0.alice", 0)).collect();
            s.apply_batch(&batch, NOW).unwrap();
        }
        // a file where sled expects its config
        std::fs::write(path.join("conf"), b"\xff\xfe garbage").unwrap();
        match SledStore::open(&path, RecordLimits::default()) {
            Err(e) => assert!(names(&e, &path), "{e}"),
            Ok(s) => {
                // sled rewrote its config; the data must still be intact
                assert_eq!(s.len().unwrap(), 100);
            }
        }
        // a path that is a file, not a directory
        let file = dir.path().join("plain-file");
        std::fs::write(&file, b"x").unwrap();
        let err = SledStore::open(&file, RecordLimits::default()).unwrap_err();
        assert!(err.is_storage() && names(&err, &file), "{err}");
    }
}
