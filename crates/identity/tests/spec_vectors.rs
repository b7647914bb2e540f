//! Checks every test vector of `proto-specs/identity.md` against the code.
//!
//! Each ```` ```vector ```` block has a `kind:` line saying what it describes. The
//! `print_vectors` test (ignored) prints the blocks from the code, for whoever extends the
//! spec: `cargo test -p peergroup-identity --test spec_vectors -- --ignored --nocapture`.
#![allow(clippy::unwrap_used)] // test helpers: a failed unwrap is a failed test

use std::net::IpAddr;

use peergroup_base::id::ed25519_spki;
use peergroup_base::spec_vectors::{self, Vector};
use peergroup_base::{
    Authority, Classifier, NodeId, P2pId, PeerName, PnrpId, ServiceLocation, UnixTime,
};
use peergroup_identity::export::{
    EncryptedIdentity, ExportOptions, export_identity_with_salt_and_nonce,
};
use peergroup_identity::{
    CertUsage, Identity, IdentityInfo, import_identity, verify_certificate, verify_signature,
};

const SPEC: &str = include_str!("../../../proto-specs/identity.md");

fn get<'a>(v: &'a Vector, key: &str) -> &'a str {
    spec_vectors::get(v, key).unwrap_or_else(|| panic!("vector {v:?} has no {key:?}"))
}

/// A hex value; the spec allows spaces inside hex values.
fn hx(v: &Vector, key: &str) -> String {
    get(v, key).replace(' ', "")
}

fn hex_of(v: &Vector, key: &str) -> Vec<u8> {
    hex::decode(hx(v, key)).unwrap_or_else(|e| panic!("{key}: {e}"))
}

fn array<const N: usize>(v: &Vector, key: &str) -> [u8; N] {
    hex_of(v, key).try_into().unwrap_or_else(|_| panic!("{key} is not {N} bytes"))
}

fn sha256(b: &[u8]) -> Vec<u8> {
    ring::digest::digest(&ring::digest::SHA256, b).as_ref().to_vec()
}

/// The armoured document of `label` that follows the vector block containing `marker`.
fn document_after(marker: &str, label: &str) -> String {
    let start = SPEC.find(marker).unwrap_or_else(|| panic!("no {marker:?} in the spec"));
    let rest = &SPEC[start..];
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let mut out = String::new();
    let mut inside = false;
    for line in rest.lines() {
        if line == begin {
            inside = true;
        }
        if inside {
            out.push_str(line);
            out.push('\n');
            if line == end {
                return out;
            }
        }
    }
    panic!("no {label} document after {marker:?}");
}

fn identity_of(v: &Vector) -> Identity {
    let created = spec_vectors::get(v, "created_ms").map_or(0, |s| s.parse().unwrap());
    Identity::from_parts(
        array(v, "seed"),
        get(v, "classifier"),
        spec_vectors::get(v, "friendly_name").unwrap_or(""),
        UnixTime::from_millis(created),
    )
    .unwrap()
}

fn check_peer_name(v: &Vector) {
    let classifier = get(v, "classifier");
    if let Some(input) = spec_vectors::get(v, "classifier_input_utf8") {
        let input = String::from_utf8(hex::decode(input.replace(' ', "")).unwrap()).unwrap();
        assert_ne!(input, classifier, "the input should differ from its NFC form");
        assert_eq!(Classifier::new(&input).unwrap().as_str(), classifier);
    }
    assert_eq!(hex::encode(classifier.as_bytes()), hx(v, "classifier_utf8"));
    let name = PeerName::parse(get(v, "peer_name")).unwrap();
    assert_eq!(name.classifier().as_str(), classifier);
    assert_eq!(name.authority().to_string(), get(v, "authority"));
    if get(v, "authority") == "0" {
        assert!(!name.is_secure());
    } else {
        let seed: [u8; 32] = array(v, "seed");
        let id = Identity::from_seed(seed, classifier, "").unwrap();
        assert_eq!(hex::encode(id.public_key()), hx(v, "public_key"));
        let spki = ed25519_spki(&id.public_key());
        assert_eq!(hex::encode(spki), hx(v, "spki"));
        assert_eq!(id.node_id().to_hex(), hx(v, "node_id"));
        assert_eq!(sha256(&spki), hex_of(v, "node_id"));
        assert_eq!(id.peer_name(), &name);
        assert_eq!(Authority::from_spki_der(&spki), *name.authority());
        assert_eq!(hex::encode(&id.pkcs8_der()[..]), hx(v, "pkcs8"));
    }
    assert_eq!(P2pId::of(&name).to_hex(), hx(v, "p2p_id"));
}

