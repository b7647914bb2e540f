//! Identity certificates (`proto-specs/identity.md` §5).
//!
//! An identity certificate is a self-signed X.509 v3 certificate on the identity's Ed25519
//! key, made with rcgen: subject and issuer are `CN=<peer name>`, serial = the first 16
//! bytes of the node id with the top bit cleared, validity 1975-01-01 … 4096-01-01 (the
//! certificate carries a key, trust comes from the peer name it hashes to), extended key
//! usage serverAuth + clientAuth. The same certificate is the TLS certificate of every QUIC
//! connection, client and server side. Ed25519 signatures are deterministic, so the
//! certificate is a pure function of the key and the peer name.
//!
//! [`verify_certificate`] is what the TLS verifiers call: it accepts only a well-formed,
//! currently valid, correctly self-signed Ed25519 certificate whose CN is a peer name with
//! the authority of the certificate's own key (or an unsecured authority — which proves
//! nothing, and callers who dial a secure name never accept it).

use peergroup_base::id::ed25519_key_of_spki;
use peergroup_base::{Authority, NodeId, PeerName, UnixTime};
use pki_types::CertificateDer;

/// Why a certificate was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CertError {
    /// The bytes are not a DER X.509 certificate webpki accepts.
    #[error("malformed certificate: {0}")]
    Malformed(String),
    /// The certificate key is not Ed25519.
    #[error("certificate key is not Ed25519")]
    NotEd25519,
    /// The self-signature, validity period or key usage check failed.
    #[error("certificate is not a valid self-signed identity certificate: {0}")]
    BadSelfSignature(String),
    /// The subject has no UTF-8 common name.
    #[error("certificate subject has no common name holding a peer name")]
    NoPeerName,
    /// The common name is not a valid peer name.
    #[error("certificate common name is not a peer name: {0}")]
    BadPeerName(#[from] peergroup_base::NameError),
    /// The peer name's authority is not the hash of the certificate key.
    #[error(
        "certificate peer name {name} does not belong to the certificate key (authority should be {expected})"
    )]
    AuthorityMismatch {
        /// The name in the certificate.
        name: PeerName,
        /// The authority of the key.
        expected: Authority,
    },
    /// rcgen refused to build a certificate.
    #[error("cannot build certificate: {0}")]
    Build(String),
}

/// What a verified certificate proves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertifiedPeer {
    /// The raw Ed25519 public key.
    pub public_key: [u8; 32],
    /// The node id of that key.
    pub node_id: NodeId,
    /// The peer name in the certificate (its authority is the key's, checked).
    pub peer_name: PeerName,
}

/// Which side of a TLS connection presented the certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CertUsage {
    /// The server (the peer that was dialled).
    Server,
    /// The client (the peer that dialled).
    Client,
}

/// Builds the identity certificate for a key given as PKCS#8 DER.
pub(crate) fn make_certificate(
    pkcs8: &[u8],
    peer_name: &PeerName,
    node_id: &NodeId,
) -> Result<Vec<u8>, CertError> {
    let der = pki_types::PrivatePkcs8KeyDer::from(pkcs8);
    let key = rcgen::KeyPair::from_pkcs8_der_and_sign_algo(&der, &rcgen::PKCS_ED25519)
        .map_err(|e| CertError::Build(e.to_string()))?;
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new())
        .map_err(|e| CertError::Build(e.to_string()))?;
    params.distinguished_name = rcgen::DistinguishedName::new();
    params.distinguished_name.push(rcgen::DnType::CommonName, peer_name.to_string());
    let mut serial = [0u8; 16];
    serial.copy_from_slice(&node_id.0[..16]);
    serial[0] &= 0x7f;
    params.serial_number = Some(rcgen::SerialNumber::from_slice(&serial));
    params.extended_key_usages = vec![
        rcgen::ExtendedKeyUsagePurpose::ServerAuth,
        rcgen::ExtendedKeyUsagePurpose::ClientAuth,
    ];
    let cert = params.self_signed(&key).map_err(|e| CertError::Build(e.to_string()))?;
    Ok(cert.der().to_vec())
}

