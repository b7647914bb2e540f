//! The grouping part of the demo: Peer Grouping on the demo's endpoints (protocol
//! `group/1/<tag>`), every step measured and bounded by [`GROUP_WAIT`].
//!
//! alice creates a group; she invites bob (a member) from his identity info, and he joins
//! and connects through alice; alice sets a password, a wrong guess is refused, and carol
//! joins with the password (OPAQUE, bound to the TLS session) as an inviting member; every
//! connection runs the admission exchange bound to its TLS session; each of the three
//! publishes a signed note and the demo waits until every replica holds all three; dave,
//! who is a member of no such group (he has a group of his own with the same classifier),
//! tries to connect to alice and is refused (his group's streams carry its own protocol id,
//! which alice's endpoint resets as `UNKNOWN_PROTOCOL`, and his connection fails); alice revokes
//! carol, the revocation floods to bob, carol's reconnect is refused as revoked, and a note
//! carol writes after her revocation is kept by nobody else.

use std::fmt::Display;
use std::future::Future;
use std::path::Path;
use std::time::{Duration, Instant};

use peergroup_graph::proto::NewRecord;
use peergroup_graph::{RecordFilter, RecordType};
use peergroup_group::admission::Refusal;
use peergroup_group::net::{Group, GroupEvents, GroupNetError, GroupOptions, random_record_id};
use peergroup_group::node::Event;
use peergroup_group::password::{PasswordInvitation, PasswordOptions};
use peergroup_group::{CreateOptions, Invitation, Role};
use peergroup_identity::IdentityInfo;
use peergroup_net::Endpoint;
use serde::Serialize;

use super::ms;
use crate::CliError;

/// The record type of the group's notes.
const NOTE: RecordType = RecordType::from_u128(0x0de7_0000_0000_4000_8000_6772_6f75_0001);
/// The longest one step may take before the demo gives up.
const GROUP_WAIT: Duration = Duration::from_secs(15);
/// The demo group's password.
const PASSWORD: &str = "demo: correct horse battery staple";
/// How often a replica is looked at while waiting.
const POLL: Duration = Duration::from_millis(2);

/// The grouping part of the demo. Times run from the start of the step they name.
#[derive(Debug, Serialize)]
pub(crate) struct GroupReport {
    pub(crate) protocol: String,
    /// The group's peer name and friendly name.
    pub(crate) group: String,
    pub(crate) friendly_name: String,
    /// Creating the group: key, root certificate, alice's certificate, properties record,
    /// all on disk.
    pub(crate) create_ms: f64,
    /// Writing bob's invitation from his identity info.
    pub(crate) invite_ms: f64,
    /// Invitation in hand → joined, connected, admitted and holding alice's note (bob).
    pub(crate) join_ms: f64,
    /// alice setting the group password (OPAQUE registration, one Argon2id).
    pub(crate) set_password_ms: f64,
    /// What a wrong password got (from dave's endpoint).
    pub(crate) wrong_password: String,
    /// carol's password join: OPAQUE with the verifier alice (Argon2id included) until
    /// carol held her credentials.
    pub(crate) password_join_ms: f64,
    /// carol: password in hand → credentials, connected, admitted and holding every note.
    pub(crate) second_join_ms: f64,
    /// The members alice lists, with their roles.
    pub(crate) members: Vec<MemberReport>,
    /// Notes published (one per member), and the time from the last publish until every
    /// replica held all of them.
    pub(crate) records_published: usize,
    pub(crate) publish_to_all_ms: f64,
    /// The non-member, the reason alice gave, and the reason the non-member was told.
    pub(crate) nonmember: String,
    pub(crate) nonmember_refused_locally: String,
    pub(crate) nonmember_told: String,
    pub(crate) nonmember_refused_ms: f64,
    /// The revoked member; from alice's revoke until bob listed it revoked.
    pub(crate) revoked: String,
    pub(crate) revocation_to_bob_ms: f64,
    /// The reason the revoked member's reconnect was refused with.
    pub(crate) revoked_reconnect_refused: String,
    /// Notes the revoked member wrote after its revocation that alice or bob kept.
    pub(crate) revoked_writes_kept: usize,
    /// Closing the groups, all at once.
    pub(crate) close_ms: f64,
}

#[derive(Debug, Serialize)]
pub(crate) struct MemberReport {
    pub(crate) peer: String,
    pub(crate) role: String,
}

fn group_error(what: impl Display) -> impl FnOnce(GroupNetError) -> CliError {
    move |e| CliError::runtime(format!("demo: group: {what}: {e}"))
}

fn gave_up(what: impl Display) -> CliError {
    CliError::runtime(format!("demo: group: {what} did not happen within {GROUP_WAIT:?}"))
}

async fn within<T>(
    what: &str,
    operation: impl Future<Output = Result<T, GroupNetError>>,
) -> Result<T, CliError> {
    match tokio::time::timeout(GROUP_WAIT, operation).await {
        Ok(r) => r.map_err(group_error(what)),
        Err(_) => Err(gave_up(what)),
    }
}

fn note(text: &str) -> NewRecord {
    NewRecord::new(random_record_id(), NOTE, Duration::from_secs(3600), text.as_bytes().to_vec())
}

