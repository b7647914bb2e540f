//! Invitations (`group.md` §7): what an administrator or inviting member hands to an
//! invitee — the chain ending in a new GMC for the invitee's identity key, the group's
//! friendly name and cloud. Nothing in it is secret, and it is useless to anyone but the
//! invitee, who alone holds the private key its leaf certifies.
//!
//! Binary body: `version: u8 = 1` ‖ cloud (`u16` length ‖ UTF-8, ≤ 254 bytes) ‖ group
//! friendly name (`u16` ‖ UTF-8, ≤ 1,020 bytes) ‖ chain (`u32` length ‖ chain). Armoured
//! as `-----BEGIN PEERGROUP GROUP INVITATION-----` with the informational headers
//! `Group-Peer-Name`, `Invitee` and (if not empty) `Friendly-Name`; the first two are
//! checked against the body when present (the friendly name is for people only). A body
//! is at most [`MAX_ARMOURED_BODY_BYTES`] so that its armoured text stays within the
//! document limit.

use std::time::Duration;

use peergroup_base::{PeerName, UnixTime};
use peergroup_identity::{DocumentKind, IdentityInfo};

use crate::cert::Role;
use crate::chain::{CertCache, Chain, MAX_CHAIN_BYTES, VerifiedChain};
use crate::error::{DecodeError, GroupError};
use crate::group::LocalMember;
use crate::records::MAX_CLOUD_BYTES;
use crate::wire::{Reader, Writer};

/// The `Group-Peer-Name` header.
pub const GROUP_HEADER: &str = "Group-Peer-Name";
/// The `Invitee` header.
pub const INVITEE_HEADER: &str = "Invitee";
/// The `Friendly-Name` header.
pub const FRIENDLY_NAME_HEADER: &str = "Friendly-Name";
/// Largest body [`Invitation::create`] produces: its armoured text (base64, headers)
/// stays under the 16 KiB document limit.
pub const MAX_ARMOURED_BODY_BYTES: usize = 10 * 1024;
/// Largest binary body accepted.
pub const MAX_INVITATION_BYTES: usize = 1 + 2 + MAX_CLOUD_BYTES + 2 + 1020 + 4 + MAX_CHAIN_BYTES;

/// What an invitation grants.
#[derive(Debug, Clone)]
pub struct InviteOptions {
    /// The role (default member).
    pub role: Role,
    /// Validity from now (default 365 days; cut to the issuer's own certificate).
    pub validity: Duration,
    /// The new certificate's serial (random, chosen by the caller).
    pub serial: [u8; 16],
    /// The group's PNRP cloud.
    pub cloud: String,
    /// The group's friendly name.
    pub friendly_name: String,
}

impl InviteOptions {
    /// A member invitation in `cloud`, valid for the default 365 days.
    pub fn member(cloud: &str, serial: [u8; 16]) -> Self {
        InviteOptions {
            role: Role::Member,
            validity: crate::group::DEFAULT_INVITATION_VALIDITY,
            serial,
            cloud: cloud.to_owned(),
            friendly_name: String::new(),
        }
    }
}

/// A decoded invitation whose chain verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invitation {
    /// The PNRP cloud of the group.
    pub cloud: String,
    /// The group's friendly name.
    pub friendly_name: String,
    /// The chain; its leaf is the invitee's new GMC.
    pub chain: VerifiedChain,
}

impl Invitation {
    /// Creates an invitation for `invitee` (see [`InviteOptions`]) at `now`.
    pub fn create(
        issuer: &LocalMember,
        invitee: &IdentityInfo,
        options: &InviteOptions,
        now: UnixTime,
    ) -> Result<Invitation, GroupError> {
        let cloud = options.cloud.as_str();
        if cloud.is_empty() || cloud.len() > MAX_CLOUD_BYTES {
            return Err(GroupError::InvalidArgument("the cloud name is 1 to 254 bytes".into()));
        }
        let chain = issuer.issue(
            invitee.public_key(),
            invitee.peer_name().classifier(),
            options.role,
            options.validity,
            now,
            options.serial,
        )?;
        let chain = chain.verify(&mut CertCache::default(), None)?;
        let friendly = &options.friendly_name;
        if friendly.chars().count() > crate::records::MAX_GROUP_FRIENDLY_NAME_CHARS
            || friendly.chars().any(char::is_control)
        {
            return Err(GroupError::InvalidArgument(
                "the friendly name is at most 255 characters, without control characters".into(),
            ));
        }
        let inv = Invitation { cloud: cloud.to_owned(), friendly_name: friendly.clone(), chain };
        if inv.to_binary().len() > MAX_ARMOURED_BODY_BYTES {
            return Err(GroupError::InvalidArgument(format!(
                "the invitation would be more than {MAX_ARMOURED_BODY_BYTES} bytes (chain too long)"
            )));
        }
        Ok(inv)
    }

