//! Identifiers and their derivations (`proto-specs/identity.md` §1–§4).
//!
//! | id | size | derivation |
//! |---|---|---|
//! | [`NodeId`] | 256 bit | SHA-256(SubjectPublicKeyInfo DER of the node key) |
//! | [`Authority`] | 160 bit | first 20 bytes of SHA-256(SPKI DER); `0` for unsecured names |
//! | [`P2pId`] | 128 bit | first 16 bytes of SHA-256(`"peergroup/p2p-id/v1"` ‖ 0x00 ‖ binary authority ‖ u16be len ‖ classifier UTF-8) |
//! | [`ServiceLocation`] | 128 bit | 64-bit address hint ‖ 64-bit hash or random |
//! | [`PnrpId`] | 256 bit | P2P ID ‖ service location |
//!
//! A secure authority is, by construction, the first 20 bytes of the owner's [`NodeId`].

use std::fmt;

use ring::digest::SHA256;
use serde::{Deserialize, Serialize};

use crate::name::{NameError, PeerName};

/// DER prefix of an Ed25519 `SubjectPublicKeyInfo` (RFC 8410 §4): the full SPKI is this
/// 12-byte prefix followed by the 32-byte public key.
pub const ED25519_SPKI_PREFIX: [u8; 12] =
    [0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00];

/// The DER `SubjectPublicKeyInfo` (44 bytes) of a raw Ed25519 public key.
pub fn ed25519_spki(public_key: &[u8; 32]) -> [u8; 44] {
    let mut out = [0u8; 44];
    out[..12].copy_from_slice(&ED25519_SPKI_PREFIX);
    out[12..].copy_from_slice(public_key);
    out
}

/// The raw key of an Ed25519 SPKI, or `None` if `spki` is not exactly that form.
pub fn ed25519_key_of_spki(spki: &[u8]) -> Option<[u8; 32]> {
    if spki.len() != 44 || spki[..12] != ED25519_SPKI_PREFIX {
        return None;
    }
    spki[12..].try_into().ok()
}

fn sha256(parts: &[&[u8]]) -> [u8; 32] {
    let mut ctx = ring::digest::Context::new(&SHA256);
    for p in parts {
        ctx.update(p);
    }
    let d = ctx.finish();
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

macro_rules! hex_id {
    ($(#[$doc:meta])* $name:ident, $len:expr) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        pub struct $name(pub [u8; $len]);

        impl $name {
            /// Length in bytes.
            pub const LEN: usize = $len;

            /// The raw bytes.
            pub fn as_bytes(&self) -> &[u8; $len] {
                &self.0
            }

            /// Lowercase hex.
            pub fn to_hex(&self) -> String {
                hex::encode(self.0)
            }

            /// Parses exactly `2 × LEN` hex digits (either case).
            pub fn from_hex(s: &str) -> Option<Self> {
                let mut out = [0u8; $len];
                hex::decode_to_slice(s, &mut out).ok()?;
                Some($name(out))
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.to_hex())
            }
        }

        impl fmt::Debug for $name {
            /// Abbreviated: the first 8 bytes in hex.
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($name), "({}…)"), hex::encode(&self.0[..8]))
            }
        }
    };
}

hex_id!(
    /// A node's identifier: SHA-256 over its public key's DER `SubjectPublicKeyInfo`.
    ///
    /// Derived from the key, so a node cannot pick its place in an ID space. Used for
    /// routing (PNRP XOR metric) and to name the far end of every connection.
    NodeId,
    32
);

hex_id!(
    /// 128-bit identifier of a peer name ([MS-PNRP] 1.3.1.2, rebuilt on SHA-256).
    ///
    /// All registrations of one name share it, so one lookup finds every instance.
    P2pId,
    16
);

hex_id!(
    /// 128-bit service location: 64-bit address hint ‖ 64-bit hash or random value.
    ServiceLocation,
    16
);

hex_id!(
    /// 256-bit PNRP ID: [`P2pId`] ‖ [`ServiceLocation`].
    PnrpId,
    32
);

impl NodeId {
    /// The node id of a public key given as DER `SubjectPublicKeyInfo`.
    pub fn from_spki_der(spki: &[u8]) -> Self {
        NodeId(sha256(&[spki]))
    }

    /// The node id of a raw Ed25519 public key.
    pub fn from_ed25519(public_key: &[u8; 32]) -> Self {
        Self::from_spki_der(&ed25519_spki(public_key))
    }

    /// The secure authority of the same key (the first 20 bytes).
    pub fn authority(&self) -> Authority {
        let mut a = [0u8; 20];
        a.copy_from_slice(&self.0[..20]);
        Authority::Secure(a)
    }
}

/// Domain separator of the P2P ID hash (`proto-specs/identity.md` §3).
pub const P2P_ID_DOMAIN: &[u8] = b"peergroup/p2p-id/v1";

impl P2pId {
    /// The P2P ID of a peer name:
    /// `SHA-256("peergroup/p2p-id/v1" ‖ 0x00 ‖ binary authority (20 bytes; all zero when
    /// unsecured) ‖ u16 big-endian byte length of the classifier ‖ classifier UTF-8 (NFC))`,
    /// first 16 bytes.
    pub fn of(name: &PeerName) -> Self {
        let authority = name.authority().binary();
        let classifier = name.classifier().as_str().as_bytes();
        // A classifier is at most 149 scalar values of at most 4 bytes: always < 65536.
        let len = u16::try_from(classifier.len()).unwrap_or(u16::MAX).to_be_bytes();
        let h = sha256(&[P2P_ID_DOMAIN, &[0u8], &authority, &len, classifier]);
        let mut out = [0u8; 16];
        out.copy_from_slice(&h[..16]);
        P2pId(out)
    }
}

