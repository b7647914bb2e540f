//! The two state machines of the password join (`group.md` §13.3, §13.4): bytes in, an
//! outcome out. One [`JoinerExchange`] and one [`VerifierExchange`] per connection.

use std::net::IpAddr;

use opaque_ke::{
    ClientLogin, ClientLoginFinishParameters, CredentialFinalization, CredentialRequest,
    CredentialResponse, Identifiers, ServerLogin, ServerLoginParameters,
};
use peergroup_base::{Classifier, NodeId, PeerName, UnixTime};
use peergroup_identity::Identity;
use zeroize::Zeroizing;

use super::messages::{JoinRefusal, KE1_BYTES, KE2_BYTES, KE3_BYTES, PasswordMessage};
use super::throttle::{Charge, PasswordVerifier};
use super::{
    CLIENT_ID_DOMAIN, CryptoRng, PasswordInvitation, RngCore, SERVER_ID_DOMAIN, Suite, context,
    identifier, ksf, password_bytes,
};
use crate::cert::Role;
use crate::chain::{CertCache, Chain, VerifiedChain};
use crate::error::{ChainError, PasswordError};
use crate::group::LocalMember;

/// Copies an OPAQUE serialisation into a fixed-size array.
fn fixed<const N: usize>(b: &[u8]) -> Result<[u8; N], PasswordError> {
    b.try_into().map_err(|_| PasswordError::Crypto("unexpected OPAQUE message size"))
}

// ----------------------------------------------------------------------------- joiner

/// What the joiner does after a message.
#[derive(Debug)]
#[non_exhaustive]
pub enum JoinerOutcome {
    /// Send these bytes to the verifier and wait for its answer.
    Reply(Vec<u8>),
    /// Joined: the new chain (verified at `now`, for this group, ending in the joiner's
    /// key). Store it as the member's credentials and connect as a member (§8).
    Joined(VerifiedChain),
    /// Failed: send `reply` if any (a `JoinAbort`), then close the exchange.
    Failed {
        /// A last message for the verifier.
        reply: Option<Vec<u8>>,
        /// Why.
        error: PasswordError,
    },
}

enum JoinerState {
    AwaitChallenge(Box<ClientLogin<Suite>>),
    AwaitResult,
    Done,
}

/// The joiner's side of one password join.
pub struct JoinerExchange {
    state: JoinerState,
    group: PeerName,
    key: [u8; 32],
    password: Zeroizing<Vec<u8>>,
    context: Vec<u8>,
}

impl std::fmt::Debug for JoinerExchange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JoinerExchange").field("group", &self.group.to_string()).finish()
    }
}

impl JoinerExchange {
    /// Starts a join of the group of `invitation` as `identity` with `password`, on a
    /// connection whose exporter value (label [`EXPORTER_LABEL`](super::EXPORTER_LABEL)) is
    /// `exporter`. Returns the exchange and the `JoinStart` to send.
    pub fn start<R: RngCore + CryptoRng>(
        invitation: &PasswordInvitation,
        identity: &Identity,
        password: &str,
        exporter: &[u8; 32],
        rng: &mut R,
    ) -> Result<(JoinerExchange, Vec<u8>), PasswordError> {
        let password = password_bytes(password)?;
        let key = identity.public_key();
        let classifier = identity.peer_name().classifier().clone();
        let start = ClientLogin::<Suite>::start(rng, &password)
            .map_err(|_| PasswordError::Crypto("login start"))?;
        let ke1 = fixed::<KE1_BYTES>(&start.message.serialize())?;
        let msg = PasswordMessage::JoinStart {
            group: invitation.group.clone(),
            joiner_key: key,
            joiner_classifier: classifier.clone(),
            ke1,
        };
        let ex = JoinerExchange {
            state: JoinerState::AwaitChallenge(Box::new(start.state)),
            group: invitation.group.clone(),
            key,
            password,
            context: context(&invitation.group, &key, &classifier, exporter),
        };
        Ok((ex, msg.encode()))
    }

