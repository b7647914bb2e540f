//! Groups over real QUIC on loopback: create, invite, join, connect with admission bound
//! to the TLS session, records both ways (and in pages), members, a member of another group
//! refused (its group's streams are not served), revocation (the revoked member dropped,
//! refused when it reconnects, and nothing it writes afterwards kept), list, close, reopen,
//! delete.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use peergroup_graph::proto::{Event as GraphEvent, NewRecord};
use peergroup_graph::{RecordFilter, RecordType};
use peergroup_group::admission::Refusal;
use peergroup_group::net::{
    Group, GroupEvents, GroupNetError, GroupOptions, delete_group, list_groups, random_record_id,
};
use peergroup_group::node::Event;
use peergroup_group::{CreateOptions, Invitation, Role};
use peergroup_identity::{Identity, IdentityInfo};
use peergroup_net::{Endpoint, EndpointConfig};

const CHAT: RecordType = RecordType::from_u128(0x0c4a_7000_0000_4000_8000_0000_0000_0002);
const WAIT: Duration = Duration::from_secs(30);

async fn endpoint(name: &str) -> Endpoint {
    let id = Identity::generate(name, "").unwrap();
    Endpoint::bind(id, EndpointConfig::loopback()).await.unwrap()
}

fn chat(text: &str) -> NewRecord {
    NewRecord::new(random_record_id(), CHAT, Duration::from_secs(3600), text.as_bytes().to_vec())
}

