//! Password join on QUIC (`group.md` §13.9): the verifier's server and the joiner's side.
//!
//! The exchange of §13 runs on its own streams, protocol id `group-join/1`, one stream per
//! attempt: the joiner dials a verifier (an administrator or inviting member that set the
//! group's password), opens a stream, and the two send the §13 messages as frames whose
//! body is the postcard byte string of the message (`varint length ‖ message`). The
//! exporter binding of §13 is taken from that stream's connection. A verifier waits at most
//! [`JOIN_WAIT`] for each message; a stream that stalls after the challenge counts as a
//! failed attempt (`Abandoned`).

use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use peergroup_base::{NodeId, PeerAddr, PeerName};
use peergroup_net::driver::Handle;
use peergroup_net::{Endpoint, FramedStream, ProtocolId};
use serde_bytes::ByteBuf;

use std::net::SocketAddr;

use peergroup_net::Expect;

use super::{Group, GroupOptions, METADATA_FILE, State, group_dir, wall_now};
use crate::group::LocalMember;
use crate::net::GroupNetError;
use crate::net::driven::{InspectFn, Request, Shared};
use crate::node::Event;
use crate::password::{
    EXPORTER_LABEL, JoinRefusal, PasswordMessage, PasswordVerifier, SystemRng, VerifierExchange,
    VerifierOutcome,
};

/// The protocol of password-join streams; each group's carry the id [`join_protocol_id`]
/// gives (`group-join/1/` and the group's tag, `group.md` §13.3).
pub const JOIN_PROTOCOL: &str = "group-join/1";

/// The protocol id of password-join streams for `group`: `group-join/1/` and the same tag
/// as [`protocol_id`](super::protocol_id)'s.
pub fn join_protocol_id(group: &PeerName) -> Result<ProtocolId, GroupNetError> {
    Ok(ProtocolId::new(&super::tagged(JOIN_PROTOCOL, group))?)
}

/// Longest wait for the other side's next message.
pub const JOIN_WAIT: Duration = Duration::from_secs(30);

/// The verifier's setup file in a group's directory (owner-only, §13.6).
pub const PASSWORD_FILE: &str = "password.setup";

#[allow(clippy::disallowed_methods)] // the driver side reads the wall clock
fn now() -> peergroup_base::UnixTime {
    peergroup_base::UnixTime::now()
}

/// Serves password joins for one group on `endpoint` until the task is aborted; `node`
/// is the group's running node, asked whether a joiner's identity was revoked.
pub(crate) fn serve(
    endpoint: &Endpoint,
    group: &PeerName,
    verifier: Arc<Mutex<PasswordVerifier>>,
    path: PathBuf,
    issuer: LocalMember,
    shared: Arc<Shared>,
    node: Handle<Request>,
) -> Result<tokio::task::JoinHandle<()>, GroupNetError> {
    let mut incoming = endpoint.register(join_protocol_id(group)?)?;
    Ok(tokio::spawn(async move {
        while let Some(stream) = incoming.next().await {
            let (v, p, i, s) = (verifier.clone(), path.clone(), issuer.clone(), shared.clone());
            let n = node.clone();
            tokio::spawn(async move { verify_one(stream, v, p, i, s, n).await });
        }
    }))
}

/// Whether the identity `node` holds a revoked membership of the group; `None` when the
/// group's node is gone (closed).
async fn revoked(handle: &Handle<Request>, node: NodeId) -> Option<bool> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let job: InspectFn = Box::new(move |now, n| {
        let _ = tx.send(n.revoked_identity(now.unix, &node.authority()).is_some());
    });
    handle.command_urgent(Request::Inspect(job)).await.ok()?;
    rx.await.ok()
}

fn save(verifier: &Mutex<PasswordVerifier>, path: &std::path::Path) {
    let setup = verifier.lock().unwrap_or_else(PoisonError::into_inner).setup().clone();
    if let Err(e) = setup.save(path) {
        tracing::warn!(error = %e, "cannot save the password setup (failure counter)");
    }
}