    /// Handles a message from the verifier at `now`.
    pub fn handle<R: RngCore + CryptoRng>(
        &mut self,
        bytes: &[u8],
        now: UnixTime,
        rng: &mut R,
    ) -> JoinerOutcome {
        let state = std::mem::replace(&mut self.state, JoinerState::Done);
        let fail = |error| JoinerOutcome::Failed { reply: None, error };
        let msg = match PasswordMessage::decode(bytes) {
            Ok(m) => m,
            Err(e) => return fail(e.into()),
        };
        match (state, msg) {
            (_, PasswordMessage::JoinRefused { refusal, retry_after }) => {
                fail(refusal_error(refusal, retry_after))
            }
            (
                JoinerState::AwaitChallenge(login),
                PasswordMessage::JoinChallenge { ksf: code, ke2 },
            ) => match self.finish_login(*login, code, &ke2, rng) {
                Ok(reply) => {
                    self.state = JoinerState::AwaitResult;
                    JoinerOutcome::Reply(reply)
                }
                Err(PasswordError::BadPassword) => JoinerOutcome::Failed {
                    reply: Some(PasswordMessage::JoinAbort.encode()),
                    error: PasswordError::BadPassword,
                },
                Err(error) => fail(error),
            },
            (JoinerState::AwaitResult, PasswordMessage::JoinAccepted { chain }) => {
                match self.accept(&chain, now) {
                    Ok(v) => JoinerOutcome::Joined(v),
                    Err(e) => fail(e),
                }
            }
            _ => fail(PasswordError::Protocol("message out of order")),
        }
    }

    fn finish_login<R: RngCore + CryptoRng>(
        &self,
        login: ClientLogin<Suite>,
        code: u8,
        ke2: &[u8; KE2_BYTES],
        rng: &mut R,
    ) -> Result<Vec<u8>, PasswordError> {
        let stretch = ksf(code)?;
        let response = CredentialResponse::<Suite>::deserialize(ke2)
            .map_err(|_| PasswordError::Protocol("invalid KE2"))?;
        let server_id = identifier(SERVER_ID_DOMAIN, &self.group);
        let client_id = identifier(CLIENT_ID_DOMAIN, &self.group);
        let params = ClientLoginFinishParameters::new(
            Some(&self.context),
            Identifiers { client: Some(&client_id), server: Some(&server_id) },
            Some(&stretch),
        );
        let done = login.finish(rng, &self.password, response, params).map_err(|e| match e {
            opaque_ke::errors::ProtocolError::InvalidLoginError => PasswordError::BadPassword,
            _ => PasswordError::Protocol("invalid KE2"),
        })?;
        let ke3 = fixed::<KE3_BYTES>(&done.message.serialize())?;
        Ok(PasswordMessage::JoinFinish { ke3 }.encode())
    }

    fn accept(&self, chain: &Chain, now: UnixTime) -> Result<VerifiedChain, PasswordError> {
        let v =
            chain.verify(&mut CertCache::default(), Some(now)).map_err(crate::GroupError::from)?;
        let group = v.group_name();
        if group != self.group {
            return Err(PasswordError::WrongGroup { expected: self.group.clone(), got: group });
        }
        if v.depth() == 0 {
            return Err(PasswordError::Protocol("the chain ends in the root certificate"));
        }
        v.expect_leaf(&self.key).map_err(crate::GroupError::from)?;
        Ok(v)
    }
}

/// The joiner's error for a refusal.
fn refusal_error(refusal: JoinRefusal, retry_after: std::time::Duration) -> PasswordError {
    match refusal {
        JoinRefusal::WrongGroup => PasswordError::NotAVerifier,
        JoinRefusal::BadPassword => PasswordError::BadPassword,
        JoinRefusal::Backoff => PasswordError::Backoff { retry_after },
        JoinRefusal::Locked => PasswordError::Locked { failures: super::MAX_FAILURES },
        JoinRefusal::NotThePeer => PasswordError::NotThePeer,
        JoinRefusal::Protocol => PasswordError::Protocol("refused by the verifier"),
        JoinRefusal::Unavailable => PasswordError::Unavailable,
        JoinRefusal::Revoked => PasswordError::Revoked,
    }
}

// ----------------------------------------------------------------------------- verifier

