//! Checks every test vector of `proto-specs/reconcile.md` against the code.
//!
//! Each ```` ```vector ```` block has a `kind:` line saying what it describes; a block of an
//! unknown kind fails the test, so vectors cannot be added without being checked. The
//! `print_vectors` test (ignored) prints the blocks from the code, for whoever extends the
//! spec: `cargo test -p peergroup-reconcile --test spec_vectors -- --ignored --nocapture`.
#![allow(clippy::unwrap_used)] // test helpers: a failed unwrap is a failed test

use peergroup_reconcile::message::Message;
use peergroup_reconcile::{Config, Digest, DigestSet, Session, spec};

const SPEC: &str = include_str!("../../../proto-specs/reconcile.md");

/// One `vector` block: its `key: value` pairs in order.
type Vector = Vec<(String, String)>;

/// The fenced blocks tagged `vector` (the format of `proto-specs/README.md`).
fn parse_vectors(markdown: &str) -> Vec<Vector> {
    let mut out = Vec::new();
    let mut current: Option<Vector> = None;
    for line in markdown.lines() {
        let t = line.trim();
        match &mut current {
            None if t == "```vector" => current = Some(Vec::new()),
            None => {}
            Some(_) if t == "```" => out.extend(current.take()),
            Some(v) => {
                if let Some((k, val)) = t.split_once(':') {
                    v.push((k.trim().to_owned(), val.trim().to_owned()));
                }
            }
        }
    }
    out
}

fn get<'a>(v: &'a Vector, key: &str) -> &'a str {
    v.iter()
        .find(|(k, _)| k == key)
        .map(|(_, val)| val.as_str())
        .unwrap_or_else(|| panic!("vector {v:?} has no {key:?}"))
}

fn all<'a>(v: &'a Vector, key: &str) -> Vec<&'a str> {
    v.iter().filter(|(k, _)| k == key).map(|(_, val)| val.as_str()).collect()
}

