//! `p2p group`: create, join and run groups, after `netsh p2p group`.
//!
//! A group lives in the data directory (`<data>/groups/<identity>/<group>/`). Commands that
//! only read its metadata (`list`, `show`, `invite`) work at any time. Commands that need
//! its replica (`members`, `records`, `publish`, `revoke`, `delete`) open it, and a group's
//! replica can be open in one process at a time: while `p2p group run` serves a group,
//! those commands fail with "in use" and the running process takes the same commands as
//! lines on its standard input instead (`publish TEXT`, `records`, `members`,
//! `revoke PEER-NAME`, `connect ADDR`, `quit`) — that is how a script or a person reaches a
//! running group.
//!
//! `p2p group run` prints one line per event; its first line is stable, for scripts:
//! `listening <ADDR> node <NODE ID> group <GROUP PEER NAME>`.

// Timings are measured on the real clock.
#![allow(clippy::disallowed_methods)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Subcommand;
use peergroup_base::PeerName;
use peergroup_graph::proto::{Event as GraphEvent, NewRecord};
use peergroup_graph::record::Record;
use peergroup_graph::{RecordFilter, RecordType};
use peergroup_group::net::{
    Group, GroupNetError, GroupOptions, GroupSummary, delete_group, list_groups, random_record_id,
};
use peergroup_group::node::Event;
use peergroup_group::{CreateOptions, Invitation, MemberChange, MemberInfo, Role};
use peergroup_identity::{Identity, IdentityInfo};
use peergroup_net::{Endpoint, EndpointConfig};
use serde::Serialize;
use tokio::io::AsyncBufReadExt;

use crate::output::{self, CliError};

/// The record type of text records written by `p2p group publish` ("p2p text").
pub(crate) const TEXT_TYPE: RecordType =
    RecordType::from_u128(0x7032_7020_7465_7874_0000_0000_0000_0001);

/// Lifetime of a text record.
const TEXT_LIFETIME: Duration = Duration::from_secs(86_400);

/// Longest text of one record, bytes.
const MAX_TEXT_BYTES: usize = 16 << 10;

/// How long `publish` and `revoke` with `--peer` wait for a member to take the write.
const PUSH_WAIT: Duration = Duration::from_secs(10);

