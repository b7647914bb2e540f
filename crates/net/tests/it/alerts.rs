//! The TLS alerts a server sends when it refuses a client (`proto-specs/wire.md` §1): no
//! certificate, a certificate that fails `identity.md` §5.2, a wrong ALPN. In QUIC an alert
//! travels as the transport error `CRYPTO_ERROR` `0x0100 + alert` (RFC 9001 §4.8).

#![allow(clippy::unwrap_used)] // test helpers: a failure is a test failure
use std::sync::Arc;

use peergroup_identity::Identity;
use peergroup_net::{ALPN, Endpoint, EndpointConfig};
use pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName, UnixTime};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::{DigitallySignedStruct, SignatureScheme};

/// Accepts any server certificate: these tests look at what the server does.
#[derive(Debug)]
struct AnyServer;

impl ServerCertVerifier for AnyServer {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        _: &[u8],
        _: &CertificateDer<'_>,
        _: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }
    fn verify_tls13_signature(
        &self,
        _: &[u8],
        _: &CertificateDer<'_>,
        _: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        vec![SignatureScheme::ED25519]
    }
}

enum ClientCert {
    None,
    Corrupted,
}

/// Dials `server` with a hand-made client and returns the alert the server closed with.
async fn alert_from(server: &Endpoint, cert: ClientCert, alpn: &[u8]) -> u64 {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AnyServer));
    let mut tls = match cert {
        ClientCert::None => builder.with_no_client_auth(),
        ClientCert::Corrupted => {
            let me = Identity::from_seed([42; 32], "client", "").unwrap();
            let mut der = me.certificate_der().to_vec();
            // the last byte is in the certificate's own signature: it no longer verifies
            let last = der.len() - 1;
            der[last] ^= 1;
            let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(me.pkcs8_der().to_vec()));
            builder.with_client_auth_cert(vec![CertificateDer::from(der)], key).unwrap()
        }
    };
    tls.alpn_protocols = vec![alpn.to_vec()];
    let crypto = quinn::crypto::rustls::QuicClientConfig::try_from(tls).unwrap();
    let mut client = quinn::Endpoint::client("127.0.0.1:0".parse().unwrap()).unwrap();
    client.set_default_client_config(quinn::ClientConfig::new(Arc::new(crypto)));
    let connecting = client.connect(server.local_addr().unwrap(), "peergroup").unwrap();
    let err = match connecting.await {
        Ok(conn) => {
            // TLS 1.3: the client finishes first; the server's verdict closes the
            // connection right after
            conn.closed().await
        }
        Err(e) => e,
    };
    match err {
        quinn::ConnectionError::ConnectionClosed(close) => {
            let code = u64::from(close.error_code);
            assert!((0x100..0x200).contains(&code), "not a CRYPTO_ERROR: {close:?}");
            code - 0x100
        }
        other => panic!("expected a CRYPTO_ERROR close, got {other:?}"),
    }
}

#[tokio::test]
async fn server_names_each_refusal_with_its_alert() {
    let server = Endpoint::bind(
        Identity::from_seed([1; 32], "server", "").unwrap(),
        EndpointConfig::loopback(),
    )
    .await
    .unwrap();
    // 116 certificate_required: no client certificate
    assert_eq!(alert_from(&server, ClientCert::None, ALPN).await, 116);
    // 46 certificate_unknown: a certificate that fails identity.md §5.2
    assert_eq!(alert_from(&server, ClientCert::Corrupted, ALPN).await, 46);
    // 120 no_application_protocol: an ALPN other than peergroup/1
    assert_eq!(alert_from(&server, ClientCert::None, b"other/1").await, 120);
    assert_eq!(server.refusals().handshakes_failed, 3);
}