async fn notes(g: &Group) -> Result<Vec<String>, GroupNetError> {
    let mut v: Vec<String> = g
        .enumerate(RecordFilter::Type(NOTE))
        .await?
        .iter()
        .map(|r| String::from_utf8_lossy(r.payload()).into_owned())
        .collect();
    v.sort();
    Ok(v)
}

/// Polls `check` until it is true, at most [`GROUP_WAIT`].
async fn until<F, Fut>(what: &str, mut check: F) -> Result<(), CliError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<bool, GroupNetError>>,
{
    let poll = async {
        loop {
            if check().await? {
                return Ok(());
            }
            tokio::time::sleep(POLL).await;
        }
    };
    match tokio::time::timeout(GROUP_WAIT, poll).await {
        Ok(r) => r.map_err(group_error(what)),
        Err(_) => Err(gave_up(what)),
    }
}

/// What alice's endpoint does with a stream of a group it does not run (`wire.md` §3).
const NONMEMBER_REFUSED_LOCALLY: &str = "stream of a group not run here reset (UNKNOWN_PROTOCOL)";

/// The reason of the first failed connection among `events`.
async fn connection_failed(events: &mut GroupEvents, what: &str) -> Result<String, CliError> {
    let wait = async {
        while let Some(e) = events.next().await {
            match e {
                Event::ConnectionFailed { reason, .. } => return Some(reason),
                Event::AuthenticationFailed { reason, .. } => return Some(reason.to_string()),
                _ => {}
            }
        }
        None
    };
    match tokio::time::timeout(GROUP_WAIT, wait).await {
        Ok(Some(r)) => Ok(r),
        Ok(None) => Err(CliError::runtime(format!("demo: group: {what}: the group closed"))),
        Err(_) => Err(gave_up(what)),
    }
}

/// The first refusal among `events`: (reason, refused by us).
async fn refusal(events: &mut GroupEvents, what: &str) -> Result<(Refusal, bool), CliError> {
    let wait = async {
        while let Some(e) = events.next().await {
            if let Event::AuthenticationFailed { reason, local, .. } = e {
                return Some((reason, local));
            }
        }
        None
    };
    match tokio::time::timeout(GROUP_WAIT, wait).await {
        Ok(Some(r)) => Ok(r),
        Ok(None) => Err(CliError::runtime(format!("demo: group: {what}: the group closed"))),
        Err(_) => Err(gave_up(what)),
    }
}

/// An invitation of `endpoint`'s identity into `group`, through its armoured text (as it
/// would travel by mail).
fn invitation(group: &Group, endpoint: &Endpoint, role: Role) -> Result<Invitation, CliError> {
    let info = IdentityInfo::parse(&IdentityInfo::export(endpoint.identity()))?;
    let text = group.invite(&info, role, None).map_err(group_error("invite"))?.to_text();
    Invitation::parse(&text).map_err(|e| CliError::runtime(format!("demo: group: invitation: {e}")))
}

/// Joins with `inv` and connects through `via`; returns once the replica holds `want`.
async fn join_through(
    endpoint: &Endpoint,
    inv: &Invitation,
    options: GroupOptions,
    via: &Endpoint,
    want: &[String],
    who: &str,
) -> Result<(Group, Duration), CliError> {
    let started = Instant::now();
    let mut g = Group::join(endpoint, inv, options).map_err(group_error(format!("{who} join")))?;
    within(&format!("{who} connecting"), g.connect(via.local_addr()?)).await?;
    until(&format!("{who} holding every note"), || async { Ok(notes(&g).await? == want) }).await?;
    Ok((g, started.elapsed()))
}