fn unhex(s: &str) -> Vec<u8> {
    let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    assert!(s.len().is_multiple_of(2), "odd hex length: {s}");
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn array<const N: usize>(s: &str) -> [u8; N] {
    unhex(s).try_into().unwrap_or_else(|_| panic!("{s} is not {N} bytes"))
}

fn u64_of(s: &str) -> u64 {
    u64::from_str_radix(s, 16).unwrap()
}

/// Digest `i` of the vectors: 32 bytes, all equal to `i` except the last, which is `0xff - i`.
fn digest(i: u8) -> [u8; 32] {
    let mut d = [i; 32];
    d[31] = 0xff - i;
    d
}

fn digests_of(list: &str) -> Vec<[u8; 32]> {
    list.split_whitespace().map(|i| digest(i.parse().unwrap())).collect()
}

fn set_of(list: &str) -> DigestSet {
    digests_of(list).into_iter().map(Digest::new).collect()
}

/// Runs a session pair to the end, collecting each message with its direction.
fn transcript(salt: [u8; 16], a: DigestSet, b: DigestSet) -> Vec<(&'static str, Vec<u8>)> {
    let mut out = Vec::new();
    let mut i = Session::initiator(Config::default(), a, salt).unwrap();
    let mut r = Session::responder(Config::default(), b).unwrap();
    for _ in 0..20 {
        let mut any = false;
        while let Some(m) = i.poll_transmit() {
            r.handle(&m).unwrap();
            out.push(("i>r", m));
            any = true;
        }
        while let Some(m) = r.poll_transmit() {
            i.handle(&m).unwrap();
            out.push(("r>i", m));
            any = true;
        }
        if !any {
            break;
        }
    }
    assert!(i.is_finished() && r.is_finished());
    out
}

fn check(v: &Vector) {
    match get(v, "kind") {
        "item-hash" => {
            let salt: [u8; 16] = array(get(v, "salt"));
            let d: [u8; 32] = array(get(v, "digest"));
            let (key, term) = spec::item_hash(&salt, &d);
            assert_eq!(key, u64_of(get(v, "key")), "key of {v:?}");
            assert_eq!(term, u64_of(get(v, "term")), "term of {v:?}");
            assert_eq!(spec::checksum(key), u64_of(get(v, "checksum")), "checksum of {v:?}");
        }
        "index-mapping" => {
            let key = u64_of(get(v, "key"));
            let want: Vec<u64> =
                get(v, "indices").split_whitespace().map(|i| i.parse().unwrap()).collect();
            assert_eq!(spec::indices(key, want.len()), want, "indices of {v:?}");
        }
        "coded-symbols" => {
            let keys: Vec<u64> = get(v, "keys").split_whitespace().map(u64_of).collect();
            let want = unhex(get(v, "symbols"));
            assert_eq!(spec::symbols(&keys, want.len() / 17), want, "symbols of {v:?}");
        }
        "sketch" => {
            let salt: [u8; 16] = array(get(v, "salt"));
            let ds = digests_of(get(v, "digests"));
            let sketch = spec::sketch(&salt, &ds);
            let set: Vec<usize> =
                (0..sketch.len() * 8).filter(|&i| sketch[i / 8] >> (i % 8) & 1 == 1).collect();
            let want: Vec<usize> =
                get(v, "bits").split_whitespace().map(|i| i.parse().unwrap()).collect();
            assert_eq!(set, want, "sketch bits of {v:?}");
        }
        "transcript" => {
            let salt: [u8; 16] = array(get(v, "salt"));
            let got = transcript(salt, set_of(get(v, "initiator")), set_of(get(v, "responder")));
            let want = all(v, "message");
            assert_eq!(got.len(), want.len(), "message count of {v:?}");
            for ((dir, bytes), line) in got.iter().zip(want) {
                let (wdir, whex) = line.split_once(' ').unwrap();
                assert_eq!(*dir, wdir);
                assert_eq!(hex(bytes), whex.replace(' ', ""), "message of {v:?}");
                assert!(Message::decode(bytes, 1024).is_ok());
            }
        }
        other => panic!("unknown vector kind {other:?}"),
    }
}

#[test]
fn spec_vectors_match_the_code() {
    let vectors = parse_vectors(SPEC);
    assert!(vectors.len() >= 6, "the spec has its vectors");
    for v in &vectors {
        check(v);
    }
}

/// Prints vector blocks computed by the code (for writing the spec).
#[test]
#[ignore = "prints vectors for the spec"]
fn print_vectors() {
    let salt: [u8; 16] = std::array::from_fn(|i| i as u8);
    let d: [u8; 32] = std::array::from_fn(|i| i as u8);
    let (key, term) = spec::item_hash(&salt, &d);
    println!("kind: item-hash\nsalt: {}\ndigest: {}", hex(&salt), hex(&d));
    println!("key: {key:016x}\nterm: {term:016x}\nchecksum: {:016x}\n", spec::checksum(key));
    let d2 = digest(1);
    let salt2 = [0xa5; 16];
    let (key2, term2) = spec::item_hash(&salt2, &d2);
    println!("kind: item-hash\nsalt: {}\ndigest: {}", hex(&salt2), hex(&d2));
    println!("key: {key2:016x}\nterm: {term2:016x}\nchecksum: {:016x}\n", spec::checksum(key2));
    for k in [key, 0, u64::MAX] {
        let idx = spec::indices(k, 16);
        let s: Vec<String> = idx.iter().map(u64::to_string).collect();
        println!("kind: index-mapping\nkey: {k:016x}\nindices: {}\n", s.join(" "));
    }
    let keys = [key, key2, 0x0123_4567_89ab_cdef];
    let ks: Vec<String> = keys.iter().map(|k| format!("{k:016x}")).collect();
    let sym = spec::symbols(&keys, 6);
    let pretty: Vec<String> = sym.chunks(17).map(hex).collect();
    println!("kind: coded-symbols\nkeys: {}\nsymbols: {}\n", ks.join(" "), pretty.join(" "));
    let ds = "1 2 3 4 5 6 7 8";
    let sketch = spec::sketch(&salt, &digests_of(ds));
    let bits: Vec<String> = (0..sketch.len() * 8)
        .filter(|&i| sketch[i / 8] >> (i % 8) & 1 == 1)
        .map(|i| i.to_string())
        .collect();
    println!("kind: sketch\nsalt: {}\ndigests: {ds}\nbits: {}\n", hex(&salt), bits.join(" "));
    let (a, b) = ("1 2 3", "2 3 4");
    println!("kind: transcript\nsalt: {}\ninitiator: {a}\nresponder: {b}", hex(&salt));
    for (dir, m) in transcript(salt, set_of(a), set_of(b)) {
        println!("message: {dir} {}", hex(&m));
    }
}
