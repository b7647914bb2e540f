//! rustls configuration: TLS 1.3 only, ring provider only, Ed25519 identity certificates
//! on both sides (`proto-specs/wire.md` §1).
//!
//! * The server side requires a client certificate and accepts any valid identity
//!   certificate ([`verify_certificate`]); the application learns who connected from the
//!   certificate after the handshake.
//! * The client side checks the server's certificate against what the dialler expects
//!   ([`Expect`]): a mismatch fails the handshake (TLS alert 49, access denied) and the
//!   verifier records what it saw so the caller gets [`NetError::WrongPeer`].
//! * Handshake signatures (the proof of key possession) go through rustls with an
//!   Ed25519-only algorithm list.

use std::sync::{Arc, Mutex};

use peergroup_base::{NodeId, PeerName, UnixTime};
use peergroup_identity::{CertError, CertUsage, CertifiedPeer, Identity, verify_certificate};
use pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{
    CertificateError, DigitallySignedStruct, DistinguishedName, OtherError, SignatureScheme,
};

use crate::NetError;

/// The one ALPN protocol of a peergroup connection. Protocols (pnrp, graph, group) are told
/// apart per stream by a preamble, so one connection per pair of peers carries them all.
pub const ALPN: &[u8] = b"peergroup/1";

/// Whom a dialler expects to reach.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expect {
    /// A secure peer name: the server's key must hash to its authority and its certificate
    /// must carry exactly this name.
    Name(PeerName),
    /// A node id: the server's key must hash to it.
    Node(NodeId),
    /// Anyone with a valid identity certificate (the caller checks afterwards).
    Any,
}

impl Expect {
    fn check(&self, peer: &CertifiedPeer) -> bool {
        match self {
            Expect::Name(name) => &peer.peer_name == name,
            Expect::Node(node) => &peer.node_id == node,
            Expect::Any => true,
        }
    }
}

static ED25519_ONLY: WebPkiSupportedAlgorithms = WebPkiSupportedAlgorithms {
    all: &[webpki::ring::ED25519],
    mapping: &[(SignatureScheme::ED25519, &[webpki::ring::ED25519])],
};

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn cert_error(e: CertError) -> rustls::Error {
    rustls::Error::InvalidCertificate(CertificateError::Other(OtherError(Arc::new(e))))
}

fn unix(now: pki_types::UnixTime) -> UnixTime {
    UnixTime::from_secs(now.as_secs())
}

/// What a client-side verifier saw; read after a failed handshake to name the problem.
#[derive(Debug, Default)]
pub(crate) struct Observed(Mutex<Option<CertifiedPeer>>);

impl Observed {
    pub(crate) fn take(&self) -> Option<CertifiedPeer> {
        self.0.lock().ok().and_then(|mut g| g.take())
    }
}

#[derive(Debug)]
struct ServerVerifier {
    expect: Expect,
    observed: Arc<Observed>,
}

impl ServerCertVerifier for ServerVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        now: pki_types::UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let peer =
            verify_certificate(end_entity, unix(now), CertUsage::Server).map_err(cert_error)?;
        let ok = self.expect.check(&peer);
        if let Ok(mut slot) = self.observed.0.lock() {
            *slot = Some(peer);
        }
        if !ok {
            return Err(rustls::Error::InvalidCertificate(
                CertificateError::ApplicationVerificationFailure,
            ));
        }
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Err(rustls::Error::PeerIncompatible(rustls::PeerIncompatible::Tls12NotOffered))
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &ED25519_ONLY)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        ED25519_ONLY.supported_schemes()
    }
}

#[derive(Debug)]
struct ClientVerifier;

impl ClientCertVerifier for ClientVerifier {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        true
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        now: pki_types::UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        verify_certificate(end_entity, unix(now), CertUsage::Client).map_err(cert_error)?;
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Err(rustls::Error::PeerIncompatible(rustls::PeerIncompatible::Tls12NotOffered))
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &ED25519_ONLY)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        ED25519_ONLY.supported_schemes()
    }
}

fn key_and_cert(identity: &Identity) -> (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>) {
    let cert = CertificateDer::from(identity.certificate_der().to_vec());
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(identity.pkcs8_der().to_vec()));
    (vec![cert], key)
}

/// The server-side TLS configuration of an identity.
pub(crate) fn server_config(identity: &Identity) -> Result<rustls::ServerConfig, NetError> {
    let (certs, key) = key_and_cert(identity);
    let mut cfg = rustls::ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_client_cert_verifier(Arc::new(ClientVerifier))
        .with_single_cert(certs, key)?;
    cfg.alpn_protocols = vec![ALPN.to_vec()];
    Ok(cfg)
}

/// The client-side TLS configuration for one dial.
pub(crate) fn client_config(
    identity: &Identity,
    expect: Expect,
    observed: Arc<Observed>,
) -> Result<rustls::ClientConfig, NetError> {
    let (certs, key) = key_and_cert(identity);
    let mut cfg = rustls::ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(ServerVerifier { expect, observed }))
        .with_client_auth_cert(certs, key)?;
    cfg.alpn_protocols = vec![ALPN.to_vec()];
    Ok(cfg)
}

/// The verified identity of the far end of a quinn connection.
#[allow(clippy::disallowed_methods)] // driver code: validity is checked against the wall clock
pub(crate) fn remote_identity(conn: &quinn::Connection) -> Result<CertifiedPeer, NetError> {
    let any = conn.peer_identity().ok_or(NetError::NoPeerCertificate)?;
    let certs =
        any.downcast::<Vec<CertificateDer<'static>>>().map_err(|_| NetError::NoPeerCertificate)?;
    let cert = certs.first().ok_or(NetError::NoPeerCertificate)?;
    // Already verified in the handshake; verified again to get the parsed result. Usage is
    // not rechecked meaningfully here (our certificates carry both).
    Ok(verify_certificate(cert, UnixTime::now(), CertUsage::Client)?)
}