/// `p2p group …` subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum GroupCommand {
    /// Create a group owned by an identity (its first administrator); prints its peer name.
    Create {
        /// The group's classifier (the group peer name is `<group key authority>.<classifier>`).
        classifier: String,
        /// A friendly name shown to members.
        #[arg(long, default_value = "", value_name = "TEXT")]
        friendly_name: String,
        /// A comment.
        #[arg(long, default_value = "", value_name = "TEXT")]
        comment: String,
        /// Make it a password group: the password, from this file (one trailing newline
        /// removed). The password invitation is written next (`--password-out`).
        #[arg(long, value_name = "FILE")]
        password_file: Option<PathBuf>,
        /// The role password joiners get: member (default) or inviting-member.
        #[arg(long, default_value = "member", value_name = "ROLE")]
        password_role: String,
        /// Write the password invitation here (default: stdout, after the group name).
        #[arg(long, value_name = "FILE")]
        password_out: Option<PathBuf>,
        /// The identity (default: `default`, created if missing).
        #[arg(long, value_name = "NAME")]
        identity: Option<String>,
    },
    /// Set (or change) a group's password; this member verifies joiners while it runs.
    /// Prints the password invitation (no secret in it).
    SetPassword {
        /// The group.
        group: String,
        /// The password file (one trailing newline removed); a prompt if omitted.
        #[arg(long, value_name = "FILE")]
        password_file: Option<PathBuf>,
        /// The role password joiners get: member (default) or inviting-member.
        #[arg(long, default_value = "member", value_name = "ROLE")]
        role: String,
        /// Write the password invitation here instead of stdout.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        /// The identity (default: `default`).
        #[arg(long, value_name = "NAME")]
        identity: Option<String>,
    },
    /// Join a password group: prove the password to a running verifier at `--peer`.
    PasswordJoin {
        /// The password invitation file.
        file: PathBuf,
        /// The password file (one trailing newline removed); a prompt if omitted.
        #[arg(long, value_name = "FILE")]
        password_file: Option<PathBuf>,
        /// The verifier's address (a running administrator or inviting member).
        #[arg(long = "peer", value_name = "ADDR", required = true)]
        peers: Vec<SocketAddr>,
        /// The identity (default: `default`, created if missing).
        #[arg(long, value_name = "NAME")]
        identity: Option<String>,
    },
    /// List an identity's groups (netsh: show groups).
    List {
        /// The identity (default: `default`).
        #[arg(long, value_name = "NAME")]
        identity: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show one group: peer name, role, chain, validity. `show address <group>`: resolve
    /// the group's participants in PNRP (through `--seed`) and list the addresses they
    /// listen on, as netsh did.
    Show {
        /// The group (its peer name, or a unique part of it or of its friendly name), or
        /// `address` followed by the group.
        #[arg(num_args = 1..=2, required = true, value_name = "GROUP")]
        args: Vec<String>,
        /// A PNRP node to resolve through (`show address`; repeatable).
        #[arg(long = "seed", value_name = "ADDR")]
        seeds: Vec<SocketAddr>,
        /// The identity (default: `default`).
        #[arg(long, value_name = "NAME")]
        identity: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Write an invitation for another identity (its `p2p idmgr export-info` text).
    Invite {
        /// The group.
        group: String,
        /// The invitee's identity info file.
        #[arg(long, value_name = "FILE")]
        info: PathBuf,
        /// member, inviting-member or administrator.
        #[arg(long, default_value = "member", value_name = "ROLE")]
        role: String,
        /// Validity in days (never beyond the inviter's own certificate).
        #[arg(long, default_value_t = 365, value_name = "D")]
        days: u64,
        /// Write the invitation here instead of stdout.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        /// The identity (default: `default`).
        #[arg(long, value_name = "NAME")]
        identity: Option<String>,
    },
    /// Join a group with an invitation file; then `p2p group run <group> --peer ADDR`.
    Join {
        /// The invitation file.
        file: PathBuf,
        /// The identity the invitation is for (default: `default`).
        #[arg(long, value_name = "NAME")]
        identity: Option<String>,
    },
    /// Open a group, connect to members and stay up printing events (Ctrl-C closes);
    /// commands are read from stdin (see the module docs).
    Run {
        /// The group.
        group: String,
        /// The UDP address of this member's QUIC endpoint.
        #[arg(long, value_name = "ADDR", default_value = "0.0.0.0:0")]
        listen: SocketAddr,
        /// A member to connect through (repeatable; tried in turn).
        #[arg(long = "peer", value_name = "ADDR")]
        peers: Vec<SocketAddr>,
        /// A PNRP node to bootstrap through (repeatable). With seeds, the member registers
        /// as a participant of the group in PNRP and, without `--peer`, connects to the
        /// participants it finds there (or listens alone).
        #[arg(long = "seed", value_name = "ADDR")]
        seeds: Vec<SocketAddr>,
        /// Run a PNRP node even without seeds (the first node of a cloud).
        #[arg(long)]
        pnrp: bool,
        /// The identity (default: `default`).
        #[arg(long, value_name = "NAME")]
        identity: Option<String>,
    },
    /// List the members this replica knows.
    Members {
        /// The group.
        group: String,
        /// The identity (default: `default`).
        #[arg(long, value_name = "NAME")]
        identity: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// List the text records of this replica.
    Records {
        /// The group.
        group: String,
        /// The identity (default: `default`).
        #[arg(long, value_name = "NAME")]
        identity: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Publish a text record; with `--peer`, hand it to a member before exiting.
    Publish {
        /// The group.
        group: String,
        /// The text.
        text: String,
        /// A member to push the record to (repeatable).
        #[arg(long = "peer", value_name = "ADDR")]
        peers: Vec<SocketAddr>,
        /// The identity (default: `default`).
        #[arg(long, value_name = "NAME")]
        identity: Option<String>,
    },
    /// Revoke a member (administrator, or the member's inviter); with `--peer`, hand the
    /// revocation to a member before exiting.
    Revoke {
        /// The group.
        group: String,
        /// The member's peer name.
        member: String,
        /// A member to push the revocation to (repeatable).
        #[arg(long = "peer", value_name = "ADDR")]
        peers: Vec<SocketAddr>,
        /// The identity (default: `default`).
        #[arg(long, value_name = "NAME")]
        identity: Option<String>,
    },
    /// Delete a group's files (its replica and, for the creator, the group key).
    Delete {
        /// The group.
        group: String,
        /// The identity (default: `default`).
        #[arg(long, value_name = "NAME")]
        identity: Option<String>,
    },
}

fn group_error(e: GroupNetError) -> CliError {
    CliError::runtime(e.to_string())
}

fn options(data_dir: &Path) -> GroupOptions {
    GroupOptions::default().data_dir(data_dir)
}

/// Runs a `p2p group` command with the identities and groups of `data_dir`.
pub(crate) async fn run(data_dir: &Path, command: GroupCommand) -> Result<(), CliError> {
    match command {
        GroupCommand::Create {
            classifier,
            friendly_name,
            comment,
            password_file,
            password_role,
            password_out,
            identity,
        } => {
            let identity = crate::pnrp::identity_for_register(data_dir, identity.as_deref())?;
            let password_options = password_options(&password_role)?;
            let password = password_file.as_deref().map(crate::password::from_file).transpose()?;
            let endpoint = loopback_endpoint(&identity).await?;
            let mut o = CreateOptions::new(&classifier);
            o.friendly_name = friendly_name;
            o.comment = comment;
            let mut group = Group::create(&endpoint, &o, options(data_dir)).map_err(group_error)?;
            output::line(group.name().to_string())?;
            output::note(format_args!("created in {}", group.dir().display()));
            if let Some(p) = password {
                let inv = group.set_password(&p, &password_options).await.map_err(group_error)?;
                write_or_print(password_out.as_deref(), &inv.to_text(), "password invitation")?;
            }
            group.close().await.map_err(group_error)?;
            endpoint.close().await;
            Ok(())
        }
        GroupCommand::SetPassword { group, password_file, role, out, identity } => {
            let identity = crate::pnrp::identity_for_register(data_dir, identity.as_deref())?;
            let password_options = password_options(&role)?;
            let password = crate::password::new(password_file.as_deref())?;
            let g = find_group(data_dir, &identity, &group)?;
            let endpoint = loopback_endpoint(&identity).await?;
            let mut opened =
                Group::open(&endpoint, &g.name, options(data_dir)).map_err(group_error)?;
            let inv =
                opened.set_password(&password, &password_options).await.map_err(group_error)?;
            opened.close().await.map_err(group_error)?;
            endpoint.close().await;
            write_or_print(out.as_deref(), &inv.to_text(), "password invitation")
        }
        GroupCommand::PasswordJoin { file, password_file, peers, identity } => {
            let identity = crate::pnrp::identity_for_register(data_dir, identity.as_deref())?;
            let text = read_text(&file, 64 << 10)?;
            let invitation =
                peergroup_group::password::PasswordInvitation::parse(&text).map_err(|e| {
                    CliError::File {
                        path: file.clone(),
                        reason: format!("not a password invitation: {e}"),
                    }
                })?;
            let password = crate::password::existing(password_file.as_deref())?;
            let endpoint = Endpoint::bind(
                identity.clone(),
                EndpointConfig::with_bind(([0, 0, 0, 0], 0).into()),
            )
            .await?;
            let mut last = None;
            let mut joined = None;
            for peer in &peers {
                match Group::password_join(
                    &endpoint,
                    &invitation,
                    &password,
                    *peer,
                    options(data_dir),
                )
                .await
                {
                    Ok(g) => {
                        joined = Some(g);
                        break;
                    }
                    Err(e) => last = Some(e),
                }
            }
            let Some(group) = joined else {
                endpoint.close().await;
                return Err(last
                    .map(group_error)
                    .unwrap_or_else(|| CliError::runtime("no verifier")));
            };
            output::line(group.name().to_string())?;
            output::note(format_args!(
                "joined {} ({}) as {} by password; now: p2p group run {} --peer <member address>",
                group.name(),
                invitation.friendly_name,
                group.role(),
                group.name()
            ));
            group.close().await.map_err(group_error)?;
            endpoint.close().await;
            Ok(())
        }
        GroupCommand::List { identity, json } => {
            let identity = crate::pnrp::identity_for_register(data_dir, identity.as_deref())?;
            let (groups, damaged) =
                list_groups(identity.peer_name(), &options(data_dir)).map_err(group_error)?;
            for d in damaged {
                output::warn(d);
            }
            if json {
                let v: Vec<GroupJson> = groups.iter().map(GroupJson::from).collect();
                return output::line(to_json(&v)?);
            }
            output::details(&[
                ("identity", identity.peer_name().to_string()),
                ("P2P ID", identity.node_id().to_string()),
            ])?;
            let rows: Vec<Vec<String>> = groups
                .iter()
                .map(|g| {
                    vec![
                        g.name.to_string(),
                        g.friendly_name.clone(),
                        g.role.to_string(),
                        format!("GMC chain len={}", g.chain_len),
                        g.not_after.to_string(),
                    ]
                })
                .collect();
            output::table(&["GROUP", "FRIENDLY NAME", "ROLE", "CHAIN", "VALID UNTIL"], &rows)
        }
        GroupCommand::Show { args, seeds, identity, json } => {
            let identity = crate::pnrp::identity_for_register(data_dir, identity.as_deref())?;
            if let [what, group] = args.as_slice() {
                if what != "address" {
                    return Err(CliError::Usage(format!(
                        "show {what:?} {group:?}: expected `show <group>` or `show address <group>`"
                    )));
                }
                let g = find_group(data_dir, &identity, group)?;
                return show_address(&identity, &g, &seeds, json).await;
            }
            let g = find_group(data_dir, &identity, &args[0])?;
            if json {
                return output::line(to_json(&GroupJson::from(&g))?);
            }
            output::details(&[
                ("group", g.name.to_string()),
                ("friendly name", g.friendly_name.clone()),
                ("cloud", g.cloud.clone()),
                ("role", g.role.to_string()),
                ("chain", format!("GMC chain len={}", g.chain_len)),
                ("valid until", g.not_after.to_string()),
                ("creator", g.creator.to_string()),
                ("directory", g.dir.display().to_string()),
            ])
        }
        GroupCommand::Invite { group, info, role, days, out, identity } => {
            let identity = crate::pnrp::identity_for_register(data_dir, identity.as_deref())?;
            let role = Role::parse(&role).ok_or_else(|| {
                CliError::Usage(format!(
                    "--role {role:?}: expected member, inviting-member or administrator"
                ))
            })?;
            if !(1..=36_500).contains(&days) {
                return Err(CliError::Usage("--days must be 1 to 36500".into()));
            }
            let text = read_text(&info, 64 << 10)?;
            let invitee = IdentityInfo::parse(&text)?;
            let g = find_group(data_dir, &identity, &group)?;
            let endpoint = loopback_endpoint(&identity).await?;
            let opened = Group::open(&endpoint, &g.name, options(data_dir)).map_err(group_error)?;
            let invitation = opened
                .invite(&invitee, role, Some(Duration::from_secs(days * 86_400)))
                .map_err(group_error)?;
            opened.close().await.map_err(group_error)?;
            endpoint.close().await;
            let text = invitation.to_text();
            match out {
                Some(path) => {
                    peergroup_base::fsutil::write_atomic(&path, text.as_bytes())
                        .map_err(|e| CliError::file(&path, "write", &e))?;
                    output::note(format_args!(
                        "invitation for {} written to {}",
                        invitee.peer_name(),
                        path.display()
                    ));
                    Ok(())
                }
                None => output::raw(&text),
            }
        }
        GroupCommand::Join { file, identity } => {
            let identity = crate::pnrp::identity_for_register(data_dir, identity.as_deref())?;
            let text = read_text(&file, 64 << 10)?;
            let invitation = Invitation::parse(&text).map_err(|e| CliError::File {
                path: file.clone(),
                reason: format!("not an invitation: {e}"),
            })?;
            let endpoint = loopback_endpoint(&identity).await?;
            let group =
                Group::join(&endpoint, &invitation, options(data_dir)).map_err(group_error)?;
            output::line(group.name().to_string())?;
            output::note(format_args!(
                "joined {} ({}) as {}; now: p2p group run {} --peer <member address>",
                group.name(),
                invitation.friendly_name,
                invitation.role(),
                group.name()
            ));
            group.close().await.map_err(group_error)?;
            endpoint.close().await;
            Ok(())
        }
        GroupCommand::Run { group, listen, peers, seeds, pnrp, identity } => {
            let identity = crate::pnrp::identity_for_register(data_dir, identity.as_deref())?;
            let g = find_group(data_dir, &identity, &group)?;
            serve(data_dir, identity, g.name, listen, peers, seeds, pnrp).await
        }
        GroupCommand::Members { group, identity, json } => {
            let identity = crate::pnrp::identity_for_register(data_dir, identity.as_deref())?;
            let (endpoint, g) = open_started(data_dir, &identity, &group).await?;
            let members = g.members().await.map_err(group_error)?;
            close(endpoint, g).await?;
            print_members(&members, json)
        }
        GroupCommand::Records { group, identity, json } => {
            let identity = crate::pnrp::identity_for_register(data_dir, identity.as_deref())?;
            let (endpoint, g) = open_started(data_dir, &identity, &group).await?;
            let records = g.enumerate(RecordFilter::Type(TEXT_TYPE)).await.map_err(group_error)?;
            close(endpoint, g).await?;
            print_records(&records, json)
        }
        GroupCommand::Publish { group, text, peers, identity } => {
            let identity = crate::pnrp::identity_for_register(data_dir, identity.as_deref())?;
            let record = text_record(&text)?;
            let (endpoint, mut g) = open_started(data_dir, &identity, &group).await?;
            let stored = g.add_record(record).await.map_err(group_error)?;
            output::line(format!("published {}", stored.id()))?;
            push(&mut g, &peers).await;
            close(endpoint, g).await
        }
        GroupCommand::Revoke { group, member, peers, identity } => {
            let identity = crate::pnrp::identity_for_register(data_dir, identity.as_deref())?;
            let member = PeerName::parse(&member)
                .map_err(|e| CliError::Usage(format!("{member:?} is not a peer name: {e}")))?;
            let (endpoint, mut g) = open_started(data_dir, &identity, &group).await?;
            g.revoke(&member).await.map_err(group_error)?;
            output::line(format!("revoked {member}"))?;
            push(&mut g, &peers).await;
            close(endpoint, g).await
        }
        GroupCommand::Delete { group, identity } => {
            let identity = crate::pnrp::identity_for_register(data_dir, identity.as_deref())?;
            let g = find_group(data_dir, &identity, &group)?;
            let endpoint = loopback_endpoint(&identity).await?;
            let r = delete_group(&endpoint, &g.name, &options(data_dir)).map_err(group_error);
            endpoint.close().await;
            r?;
            output::line(format!("deleted {}", g.name))
        }
    }
}

fn password_options(role: &str) -> Result<peergroup_group::password::PasswordOptions, CliError> {
    let role = Role::parse(role).ok_or_else(|| {
        CliError::Usage(format!("password role {role:?}: expected member or inviting-member"))
    })?;
    Ok(peergroup_group::password::PasswordOptions { role, ..Default::default() })
}

fn write_or_print(path: Option<&Path>, text: &str, what: &str) -> Result<(), CliError> {
    match path {
        Some(p) => {
            peergroup_base::fsutil::write_atomic(p, text.as_bytes())
                .map_err(|e| CliError::file(p, "write", &e))?;
            output::note(format_args!("{what} written to {}", p.display()));
            Ok(())
        }
        None => output::raw(text),
    }
}

/// A text record.
pub(crate) fn text_record(text: &str) -> Result<NewRecord, CliError> {
    if text.len() > MAX_TEXT_BYTES {
        return Err(CliError::Usage(format!("a text record is at most {MAX_TEXT_BYTES} bytes")));
    }
    Ok(NewRecord::new(random_record_id(), TEXT_TYPE, TEXT_LIFETIME, text.as_bytes().to_vec()))
}

fn read_text(path: &Path, max: u64) -> Result<String, CliError> {
    use std::io::Read;
    let file = std::fs::File::open(path).map_err(|e| CliError::file(path, "open", &e))?;
    let mut s = String::new();
    file.take(max + 1).read_to_string(&mut s).map_err(|e| CliError::file(path, "read", &e))?;
    if s.len() as u64 > max {
        return Err(CliError::File {
            path: path.to_path_buf(),
            reason: format!("larger than {max} bytes"),
        });
    }
    Ok(s)
}

/// An endpoint on an ephemeral loopback port, for commands that only touch files.
async fn loopback_endpoint(identity: &Identity) -> Result<Endpoint, CliError> {
    Ok(Endpoint::bind(identity.clone(), EndpointConfig::loopback()).await?)
}

/// The identity's group named by `query`: its full peer name, or a part of its peer name
/// or friendly name that only one group has.
fn find_group(data_dir: &Path, identity: &Identity, query: &str) -> Result<GroupSummary, CliError> {
    let (groups, _) = list_groups(identity.peer_name(), &options(data_dir)).map_err(group_error)?;
    if let Some(g) = groups.iter().find(|g| g.name.to_string() == query) {
        return Ok(g.clone());
    }
    let matching: Vec<&GroupSummary> = groups
        .iter()
        .filter(|g| g.name.to_string().contains(query) || g.friendly_name.contains(query))
        .collect();
    match matching.as_slice() {
        [one] => Ok((*one).clone()),
        [] => Err(CliError::runtime(format!(
            "identity {} has no group matching {query:?} (p2p group list shows its groups)",
            identity.peer_name()
        ))),
        many => Err(CliError::Usage(format!(
            "{query:?} matches {} groups; give the group's full peer name",
            many.len()
        ))),
    }
}

/// Opens a group on an ephemeral loopback endpoint and starts it (without connecting).
async fn open_started(
    data_dir: &Path,
    identity: &Identity,
    query: &str,
) -> Result<(Endpoint, Group), CliError> {
    let g = find_group(data_dir, identity, query)?;
    let endpoint =
        Endpoint::bind(identity.clone(), EndpointConfig::with_bind(([0, 0, 0, 0], 0).into()))
            .await?;
    let mut group = Group::open(&endpoint, &g.name, options(data_dir)).map_err(|e| match e {
        GroupNetError::Graph(inner) => CliError::runtime(format!(
            "{inner} (is `p2p group run` serving this group? type the command on its stdin)"
        )),
        other => group_error(other),
    })?;
    group.listen().await.map_err(group_error)?;
    Ok((endpoint, group))
}

async fn close(endpoint: Endpoint, group: Group) -> Result<(), CliError> {
    let r = group.close().await.map_err(group_error);
    endpoint.close().await;
    r
}

/// Connects to `peers` and waits until one of them synchronised with this node (so that
/// a write made here reached it), at most [`PUSH_WAIT`].
async fn push(group: &mut Group, peers: &[SocketAddr]) {
    if peers.is_empty() {
        return;
    }
    let mut events = group.events();
    if let Err(e) = group.connect_any(peers).await {
        output::warn(format!("not handed to any member: {e}"));
        return;
    }
    let waited = tokio::time::timeout(PUSH_WAIT, async {
        while let Some(e) = events.next().await {
            match e {
                Event::Graph(GraphEvent::Synchronized { .. }) => return Ok(()),
                Event::AuthenticationFailed { reason, local, detail, .. } => {
                    return Err(format!(
                        "{} ({}){}",
                        reason,
                        if local { "we refused the peer" } else { "the peer refused us" },
                        if detail.is_empty() { String::new() } else { format!(": {detail}") }
                    ));
                }
                _ => {}
            }
        }
        Err("the group closed".to_owned())
    })
    .await;
    match waited {
        Ok(Ok(())) => output::note(format_args!("handed to a member")),
        Ok(Err(e)) => output::warn(format!("not handed to any member: {e}")),
        Err(_) => output::warn("no member synchronised within 10 s"),
    }
}

/// A PNRP node on `endpoint` that accepts participant registrations, seeded by `seeds`.
async fn start_pnrp(
    endpoint: &Endpoint,
    identity: &Identity,
    seeds: &[SocketAddr],
) -> Result<peergroup_pnrp::net::Pnrp, CliError> {
    let mut config = peergroup_pnrp::net::PnrpConfig::default()
        .with_seeds(seeds.iter().map(|a| peergroup_pnrp::net::Seed::Addr(*a)));
    config.cache = peergroup_pnrp::net::CacheLocation::Off;
    if endpoint.local_addr()?.ip().is_loopback() {
        config.core.subnet_limits = None;
    }
    config.core.validator =
        Some(std::sync::Arc::new(peergroup_group::net::ParticipantDelegation::new()));
    let pnrp = peergroup_pnrp::net::Pnrp::start(endpoint, identity, config)
        .await
        .map_err(|e| CliError::runtime(format!("pnrp: {e}")))?;
    let _ = pnrp.wait_active(peergroup_pnrp::proto::Cloud::Global, PUSH_WAIT).await;
    Ok(pnrp)
}

/// `p2p group show address`.
async fn show_address(
    identity: &Identity,
    g: &GroupSummary,
    seeds: &[SocketAddr],
    json: bool,
) -> Result<(), CliError> {
    if seeds.is_empty() {
        return Err(CliError::Usage("show address needs a PNRP node: --seed ADDR".into()));
    }
    let endpoint =
        Endpoint::bind(identity.clone(), EndpointConfig::with_bind(([0, 0, 0, 0], 0).into()))
            .await?;
    let pnrp = start_pnrp(&endpoint, identity, seeds).await?;
    let name = peergroup_group::net::participant_name(&g.name)
        .map_err(|e| CliError::runtime(e.to_string()))?;
    let options =
        peergroup_pnrp::net::ResolveOptions::default().with_max_results(16).with_timeout(PUSH_WAIT);
    let found = pnrp.resolve(&name, options).await;
    let _ = pnrp.shutdown().await;
    endpoint.close().await;
    let instances = found.map_err(|e| CliError::runtime(format!("{name}: {e}")))?;
    if json {
        let v: Vec<serde_json::Value> = instances
            .iter()
            .map(|i| {
                serde_json::json!({
                    "member_key": hex::encode(i.signer),
                    "addresses": i.endpoints.iter().map(ToString::to_string).collect::<Vec<_>>(),
                })
            })
            .collect();
        return output::line(to_json(&v)?);
    }
    output::line(format!("{name}: {} participant(s)", instances.len()))?;
    for i in &instances {
        let addrs: Vec<String> = i.endpoints.iter().map(ToString::to_string).collect();
        output::line(format!(
            "  node {}  {}",
            peergroup_base::NodeId::from_ed25519(&i.signer),
            addrs.join(", ")
        ))?;
    }
    Ok(())
}

/// `p2p group run`.
async fn serve(
    data_dir: &Path,
    identity: Identity,
    name: PeerName,
    listen: SocketAddr,
    peers: Vec<SocketAddr>,
    seeds: Vec<SocketAddr>,
    with_pnrp: bool,
) -> Result<(), CliError> {
    let endpoint = Endpoint::bind(identity.clone(), EndpointConfig::with_bind(listen)).await?;
    let mut group = Group::open(&endpoint, &name, options(data_dir)).map_err(group_error)?;
    let mut events = group.events();
    group.listen().await.map_err(group_error)?;
    let local = endpoint.local_addr()?;
    output::line(format!("listening {local} node {} group {name}", identity.node_id()))?;
    let pnrp = if seeds.is_empty() && !with_pnrp {
        None
    } else {
        Some(start_pnrp(&endpoint, &identity, &seeds).await?)
    };
    if let (Some(pnrp), true) = (&pnrp, peers.is_empty()) {
        match group.connect_with_pnrp(pnrp, PUSH_WAIT).await {
            Ok(peergroup_group::net::ConnectOutcome::Connected(p)) => {
                output::line(format!("connecting {} node {} (found in pnrp)", p.addr, p.node))?;
            }
            Ok(peergroup_group::net::ConnectOutcome::Alone { tried, last_error }) => {
                output::line(format!(
                    "no other participant answered ({tried} tried{}); listening alone",
                    last_error.map(|e| format!(", last: {e}")).unwrap_or_default()
                ))?;
            }
            Ok(_) => output::line("listening alone")?,
            Err(e) => output::warn(format!("{e}; listening alone")),
        }
    } else {
        if let Some(pnrp) = &pnrp
            && let Err(e) = group.register_participant(pnrp).await
        {
            output::warn(format!("not registered as a participant: {e}"));
        }
        if !peers.is_empty() {
            match group.connect_any(&peers).await {
                Ok(p) => output::line(format!("connecting {} node {}", p.addr, p.node))?,
                Err(e) => output::warn(format!("{e}; listening alone")),
            }
        }
    }
    let mut stdin = tokio::io::BufReader::new(tokio::io::stdin()).lines();
    let mut stdin_open = true;
    let result = loop {
        tokio::select! {
            _ = crate::pnrp::interrupted() => break Ok(()),
            e = events.next() => match e {
                Some(e) => { print_event(&e)?; }
                None => break Ok(()),
            },
            line = stdin.next_line(), if stdin_open => match line {
                Ok(Some(l)) => {
                    if !command_line(&mut group, l.trim()).await? {
                        break Ok(());
                    }
                }
                _ => stdin_open = false,
            },
        }
    };
    group.close().await.map_err(group_error)?;
    if let Some(p) = pnrp {
        let _ = p.shutdown().await;
    }
    endpoint.close().await;
    output::line("closed")?;
    result
}

/// One command typed on `run`'s stdin; `false` to stop.
async fn command_line(group: &mut Group, line: &str) -> Result<bool, CliError> {
    let (verb, rest) = line.split_once(' ').unwrap_or((line, ""));
    let r: Result<(), String> = match verb {
        "" => Ok(()),
        "quit" | "exit" => return Ok(false),
        "publish" => match text_record(rest) {
            Ok(r) => match group.add_record(r).await {
                Ok(stored) => {
                    output::line(format!("published {}", stored.id())).map_err(|e| e.to_string())
                }
                Err(e) => Err(e.to_string()),
            },
            Err(e) => Err(e.to_string()),
        },
        "records" => match group.enumerate(RecordFilter::Type(TEXT_TYPE)).await {
            Ok(rs) => print_records(&rs, false).map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        },
        "members" => match group.members().await {
            Ok(ms) => print_members(&ms, false).map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        },
        "revoke" => match PeerName::parse(rest.trim()) {
            Ok(p) => match group.revoke(&p).await {
                Ok(()) => output::line(format!("revoked {p}")).map_err(|e| e.to_string()),
                Err(e) => Err(e.to_string()),
            },
            Err(e) => Err(format!("{rest:?} is not a peer name: {e}")),
        },
        "connect" => match rest.trim().parse::<SocketAddr>() {
            Ok(a) => match group.connect(a).await {
                Ok(p) => output::line(format!("connecting {} node {}", p.addr, p.node))
                    .map_err(|e| e.to_string()),
                Err(e) => Err(e.to_string()),
            },
            Err(e) => Err(format!("{rest:?} is not an address: {e}")),
        },
        other => Err(format!(
            "unknown command {other:?} (publish TEXT, records, members, revoke PEER-NAME, connect ADDR, quit)"
        )),
    };
    if let Err(e) = r {
        output::error(&e);
    }
    Ok(true)
}

fn print_event(e: &Event) -> Result<(), CliError> {
    let text = match e {
        Event::PeerAdmitted { peer, role } => {
            format!("admitted {} node {} {role}", peer.addr, peer.node)
        }
        Event::AuthenticationFailed { peer, reason, local, detail } => format!(
            "refused {} node {} {reason} ({}){}",
            peer.addr,
            peer.node,
            if *local { "by us" } else { "by the peer" },
            if detail.is_empty() { String::new() } else { format!(": {detail}") }
        ),
        Event::MemberChanged(c) => match c {
            MemberChange::Joined { peer, role } => format!("member joined {peer} {role}"),
            MemberChange::Updated { peer, role } => format!("member updated {peer} {role}"),
            MemberChange::Revoked { peer, cert } => format!("member revoked {peer} cert {cert}"),
            MemberChange::Left { peer } => format!("member left {peer}"),
        },
        Event::CommandFailed { error } => format!("command failed: {error}"),
        Event::PasswordJoined { peer, member, role } => {
            format!("password join {} node {} joined {member} {role}", peer.addr, peer.node)
        }
        Event::PasswordJoinFailed { peer, reason } => {
            format!("password join {} node {} refused: {reason}", peer.addr, peer.node)
        }
        Event::PropertyChanged { properties } => format!(
            "properties friendly name {:?} comment {:?}",
            properties.friendly_name, properties.comment
        ),
        Event::ConnectionFailed { addr, node, reason } => match node {
            Some(n) => format!("connection failed {addr} node {n}: {reason}"),
            None => format!("connection failed {addr}: {reason}"),
        },
        Event::Graph(g) => match g {
            GraphEvent::Status(s) => format!(
                "status listening={} connected={} synchronized={}",
                s.listening, s.has_connections, s.synchronized
            ),
            GraphEvent::RecordChanged { change, id, record_type, .. } => {
                format!("record {change:?} {id} type {record_type}").to_lowercase()
            }
            GraphEvent::Neighbour { peer, change } => {
                format!("neighbour {change:?} {} node {}", peer.addr, peer.node).to_lowercase()
            }
            GraphEvent::Synchronized { peer, records_received, records_sent } => format!(
                "synchronized node {} received {records_received} sent {records_sent}",
                peer.node
            ),
            GraphEvent::Rejected { peer, error } => {
                format!("rejected from node {}: {error}", peer.node)
            }
            GraphEvent::CommandFailed { command, error } => {
                format!("command failed: {command}: {error}")
            }
            _ => return Ok(()),
        },
        _ => return Ok(()),
    };
    output::line(text)
}

#[derive(Serialize)]
struct GroupJson {
    group: String,
    friendly_name: String,
    cloud: String,
    role: String,
    chain_len: usize,
    not_after: u64,
    creator: bool,
    dir: String,
}

impl From<&GroupSummary> for GroupJson {
    fn from(g: &GroupSummary) -> Self {
        GroupJson {
            group: g.name.to_string(),
            friendly_name: g.friendly_name.clone(),
            cloud: g.cloud.clone(),
            role: g.role.to_string(),
            chain_len: g.chain_len,
            not_after: g.not_after.as_secs(),
            creator: g.creator,
            dir: g.dir.display().to_string(),
        }
    }
}

#[derive(Serialize)]
struct MemberJson {
    peer: String,
    role: String,
    not_after: u64,
    revoked: bool,
    present: bool,
    chain_len: usize,
}

fn print_members(members: &[MemberInfo], json: bool) -> Result<(), CliError> {
    if json {
        let v: Vec<MemberJson> = members
            .iter()
            .map(|m| MemberJson {
                peer: m.peer.to_string(),
                role: m.role.to_string(),
                not_after: m.not_after.as_secs(),
                revoked: m.revoked.is_some(),
                present: m.present,
                chain_len: m.chain.certs().len(),
            })
            .collect();
        return output::line(to_json(&v)?);
    }
    let rows: Vec<Vec<String>> = members
        .iter()
        .map(|m| {
            vec![
                m.peer.to_string(),
                m.role.to_string(),
                if m.revoked.is_some() { "revoked".into() } else { "valid".into() },
                if m.present { "present".into() } else { "-".into() },
                m.not_after.to_string(),
            ]
        })
        .collect();
    output::table(&["MEMBER", "ROLE", "STATE", "PRESENCE", "VALID UNTIL"], &rows)
}

#[derive(Serialize)]
struct RecordJson {
    id: String,
    creator: String,
    modified: u64,
    text: String,
}

fn print_records(records: &[Record], json: bool) -> Result<(), CliError> {
    let mut records: Vec<&Record> = records.iter().collect();
    records.sort_by_key(|r| r.modified());
    if json {
        let v: Vec<RecordJson> = records
            .iter()
            .map(|r| RecordJson {
                id: r.id().to_string(),
                creator: r.creator().to_string(),
                modified: r.modified().wall().as_secs(),
                text: String::from_utf8_lossy(r.payload()).into_owned(),
            })
            .collect();
        return output::line(to_json(&v)?);
    }
    for r in records {
        output::line(format!(
            "{}  {}  {}",
            r.id(),
            r.creator(),
            String::from_utf8_lossy(r.payload()).replace(['\n', '\r'], " ")
        ))?;
    }
    Ok(())
}

fn to_json<T: Serialize>(v: &T) -> Result<String, CliError> {
    serde_json::to_string(v).map_err(|e| CliError::runtime(format!("cannot write JSON: {e}")))
}