fn check_pnrp(v: &Vector) {
    let name = PeerName::parse(get(v, "peer_name")).unwrap();
    let ip: IpAddr = get(v, "ip").parse().unwrap();
    let hint = ServiceLocation::address_hint_of(ip);
    assert_eq!(format!("{hint:016x}"), hx(v, "address_hint"));
    let suffix = u64::from_str_radix(&hx(v, "suffix"), 16).unwrap();
    let loc = ServiceLocation::new(hint, suffix);
    assert_eq!(loc.to_hex(), hx(v, "service_location"));
    assert_eq!(name.p2p_id().to_hex(), hx(v, "p2p_id"));
    let pnrp = PnrpId::new(name.p2p_id(), loc);
    assert_eq!(pnrp.to_hex(), hx(v, "pnrp_id"));
}

fn check_certificate(v: &Vector) {
    let id = identity_of(v);
    assert_eq!(id.peer_name().to_string(), get(v, "peer_name"));
    assert_eq!(hex::encode(id.certificate_der()), hx(v, "certificate"));
    assert_eq!(hex::encode(sha256(id.certificate_der())), hx(v, "certificate_sha256"));
    let now = UnixTime::from_secs(1_795_632_699);
    let peer = verify_certificate(&hex_of(v, "certificate"), now, CertUsage::Server).unwrap();
    assert_eq!(&peer.peer_name, id.peer_name());
}

fn check_identity_info(v: &Vector) {
    let id = identity_of(v);
    let binary = IdentityInfo::export_binary(&id);
    let body = hex_of(v, "body");
    let signature: [u8; 64] = array(v, "signature");
    assert_eq!(binary, [body.as_slice(), &signature].concat());
    let mut signed = b"peergroup identity-info v1\0".to_vec();
    signed.extend_from_slice(&body);
    assert_eq!(hex::encode(&signed), hx(v, "signed_message"));
    assert!(verify_signature(&id.public_key(), &signed, &signature));
    let document = document_after(get(v, "name"), "PEERGROUP IDENTITY INFO");
    assert_eq!(IdentityInfo::export(&id), document);
    let info = IdentityInfo::parse(&document).unwrap();
    assert_eq!(info, IdentityInfo::of(&id));
    assert_eq!(info.peer_name().to_string(), get(v, "peer_name"));
}

fn check_export(v: &Vector) {
    let id = identity_of(v);
    let password = get(v, "password");
    assert_eq!(hex::encode(password.as_bytes()), hx(v, "password_utf8"));
    let iterations: u32 = get(v, "iterations").parse().unwrap();
    let opts = ExportOptions::with_iterations(iterations);
    let text = export_identity_with_salt_and_nonce(
        &id,
        password,
        &opts,
        array(v, "salt"),
        array(v, "nonce"),
    )
    .unwrap();
    let document = document_after(get(v, "name"), "PEERGROUP IDENTITY");
    assert_eq!(text, document);
    let back = import_identity(&document, password).unwrap();
    assert_eq!(back.peer_name().to_string(), get(v, "peer_name"));
    assert_eq!(*back.seed(), array::<32>(v, "seed"));
    assert_eq!(back.created().as_millis().to_string(), get(v, "created_ms"));
    assert_eq!(EncryptedIdentity::parse(&document).unwrap().iterations(), iterations);
    assert!(import_identity(&document, "wrong").unwrap_err().is_wrong_password());
    // the intermediate values the spec lists
    let salt: [u8; 16] = array(v, "salt");
    let mut master = [0u8; 32];
    ring::pbkdf2::derive(
        ring::pbkdf2::PBKDF2_HMAC_SHA256,
        std::num::NonZeroU32::new(iterations).unwrap(),
        &salt,
        password.as_bytes(),
        &mut master,
    );
    assert_eq!(hex::encode(master), hx(v, "master"));
    let mac = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &master);
    let key = ring::hmac::sign(&mac, b"peergroup identity-export v1 encryption key");
    assert_eq!(hex::encode(key.as_ref()), hx(v, "encryption_key"));
    let check = ring::hmac::sign(&mac, b"peergroup identity-export v1 password check");
    assert_eq!(hex::encode(check.as_ref()), hx(v, "password_check"));
    let binary = pem_binary(&document);
    assert_eq!(hex::encode(&binary), hx(v, "binary"));
    assert_eq!(hex::encode(&binary[..70]), hx(v, "header"));
}