pub(crate) async fn group_part(
    data_dir: &Path,
    [alice_ep, bob_ep, carol_ep, dave_ep]: [&Endpoint; 4],
) -> Result<GroupReport, CliError> {
    let options = || GroupOptions::default().data_dir(data_dir);

    // alice creates the group and listens alone
    let started = Instant::now();
    let mut create = CreateOptions::new("demo-club");
    create.friendly_name = "Demo club".into();
    let mut alice =
        Group::create(alice_ep, &create, options()).map_err(group_error("alice create"))?;
    let create_ms = ms(started.elapsed());
    within("alice listening", alice.listen()).await?;
    let alice_events = alice.events();
    within("alice publishing", alice.add_record(note("alice: welcome"))).await?;
    let mut want = vec!["alice: welcome".to_owned()];

    // bob is invited as a member; alice sets a password, and carol joins with it
    let started = Instant::now();
    let bob_inv = invitation(&alice, bob_ep, Role::Member)?;
    let invite_ms = ms(started.elapsed());
    let (bob, join) = join_through(bob_ep, &bob_inv, options(), alice_ep, &want, "bob").await?;
    let join_ms = ms(join);
    let started = Instant::now();
    let pw_options = PasswordOptions { role: Role::InvitingMember, ..Default::default() };
    let pw_inv =
        within("alice setting a password", alice.set_password(PASSWORD, &pw_options)).await?;
    let set_password_ms = ms(started.elapsed());
    let pw_inv = PasswordInvitation::parse(&pw_inv.to_text())
        .map_err(|e| CliError::runtime(format!("demo: group: password invitation: {e}")))?;
    let started = Instant::now();
    let mut carol = within(
        "carol's password join",
        Group::password_join(carol_ep, &pw_inv, PASSWORD, alice_ep.local_addr()?, options()),
    )
    .await?;
    let password_join_ms = ms(started.elapsed());
    within("carol connecting", carol.connect(alice_ep.local_addr()?)).await?;
    until("carol holding every note", || async { Ok(notes(&carol).await? == want) }).await?;
    let second_join_ms = ms(started.elapsed());
    // then a wrong guess (from dave's endpoint): refused, reported at alice
    let wrong = Group::password_join(
        dave_ep,
        &pw_inv,
        "not the password",
        alice_ep.local_addr()?,
        options(),
    )
    .await;
    let wrong_password = match wrong {
        Err(e) => e.to_string(),
        Ok(_) => return Err(CliError::runtime("demo: group: a wrong password was accepted")),
    };

    // every member publishes; every replica gets every note
    within("bob publishing", bob.add_record(note("bob: hello"))).await?;
    let started = Instant::now();
    within("carol publishing", carol.add_record(note("carol: hi all"))).await?;
    want.extend(["bob: hello".to_owned(), "carol: hi all".to_owned()]);
    want.sort();
    for (g, who) in [(&alice, "alice"), (&bob, "bob"), (&carol, "carol")] {
        until(&format!("{who} holding all notes"), || async { Ok(notes(g).await? == want) })
            .await?;
    }
    let publish_to_all_ms = ms(started.elapsed());
    let members = within("alice listing members", alice.members())
        .await?
        .into_iter()
        .map(|m| MemberReport { peer: m.peer.to_string(), role: m.role.to_string() })
        .collect();

    // dave, a member of another group, is refused: his group's streams carry its own
    // protocol id (group.md §14.1), which alice's endpoint does not serve, so nothing of his
    // reaches alice's group
    let mut own = CreateOptions::new("demo-club");
    own.friendly_name = "Dave's own club".into();
    let mut dave = Group::create(dave_ep, &own, options()).map_err(group_error("dave create"))?;
    let mut dave_events = dave.events();
    let unknown_before = alice_ep.refusals().unknown_protocol;
    let started = Instant::now();
    within("dave connecting", dave.connect(alice_ep.local_addr()?)).await?;
    let told = connection_failed(&mut dave_events, "dave refused").await?;
    until("alice refusing dave's group stream", || async {
        Ok(alice_ep.refusals().unknown_protocol > unknown_before)
    })
    .await?;
    let nonmember_refused_ms = ms(started.elapsed());
    let local_reason = NONMEMBER_REFUSED_LOCALLY.to_owned();

    // alice revokes carol; bob learns it; carol is refused when she reconnects; what she
    // writes now stays hers
    let carol_name = carol_ep.peer_name().clone();
    let mut carol_events = carol.events();
    let started = Instant::now();
    within("alice revoking carol", alice.revoke(&carol_name)).await?;
    until("bob listing carol as revoked", || async {
        Ok(bob.members().await?.iter().any(|m| m.peer == carol_name && m.revoked.is_some()))
    })
    .await?;
    let revocation_to_bob_ms = ms(started.elapsed());
    // her live connections end first: alice (and bob) refuse her at once
    refusal(&mut carol_events, "carol dropped by alice").await?;
    let _ =
        within("carol publishing after revocation", carol.add_record(note("carol: late"))).await;
    within("carol reconnecting", carol.connect(alice_ep.local_addr()?)).await?;
    let (revoked_reason, _) = refusal(&mut carol_events, "carol refused as revoked").await?;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut revoked_writes_kept = 0;
    for g in [&alice, &bob] {
        revoked_writes_kept += notes(g)
            .await
            .map_err(group_error("counting notes"))?
            .iter()
            .filter(|n| n.as_str() == "carol: late")
            .count();
    }

    let report_group = alice.name().to_string();
    let report_protocol = peergroup_group::net::protocol_id(alice.name())
        .map_err(group_error("protocol id"))?
        .to_string();
    let started = Instant::now();
    drop((alice_events, dave_events, carol_events));
    let (a, b, c, d) = tokio::join!(alice.close(), bob.close(), carol.close(), dave.close());
    for r in [a, b, c, d] {
        r.map_err(group_error("close"))?;
    }
    let close_ms = ms(started.elapsed());

    Ok(GroupReport {
        protocol: report_protocol,
        group: report_group,
        friendly_name: create.friendly_name,
        create_ms,
        invite_ms,
        join_ms,
        set_password_ms,
        wrong_password,
        password_join_ms,
        second_join_ms,
        members,
        records_published: 3,
        publish_to_all_ms,
        nonmember: "dave".into(),
        nonmember_refused_locally: local_reason,
        nonmember_told: told,
        nonmember_refused_ms,
        revoked: "carol".into(),
        revocation_to_bob_ms,
        revoked_reconnect_refused: revoked_reason.to_string(),
        revoked_writes_kept,
        close_ms,
    })
}