/// Verifies an identity certificate at time `now` and returns what it proves.
pub fn verify_certificate(
    der: &[u8],
    now: UnixTime,
    usage: CertUsage,
) -> Result<CertifiedPeer, CertError> {
    let cert = CertificateDer::from(der);
    let ee =
        webpki::EndEntityCert::try_from(&cert).map_err(|e| CertError::Malformed(e.to_string()))?;
    let spki = ee.subject_public_key_info();
    let public_key = ed25519_key_of_spki(spki.as_ref()).ok_or(CertError::NotEd25519)?;
    let anchor =
        webpki::anchor_from_trusted_cert(&cert).map_err(|e| CertError::Malformed(e.to_string()))?;
    let usage = match usage {
        CertUsage::Server => webpki::KeyUsage::server_auth(),
        CertUsage::Client => webpki::KeyUsage::client_auth(),
    };
    let time = pki_types::UnixTime::since_unix_epoch(std::time::Duration::from_secs(now.as_secs()));
    ee.verify_for_usage(&[webpki::ring::ED25519], &[anchor], &[], time, usage, None, None)
        .map_err(|e| CertError::BadSelfSignature(e.to_string()))?;
    let cn = subject_common_name(der).ok_or(CertError::NoPeerName)?;
    let peer_name = PeerName::parse_encoded(cn)?;
    let node_id = NodeId::from_ed25519(&public_key);
    if peer_name.is_secure() && *peer_name.authority() != node_id.authority() {
        return Err(CertError::AuthorityMismatch {
            name: peer_name,
            expected: node_id.authority(),
        });
    }
    Ok(CertifiedPeer { public_key, node_id, peer_name })
}

/// One DER TLV: (tag, contents, rest). Only definite lengths of up to 3 length bytes.
fn tlv(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, mut rest) = rest.split_first()?;
    let len = if first < 0x80 {
        usize::from(first)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 3 {
            return None;
        }
        let (bytes, r) = (rest.get(..n)?, rest.get(n..)?);
        rest = r;
        bytes.iter().fold(0usize, |acc, b| (acc << 8) | usize::from(*b))
    };
    Some((tag, rest.get(..len)?, rest.get(len..)?))
}