async fn verify_one(
    mut stream: FramedStream,
    verifier: Arc<Mutex<PasswordVerifier>>,
    path: PathBuf,
    issuer: LocalMember,
    shared: Arc<Shared>,
    node: Handle<Request>,
) {
    let peer = PeerAddr { node: stream.remote.node_id, addr: stream.remote_addr };
    let fail = |reason: String| Event::PasswordJoinFailed { peer, reason };
    let Some(exporter) = stream.exporter(EXPORTER_LABEL, b"") else {
        shared.publish_event(fail("the connection exports no keying material".into()));
        return;
    };
    // A password does not undo a revocation (§13.3, refusal 8); a closed group admits
    // nobody (refusal 7). Checked before the first message is answered.
    let refusal = match revoked(&node, peer.node).await {
        Some(false) => None,
        Some(true) => Some(JoinRefusal::Revoked),
        None => Some(JoinRefusal::Unavailable),
    };
    if let Some(refusal) = refusal {
        let _ = tokio::time::timeout(JOIN_WAIT, stream.recv::<ByteBuf>()).await;
        let reply = PasswordMessage::JoinRefused { refusal, retry_after: Duration::ZERO };
        let _ = stream.send(&ByteBuf::from(reply.encode())).await;
        let _ = stream.send.finish();
        let why = match refusal {
            JoinRefusal::Revoked => crate::error::PasswordError::Revoked,
            _ => crate::error::PasswordError::Unavailable,
        };
        shared.publish_event(fail(why.to_string()));
        return;
    }
    let mut exchange = VerifierExchange::new(peer.node, peer.addr.ip(), exporter);
    let mut rng = SystemRng::new();
    loop {
        let bytes = match tokio::time::timeout(JOIN_WAIT, stream.recv::<ByteBuf>()).await {
            Ok(Ok(Some(b))) => b,
            _ => {
                if let Some(e) = exchange.abandon() {
                    save(&verifier, &path);
                    shared.publish_event(fail(e.to_string()));
                }
                return;
            }
        };
        let outcome = {
            let mut v = verifier.lock().unwrap_or_else(PoisonError::into_inner);
            exchange.handle(&mut v, &issuer, &bytes, now(), &mut rng)
        };
        // The failure counter changes as the challenge goes out and as the proof comes
        // in: keep it on disk, so that a restart does not reset the lock.
        save(&verifier, &path);
        match outcome {
            VerifierOutcome::Reply(reply) => {
                if stream.send(&ByteBuf::from(reply)).await.is_err() {
                    if let Some(e) = exchange.abandon() {
                        shared.publish_event(fail(e.to_string()));
                    }
                    return;
                }
            }
            VerifierOutcome::Admitted { reply, joiner, role, .. } => {
                let _ = stream.send(&ByteBuf::from(reply)).await;
                let _ = stream.send.finish();
                shared.publish_event(Event::PasswordJoined { peer, member: joiner, role });
                return;
            }
            VerifierOutcome::Failed { reply, error } => {
                if let Some(r) = reply {
                    let _ = stream.send(&ByteBuf::from(r)).await;
                    let _ = stream.send.finish();
                }
                shared.publish_event(fail(error.to_string()));
                return;
            }
        }
    }
}

/// The joiner's side: runs one exchange on a new stream of `conn`; the joiner's new chain.
pub(crate) async fn join_over(
    conn: &peergroup_net::Connection,
    invitation: &crate::password::PasswordInvitation,
    identity: &peergroup_identity::Identity,
    password: &str,
) -> Result<crate::chain::VerifiedChain, GroupNetError> {
    use crate::password::{JoinerExchange, JoinerOutcome};
    let stalled = |reason: &str| GroupNetError::PasswordJoinStalled { reason: reason.to_owned() };
    let mut stream = conn.open(&join_protocol_id(&invitation.group)?).await?;
    let exporter =
        stream.exporter(EXPORTER_LABEL, b"").ok_or_else(|| stalled("no keying material"))?;
    let mut rng = SystemRng::new();
    let (mut exchange, start) =
        JoinerExchange::start(invitation, identity, password, &exporter, &mut rng)?;
    stream.send(&ByteBuf::from(start)).await?;
    loop {
        let bytes = match tokio::time::timeout(JOIN_WAIT, stream.recv::<ByteBuf>()).await {
            Ok(Ok(Some(b))) => b,
            Ok(Ok(None)) => return Err(stalled("the verifier closed the stream")),
            Ok(Err(e)) => return Err(e.into()),
            Err(_) => return Err(stalled("the verifier did not answer in time")),
        };
        // The joiner's Argon2id runs here (about 0.1 s): on a blocking thread, off the
        // async workers (and safe on a current-thread runtime).
        let (back, outcome) = tokio::task::spawn_blocking(move || {
            let mut rng = SystemRng::new();
            let outcome = exchange.handle(&bytes, now(), &mut rng);
            (exchange, outcome)
        })
        .await
        .map_err(|e| stalled(&format!("the key stretching task failed: {e}")))?;
        exchange = back;
        match outcome {
            JoinerOutcome::Reply(reply) => stream.send(&ByteBuf::from(reply)).await?,
            JoinerOutcome::Joined(chain) => return Ok(chain),
            JoinerOutcome::Failed { reply, error } => {
                if let Some(r) = reply {
                    let _ = stream.send(&ByteBuf::from(r)).await;
                }
                return Err(error.into());
            }
        }
    }
}