async fn eventually<T, F, Fut>(what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let poll = async {
        loop {
            if let Some(v) = f().await {
                return v;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    tokio::time::timeout(WAIT, poll)
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
}

async fn next_event(events: &mut GroupEvents, what: &str, pred: impl Fn(&Event) -> bool) -> Event {
    tokio::time::timeout(WAIT, async {
        loop {
            let e = events.next().await.expect("event stream ended");
            if pred(&e) {
                return e;
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("timed out waiting for event: {what}"))
}

async fn texts(g: &Group) -> Vec<String> {
    let mut v: Vec<String> = g
        .enumerate(RecordFilter::Type(CHAT))
        .await
        .unwrap()
        .iter()
        .map(|r| String::from_utf8_lossy(r.payload()).into_owned())
        .collect();
    v.sort();
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_invite_join_publish_revoke_over_quic() {
    let dir = tempfile::tempdir().unwrap();
    let opts = || GroupOptions::default().data_dir(dir.path());
    let (ea, eb, ec) = (endpoint("alice").await, endpoint("bob").await, endpoint("carol").await);

    // alice creates the group and listens alone
    let mut create = CreateOptions::new("chess");
    create.friendly_name = "Chess club".into();
    let mut alice = Group::create(&ea, &create, opts()).unwrap();
    assert!(alice.is_creator());
    assert_eq!(alice.role(), Role::Administrator);
    assert!(matches!(
        Group::create(&ea, &create, opts()).map(|_| ()),
        Ok(()) // a second group with the same classifier has another key: another group
    ));
    alice.listen().await.unwrap();
    alice.add_record(chat("alice: hello")).await.unwrap();
    let props = alice.properties().await.unwrap().expect("properties stored at create");
    assert_eq!(props.friendly_name, "Chess club");

    // bob's identity info → an invitation → bob joins and connects
    let bob_info = IdentityInfo::parse(&IdentityInfo::export(eb.identity())).unwrap();
    let invitation = alice.invite(&bob_info, Role::Member, None).unwrap();
    let invitation = Invitation::parse(&invitation.to_text()).unwrap();
    // the invitation is useless to anyone else
    assert!(Group::join(&ec, &invitation, opts()).is_err());
    let mut bob = Group::join(&eb, &invitation, opts()).unwrap();
    let mut bob_events = bob.events();
    let alice_addr = ea.local_addr().unwrap();
    bob.connect(alice_addr).await.unwrap();
    next_event(&mut bob_events, "bob admitted by alice", |e| {
        matches!(e, Event::PeerAdmitted { role: Role::Administrator, .. })
    })
    .await;
    eventually("bob holds alice's record", || async {
        (texts(&bob).await == ["alice: hello"]).then_some(())
    })
    .await;
    let bob_props =
        eventually("bob holds the properties", || async { bob.properties().await.unwrap() }).await;
    assert_eq!(bob_props.friendly_name, "Chess club");

    // bob publishes; alice gets it, signed by bob
    bob.add_record(chat("bob: hi")).await.unwrap();
    eventually("alice holds bob's record", || async {
        (texts(&alice).await == ["alice: hello", "bob: hi"]).then_some(())
    })
    .await;
    // the same records, a page at a time
    let whole: Vec<_> =
        alice.enumerate(RecordFilter::All).await.unwrap().iter().map(|r| r.id()).collect();
    let mut paged = Vec::new();
    let mut after = None;
    loop {
        let page = alice.enumerate_page(RecordFilter::All, after, 1).await.unwrap();
        assert!(page.records.len() <= 1);
        paged.extend(page.records.iter().map(|r| r.id()));
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    assert_eq!(paged, whole);
    let found = alice.search_page(r#"@creator = "*""#, None, 10).await.unwrap();
    assert_eq!(found.records.len(), whole.len());
    assert!(found.next.is_none());
    let members = alice.members().await.unwrap();
    assert_eq!(members.len(), 2, "{members:?}");
    assert!(members.iter().any(|m| m.peer == *eb.peer_name() && m.role == Role::Member));

    // carol, a member of another group, is refused: her group's streams have another
    // protocol id (group.md §14.1), which alice's endpoint does not serve
    let mut other = CreateOptions::new("chess");
    other.friendly_name = "Another club".into();
    let mut carol = Group::create(&ec, &other, opts()).unwrap();
    let mut carol_events = carol.events();
    let unknown_before = ea.refusals().unknown_protocol;
    carol.connect(alice_addr).await.unwrap();
    let e = next_event(&mut carol_events, "carol's connection fails", |e| {
        matches!(e, Event::ConnectionFailed { .. } | Event::AuthenticationFailed { .. })
    })
    .await;
    assert!(matches!(e, Event::ConnectionFailed { .. }), "{e:?}");
    assert!(ea.refusals().unknown_protocol > unknown_before);
    assert!(alice.admitted_peers().await.unwrap().iter().all(|n| *n != ec.identity().node_id()));
    assert!(texts(&carol).await.is_empty());

    // alice revokes bob: bob is dropped, refused when he reconnects, and what he writes
    // now is not kept by alice
    alice.revoke(eb.peer_name()).await.unwrap();
    eventually("alice lists bob as revoked", || async {
        alice
            .members()
            .await
            .unwrap()
            .iter()
            .any(|m| m.peer == *eb.peer_name() && m.revoked.is_some())
            .then_some(())
    })
    .await;
    // bob's live connection ends first (alice refuses him at once)
    next_event(&mut bob_events, "bob dropped as revoked", |e| {
        matches!(e, Event::AuthenticationFailed { reason: Refusal::Revoked, .. })
    })
    .await;
    let _ = bob.add_record(chat("bob: after revocation")).await;
    bob.connect(alice_addr).await.unwrap();
    next_event(&mut bob_events, "bob refused as revoked", |e| {
        matches!(e, Event::AuthenticationFailed { reason: Refusal::Revoked, local: false, .. })
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(texts(&alice).await, ["alice: hello", "bob: hi"]);
    assert!(
        !alice.admitted_peers().await.unwrap().contains(&eb.identity().node_id()),
        "a revoked member stays connected"
    );

    // list without opening; close; reopen; delete
    let (groups, damaged) = list_groups(ea.peer_name(), &opts()).unwrap();
    assert!(damaged.is_empty());
    assert_eq!(groups.len(), 2);
    let ours = groups.iter().find(|g| g.name == *alice.name()).unwrap();
    assert!(ours.creator);
    assert_eq!(ours.friendly_name, "Chess club");
    assert_eq!(ours.chain_len, 2);
    let name = alice.name().clone();

    alice.close().await.unwrap();
    let mut again = Group::open(&ea, &name, opts()).unwrap();
    again.listen().await.unwrap();
    assert_eq!(texts(&again).await, ["alice: hello", "bob: hi"]);
    assert!(matches!(
        delete_group(&ea, &name, &opts()),
        Err(GroupNetError::Graph(_)) // open: its store is locked
    ));
    again.close().await.unwrap();
    delete_group(&ea, &name, &opts()).unwrap();
    assert!(matches!(Group::open(&ea, &name, opts()), Err(GroupNetError::NotFound { .. })));
    bob.close().await.unwrap();
    carol.close().await.unwrap();
    let _ = GraphEvent::Status(Default::default());
}

/// Members find each other through PNRP: each registers `<group authority>.participant`
/// with its chain as the delegation; a newcomer resolves the name and connects; a node
/// that is not a member cannot register the name (its chain is refused as a delegation).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn participants_register_and_find_each_other_in_pnrp() {
    use std::sync::Arc;

    use peergroup_group::net::{ConnectOutcome, ParticipantDelegation, participant_name};
    use peergroup_pnrp::net::{Pnrp, PnrpConfig, Seed};
    use peergroup_pnrp::proto::{Cloud, CpaSigner, RegisterRequest};

    let dir = tempfile::tempdir().unwrap();
    let opts = || GroupOptions::default().data_dir(dir.path());
    let (ea, eb, ec) = (endpoint("alice").await, endpoint("bob").await, endpoint("carol").await);
    let config = || {
        let mut c = PnrpConfig::loopback();
        c.core.validator = Some(Arc::new(ParticipantDelegation::new()));
        c
    };
    let seed = || config().with_seeds([Seed::Addr(ea.local_addr().unwrap())]);
    let pa = Pnrp::start(&ea, ea.identity(), config()).await.unwrap();
    let pb = Pnrp::start(&eb, eb.identity(), seed()).await.unwrap();
    let pc = Pnrp::start(&ec, ec.identity(), seed()).await.unwrap();
    for p in [&pa, &pb, &pc] {
        p.wait_active(Cloud::Global, WAIT).await.unwrap();
    }

    // alice creates the group: nobody else is a participant yet, so she listens alone
    let mut alice = Group::create(&ea, &CreateOptions::new("pnrp-club"), opts()).unwrap();
    let outcome = alice.connect_with_pnrp(&pa, Duration::from_secs(5)).await.unwrap();
    assert_eq!(outcome, ConnectOutcome::Alone { tried: 0, last_error: None });
    alice.add_record(chat("found through pnrp")).await.unwrap();

    // bob joins with an invitation and finds alice through the participant name
    let bob_info = IdentityInfo::parse(&IdentityInfo::export(eb.identity())).unwrap();
    let inv = alice.invite(&bob_info, Role::Member, None).unwrap();
    let mut bob = Group::join(&eb, &inv, opts()).unwrap();
    let found = bob.find_participants(&pb, Duration::from_secs(5)).await.unwrap();
    assert_eq!(found, vec![ea.local_addr().unwrap()]);
    let outcome = bob.connect_with_pnrp(&pb, Duration::from_secs(5)).await.unwrap();
    assert!(matches!(outcome, ConnectOutcome::Connected(p) if p.node == ea.identity().node_id()));
    eventually("bob holds alice's record", || async {
        (texts(&bob).await == ["found through pnrp"]).then_some(())
    })
    .await;

    // carol, not a member, tries to register alice's group's participant name with the
    // chain of a group of her own: refused
    let carols = Group::create(&ec, &CreateOptions::new("pnrp-club"), opts()).unwrap();
    let forged = RegisterRequest::new(
        participant_name(alice.name()).unwrap(),
        CpaSigner::from_identity(ec.identity())
            .with_delegation(carols.local().chain.chain().encode()),
        vec![ec.local_addr().unwrap()],
    );
    let err = pc.register_request(forged).await.unwrap_err();
    assert!(err.to_string().contains("delegation"), "{err}");
    // and without any delegation the name is not hers either
    let bare = RegisterRequest::new(
        participant_name(alice.name()).unwrap(),
        CpaSigner::from_identity(ec.identity()),
        vec![ec.local_addr().unwrap()],
    );
    assert!(pc.register_request(bare).await.is_err());
    // a resolve still finds alice and bob only
    let mut found = carols.find_participants(&pc, Duration::from_secs(5)).await.unwrap();
    assert!(found.is_empty(), "carol's own group has no other participant: {found:?}");
    let options = peergroup_pnrp::net::ResolveOptions::default().with_max_results(16);
    found = pc
        .resolve(&participant_name(alice.name()).unwrap(), options)
        .await
        .unwrap()
        .into_iter()
        .flat_map(|i| i.endpoints)
        .collect();
    found.sort();
    let mut want = vec![ea.local_addr().unwrap(), eb.local_addr().unwrap()];
    want.sort();
    assert_eq!(found, want);

    carols.close().await.unwrap();
    bob.close().await.unwrap();
    alice.close().await.unwrap();
}

/// Properties (creator only) reach every member; typed records round-trip through serde;
/// direct data arrives as an event.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn properties_typed_records_and_direct_data() {
    use peergroup_graph::proto::{DataType, Event as GEvent};

    #[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
    struct Move {
        piece: String,
        to: (u8, u8),
    }
    const MOVE: RecordType = RecordType::from_u128(0x6d6f_7665);

    let dir = tempfile::tempdir().unwrap();
    let opts = || GroupOptions::default().data_dir(dir.path());
    let (ea, eb) = (endpoint("alice").await, endpoint("bob").await);
    let mut alice = Group::create(&ea, &CreateOptions::new("props"), opts()).unwrap();
    alice.listen().await.unwrap();
    let info = IdentityInfo::parse(&IdentityInfo::export(eb.identity())).unwrap();
    let inv = alice.invite(&info, Role::Member, None).unwrap();
    let mut bob = Group::join(&eb, &inv, opts()).unwrap();
    let mut bob_events = bob.events();
    let peer = bob.connect(ea.local_addr().unwrap()).await.unwrap();
    next_event(&mut bob_events, "bob admitted", |e| matches!(e, Event::PeerAdmitted { .. })).await;

    // properties: the creator changes them, bob receives them; bob may not
    let p = alice.set_properties(Some("Renamed club"), Some("meets on Tuesdays")).await.unwrap();
    assert_eq!(p.friendly_name, "Renamed club");
    eventually("bob sees the new properties", || async {
        bob.properties()
            .await
            .unwrap()
            .filter(|p| p.friendly_name == "Renamed club" && p.comment == "meets on Tuesdays")
            .map(|_| ())
    })
    .await;
    let e = next_event(&mut bob_events, "PropertyChanged at bob", |e| {
        matches!(e, Event::PropertyChanged { properties } if properties.friendly_name == "Renamed club")
    })
    .await;
    let Event::PropertyChanged { properties } = e else { unreachable!() };
    assert_eq!(properties.comment, "meets on Tuesdays");
    assert!(bob.set_properties(Some("mine now"), None).await.is_err());

    // a connect that reaches nobody fails, and says so as an event too
    let nobody = {
        let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        s.local_addr().unwrap()
    };
    let mut bob_failures = bob.events();
    assert!(bob.connect(nobody).await.is_err());
    let e = next_event(&mut bob_failures, "ConnectionFailed", |e| {
        matches!(e, Event::ConnectionFailed { .. })
    })
    .await;
    let Event::ConnectionFailed { addr, node, reason } = e else { unreachable!() };
    assert_eq!((addr, node), (nobody, None));
    assert!(!reason.is_empty());
    assert_eq!(alice.summary().unwrap().friendly_name, "Renamed club");

    // typed records
    let m = Move { piece: "knight".into(), to: (5, 2) };
    let id = alice.typed::<Move>(MOVE).add(&m, Duration::from_secs(600)).await.unwrap();
    let got =
        eventually("bob has the move", || async { bob.typed::<Move>(MOVE).get(id).await.unwrap() })
            .await;
    assert_eq!(got, m);
    let (all, bad) = bob.typed::<Move>(MOVE).all().await.unwrap();
    assert_eq!((all.len(), bad), (1, 0));
    // a record of another type is not a Move
    let other = alice.add_record(chat("not a move")).await.unwrap();
    assert!(alice.typed::<Move>(MOVE).decode(&other).is_err());

    // direct data from bob to alice
    let mut alice_events = alice.events();
    let kind = DataType(*b"peergroup/test/1");
    bob.send_data(peer, kind, b"ping".to_vec()).await.unwrap();
    next_event(
        &mut alice_events,
        "alice gets bob's data",
        |e| matches!(e, Event::Graph(GEvent::IncomingData { data, .. }) if data == b"ping"),
    )
    .await;
    bob.close().await.unwrap();
    alice.close().await.unwrap();
}

/// Password join over QUIC: a wrong password is refused (and reported at the verifier),
/// the next attempt at once is held off, the right password gives credentials with the
/// role the password grants, and the new member connects and receives the records.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn password_join_over_quic() {
    use peergroup_group::error::PasswordError;
    use peergroup_group::password::{PasswordInvitation, PasswordOptions};

    let dir = tempfile::tempdir().unwrap();
    let opts = || GroupOptions::default().data_dir(dir.path());
    let (ea, ec, ed) = (endpoint("alice").await, endpoint("carol").await, endpoint("dave").await);
    let mut create = CreateOptions::new("pw-club");
    create.friendly_name = "Password club".into();
    let mut alice = Group::create(&ea, &create, opts()).unwrap();
    alice.listen().await.unwrap();
    let mut alice_events = alice.events();
    alice.add_record(chat("for members")).await.unwrap();
    let inv = alice.set_password("correct horse", &PasswordOptions::default()).await.unwrap();
    let inv = PasswordInvitation::parse(&inv.to_text()).unwrap();
    assert_eq!(inv.friendly_name, "Password club");
    let addr = ea.local_addr().unwrap();

    // dave guesses wrong, then at once again: held off
    let wrong = Group::password_join(&ed, &inv, "battery staple", addr, opts()).await.unwrap_err();
    assert!(matches!(wrong, GroupNetError::Password(PasswordError::BadPassword)), "{wrong}");
    next_event(&mut alice_events, "alice reports the failure", |e| {
        matches!(e, Event::PasswordJoinFailed { .. })
    })
    .await;
    let again = Group::password_join(&ed, &inv, "correct horse", addr, opts()).await.unwrap_err();
    assert!(matches!(again, GroupNetError::Password(PasswordError::Backoff { .. })), "{again}");

    // carol knows it; she shares dave's address (loopback), whose backoff she waits out
    let GroupNetError::Password(PasswordError::Backoff { retry_after }) = again else {
        unreachable!()
    };
    tokio::time::sleep(retry_after + Duration::from_millis(100)).await;
    let mut carol = Group::password_join(&ec, &inv, "correct horse", addr, opts()).await.unwrap();
    assert_eq!(carol.role(), Role::Member);
    let e = next_event(&mut alice_events, "alice reports the join", |e| {
        matches!(e, Event::PasswordJoined { .. })
    })
    .await;
    let Event::PasswordJoined { member, role, .. } = e else { unreachable!() };
    assert_eq!((&member, role), (ec.peer_name(), Role::Member));
    carol.connect(addr).await.unwrap();
    eventually("carol holds the record", || async {
        (texts(&carol).await == ["for members"]).then_some(())
    })
    .await;
    // nothing secret was replicated: carol has no password file, and only alice's
    // directory holds one
    assert!(!carol.dir().join(peergroup_group::net::PASSWORD_FILE).exists());
    assert!(alice.dir().join(peergroup_group::net::PASSWORD_FILE).exists());
    carol.close().await.unwrap();

    // a password does not undo a revocation: revoked carol, with the right password and a
    // fresh replica, is refused before any password exchange
    alice.revoke(ec.peer_name()).await.unwrap();
    // (the revocation also closes the connection carol's endpoint still holds to alice: an
    // attempt that meets that closing connection fails on the network and is made again)
    let elsewhere = tempfile::tempdir().unwrap();
    let refused = eventually("carol's password join refused as revoked", || async {
        let joined = Group::password_join(
            &ec,
            &inv,
            "correct horse",
            addr,
            GroupOptions::default().data_dir(elsewhere.path()),
        )
        .await;
        let Err(e) = joined else { panic!("a revoked identity joined by password") };
        (!matches!(e, GroupNetError::Net(_))).then_some(e)
    })
    .await;
    assert!(matches!(refused, GroupNetError::Password(PasswordError::Revoked)), "{refused}");
    next_event(
        &mut alice_events,
        "alice reports the refusal",
        |e| matches!(e, Event::PasswordJoinFailed { reason, .. } if reason.contains("revoked")),
    )
    .await;
    alice.close().await.unwrap();
}

/// Two groups on one endpoint, each with its own password (each group's streams and
/// password joins have their own protocol id, `group.md` §14.1): a joiner password-joins
/// both through the same address, connects to both, and each group's records stay in it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_password_groups_share_one_endpoint() {
    use peergroup_group::error::PasswordError;
    use peergroup_group::password::PasswordOptions;

    let dir = tempfile::tempdir().unwrap();
    let opts = || GroupOptions::default().data_dir(dir.path());
    let (ea, ec) = (endpoint("alice").await, endpoint("carol").await);
    let addr = ea.local_addr().unwrap();
    let mut groups = Vec::new();
    let mut invitations = Vec::new();
    for (name, password) in [("club-one", "first secret"), ("club-two", "second secret")] {
        let mut g = Group::create(&ea, &CreateOptions::new(name), opts()).unwrap();
        g.listen().await.unwrap();
        g.add_record(chat(&format!("only in {name}"))).await.unwrap();
        invitations.push(g.set_password(password, &PasswordOptions::default()).await.unwrap());
        groups.push(g);
    }
    assert_ne!(
        peergroup_group::net::protocol_id(groups[0].name()).unwrap(),
        peergroup_group::net::protocol_id(groups[1].name()).unwrap()
    );
    // the second group's password does not open the first
    let wrong = Group::password_join(&ec, &invitations[0], "second secret", addr, opts())
        .await
        .unwrap_err();
    assert!(matches!(wrong, GroupNetError::Password(_)), "{wrong}");
    let mut joined = Vec::new();
    for (inv, password) in invitations.iter().zip(["first secret", "second secret"]).rev() {
        // the first group's verifier holds carol off after her wrong guess: wait it out
        let mut g = loop {
            match Group::password_join(&ec, inv, password, addr, opts()).await {
                Ok(g) => break g,
                Err(GroupNetError::Password(PasswordError::Backoff { retry_after })) => {
                    tokio::time::sleep(retry_after + Duration::from_millis(100)).await;
                }
                Err(e) => panic!("password join of {}: {e}", inv.group),
            }
        };
        g.connect(addr).await.unwrap();
        joined.push(g);
    }
    joined.reverse();
    for (g, name) in joined.iter().zip(["club-one", "club-two"]) {
        let want = vec![format!("only in {name}")];
        eventually(&format!("carol holds {name}'s record"), || async {
            (texts(g).await == want).then_some(())
        })
        .await;
    }
    for g in joined.into_iter().chain(groups) {
        g.close().await.unwrap();
    }
}

/// Export and import of a group's replica: a new member fills its replica from the
/// creator's export before it ever connects; the records go through the group's security.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_then_import_into_a_new_member() {
    let dir = tempfile::tempdir().unwrap();
    let opts = || GroupOptions::default().data_dir(dir.path());
    let (ea, eb) = (endpoint("alice").await, endpoint("bob").await);
    let mut alice = Group::create(&ea, &CreateOptions::new("export"), opts()).unwrap();
    alice.listen().await.unwrap();
    alice.add_record(chat("one")).await.unwrap();
    alice.add_record(chat("two")).await.unwrap();
    let info = IdentityInfo::parse(&IdentityInfo::export(eb.identity())).unwrap();
    let inv = alice.invite(&info, Role::Member, None).unwrap();
    let name = alice.name().clone();
    alice.close().await.unwrap();
    let alice = Group::open(&ea, &name, opts()).unwrap();
    let file = dir.path().join("club.export");
    let n = alice.export(&file).unwrap();
    assert!(n >= 4, "properties, membership, two records: {n}");
    let mut bob = Group::join(&eb, &inv, opts()).unwrap();
    let (stored, refused) = bob.import(&file).unwrap();
    assert_eq!(refused, 0);
    assert_eq!(stored, n);
    bob.listen().await.unwrap();
    assert_eq!(texts(&bob).await, ["one", "two"]);
    assert!(matches!(bob.export(&file), Err(GroupNetError::Running { .. })));
    bob.close().await.unwrap();
    alice.close().await.unwrap();
}

/// A member closes its group and opens it again on the same endpoint (the QUIC connection
/// to the other member stays up): it is admitted again, and records written while it was
/// away reach it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_and_reopen_on_the_same_endpoint_reconnects() {
    let dir = tempfile::tempdir().unwrap();
    let opts = || GroupOptions::default().data_dir(dir.path());
    let (ea, eb) = (endpoint("alice").await, endpoint("bob").await);
    let mut a = Group::create(&ea, &CreateOptions::new("reopen"), opts()).unwrap();
    a.listen().await.unwrap();
    let info = IdentityInfo::parse(&IdentityInfo::export(eb.identity())).unwrap();
    let inv = a.invite(&info, Role::Member, None).unwrap();
    let mut b = Group::join(&eb, &inv, opts()).unwrap();
    b.connect(ea.local_addr().unwrap()).await.unwrap();
    a.add_record(chat("before")).await.unwrap();
    eventually("bob holds the first note", || {
        let b = &b;
        async move { (texts(b).await == ["before"]).then_some(()) }
    })
    .await;
    let name = b.name().clone();
    b.close().await.unwrap();
    a.add_record(chat("while away")).await.unwrap();

    let mut b = Group::open(&eb, &name, opts()).unwrap();
    b.connect(ea.local_addr().unwrap()).await.unwrap();
    eventually("bob, reopened, holds the note written while he was away", || {
        let b = &b;
        async move { (texts(b).await == ["before", "while away"]).then_some(()) }
    })
    .await;
    b.add_record(chat("back")).await.unwrap();
    eventually("alice holds bob's new note", || {
        let a = &a;
        async move { (texts(a).await.len() == 3).then_some(()) }
    })
    .await;
    b.close().await.unwrap();
    a.close().await.unwrap();
    eb.close().await;
    ea.close().await;
}
