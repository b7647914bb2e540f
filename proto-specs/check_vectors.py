#!/usr/bin/env python3
"""Independent check of the test vectors in proto-specs/identity.md (and, through
check_group_vectors.py, of proto-specs/group.md).

Written from the text of identity.md alone, with the Python standard library only
(hashlib, hmac, unicodedata, base64, ipaddress, struct). It does not share code or
data with the Rust implementation: it recomputes every derived value of every
```vector block from its inputs and compares.

To avoid depending on a crypto package it carries two small reference
implementations: Ed25519 as in RFC 8032 section 6, and ChaCha20-Poly1305 as in
RFC 8439. Both are slow and NOT constant-time: for checking vectors only.

Usage: python3 proto-specs/check_vectors.py [path/to/identity.md]
Without an argument it checks identity.md and then group.md (check_group_vectors.py).
Exit status 0 if every vector matches, 1 otherwise.
"""

import base64
import hashlib
import hmac
import ipaddress
import os
import struct
import sys
import unicodedata

# --------------------------------------------------------------------------- helpers


class Mismatch(Exception):
    pass


def expect(what, got, want):
    if got != want:
        if isinstance(got, bytes) and isinstance(want, bytes):
            got, want = got.hex(), want.hex()
        raise Mismatch(f"{what}: computed {got!r}, spec says {want!r}")


def sha256(b):
    return hashlib.sha256(b).digest()


def parse_vectors(markdown):
    """Fenced ```vector blocks of `key: value` lines (split at the first colon)."""
    vectors, current = [], None
    for line in markdown.split("\n"):
        t = line.strip()
        if current is None:
            if t == "```vector":
                current = {}
        elif t == "```":
            vectors.append(current)
            current = None
        elif ":" in t:
            k, v = t.split(":", 1)
            current[k.strip()] = v.strip()
    return vectors


def hexval(v, key):
    return bytes.fromhex(v[key].replace(" ", ""))


def document_after(markdown, marker, label):
    """The armoured document with `label` that first follows `marker` (LF lines only)."""
    rest = markdown[markdown.index(marker):]
    begin, end = f"-----BEGIN {label}-----", f"-----END {label}-----"
    lines = rest.split("\n")
    start = lines.index(begin)
    stop = lines.index(end, start)
    return "\n".join(lines[start:stop + 1]) + "\n"


# --------------------------------------------------------------------------- Ed25519 (RFC 8032 §6)