/// The password side of [`Group`]'s API.
impl Group {
    /// Joins a password group (`PeerGroupPasswordJoin`): dials the verifier at `addr` (an
    /// administrator or inviting member of the group that set its password), proves
    /// `password` to it (`group.md` §13, bound to that connection's TLS session) and
    /// receives this identity's credentials; then creates the group's directory like
    /// [`join`](Group::join). A wrong password is [`PasswordError::BadPassword`]; after
    /// failures the verifier answers `Backoff` (retry later) and, after 10, `Locked`.
    ///
    /// [`PasswordError::BadPassword`]: crate::error::PasswordError::BadPassword
    pub async fn password_join(
        endpoint: &Endpoint,
        invitation: &crate::password::PasswordInvitation,
        password: &str,
        addr: SocketAddr,
        options: GroupOptions,
    ) -> Result<Group, GroupNetError> {
        let dir = group_dir(endpoint, &invitation.group, &options)?;
        if dir.join(METADATA_FILE).exists() {
            return Err(GroupNetError::AlreadyExists {
                group: invitation.group.to_string(),
                path: dir,
            });
        }
        let conn = match tokio::time::timeout(
            options.config.topology.connect_timeout,
            endpoint.connect(addr, Expect::Any),
        )
        .await
        {
            Ok(c) => c?,
            Err(_) => return Err(GroupNetError::ConnectTimeout { addr }),
        };
        let chain = join_over(&conn, invitation, endpoint.identity(), password).await?;
        Group::join_with(
            endpoint,
            chain.chain(),
            &invitation.friendly_name,
            &invitation.cloud,
            options,
        )
    }

    /// Sets the group's password (administrator or inviting member; `group.md` §13):
    /// OPAQUE registration run here, the verifier record kept in this member's directory
    /// only (`password.setup`, owner-only) and never replicated. Joiners then prove the
    /// password to this node while it runs, and get `options.role`. A new password resets
    /// the failure lock. Returns the password invitation to hand out (no secret in it).
    pub async fn set_password(
        &mut self,
        password_text: &str,
        options: &crate::password::PasswordOptions,
    ) -> Result<crate::password::PasswordInvitation, GroupNetError> {
        let mut rng = crate::password::SystemRng::new();
        let local = self.local.clone();
        let opts = options.clone();
        let text = zeroize::Zeroizing::new(password_text.to_owned());
        let setup = tokio::task::spawn_blocking(move || {
            crate::password::PasswordSetup::create(&local, &text, &opts, wall_now(), &mut rng)
        })
        .await
        .map_err(|e| GroupNetError::PasswordJoinStalled { reason: e.to_string() })??;
        setup.save(&self.dir.join(PASSWORD_FILE))?;
        match &self.password {
            Some(v) => v.lock().unwrap_or_else(std::sync::PoisonError::into_inner).set_setup(setup),
            None => {
                self.password = Some(Arc::new(std::sync::Mutex::new(
                    crate::password::PasswordVerifier::new(setup),
                )));
            }
        }
        if self.is_running() {
            self.serve_password()?;
        }
        self.password_invitation()
    }

    /// The password invitation of this group: its peer name, friendly name and cloud.
    pub fn password_invitation(
        &self,
    ) -> Result<crate::password::PasswordInvitation, GroupNetError> {
        Ok(crate::password::PasswordInvitation::new(
            self.name.clone(),
            &self.meta.friendly_name,
            &self.meta.cloud,
        )?)
    }

    /// Starts serving password joins if a password is set here and nothing serves yet.
    pub(super) fn serve_password(&mut self) -> Result<(), GroupNetError> {
        if self.password_server.is_some() {
            return Ok(());
        }
        if self.password.is_none() {
            let path = self.dir.join(PASSWORD_FILE);
            if !path.exists() {
                return Ok(());
            }
            let setup = crate::password::PasswordSetup::load(&path)?;
            self.password = Some(Arc::new(std::sync::Mutex::new(
                crate::password::PasswordVerifier::new(setup),
            )));
        }
        if let (Some(v), State::Running(handle)) = (&self.password, &self.state) {
            self.password_server = Some(serve(
                &self.endpoint,
                &self.name,
                v.clone(),
                self.dir.join(PASSWORD_FILE),
                self.local.clone(),
                self.shared.clone(),
                handle.clone(),
            )?);
        }
        Ok(())
    }
}