/// What the verifier does after a message.
#[derive(Debug)]
#[non_exhaustive]
pub enum VerifierOutcome {
    /// Send these bytes (a `JoinChallenge`) and wait for the joiner's answer.
    Reply(Vec<u8>),
    /// The joiner proved the password: send `reply` (`JoinAccepted`). `chain` is its new
    /// chain (the caller may publish nothing: the joiner publishes its membership record).
    Admitted {
        /// The `JoinAccepted` to send.
        reply: Vec<u8>,
        /// The joiner's new chain.
        chain: Chain,
        /// The joiner.
        joiner: PeerName,
        /// Its role.
        role: Role,
    },
    /// The join failed: send `reply` (a `JoinRefused`) if any, report
    /// `AuthenticationFailed` with `error`, close the exchange.
    Failed {
        /// The refusal to send.
        reply: Option<Vec<u8>>,
        /// Why.
        error: PasswordError,
    },
}

struct Pending {
    login: Box<ServerLogin<Suite>>,
    context: Vec<u8>,
    joiner_key: [u8; 32],
    joiner_classifier: Classifier,
    charge: Charge,
}

enum VerifierState {
    AwaitStart,
    AwaitFinish(Pending),
    Done,
}

/// The verifier's side of one password join, on one connection.
pub struct VerifierExchange {
    state: VerifierState,
    peer: NodeId,
    source: IpAddr,
    exporter: [u8; 32],
}

impl std::fmt::Debug for VerifierExchange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifierExchange")
            .field("peer", &self.peer)
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

impl VerifierExchange {
    /// An exchange with the peer whose TLS identity is `peer`, connected from `source`, on
    /// a connection whose exporter value (label [`EXPORTER_LABEL`](super::EXPORTER_LABEL))
    /// is `exporter`.
    pub fn new(peer: NodeId, source: IpAddr, exporter: [u8; 32]) -> Self {
        VerifierExchange { state: VerifierState::AwaitStart, peer, source, exporter }
    }

    /// Handles a message from the joiner at `now`; `issuer` is the verifier's own member
    /// (its chain issues the joiner's GMC).
    pub fn handle<R: RngCore + CryptoRng>(
        &mut self,
        verifier: &mut PasswordVerifier,
        issuer: &LocalMember,
        bytes: &[u8],
        now: UnixTime,
        rng: &mut R,
    ) -> VerifierOutcome {
        let state = std::mem::replace(&mut self.state, VerifierState::Done);
        let result = match PasswordMessage::decode(bytes) {
            Err(e) => Err(e.into()),
            Ok(msg) => match (state, msg) {
                (
                    VerifierState::AwaitStart,
                    PasswordMessage::JoinStart { group, joiner_key, joiner_classifier, ke1 },
                ) => self
                    .start(verifier, issuer, group, joiner_key, joiner_classifier, &ke1, now, rng)
                    .map(VerifierOutcome::Reply),
                (VerifierState::AwaitFinish(p), PasswordMessage::JoinFinish { ke3 }) => {
                    self.finish(verifier, issuer, p, &ke3, now, rng)
                }
                (VerifierState::AwaitFinish(_), PasswordMessage::JoinAbort) => {
                    Err(PasswordError::BadPassword)
                }
                _ => Err(PasswordError::Protocol("message out of order")),
            },
        };
        result.unwrap_or_else(|error| VerifierOutcome::Failed {
            reply: Some(
                PasswordMessage::JoinRefused {
                    refusal: JoinRefusal::of(&error),
                    retry_after: error.retry_after().unwrap_or_default(),
                }
                .encode(),
            ),
            error,
        })
    }

