//! Checks every test vector of `proto-specs/reconcile.md` against the code.
//!
//! Each ```` ```vector ```` block has a `kind:` line saying what it describes; a block of an
//! unknown kind fails the test, so vectors cannot be added without being checked. The
//! `print_vectors` test (ignored) prints the blocks from the code, for whoever extends the
//! spec: `cargo test -p peergroup-reconcile --test it -- spec_vectors:: --ignored --nocapture`.
#![allow(clippy::unwrap_used)] // test helpers: a failed unwrap is a failed test

use std::collections::BTreeSet;

use peergroup_reconcile::message::{Fingerprint, Hello, Key, Message, Opening, Reply, Symbol};
use peergroup_reconcile::{Config, Digest, DigestSet, Error, Session, spec};

const SPEC: &str = include_str!("../../../../proto-specs/reconcile.md");

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

/// The salt `00 01 … 0f` of the vectors.
fn salt() -> [u8; 16] {
    std::array::from_fn(|i| i as u8)
}

/// The three keys of the `coded-symbols` vector.
const KEYS: [u64; 3] = [0x3efc_ea5e_ca56_397c, 0x0afc_6828_c31e_b6df, 0x0123_4567_89ab_cdef];

/// The first `n` coded symbols of the `coded-symbols` vector's keys, as wire symbols.
fn symbols(n: usize) -> Vec<Symbol> {
    spec::symbols(&KEYS, n)
        .chunks(17)
        .map(|c| Symbol {
            sum: c[0..8].try_into().unwrap(),
            checksum: c[8..16].try_into().unwrap(),
            count: c[16],
        })
        .collect()
}

/// The message value each `kind: message` vector names, built from the fields the spec
/// lists for it (§11).
fn message_value(name: &str) -> Message {
    match name {
        "msg-hello-sketch" => Message::Hello(Hello {
            version: 1,
            attempt: 2,
            salt: salt(),
            max_message_bytes: 61_440,
            items: 1000,
            fingerprint: Fingerprint::from(0x0123_4567_89ab_cdef),
            opening: Opening::Sketch {
                sketch: serde_bytes::ByteBuf::from(spec::sketch(
                    &salt(),
                    &digests_of("1 2 3 4 5 6 7 8"),
                )),
                probe: symbols(2),
            },
        }),
        "msg-hello-keys" => Message::Hello(Hello {
            version: 1,
            attempt: 0,
            salt: [0xa5; 16],
            max_message_bytes: 1024,
            items: 2,
            fingerprint: Fingerprint::from(0),
            opening: Opening::Keys(vec![Key::from(KEYS[1]), Key::from(KEYS[0])]),
        }),
        "msg-hello-empty" => Message::Hello(Hello {
            version: 1,
            attempt: 0,
            salt: [0xa5; 16],
            max_message_bytes: 61_440,
            items: 0,
            fingerprint: Fingerprint::from(0),
            opening: Opening::Keys(Vec::new()),
        }),
        "msg-reply" => Message::Reply(Reply {
            max_message_bytes: 16 << 20,
            items: 1_000_000,
            fingerprint: Fingerprint::from(0xffee_ddcc_bbaa_9988),
        }),
        "msg-restart" => Message::Restart,
        "msg-symbols-follow" => Message::SymbolsFollow { count: 300 },
        "msg-keys-follow" => Message::KeysFollow { count: 2 },
        "msg-keys-follow-empty" => Message::KeysFollow { count: 0 },
        "msg-request-symbols" => Message::RequestSymbols { count: 32 },
        "msg-request-keys" => Message::RequestKeys,
        "msg-decoded" => Message::Decoded { yours: 2, mine: 0 },
        "msg-symbols" => Message::Symbols { first: 200, symbols: symbols(3)[1..].to_vec() },
        "msg-keys" => Message::Keys(vec![Key::from(KEYS[2]), Key::from(KEYS[1])]),
        "msg-digests" => Message::Digests(vec![Digest::new(digest(4)), Digest::new(digest(5))]),
        other => panic!("unknown message vector {other:?}"),
    }
}

/// The wire name of a message, and of its opening for a `Hello`.
fn variant(m: &Message) -> String {
    match m {
        Message::Hello(Hello { opening: Opening::Sketch { .. }, .. }) => "Hello/Sketch".into(),
        Message::Hello(Hello { opening: Opening::Keys(_), .. }) => "Hello/Keys".into(),
        other => other.name().into(),
    }
}

/// `kind: refuse` vectors: the error a fresh responder fails with on the message.
fn refusal(encoding: &[u8]) -> Error {
    let mut r = Session::responder(Config::default(), set_of("1 2 3")).unwrap();
    r.handle(encoding).unwrap_err()
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
        "message" => {
            let name = get(v, "name");
            let m = message_value(name);
            // `encoding` may be split over several lines; the parts are concatenated.
            let want = unhex(&all(v, "encoding").concat());
            assert_eq!(hex(&m.encode()), hex(&want), "{name}: encoding");
            assert_eq!(Message::decode(&want, want.len()).unwrap(), m, "{name}: decoding");
        }
        "reject" => {
            let name = get(v, "name");
            let bytes = unhex(get(v, "encoding"));
            let err = Message::decode(&bytes, 1024).unwrap_err();
            let got = format!("{err:?}");
            assert!(got.starts_with(get(v, "error")), "{name}: {got}");
        }
        "refuse" => {
            let name = get(v, "name");
            let err = refusal(&unhex(get(v, "encoding")));
            let got = format!("{err:?}");
            assert!(got.starts_with(get(v, "error")), "{name}: {got}");
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
    let kinds = |k: &str| vectors.iter().filter(|v| get(v, "kind") == k).count();
    assert!(kinds("reject") >= 4 && kinds("refuse") >= 8, "the refusal vectors are there");
    // Every message variant, and both openings of a `Hello`, has a `message` vector.
    let covered: BTreeSet<String> = vectors
        .iter()
        .filter(|v| get(v, "kind") == "message")
        .map(|v| variant(&message_value(get(v, "name"))))
        .collect();
    let all_variants = [
        "Hello/Sketch",
        "Hello/Keys",
        "Reply",
        "Restart",
        "SymbolsFollow",
        "KeysFollow",
        "RequestSymbols",
        "RequestKeys",
        "Decoded",
        "Symbols",
        "Keys",
        "Digests",
    ];
    assert_eq!(covered, all_variants.into_iter().map(String::from).collect());
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
    for name in MESSAGE_VECTORS {
        let bytes = message_value(name).encode();
        println!("\nkind: message\nname: {name}");
        for line in bytes.chunks(32) {
            println!("encoding: {}", hex(line));
        }
    }
}

const MESSAGE_VECTORS: [&str; 14] = [
    "msg-hello-sketch",
    "msg-hello-keys",
    "msg-hello-empty",
    "msg-reply",
    "msg-restart",
    "msg-symbols-follow",
    "msg-keys-follow",
    "msg-keys-follow-empty",
    "msg-request-symbols",
    "msg-request-keys",
    "msg-decoded",
    "msg-symbols",
    "msg-keys",
    "msg-digests",
];