/// The first UTF-8 common name (OID 2.5.4.3) of the certificate's subject, if any.
fn subject_common_name(der: &[u8]) -> Option<&str> {
    const SEQUENCE: u8 = 0x30;
    const SET: u8 = 0x31;
    const OID: u8 = 0x06;
    const UTF8_STRING: u8 = 0x0c;
    const CN_OID: [u8; 3] = [0x55, 0x04, 0x03];
    let (tag, cert, _) = tlv(der)?;
    if tag != SEQUENCE {
        return None;
    }
    let (tag, mut tbs, _) = tlv(cert)?;
    if tag != SEQUENCE {
        return None;
    }
    // [0] version (optional), serial, signature algorithm, issuer, validity, subject
    let (tag, _, rest) = tlv(tbs)?;
    if tag == 0xa0 {
        tbs = rest;
        let (_, _, rest) = tlv(tbs)?; // serial
        tbs = rest;
    } else {
        tbs = rest; // that was the serial
    }
    for _ in 0..3 {
        let (_, _, rest) = tlv(tbs)?; // signature algorithm, issuer, validity
        tbs = rest;
    }
    let (tag, mut subject, _) = tlv(tbs)?;
    if tag != SEQUENCE {
        return None;
    }
    while !subject.is_empty() {
        let (tag, mut rdn, rest) = tlv(subject)?;
        subject = rest;
        if tag != SET {
            return None;
        }
        while !rdn.is_empty() {
            let (tag, attr, rest) = tlv(rdn)?;
            rdn = rest;
            if tag != SEQUENCE {
                return None;
            }
            let (tag, oid, value) = tlv(attr)?;
            if tag == OID && oid == CN_OID {
                let (tag, text, _) = tlv(value)?;
                return if tag == UTF8_STRING { std::str::from_utf8(text).ok() } else { None };
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Identity;

    fn now() -> UnixTime {
        UnixTime::from_secs(1_795_632_699)
    }

    #[test]
    fn own_certificate_verifies_both_ways() {
        let id = Identity::from_seed([1; 32], "alice", "Alice").unwrap();
        for usage in [CertUsage::Server, CertUsage::Client] {
            let peer = verify_certificate(id.certificate_der(), now(), usage).unwrap();
            assert_eq!(&peer.peer_name, id.peer_name());
            assert_eq!(peer.node_id, id.node_id());
            assert_eq!(peer.public_key, id.public_key());
        }
    }

    /// A certificate like an identity's, with the EKU and extensions given.
    fn variant(
        ekus: Vec<rcgen::ExtendedKeyUsagePurpose>,
        extra: Option<rcgen::CustomExtension>,
    ) -> Vec<u8> {
        let id = Identity::from_seed([3; 32], "x", "").unwrap();
        let pkcs8 = id.pkcs8_der();
        let der = pki_types::PrivatePkcs8KeyDer::from(pkcs8.as_slice());
        let key = rcgen::KeyPair::from_pkcs8_der_and_sign_algo(&der, &rcgen::PKCS_ED25519).unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name = rcgen::DistinguishedName::new();
        params.distinguished_name.push(rcgen::DnType::CommonName, id.peer_name().to_string());
        params.extended_key_usages = ekus;
        params.custom_extensions = extra.into_iter().collect();
        params.self_signed(&key).unwrap().der().to_vec()
    }

    /// identity.md §5.2: what a receiver does with extensions other than §5.1's.
    #[test]
    fn extensions_on_receipt() {
        use rcgen::ExtendedKeyUsagePurpose::{ClientAuth, ServerAuth};
        let both = || vec![ServerAuth, ClientAuth];
        // no EKU at all: accepted for both roles (RFC 5280 §4.2.1.12: no restriction)
        let none = variant(Vec::new(), None);
        assert!(verify_certificate(&none, now(), CertUsage::Server).is_ok());
        assert!(verify_certificate(&none, now(), CertUsage::Client).is_ok());
        // an EKU that does not list the role: refused for that role only
        let server_only = variant(vec![ServerAuth], None);
        assert!(verify_certificate(&server_only, now(), CertUsage::Server).is_ok());
        assert!(verify_certificate(&server_only, now(), CertUsage::Client).is_err());
        // an unknown non-critical extension: ignored
        let mut ext =
            rcgen::CustomExtension::from_oid_content(&[1, 3, 6, 1, 4, 1, 99999, 1], vec![5, 0]);
        let extra = variant(both(), Some(ext.clone()));
        assert!(verify_certificate(&extra, now(), CertUsage::Client).is_ok());
        // an unknown critical extension: refused
        ext.set_criticality(true);
        let critical = variant(both(), Some(ext));
        assert!(verify_certificate(&critical, now(), CertUsage::Client).is_err());
    }

    #[test]
    fn certificate_is_deterministic() {
        let a = Identity::from_seed([2; 32], "x", "").unwrap();
        let b = Identity::from_seed([2; 32], "x", "").unwrap();
        assert_eq!(a.certificate_der(), b.certificate_der());
    }

    #[test]
    fn name_of_other_key_refused() {
        let a = Identity::from_seed([3; 32], "a", "").unwrap();
        let b = Identity::from_seed([4; 32], "b", "").unwrap();
        // a certificate on a's key that claims b's name
        let der = make_certificate(&a.pkcs8_der(), b.peer_name(), &a.node_id()).unwrap();
        assert!(matches!(
            verify_certificate(&der, now(), CertUsage::Server),
            Err(CertError::AuthorityMismatch { .. })
        ));
    }

    #[test]
    fn tampered_certificate_refused() {
        let a = Identity::from_seed([5; 32], "a", "").unwrap();
        let mut der = a.certificate_der().to_vec();
        // flip a bit inside the common name
        let pos = der.windows(2).position(|w| w == b".a").unwrap() + 1;
        der[pos] ^= 0x01;
        assert!(verify_certificate(&der, now(), CertUsage::Client).is_err());
        assert!(verify_certificate(&der[..40], now(), CertUsage::Client).is_err());
        assert!(verify_certificate(&[], now(), CertUsage::Client).is_err());
    }

    #[test]
    fn non_ed25519_refused() {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let cert =
            rcgen::CertificateParams::new(vec!["x".into()]).unwrap().self_signed(&key).unwrap();
        assert_eq!(
            verify_certificate(cert.der(), now(), CertUsage::Server),
            Err(CertError::NotEd25519)
        );
    }

    proptest::proptest! {
        #[test]
        fn cn_parser_never_panics(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..600)) {
            let _ = subject_common_name(&bytes);
        }
    }
}