fn pem_binary(document: &str) -> Vec<u8> {
    use base64::Engine as _;
    let b64: String = document
        .lines()
        .filter(|l| !l.starts_with("-----") && !l.contains(':') && !l.is_empty())
        .collect();
    base64::engine::general_purpose::STANDARD.decode(b64).unwrap()
}

#[test]
fn every_spec_vector_matches_the_code() {
    let vectors = spec_vectors::parse(SPEC);
    let mut counts = std::collections::BTreeMap::<String, usize>::new();
    let mut signatures = Vec::new();
    for v in &vectors {
        let kind = get(v, "kind");
        match kind {
            "peer-name" => check_peer_name(v),
            "pnrp-id" => check_pnrp(v),
            "certificate" => check_certificate(v),
            "identity-info" => check_identity_info(v),
            "identity-export" => check_export(v),
            "signature" => signatures.push(check_signature(v)),
            other => panic!("unknown vector kind {other:?}"),
        }
        *counts.entry(kind.to_owned()).or_default() += 1;
    }
    assert!(counts.get("peer-name").copied().unwrap_or(0) >= 4, "{counts:?}");
    for kind in ["pnrp-id", "certificate", "identity-info", "identity-export", "signature"] {
        assert!(counts.contains_key(kind), "no {kind} vector: {counts:?}");
    }
    // §1.1: a batch of all the signature vectors (and again each 4 times, so that the batch
    // path runs) gives each its single verdict.
    let items: Vec<_> = signatures.iter().map(|(item, _)| item.clone()).collect();
    let want: Vec<bool> = signatures.iter().map(|(_, valid)| *valid).collect();
    let many: Vec<_> = items.iter().cycle().take(items.len() * 4).cloned().collect();
    let want_many: Vec<bool> = want.iter().cycle().take(want.len() * 4).copied().collect();
    assert_eq!(peergroup_identity::verify_signatures(&items), want);
    assert_eq!(peergroup_identity::verify_signatures(&many), want_many);
    let good: Vec<_> =
        many.iter().zip(&want_many).filter(|(_, ok)| **ok).map(|(i, _)| i.clone()).collect();
    assert!(good.len() >= peergroup_identity::BATCH_MIN);
    assert_eq!(peergroup_identity::verify_signatures(&good), vec![true; good.len()]);
}

/// A public key, a message and a signature.
type SignedItem = ([u8; 32], Vec<u8>, [u8; 64]);

/// §9.6: one signature vector checked alone; returns it and its expected verdict for the
/// batch check.
fn check_signature(v: &Vector) -> (SignedItem, bool) {
    let valid = match get(v, "valid") {
        "true" => true,
        "false" => false,
        other => panic!("valid: {other:?}"),
    };
    let (key, msg, sig) =
        (array::<32>(v, "public_key"), hex_of(v, "message"), array::<64>(v, "signature"));
    assert_eq!(peergroup_identity::verify_signature(&key, &msg, &sig), valid, "{}", get(v, "name"));
    ((key, msg, sig), valid)
}