    /// The connection closed or timed out: if a challenge was sent, the attempt stays
    /// charged and this returns the failure to report (`Abandoned`).
    pub fn abandon(&mut self) -> Option<PasswordError> {
        match std::mem::replace(&mut self.state, VerifierState::Done) {
            VerifierState::AwaitFinish(_) => Some(PasswordError::Abandoned),
            _ => None,
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn start<R: RngCore + CryptoRng>(
        &mut self,
        verifier: &mut PasswordVerifier,
        issuer: &LocalMember,
        group: PeerName,
        joiner_key: [u8; 32],
        joiner_classifier: Classifier,
        ke1: &[u8; KE1_BYTES],
        now: UnixTime,
        rng: &mut R,
    ) -> Result<Vec<u8>, PasswordError> {
        let setup = verifier.setup();
        // 1. the group
        if group != *setup.group() {
            return Err(PasswordError::WrongGroup { expected: setup.group().clone(), got: group });
        }
        // 2. the joiner is the connection's identity
        if NodeId::from_ed25519(&joiner_key) != self.peer {
            return Err(PasswordError::NotThePeer);
        }
        // 3. the verifier can issue the role now
        let me = issuer.chain.leaf();
        if issuer.chain.group_name() != *setup.group()
            || !me.role().may_issue(setup.role())
            || !me.valid_at(now)
            || joiner_key == issuer.identity.public_key()
        {
            return Err(PasswordError::Unavailable);
        }
        // 4. KE1 parses
        let request = CredentialRequest::<Suite>::deserialize(ke1)
            .map_err(|_| PasswordError::Protocol("invalid KE1"))?;
        // 5. throttling: lock, identity, address
        verifier.check(&self.peer, self.source, now)?;
        let server_setup = verifier.setup().server_setup()?;
        let record = verifier.setup().record()?;
        let context = context(&group, &joiner_key, &joiner_classifier, &self.exporter);
        let server_id = identifier(SERVER_ID_DOMAIN, &group);
        let client_id = identifier(CLIENT_ID_DOMAIN, &group);
        let credential_id = group.to_string();
        let params = ServerLoginParameters {
            context: Some(&context),
            identifiers: Identifiers { client: Some(&client_id), server: Some(&server_id) },
        };
        let started = ServerLogin::start(
            rng,
            &server_setup,
            Some(record),
            request,
            credential_id.as_bytes(),
            params,
        )
        .map_err(|_| PasswordError::Protocol("invalid KE1"))?;
        let ke2 = fixed::<KE2_BYTES>(&started.message.serialize())?;
        // 6. charge: from here the joiner can test its guess offline
        let charge = verifier.charge(self.peer, self.source, now);
        self.state = VerifierState::AwaitFinish(Pending {
            login: Box::new(started.state),
            context,
            joiner_key,
            joiner_classifier,
            charge,
        });
        Ok(PasswordMessage::JoinChallenge { ksf: verifier.setup().ksf, ke2 }.encode())
    }

    fn finish<R: RngCore + CryptoRng>(
        &mut self,
        verifier: &mut PasswordVerifier,
        issuer: &LocalMember,
        p: Pending,
        ke3: &[u8; KE3_BYTES],
        now: UnixTime,
        rng: &mut R,
    ) -> Result<VerifierOutcome, PasswordError> {
        let finalization = CredentialFinalization::<Suite>::deserialize(ke3)
            .map_err(|_| PasswordError::BadPassword)?;
        let group = verifier.setup().group().clone();
        let server_id = identifier(SERVER_ID_DOMAIN, &group);
        let client_id = identifier(CLIENT_ID_DOMAIN, &group);
        let params = ServerLoginParameters {
            context: Some(&p.context),
            identifiers: Identifiers { client: Some(&client_id), server: Some(&server_id) },
        };
        let stale = p.charge.password_id() != verifier.setup().password_id();
        p.login.finish(finalization, params).map_err(|_| PasswordError::BadPassword)?;
        if stale {
            return Err(PasswordError::Unavailable);
        }
        verifier.refund(&p.charge);
        let mut serial = [0u8; 16];
        rng.fill_bytes(&mut serial);
        let setup = verifier.setup();
        let chain = issuer
            .issue(p.joiner_key, &p.joiner_classifier, setup.role(), setup.validity(), now, serial)
            .map_err(|_| PasswordError::Unavailable)?;
        let joiner = chain
            .leaf()
            .map(|c| c.subject_name())
            .ok_or(PasswordError::Group(ChainError::LeafMismatch.into()))?;
        Ok(VerifierOutcome::Admitted {
            reply: PasswordMessage::JoinAccepted { chain: chain.clone() }.encode(),
            chain,
            joiner,
            role: setup.role(),
        })
    }
}
