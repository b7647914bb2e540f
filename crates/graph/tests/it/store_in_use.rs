//! A record store is locked while open: a second opener — another process, or this one —
//! gets `GraphError::StoreInUse` naming the file, on Linux, macOS and Windows alike (redb
//! locks its file with the OS's own file locks). Once the first closes it, it opens.
//!
//! The second process is this test binary again, running only [`child_opens_the_store`]
//! with the store's path in an environment variable (without it, that test does nothing).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::Command;

use peergroup_graph::record::RecordLimits;
use peergroup_graph::store::{RecordStore, RedbStore};

/// Tells [`child_opens_the_store`] which store to open and what it should find.
const CHILD_STORE: &str = "PEERGROUP_TEST_CHILD_STORE";
const CHILD_EXPECT: &str = "PEERGROUP_TEST_CHILD_EXPECT";

/// Runs [`child_opens_the_store`] in a new process; returns what it printed.
fn open_in_child(path: &Path, expect: &str) -> String {
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "store_in_use::child_opens_the_store",
            "--nocapture",
            "--test-threads",
            "1",
        ])
        .env(CHILD_STORE, path)
        .env(CHILD_EXPECT, expect)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "child failed: {}\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("1 passed"), "the child test did not run: {stdout}");
    stdout
}

#[test]
fn a_second_process_gets_store_in_use_until_the_first_closes_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("records.redb");
    let store = RedbStore::open(&path, RecordLimits::default()).unwrap();
    assert!(store.is_empty().unwrap());

    let said = open_in_child(&path, "in-use");
    assert!(said.contains("is already open"), "{said}");

    drop(store);
    open_in_child(&path, "opens");
}

#[test]
fn a_second_open_in_the_same_process_gets_store_in_use() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("records.redb");
    let first = RedbStore::open(&path, RecordLimits::default()).unwrap();
    let err = RedbStore::open(&path, RecordLimits::default()).unwrap_err();
    assert!(err.is_store_in_use() && err.is_storage(), "{err:?}");
    let message = err.to_string();
    assert!(message.contains(&path.display().to_string()), "{message}");
    assert!(message.contains("already open"), "{message}");
    drop(first);
    RedbStore::open(&path, RecordLimits::default()).unwrap();
}

/// The child's side: does nothing unless started by [`open_in_child`].
#[test]
fn child_opens_the_store() {
    let Some(path) = std::env::var_os(CHILD_STORE) else { return };
    let expect = std::env::var(CHILD_EXPECT).unwrap();
    match (RedbStore::open(&path, RecordLimits::default()), expect.as_str()) {
        (Err(e), "in-use") => {
            assert!(e.is_store_in_use(), "{e:?}");
            println!("child: {e}");
        }
        (Ok(_), "opens") => println!("child: opened"),
        (got, _) => panic!("expected {expect}, got {got:?}"),
    }
}