P = 2**255 - 19
D = -121665 * pow(121666, -1, P) % P
Q = 2**252 + 27742317777372353535851937790883648493
SQRT_M1 = pow(2, (P - 1) // 4, P)


def _add(p1, p2):
    a = (p1[1] - p1[0]) * (p2[1] - p2[0]) % P
    b = (p1[1] + p1[0]) * (p2[1] + p2[0]) % P
    c = 2 * p1[3] * p2[3] * D % P
    d = 2 * p1[2] * p2[2] % P
    e, f, g, h = b - a, d - c, d + c, b + a
    return (e * f, g * h, f * g, e * h)


def _mul(s, pt):
    acc = (0, 1, 1, 0)
    while s > 0:
        if s & 1:
            acc = _add(acc, pt)
        pt = _add(pt, pt)
        s >>= 1
    return acc


def _equal(p1, p2):
    return (p1[0] * p2[2] - p2[0] * p1[2]) % P == 0 and (p1[1] * p2[2] - p2[1] * p1[2]) % P == 0


def _recover_x(y, sign):
    if y >= P:
        return None
    x2 = (y * y - 1) * pow(D * y * y + 1, -1, P)
    if x2 == 0:
        return None if sign else 0
    x = pow(x2, (P + 3) // 8, P)
    if (x * x - x2) % P != 0:
        x = x * SQRT_M1 % P
    if (x * x - x2) % P != 0:
        return None
    if (x & 1) != sign:
        x = P - x
    return x


_GY = 4 * pow(5, -1, P) % P
_GX = _recover_x(_GY, 0)
G = (_GX, _GY, 1, _GX * _GY % P)


def _compress(pt):
    zinv = pow(pt[2], -1, P)
    x, y = pt[0] * zinv % P, pt[1] * zinv % P
    return (y | ((x & 1) << 255)).to_bytes(32, "little")


def _decompress(s):
    y = int.from_bytes(s, "little")
    sign = y >> 255
    y &= (1 << 255) - 1
    x = _recover_x(y, sign)
    return None if x is None else (x, y, 1, x * y % P)


def _expand(seed):
    h = hashlib.sha512(seed).digest()
    a = int.from_bytes(h[:32], "little")
    a &= (1 << 254) - 8
    a |= 1 << 254
    return a, h[32:]


def ed25519_public(seed):
    a, _ = _expand(seed)
    return _compress(_mul(a, G))


def ed25519_sign(seed, msg):
    a, prefix = _expand(seed)
    pub = _compress(_mul(a, G))
    r = int.from_bytes(hashlib.sha512(prefix + msg).digest(), "little") % Q
    rs = _compress(_mul(r, G))
    h = int.from_bytes(hashlib.sha512(rs + pub + msg).digest(), "little") % Q
    return rs + ((r + h * a) % Q).to_bytes(32, "little")


def _decompress_zip215(s):
    """identity.md §1.1: y is reduced modulo p, and x = 0 with the sign bit set is accepted."""
    y = int.from_bytes(s, "little")
    sign = y >> 255
    y = (y & ((1 << 255) - 1)) % P
    x2 = (y * y - 1) * pow(D * y * y + 1, -1, P) % P
    if x2 == 0:
        return (0, y, 1, 0)
    x = _recover_x(y, sign)
    return None if x is None else (x, y, 1, x * y % P)


def ed25519_verify(pub, msg, sig):
    """identity.md §1.1 (ZIP-215): canonical S, points decoded leniently, cofactored equation."""
    a = _decompress_zip215(pub)
    r = _decompress_zip215(sig[:32])
    s = int.from_bytes(sig[32:], "little")
    if a is None or r is None or s >= Q:
        return False
    h = int.from_bytes(hashlib.sha512(sig[:32] + pub + msg).digest(), "little") % Q
    return _equal(_mul(8 * s, G), _mul(8, _add(r, _mul(h, a))))


# --------------------------------------------------------------------------- ChaCha20-Poly1305 (RFC 8439)

def _rotl(v, c):
    return ((v << c) & 0xFFFFFFFF) | (v >> (32 - c))


def _quarter(s, a, b, c, d):
    s[a] = (s[a] + s[b]) & 0xFFFFFFFF; s[d] = _rotl(s[d] ^ s[a], 16)
    s[c] = (s[c] + s[d]) & 0xFFFFFFFF; s[b] = _rotl(s[b] ^ s[c], 12)
    s[a] = (s[a] + s[b]) & 0xFFFFFFFF; s[d] = _rotl(s[d] ^ s[a], 8)
    s[c] = (s[c] + s[d]) & 0xFFFFFFFF; s[b] = _rotl(s[b] ^ s[c], 7)


def chacha20_block(key, counter, nonce):
    state = [0x61707865, 0x3320646E, 0x79622D32, 0x6B206574]
    state += list(struct.unpack("<8I", key)) + [counter] + list(struct.unpack("<3I", nonce))
    w = state[:]
    for _ in range(10):
        _quarter(w, 0, 4, 8, 12); _quarter(w, 1, 5, 9, 13)
        _quarter(w, 2, 6, 10, 14); _quarter(w, 3, 7, 11, 15)
        _quarter(w, 0, 5, 10, 15); _quarter(w, 1, 6, 11, 12)
        _quarter(w, 2, 7, 8, 13); _quarter(w, 3, 4, 9, 14)
    return struct.pack("<16I", *[(w[i] + state[i]) & 0xFFFFFFFF for i in range(16)])


def chacha20_xor(key, counter, nonce, data):
    out = bytearray()
    for i in range(0, len(data), 64):
        block = chacha20_block(key, counter + i // 64, nonce)
        out += bytes(x ^ y for x, y in zip(data[i:i + 64], block))
    return bytes(out)


def poly1305(key, msg):
    r = int.from_bytes(key[:16], "little") & 0x0FFFFFFC0FFFFFFC0FFFFFFC0FFFFFFF
    s = int.from_bytes(key[16:32], "little")
    p, acc = (1 << 130) - 5, 0
    for i in range(0, len(msg), 16):
        acc = (acc + int.from_bytes(msg[i:i + 16] + b"\x01", "little")) * r % p
    return ((acc + s) % (1 << 128)).to_bytes(16, "little")


def _mac_data(aad, ct):
    pad = lambda b: b"\x00" * (-len(b) % 16)  # noqa: E731
    return aad + pad(aad) + ct + pad(ct) + struct.pack("<QQ", len(aad), len(ct))


def aead_seal(key, nonce, aad, plaintext):
    ct = chacha20_xor(key, 1, nonce, plaintext)
    return ct + poly1305(chacha20_block(key, 0, nonce)[:32], _mac_data(aad, ct))


def aead_open(key, nonce, aad, sealed):
    ct, tag = sealed[:-16], sealed[-16:]
    if not hmac.compare_digest(poly1305(chacha20_block(key, 0, nonce)[:32], _mac_data(aad, ct)), tag):
        raise Mismatch("ChaCha20-Poly1305 tag does not verify")
    return chacha20_xor(key, 1, nonce, ct)


def self_test():
    """Known-answer tests of the two primitives, from their RFCs."""
    # RFC 8032 §7.1, TEST 1
    seed = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
    expect("RFC 8032 test 1 public key", ed25519_public(seed).hex(),
           "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
    sig = ed25519_sign(seed, b"")
    expect("RFC 8032 test 1 signature", sig.hex(),
           "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b")
    expect("RFC 8032 test 1 verifies", ed25519_verify(ed25519_public(seed), b"", sig), True)
    expect("RFC 8032 altered message fails", ed25519_verify(ed25519_public(seed), b"x", sig), False)
    # RFC 8439 §2.8.2
    key = bytes(range(0x80, 0xA0))
    nonce = bytes.fromhex("070000004041424344454647")
    aad = bytes.fromhex("50515253c0c1c2c3c4c5c6c7")
    pt = (b"Ladies and Gentlemen of the class of '99: If I could offer you only one tip "
          b"for the future, sunscreen would be it.")
    sealed = aead_seal(key, nonce, aad, pt)
    expect("RFC 8439 2.8.2 tag", sealed[-16:].hex(), "1ae10b594f09e26a7e902ecbd0600691")
    expect("RFC 8439 2.8.2 ciphertext start", sealed[:16].hex(), "d31a8d34648e60db7b86afbc53ef7ec2")
    expect("RFC 8439 round trip", aead_open(key, nonce, aad, sealed), pt)


# --------------------------------------------------------------------------- identity.md §1–§4

SPKI_PREFIX = bytes.fromhex("302a300506032b6570032100")      # §1b
PKCS8_PREFIX = bytes.fromhex("302e020100300506032b657004220420")  # §1
P2P_ID_DOMAIN = b"peergroup/p2p-id/v1"                        # §3


def check_classifier(c):
    """§2: the classifier must already be NFC, 1..=149 scalar values, no Cc character."""
    expect("classifier is NFC", unicodedata.normalize("NFC", c), c)
    if not 1 <= len(c) <= 149:
        raise Mismatch(f"classifier has {len(c)} characters")
    for ch in c:
        if unicodedata.category(ch) == "Cc":
            raise Mismatch(f"classifier has control character U+{ord(ch):04X}")


def parse_peer_name(name):
    """§2: returns (binary authority or None for unsecured, NFC classifier)."""
    if len(name.encode()) > 2048 or "." not in name:
        raise Mismatch(f"not a peer name: {name!r}")
    authority, classifier = name.split(".", 1)
    classifier = unicodedata.normalize("NFC", classifier)
    check_classifier(classifier)
    if authority == "0":
        return None, classifier
    if len(authority) != 40 or any(ch not in "0123456789abcdef" for ch in authority):
        raise Mismatch(f"bad authority {authority!r}")
    return bytes.fromhex(authority), classifier


def p2p_id(binary_authority, classifier):
    """§3."""
    c = classifier.encode("utf-8")
    return sha256(P2P_ID_DOMAIN + b"\x00" + (binary_authority or bytes(20))
                  + struct.pack(">H", len(c)) + c)[:16]


def address_hint(ip):
    """§4."""
    ip = ipaddress.ip_address(ip)
    if ip.version == 6:
        return ip.packed[:8]
    return b"\xff\xff" + ip.packed + b"\x00\x00"


def key_material(seed):
    pub = ed25519_public(seed)
    spki = SPKI_PREFIX + pub
    node_id = sha256(spki)
    return pub, spki, node_id, node_id[:20]


def check_peer_name(v):
    classifier = v["classifier"]
    check_classifier(classifier)
    expect("classifier_utf8", classifier.encode().hex(), v["classifier_utf8"])
    if "classifier_input_utf8" in v:
        raw = hexval(v, "classifier_input_utf8").decode("utf-8")
        if raw == classifier:
            raise Mismatch("classifier_input_utf8 is already NFC")
        expect("NFC(classifier_input)", unicodedata.normalize("NFC", raw), classifier)
    if v["authority"] == "0":
        authority = None
        expect("peer_name", f"0.{classifier}", v["peer_name"])
    else:
        seed = hexval(v, "seed")
        pub, spki, node_id, authority = key_material(seed)
        expect("pkcs8", (PKCS8_PREFIX + seed).hex(), v["pkcs8"])
        expect("public_key", pub.hex(), v["public_key"])
        expect("spki", spki.hex(), v["spki"])
        expect("node_id", node_id.hex(), v["node_id"])
        expect("authority", authority.hex(), v["authority"])
        expect("peer_name", f"{authority.hex()}.{classifier}", v["peer_name"])
    expect("parsed peer_name", parse_peer_name(v["peer_name"]), (authority, classifier))
    expect("p2p_id", p2p_id(authority, classifier).hex(), v["p2p_id"])


def check_pnrp_id(v):
    authority, classifier = parse_peer_name(v["peer_name"])
    pid = p2p_id(authority, classifier)
    expect("p2p_id", pid.hex(), v["p2p_id"])
    hint = address_hint(v["ip"])
    expect("address_hint", hint.hex(), v["address_hint"])
    location = hint + hexval(v, "suffix")
    expect("service_location", location.hex(), v["service_location"])
    expect("pnrp_id", (pid + location).hex(), v["pnrp_id"])


def check_signature(v):
    """§9.6: the verdict of §1.1's rule."""
    want = {"true": True, "false": False}[v["valid"]]
    got = ed25519_verify(hexval(v, "public_key"), hexval(v, "message"), hexval(v, "signature"))
    expect("verdict", got, want)


# --------------------------------------------------------------------------- §5 certificate


def der(tag, content):
    n = len(content)
    if n < 0x80:
        length = bytes([n])
    else:
        nb = n.to_bytes((n.bit_length() + 7) // 8, "big")
        length = bytes([0x80 | len(nb)]) + nb
    return bytes([tag]) + length + content


def der_oid(dotted):
    parts = [int(x) for x in dotted.split(".")]
    out = bytes([40 * parts[0] + parts[1]])
    for p in parts[2:]:
        chunk = [p & 0x7F]
        p >>= 7
        while p:
            chunk.insert(0, 0x80 | (p & 0x7F))
            p >>= 7
        out += bytes(chunk)
    return der(0x06, out)


def der_uint(b):
    b = b.lstrip(b"\x00") or b"\x00"
    if b[0] & 0x80:
        b = b"\x00" + b
    return der(0x02, b)


def seq(*parts):
    return der(0x30, b"".join(parts))


def build_certificate(seed, peer_name):
    """§5.1, field by field."""
    pub, spki, node_id, _ = key_material(seed)
    serial = bytes([node_id[0] & 0x7F]) + node_id[1:16]
    ed25519 = seq(der_oid("1.3.101.112"))
    name = seq(der(0x31, seq(der_oid("2.5.4.3"), der(0x0C, peer_name.encode()))))
    validity = seq(der(0x17, b"750101000000Z"), der(0x18, b"40960101000000Z"))
    eku = seq(der_oid("1.3.6.1.5.5.7.3.1"), der_oid("1.3.6.1.5.5.7.3.2"))
    extensions = der(0xA3, seq(seq(der_oid("2.5.29.37"), der(0x04, eku))))
    tbs = seq(der(0xA0, der_uint(b"\x02")), der_uint(serial), ed25519, name, validity, name,
              spki, extensions)
    signature = ed25519_sign(seed, tbs)
    if not ed25519_verify(pub, tbs, signature):
        raise Mismatch("own certificate signature does not verify")
    return seq(tbs, ed25519, der(0x03, b"\x00" + signature))


def check_certificate(v):
    seed = hexval(v, "seed")
    _, _, node_id, authority = key_material(seed)
    expect("node_id", node_id.hex(), v["node_id"])
    expect("peer_name", f"{authority.hex()}.{v['classifier']}", v["peer_name"])
    cert = build_certificate(seed, v["peer_name"])
    expect("certificate", cert.hex(), v["certificate"])
    expect("certificate_sha256", sha256(cert).hex(), v["certificate_sha256"])


# --------------------------------------------------------------------------- §6 identity info / §7 export


def dearmour(text, label):
    """§6.3: returns (headers dict, binary)."""
    lines = [l.rstrip("\r") for l in text.split("\n")]
    begin, end = lines.index(f"-----BEGIN {label}-----"), lines.index(f"-----END {label}-----")
    headers, b64 = {}, ""
    for line in lines[begin + 1:end]:
        line = line.strip()
        if not line:
            continue
        if ":" in line:
            if b64:
                raise Mismatch("header after base64")
            k, val = line.split(":", 1)
            headers[k.strip().lower()] = val.strip()
        else:
            if len(line) > 64:
                raise Mismatch(f"base64 line longer than 64 columns: {line}")
            b64 += line
    return headers, base64.b64decode(b64, validate=True)


class Reader:
    def __init__(self, data):
        self.data, self.pos = data, 0

    def take(self, n):
        if self.pos + n > len(self.data):
            raise Mismatch(f"truncated at offset {self.pos}, need {n}")
        out = self.data[self.pos:self.pos + n]
        self.pos += n
        return out

    def u(self, fmt):
        return struct.unpack(">" + fmt, self.take(struct.calcsize(fmt)))[0]

    def string(self):
        return self.take(self.u("H")).decode("utf-8")


def check_identity_info(v, markdown):
    seed = hexval(v, "seed")
    pub, _, _, authority = key_material(seed)
    expect("public_key", pub.hex(), v["public_key"])
    expect("peer_name", f"{authority.hex()}.{v['classifier']}", v["peer_name"])
    body = hexval(v, "body")
    # §6.1 layout, field by field
    r = Reader(body)
    expect("version", r.u("H"), 1)
    expect("body public key", r.take(32), pub)
    expect("body created_ms", r.u("Q"), int(v["created_ms"]))
    n_offset = r.pos
    classifier = r.string()
    expect("classifier length offset", n_offset, 42)
    expect("body classifier", classifier, v["classifier"])
    check_classifier(classifier)
    expect("body friendly name", r.string(), v["friendly_name"])
    expect("body ends after friendly name", r.pos, len(body))
    signed = b"peergroup identity-info v1\x00" + body
    expect("signed_message", signed.hex(), v["signed_message"])
    signature = hexval(v, "signature")
    expect("signature (deterministic Ed25519)", ed25519_sign(seed, signed).hex(), signature.hex())
    expect("signature verifies", ed25519_verify(pub, signed, signature), True)
    # §6.3 armour
    doc = document_after(markdown, v["name"], "PEERGROUP IDENTITY INFO")
    headers, binary = dearmour(doc, "PEERGROUP IDENTITY INFO")
    expect("armoured binary", binary, body + signature)
    expect("re-armoured base64", doc.split("\n\n", 1)[1].split("-----END")[0].replace("\n", ""),
           base64.b64encode(binary).decode())
    expect("Peer-Name header", headers.get("peer-name"), v["peer_name"])
    expect("Friendly-Name header", headers.get("friendly-name"), v["friendly_name"])


def check_identity_export(v, markdown):
    seed = hexval(v, "seed")
    _, _, _, authority = key_material(seed)
    expect("peer_name", f"{authority.hex()}.{v['classifier']}", v["peer_name"])
    password = unicodedata.normalize("NFC", v["password"]).encode("utf-8")
    expect("password_utf8", password.hex(), v["password_utf8"])
    iterations, salt, nonce = int(v["iterations"]), hexval(v, "salt"), hexval(v, "nonce")
    if not 100_000 <= iterations <= 10_000_000:
        raise Mismatch(f"iterations {iterations} out of range")
    # §7.1
    master = hashlib.pbkdf2_hmac("sha256", password, salt, iterations, 32)
    expect("master", master.hex(), v["master"])
    key = hmac.new(master, b"peergroup identity-export v1 encryption key", "sha256").digest()
    check = hmac.new(master, b"peergroup identity-export v1 password check", "sha256").digest()
    expect("encryption_key", key.hex(), v["encryption_key"])
    expect("password_check", check.hex(), v["password_check"])
    # §7.2, read back from the spec's binary
    binary = hexval(v, "binary")
    r = Reader(binary)
    expect("version", r.u("H"), 1)
    expect("total length", r.u("I"), len(binary))
    expect("iterations field", r.u("I"), iterations)
    expect("salt field", r.take(16), salt)
    expect("nonce field", r.take(12), nonce)
    expect("check field", r.take(32), check)
    header = binary[:70]
    expect("header", header.hex(), v["header"])
    expect("checksum", binary[-32:], sha256(binary[:-32]))
    plaintext = aead_open(key, nonce, header, binary[70:-32])
    p = Reader(plaintext)
    expect("plaintext seed", p.take(32), seed)
    expect("plaintext created_ms", p.u("Q"), int(v["created_ms"]))
    expect("plaintext classifier", p.string(), v["classifier"])
    expect("plaintext friendly name", p.string(), v["friendly_name"])
    expect("plaintext ends", p.pos, len(plaintext))
    # and built forward from the inputs
    c, f = v["classifier"].encode(), v["friendly_name"].encode()
    pt = seed + struct.pack(">Q", int(v["created_ms"])) + struct.pack(">H", len(c)) + c \
        + struct.pack(">H", len(f)) + f
    total = 70 + len(pt) + 16 + 32
    hdr = struct.pack(">HII", 1, total, iterations) + salt + nonce + check
    body = hdr + aead_seal(key, nonce, hdr, pt)
    expect("binary built from the inputs", (body + sha256(body)).hex(), binary.hex())
    # §7.4 armour
    doc = document_after(markdown, v["name"], "PEERGROUP IDENTITY")
    headers, armoured = dearmour(doc, "PEERGROUP IDENTITY")
    expect("armoured binary", armoured, binary)
    expect("Peer-Name header", headers.get("peer-name"), v["peer_name"])
    # a wrong password must fail the check value
    wrong = hashlib.pbkdf2_hmac("sha256", b"wrong", salt, iterations, 32)
    if hmac.new(wrong, b"peergroup identity-export v1 password check", "sha256").digest() == check:
        raise Mismatch("a wrong password passes the password check")


# --------------------------------------------------------------------------- main


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    path = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "identity.md")
    with open(path, encoding="utf-8") as f:
        markdown = f.read()
    failures = 0
    try:
        self_test()
        print("ok    RFC 8032 and RFC 8439 known-answer tests")
    except Mismatch as e:
        print(f"FAIL  self test: {e}")
        failures += 1
    checkers = {
        "peer-name": lambda v: check_peer_name(v),
        "pnrp-id": lambda v: check_pnrp_id(v),
        "certificate": lambda v: check_certificate(v),
        "identity-info": lambda v: check_identity_info(v, markdown),
        "identity-export": lambda v: check_identity_export(v, markdown),
        "signature": lambda v: check_signature(v),
    }
    vectors = parse_vectors(markdown)
    seen = set()
    for v in vectors:
        name = v.get("name", "?")
        kind = v.get("kind")
        try:
            if kind not in checkers:
                raise Mismatch(f"unknown vector kind {kind!r}")
            checkers[kind](v)
            seen.add(kind)
            print(f"ok    {kind:16} {name}")
        except (Mismatch, KeyError, ValueError) as e:
            failures += 1
            print(f"FAIL  {kind!s:16} {name}: {type(e).__name__}: {e}")
    for kind in checkers:
        if kind not in seen:
            failures += 1
            print(f"FAIL  no passing vector of kind {kind}")
    print(f"{len(vectors)} vectors, {failures} failures")
    if len(sys.argv) <= 1:
        # group.md, by the group checker (which reuses the primitives above).
        sys.path.insert(0, here)
        import check_group_vectors
        with open(os.path.join(here, "group.md"), encoding="utf-8") as f:
            n, group_failures = check_group_vectors.check(f.read())
        print(f"{n} group.md vectors, {group_failures} failures")
        failures += group_failures
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