/// Prints vector blocks computed by the code (for writing the spec, not for checking it).
#[test]
#[ignore]
fn print_vectors() {
    let seeds: [(&str, [u8; 32], &str, Option<&str>); 3] = [
        ("peer-name-1", core::array::from_fn(|i| i as u8), "alice", None),
        ("peer-name-2", [0x42; 32], "Zoë.日本語 🎉", Some("Zoe\u{308}.日本語 🎉")),
        (
            "peer-name-3",
            hex::decode("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
                .unwrap()
                .try_into()
                .unwrap(),
            "MyApplication",
            None,
        ),
    ];
    for (name, seed, classifier, input) in &seeds {
        let id = Identity::from_seed(*seed, classifier, "").unwrap();
        let spki = ed25519_spki(&id.public_key());
        println!("```vector\nkind: peer-name\nname: {name}\nseed: {}", hex::encode(seed));
        println!("pkcs8: {}", hex::encode(&id.pkcs8_der()[..]));
        println!("public_key: {}\nspki: {}", hex::encode(id.public_key()), hex::encode(spki));
        println!("node_id: {}\nauthority: {}", id.node_id(), id.peer_name().authority());
        println!(
            "classifier: {classifier}\nclassifier_utf8: {}",
            hex::encode(classifier.as_bytes())
        );
        if let Some(input) = input {
            println!("classifier_input_utf8: {}", hex::encode(input.as_bytes()));
        }
        println!("peer_name: {}\np2p_id: {}\n```\n", id.peer_name(), id.peer_name().p2p_id());
    }
    let u = PeerName::parse("0.MyApplication").unwrap();
    println!("```vector\nkind: peer-name\nname: peer-name-unsecured\nauthority: 0");
    println!("classifier: MyApplication\nclassifier_utf8: {}", hex::encode("MyApplication"));
    println!("peer_name: {u}\np2p_id: {}\n```\n", u.p2p_id());

    let alice = Identity::from_seed(seeds[0].1, "alice", "").unwrap();
    for (name, ip) in [("pnrp-id-ipv4", "192.0.2.1"), ("pnrp-id-ipv6", "2001:db8:1:2::5")] {
        let ip: IpAddr = ip.parse().unwrap();
        let hint = ServiceLocation::address_hint_of(ip);
        let loc = ServiceLocation::new(hint, 0x0123_4567_89ab_cdef);
        println!("```vector\nkind: pnrp-id\nname: {name}\npeer_name: {}", alice.peer_name());
        println!("p2p_id: {}\nip: {ip}\naddress_hint: {hint:016x}", alice.peer_name().p2p_id());
        println!("suffix: 0123456789abcdef\nservice_location: {loc}");
        println!("pnrp_id: {}\n```\n", PnrpId::new(alice.peer_name().p2p_id(), loc));
    }

    let created = 1_795_632_699_250u64;
    let id =
        Identity::from_parts(seeds[0].1, "alice", "Alice's laptop", UnixTime::from_millis(created))
            .unwrap();
    println!(
        "```vector\nkind: certificate\nname: certificate-1\nseed: {}",
        hex::encode(seeds[0].1)
    );
    println!("classifier: alice\npeer_name: {}", id.peer_name());
    println!("node_id: {}", id.node_id());
    println!("certificate: {}", hex::encode(id.certificate_der()));
    println!("certificate_sha256: {}\n```\n", hex::encode(sha256(id.certificate_der())));

    let bin = IdentityInfo::export_binary(&id);
    let (body, sig) = bin.split_at(bin.len() - 64);
    println!(
        "```vector\nkind: identity-info\nname: identity-info-1\nseed: {}",
        hex::encode(seeds[0].1)
    );
    println!("classifier: alice\nfriendly_name: Alice's laptop\ncreated_ms: {created}");
    println!("public_key: {}\npeer_name: {}", hex::encode(id.public_key()), id.peer_name());
    let mut signed = b"peergroup identity-info v1\0".to_vec();
    signed.extend_from_slice(body);
    println!("body: {}\nsigned_message: {}", hex::encode(body), hex::encode(&signed));
    println!("signature: {}\n```\n", hex::encode(sig));
    println!("{}", IdentityInfo::export(&id));

    let password = "correct horse battery stäple";
    let salt: [u8; 16] = core::array::from_fn(|i| i as u8);
    let nonce: [u8; 12] = core::array::from_fn(|i| 0xa0 + i as u8);
    let text = export_identity_with_salt_and_nonce(
        &id,
        password,
        &ExportOptions::with_iterations(100_000),
        salt,
        nonce,
    )
    .unwrap();
    let binary = pem_binary(&text);
    let mut master = [0u8; 32];
    ring::pbkdf2::derive(
        ring::pbkdf2::PBKDF2_HMAC_SHA256,
        std::num::NonZeroU32::new(100_000).unwrap(),
        &salt,
        password.as_bytes(),
        &mut master,
    );
    let mac = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &master);
    let key = ring::hmac::sign(&mac, b"peergroup identity-export v1 encryption key");
    let check = ring::hmac::sign(&mac, b"peergroup identity-export v1 password check");
    println!(
        "```vector\nkind: identity-export\nname: identity-export-1\nseed: {}",
        hex::encode(seeds[0].1)
    );
    println!("classifier: alice\nfriendly_name: Alice's laptop\ncreated_ms: {created}");
    println!("peer_name: {}", id.peer_name());
    println!("password: {password}\npassword_utf8: {}", hex::encode(password.as_bytes()));
    println!("iterations: 100000\nsalt: {}\nnonce: {}", hex::encode(salt), hex::encode(nonce));
    println!("master: {}\nencryption_key: {}", hex::encode(master), hex::encode(key.as_ref()));
    println!("password_check: {}", hex::encode(check.as_ref()));
    println!("header: {}", hex::encode(&binary[..70]));
    println!("binary: {}\n```\n", hex::encode(&binary));
    println!("{text}");
    let _ = NodeId::from_ed25519(&[0; 32]);
}