impl ServiceLocation {
    /// A service location from its two halves.
    pub fn new(address_hint: u64, suffix: u64) -> Self {
        let mut out = [0u8; 16];
        out[..8].copy_from_slice(&address_hint.to_be_bytes());
        out[8..].copy_from_slice(&suffix.to_be_bytes());
        ServiceLocation(out)
    }

    /// The 64-bit address hint (the high half).
    pub fn address_hint(&self) -> u64 {
        let mut b = [0u8; 8];
        b.copy_from_slice(&self.0[..8]);
        u64::from_be_bytes(b)
    }

    /// The 64-bit suffix (the low half).
    pub fn suffix(&self) -> u64 {
        let mut b = [0u8; 8];
        b.copy_from_slice(&self.0[8..]);
        u64::from_be_bytes(b)
    }

    /// The address hint of an IP address: the first 8 bytes of an IPv6 address (its /64
    /// prefix), or the bytes `ff ff ‖ IPv4 address ‖ 00 00` for IPv4 (`proto-specs/identity.md` §4).
    pub fn address_hint_of(ip: std::net::IpAddr) -> u64 {
        match ip {
            std::net::IpAddr::V6(v6) => {
                let mut b = [0u8; 8];
                b.copy_from_slice(&v6.octets()[..8]);
                u64::from_be_bytes(b)
            }
            std::net::IpAddr::V4(v4) => 0xffff_0000_0000_0000 | u64::from(u32::from(v4)) << 16,
        }
    }
}

impl PnrpId {
    /// `p2p ‖ location`.
    pub fn new(p2p: P2pId, location: ServiceLocation) -> Self {
        let mut out = [0u8; 32];
        out[..16].copy_from_slice(&p2p.0);
        out[16..].copy_from_slice(&location.0);
        PnrpId(out)
    }

    /// The P2P ID half.
    pub fn p2p_id(&self) -> P2pId {
        let mut out = [0u8; 16];
        out.copy_from_slice(&self.0[..16]);
        P2pId(out)
    }

    /// The service location half.
    pub fn service_location(&self) -> ServiceLocation {
        let mut out = [0u8; 16];
        out.copy_from_slice(&self.0[16..]);
        ServiceLocation(out)
    }
}

/// The authority part of a peer name.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Authority {
    /// `0`: anyone may register the name; it proves nothing.
    Unsecured,
    /// First 20 bytes of SHA-256 over the owner's public key (SPKI DER).
    Secure([u8; 20]),
}

impl Authority {
    /// The authority of a key given as DER `SubjectPublicKeyInfo`.
    pub fn from_spki_der(spki: &[u8]) -> Self {
        NodeId::from_spki_der(spki).authority()
    }

    /// `true` unless unsecured.
    pub fn is_secure(&self) -> bool {
        matches!(self, Authority::Secure(_))
    }

    /// The 20-byte binary form; all zero for an unsecured authority.
    pub fn binary(&self) -> [u8; 20] {
        match self {
            Authority::Unsecured => [0u8; 20],
            Authority::Secure(a) => *a,
        }
    }

    /// Parses `0` or 40 lowercase hex digits.
    pub fn parse(s: &str) -> Result<Self, NameError> {
        let bad =
            |reason| NameError::BadAuthority { authority: s.chars().take(64).collect(), reason };
        if s == "0" {
            return Ok(Authority::Unsecured);
        }
        if s.is_empty() {
            return Err(bad("authority is empty (use 0 for an unsecured name)"));
        }
        if s.len() != 40 {
            return Err(bad("a secure authority is exactly 40 hex digits, an unsecured one is 0"));
        }
        if s.bytes().any(|b| b.is_ascii_uppercase()) {
            return Err(bad("hex digits must be lowercase"));
        }
        let mut out = [0u8; 20];
        hex::decode_to_slice(s, &mut out).map_err(|_| bad("not hexadecimal"))?;
        Ok(Authority::Secure(out))
    }
}

impl fmt::Display for Authority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Authority::Unsecured => f.write_str("0"),
            Authority::Secure(a) => f.write_str(&hex::encode(a)),
        }
    }
}

impl fmt::Debug for Authority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Authority({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authority_is_node_id_prefix() {
        let key = [7u8; 32];
        let node = NodeId::from_ed25519(&key);
        assert_eq!(Authority::from_spki_der(&ed25519_spki(&key)), node.authority());
        assert_eq!(&node.authority().binary()[..], &node.0[..20]);
        assert_eq!(ed25519_key_of_spki(&ed25519_spki(&key)), Some(key));
        assert_eq!(ed25519_key_of_spki(&[0u8; 44]), None);
    }

    #[test]
    fn service_location_halves() {
        let s = ServiceLocation::new(0x0102030405060708, 0x8000000000000000);
        assert_eq!(s.address_hint(), 0x0102030405060708);
        assert_eq!(s.suffix(), 0x8000000000000000);
        let p = PnrpId::new(P2pId([9; 16]), s);
        assert_eq!(p.p2p_id(), P2pId([9; 16]));
        assert_eq!(p.service_location(), s);
        let v4 = ServiceLocation::address_hint_of("192.0.2.1".parse().unwrap());
        assert_eq!(v4, 0xffff_c000_0201_0000);
    }

    #[test]
    fn hex_round_trip() {
        let id = NodeId([0xab; 32]);
        assert_eq!(NodeId::from_hex(&id.to_hex()), Some(id));
        assert_eq!(NodeId::from_hex("abc"), None);
    }
}
