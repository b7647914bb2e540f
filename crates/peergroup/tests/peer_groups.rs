//! The peer keeps track of the groups opened through it: a second open is refused with
//! the group's name, and closing the peer closes them, their writes durable.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use peergroup::{
    CreateOptions, GroupNetError, NewRecord, Peer, PeerError, RecordFilter, RecordType,
    random_record_id,
};

const NOTE: RecordType = RecordType::from_u128(0x6e6f_7465_0000_4000_8000_0000_0000_0001);

async fn peer(dir: &std::path::Path) -> Peer {
    Peer::builder()
        .identity_named("alice")
        .data_dir(dir)
        .loopback()
        .without_pnrp()
        .start()
        .await
        .unwrap()
}

#[tokio::test]
async fn the_peer_tracks_and_closes_its_open_groups() {
    let dir = tempfile::tempdir().unwrap();
    let alice = peer(dir.path()).await;
    let mut group = alice.groups().create(&CreateOptions::new("book-club")).unwrap();
    let name = group.name().clone();
    assert_eq!(alice.groups().opened(), vec![name.clone()]);

    // a second handle to the same group is refused, naming it
    match alice.groups().open(&name) {
        Err(PeerError::AlreadyOpen(n)) => assert_eq!(n, name),
        other => panic!("expected AlreadyOpen, got {:?}", other.map(|g| g.name().clone())),
    }

    // running, with a record written but not waited for
    group.listen().await.unwrap();
    group
        .add_record(NewRecord::new(
            random_record_id(),
            NOTE,
            Duration::from_secs(3600),
            b"tuesday".to_vec(),
        ))
        .await
        .unwrap();

    // closing the peer closes the group: the handle answers Closed
    alice.close().await;
    assert!(alice.groups().opened().is_empty());
    let late =
        NewRecord::new(random_record_id(), NOTE, Duration::from_secs(3600), b"late".to_vec());
    assert!(matches!(group.add_record(late).await, Err(GroupNetError::Closed)));
    // closing the handle too waits until the store is released (dropping it releases it
    // soon after, not at once)
    group.close().await.unwrap();

    // the store was released and kept the record
    let again = peer(dir.path()).await;
    let mut group = again.groups().open(&name).unwrap();
    group.listen().await.unwrap();
    let notes = group.enumerate(RecordFilter::Type(NOTE)).await.unwrap();
    assert_eq!(notes.len(), 1);
    assert_eq!(notes[0].payload(), b"tuesday");
    group.close().await.unwrap();
    // a closed group leaves the list, and can be opened again
    assert!(again.groups().opened().is_empty());
    let group = again.groups().open(&name).unwrap();
    drop(group);
    assert!(again.groups().opened().is_empty(), "a dropped idle group is not open");
    again.close().await;
}