    /// The group's peer name.
    pub fn group(&self) -> PeerName {
        self.chain.group_name()
    }

    /// The invitee's peer name.
    pub fn invitee(&self) -> PeerName {
        self.chain.leaf().subject_name()
    }

    /// The role granted.
    pub fn role(&self) -> Role {
        self.chain.role()
    }

    /// The binary body.
    pub fn to_binary(&self) -> Vec<u8> {
        let mut w = Writer::with_capacity(800);
        w.u8(1);
        w.var(self.cloud.as_bytes());
        w.var(self.friendly_name.as_bytes());
        w.var32(&self.chain.chain().encode());
        w.0
    }

    /// Decodes and verifies a binary body (every chain rule and signature; dates are
    /// checked by the caller at join time).
    pub fn from_binary(b: &[u8]) -> Result<Invitation, GroupError> {
        if b.len() > MAX_INVITATION_BYTES {
            return Err(DecodeError::TooLarge {
                what: "invitation",
                len: b.len(),
                max: MAX_INVITATION_BYTES,
            }
            .into());
        }
        let mut r = Reader::new(b);
        let v = r.u8("version")?;
        if v != 1 {
            return Err(DecodeError::UnsupportedVersion { what: "invitation", got: v }.into());
        }
        let cloud = r.str("cloud", MAX_CLOUD_BYTES)?.to_owned();
        if cloud.is_empty() {
            return Err(DecodeError::InvalidField { field: "cloud", reason: "empty" }.into());
        }
        let friendly_name = r.str("friendly name", 1020)?.to_owned();
        let chain = Chain::decode(r.var32("chain", MAX_CHAIN_BYTES)?)?;
        r.finish()?;
        let chain = chain.verify(&mut CertCache::default(), None)?;
        if chain.depth() == 0 {
            return Err(DecodeError::InvalidField {
                field: "chain",
                reason: "ends in the root certificate",
            }
            .into());
        }
        Ok(Invitation { cloud, friendly_name, chain })
    }

    /// The armoured text.
    pub fn to_text(&self) -> String {
        let group = self.group().to_string();
        let invitee = self.invitee().to_string();
        let mut headers = vec![(GROUP_HEADER, group.as_str()), (INVITEE_HEADER, invitee.as_str())];
        let fname = self.friendly_name.replace(['\r', '\n'], " ");
        if !fname.trim().is_empty() {
            headers.push((FRIENDLY_NAME_HEADER, fname.as_str()));
        }
        peergroup_identity::armour_document(
            DocumentKind::GroupInvitation,
            &headers,
            &self.to_binary(),
        )
    }

    /// Parses armoured text: armour, body, chain, then the headers against the body.
    pub fn parse(text: &str) -> Result<Invitation, GroupError> {
        let (headers, binary) =
            peergroup_identity::dearmour_document(DocumentKind::GroupInvitation, text).map_err(
                |e| DecodeError::NotArmoured {
                    expected: "group invitation",
                    reason: e.to_string(),
                },
            )?;
        let inv = Self::from_binary(&binary)?;
        let header = |n: &str| {
            headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(n)).map(|(_, v)| v.as_str())
        };
        if let Some(g) = header(GROUP_HEADER)
            && PeerName::parse(g).ok() != Some(inv.group())
        {
            return Err(DecodeError::InvalidField {
                field: GROUP_HEADER,
                reason: "does not match the signed body",
            }
            .into());
        }
        if let Some(i) = header(INVITEE_HEADER)
            && PeerName::parse(i).ok() != Some(inv.invitee())
        {
            return Err(DecodeError::InvalidField {
                field: INVITEE_HEADER,
                reason: "does not match the signed body",
            }
            .into());
        }
        Ok(inv)
    }

    /// Checks that the invitation is for `me` and usable at `now`.
    pub fn check_for(&self, me: &[u8; 32], now: UnixTime) -> Result<(), GroupError> {
        if self.chain.leaf().subject_key() != me {
            return Err(GroupError::InvitationNotForMe { invitee: self.invitee() });
        }
        self.chain.chain().verify(&mut CertCache::default(), Some(now))?;
        Ok(())
    }
}
