#!/usr/bin/env python3
"""Independent check of the test vectors in proto-specs/group.md.

Written from the text of group.md (and the parts of identity.md, graph.md and wire.md it
cites) with the Python standard library only. It reuses the RFC 8032 Ed25519 reference
implementation and the small helpers of check_vectors.py, and shares no code or data with
the Rust implementation: it rebuilds every certificate, chain, id, payload, invitation and
hello from the inputs a vector lists (seeds, classifiers, times, serials), signs them
(Ed25519 is deterministic), verifies chains by the rules of group.md §3.3 in their order,
and compares with the spec.

Usage: python3 proto-specs/check_group_vectors.py [path/to/group.md]
(also run by check_vectors.py). Exit status 0 if every vector matches, 1 otherwise.
"""

import base64
import os
import struct
import sys
import unicodedata

import check_vectors as cv
from check_vectors import Mismatch, expect, sha256, ed25519_public, ed25519_sign, ed25519_verify

CERT_DOMAIN = b"peergroup group-cert v1"             # §3.1.1
ADMISSION_DOMAIN = b"peergroup group-admission v1"   # §8.1
RECORD_SIGN_DOMAIN = b"peergroup/graph/record/v1"     # graph.md §2.3
RECORD_DIGEST_DOMAIN = b"peergroup/graph/record-digest/v1"  # graph.md §2.4
ID_DOMAINS = {                                        # §5.2
    "properties": b"peergroup/group/properties-id/v1",
    "membership": b"peergroup/group/membership-id/v1",
    "revocation": b"peergroup/group/revocation-id/v1",
}
PASSWORD_CONTEXT_DOMAIN = b"peergroup group-password v1"            # §13.4
PASSWORD_SERVER_DOMAIN = b"peergroup group-password v1 verifier"    # §13.4
PASSWORD_CLIENT_DOMAIN = b"peergroup group-password v1 joiner"      # §13.4
PASSWORD_MESSAGE_TYPES = {"JoinStart": 1, "JoinChallenge": 2, "JoinFinish": 3, "JoinAbort": 4,
                          "JoinAccepted": 5, "JoinRefused": 6}    # §13.3
MAX_CERT_BYTES = 4096
MAX_CHAIN_CERTS = 25
MAX_CHAIN_BYTES = 1 + MAX_CHAIN_CERTS * (2 + MAX_CERT_BYTES)
ISSUABLE = {0: {1, 2, 3}, 1: {1, 2, 3}, 2: {2, 3}, 3: set()}  # §1.2


class Refused(Exception):
    """A decoding or verification failure, named as the spec names it."""


# --------------------------------------------------------------------------- primitives (§2)

def u8(v):
    return struct.pack(">B", v)


def u16(v):
    return struct.pack(">H", v)


def u32(v):
    return struct.pack(">I", v)


def u64(v):
    return struct.pack(">Q", v)


def str16(s):
    b = s.encode("utf-8")
    return u16(len(b)) + b


def bytes32(b):
    return u32(len(b)) + b


def varint(n):
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def read_varint(data, pos):
    n, shift = 0, 0
    while True:
        b = data[pos]
        pos += 1
        n |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return n, pos


class In:
    """A reader that fails the way §2 says."""

    def __init__(self, data):
        self.data, self.pos = data, 0

    def take(self, n):
        if self.pos + n > len(self.data):
            raise Refused("Truncated")
        out = self.data[self.pos:self.pos + n]
        self.pos += n
        return out

    def int(self, fmt):
        return struct.unpack(">" + fmt, self.take(struct.calcsize(fmt)))[0]

    def classifier(self):
        b = self.take(self.int("H"))
        if len(b) > 596:
            raise Refused("FieldTooLong")
        try:
            s = b.decode("utf-8")
        except UnicodeDecodeError:
            raise Refused("NotUtf8")
        if unicodedata.normalize("NFC", s) != s:
            raise Refused("NotNfc")
        try:
            cv.check_classifier(s)
        except Mismatch:
            raise Refused("InvalidClassifier")
        return s

    def finish(self):
        if self.pos != len(self.data):
            raise Refused("TrailingBytes")


def authority(public_key):
    return sha256(cv.SPKI_PREFIX + public_key)[:20]


def peer_name(public_key, classifier):
    return f"{authority(public_key).hex()}.{classifier}"


# --------------------------------------------------------------------------- certificates (§3)

def cert_tbs(kind, group_key, group_classifier, subject_key, subject_classifier, role,
             classifiers, not_before, not_after, serial, issuer):
    """§3.1 fields 1-13."""
    out = u8(1) + u8(kind) + group_key + str16(group_classifier) + subject_key
    out += str16(subject_classifier) + u8(role) + u8(len(classifiers))
    for c in classifiers:
        out += str16(c)
    return out + u64(not_before) + u64(not_after) + serial + issuer


def decode_cert(enc):
    """§3.1 decoding, field by field, then the kind rules."""
    if len(enc) > MAX_CERT_BYTES:
        raise Refused("TooLarge")
    r = In(enc)
    if r.int("B") != 1:
        raise Refused("UnsupportedVersion")
    kind = r.int("B")
    if kind not in (0, 1):
        raise Refused("UnknownKind")
    c = {"kind": kind, "group_key": r.take(32), "group_classifier": r.classifier(),
         "subject_key": r.take(32), "subject_classifier": r.classifier()}
    c["role"] = r.int("B")
    if c["role"] > 3:
        raise Refused("UnknownRole")
    count = r.int("B")
    if count > 8:
        raise Refused("TooManyClassifiers")
    c["classifiers"] = [r.classifier() for _ in range(count)]
    c["not_before"], c["not_after"] = r.int("Q"), r.int("Q")
    c["serial"], c["issuer"], c["signature"] = r.take(16), r.take(32), r.take(64)
    r.finish()
    if kind == 0 and (c["role"] != 0 or c["issuer"] != bytes(32) or c["subject_key"] != c["group_key"]
                      or c["subject_classifier"] != c["group_classifier"]):
        raise Refused("InvalidField")
    if kind == 1 and c["role"] == 0:
        raise Refused("InvalidField")
    c["tbs"], c["id"] = enc[:-64], sha256(enc)
    return c


def encode_chain(encodings):
    """§3.2."""
    return u8(len(encodings)) + b"".join(u16(len(e)) + e for e in encodings)


def decode_chain(enc):
    if len(enc) > MAX_CHAIN_BYTES:
        raise Refused("TooLarge")
    r = In(enc)
    count = r.int("B")
    if count == 0:
        raise Refused("ChainEmpty")
    if count > MAX_CHAIN_CERTS:
        raise Refused("ChainTooLong")
    certs = [decode_cert(r.take(r.int("H"))) for _ in range(count)]
    r.finish()
    return certs


def verify_chain(certs, now=None):
    """§3.3, rules 1-12 in order; returns None or 'Error index'."""
    if not certs:
        return "ChainEmpty"
    if len(certs) > MAX_CHAIN_CERTS:
        return "ChainTooLong"
    root = certs[0]
    if root["kind"] != 0:
        return "NotARoot"
    keys = set()
    for i, c in enumerate(certs):
        if c["not_before"] > c["not_after"]:
            return f"InvalidValidity {i}"
        if i > 0:
            p = certs[i - 1]
            if c["kind"] == 0:
                return f"UnexpectedRoot {i}"
            if c["group_key"] != root["group_key"] or c["group_classifier"] != root["group_classifier"]:
                return f"MixedGroups {i}"
            if c["issuer"] != p["id"]:
                return f"BrokenLink {i}"
            if c["not_after"] > p["not_after"]:
                return f"OutlivesIssuer {i}"
            if c["not_before"] < p["not_before"]:
                return f"StartsBeforeIssuer {i}"
            if c["role"] not in ISSUABLE[p["role"]]:
                return f"RoleNotIssuable {i}"
        if c["subject_key"] in keys:
            return f"CircularChain {i}"
        keys.add(c["subject_key"])
        issuer_key = root["group_key"] if i == 0 else certs[i - 1]["subject_key"]
        if not ed25519_verify(issuer_key, CERT_DOMAIN + b"\x00" + c["tbs"], c["signature"]):
            return f"SignatureInvalid {i}"
        if now is not None:
            if now < c["not_before"]:
                return f"NotYetValid {i}"
            if now >= c["not_after"]:
                return f"Expired {i}"
    return None


# --------------------------------------------------------------------------- checker


class GroupChecker:
    def __init__(self, markdown):
        self.markdown = markdown
        self.seeds = {}     # identity / group-key vector name -> seed
        self.certs = {}     # cert vector name -> encoding (computed)
        self.chains = {}    # chain vector name -> encoding (computed)

    def key(self, who):
        return ed25519_public(self.seeds[who])

    def chain_certs(self, name):
        return decode_chain(self.chains[name])

    # ---- keys and names
    def group_key(self, v):
        seed = cv.hexval(v, "seed")
        self.seeds["group"] = seed
        pub = ed25519_public(seed)
        expect("public_key", pub.hex(), v["public_key"])
        cv.check_classifier(v["classifier"])
        expect("classifier_utf8", v["classifier"].encode().hex(), v["classifier_utf8"])
        name = peer_name(pub, v["classifier"])
        expect("group_peer_name", name, v["group_peer_name"])
        expect("graph_id (= group peer name, §1.1)", name, v["graph_id"])

    def identity(self, v):
        seed = cv.hexval(v, "seed")
        self.seeds[v["name"]] = seed
        pub = ed25519_public(seed)
        expect("public_key", pub.hex(), v["public_key"])
        expect("peer_name", peer_name(pub, v["classifier"]), v["peer_name"])

    # ---- §3
    def group_cert(self, v):
        subject_key = self.key(v["subject"])
        expect("subject_key", subject_key.hex(), v["subject_key"])
        group_key = self.key("group")
        expect("group_key", group_key.hex(), v["group_key"])
        issuer = bytes(32) if v["issuer_cert"] == "-" else sha256(self.certs[v["issuer_cert"]])
        expect("issuer (id of the issuer's certificate)", issuer.hex(), v["issuer"])
        classifiers = [] if v["classifiers"] == "-" else v["classifiers"].split(" | ")
        tbs = cert_tbs(int(v["cert_kind"]), group_key, v["group_classifier"], subject_key,
                       v["subject_classifier"], int(v["role"]), classifiers,
                       int(v["not_before"]), int(v["not_after"]), cv.hexval(v, "serial"), issuer)
        expect("tbs", tbs.hex(), v["tbs"])
        signed = CERT_DOMAIN + b"\x00" + tbs
        seed = self.seeds[v["signer"]]
        signature = ed25519_sign(seed, signed)
        expect("signature", signature.hex(), v["signature"])
        expect("signature verifies", ed25519_verify(ed25519_public(seed), signed, signature), True)
        enc = tbs + signature
        expect("encoding", enc.hex(), v["encoding"])
        expect("cert_id", sha256(enc).hex(), v["cert_id"])
        c = decode_cert(enc)
        expect("decoded role", c["role"], int(v["role"]))
        self.certs[v["name"]] = enc

    def group_chain(self, v):
        enc = cv.hexval(v, "encoding")
        if v.get("certs", "-") != "-":
            built = encode_chain([self.certs[n] for n in v["certs"].split()])
            expect("encoding from the certificates", built.hex(), enc.hex())
        now = int(v["verify_at"]) if "verify_at" in v else None
        try:
            result = verify_chain(decode_chain(enc), now) or "ok"
        except Refused as e:
            result = str(e)
        expect("result", result, v["result"])
        if result == "ok":
            self.chains[v["name"]] = enc

    # ---- §5
    def record_id(self, v):
        parts = [bytes.fromhex(p) for p in v["input"].split()]
        expected_lengths = {"properties": [32], "membership": [20], "revocation": [32, 32]}
        expect("input lengths", [len(p) for p in parts], expected_lengths[v["function"]])
        h = sha256(ID_DOMAINS[v["function"]] + b"".join(parts))[:16].hex()
        expect("id", f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}", v["id"])

    def group_properties(self, v):
        group_key = cv.hexval(v, "group_key")
        expect("group key", group_key, self.key("group"))
        cv.check_classifier(v["classifier"])
        cv.parse_peer_name(v["creator"])
        friendly = v["friendly_name"]
        if len(friendly) > 255 or any(unicodedata.category(ch) == "Cc" for ch in friendly):
            raise Mismatch("friendly name rule")
        if not 1 <= len(v["cloud"].encode()) <= 254:
            raise Mismatch("cloud length")
        if int(v["member_data_lifetime"]) < 2280 or int(v["presence_lifetime"]) < 300:
            raise Mismatch("lifetimes")
        payload = (u8(1) + group_key + str16(v["classifier"]) + str16(v["creator"]) + str16(v["cloud"])
                   + u64(int(v["member_data_lifetime"])) + u64(int(v["presence_lifetime"]))
                   + str16(friendly) + str16(v["comment"]))
        expect("payload", payload.hex(), v["payload"])

    def membership(self, v):
        payload = u8(1) + bytes32(self.chains[v["chain"]])
        expect("payload", payload.hex(), v["payload"])

    # ---- §4 over graph.md §2.2-§2.4
    def security_data(self, v):
        record = cv.hexval(v, "record")
        body_len, pos = read_varint(record, 0)
        body = record[pos:pos + body_len]
        pos += body_len
        sd_len, pos = read_varint(record, pos)
        sd = record[pos:pos + sd_len]
        expect("record ends after its security data", pos + sd_len, len(record))
        gid = v["graph"].encode()
        signed = RECORD_SIGN_DOMAIN + b"\x00" + varint(len(gid)) + gid + body
        expect("signed (graph.md §2.3)", signed.hex(), v["signed"])
        seed = self.seeds[v["signer"]]
        signature = ed25519_sign(seed, signed)
        expect("signature", signature.hex(), v["signature"])
        if v["security_kind"] == "1":
            built = u8(1) + sha256(self.certs[v["cert"]]) + signature
        else:
            built = u8(2) + signature
        expect("security_data", built.hex(), v["security_data"])
        expect("security data in the record", sd.hex(), v["security_data"])
        digest = sha256(RECORD_DIGEST_DOMAIN + b"\x00" + record)
        expect("record_digest (graph.md §2.4)", digest.hex(), v["record_digest"])

    # ---- §6
    def revocation(self, v):
        target = sha256(self.certs[v["target"]])
        expect("target_id", target.hex(), v["target_id"])
        if v["revoker_chain"] == "-":
            chain, revoker = b"", self.key("group")
        else:
            chain = self.chains[v["revoker_chain"]]
            revoker = decode_chain(chain)[-1]["id"]
        stand = [] if v["stand"] == "-" else sorted({bytes.fromhex(d) for d in v["stand"].split()})
        payload = (u8(1) + target + u64(int(v["target_not_after"])) + u8(int(v["reason"]))
                   + bytes32(chain) + u32(len(stand)) + b"".join(stand))
        expect("payload", payload.hex(), v["payload"])
        h = sha256(ID_DOMAINS["revocation"] + target + revoker)[:16].hex()
        expect("record_id", f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}", v["record_id"])

    # ---- §7
    def invitation(self, v):
        chain = self.chains[v["chain"]]
        certs = decode_chain(chain)
        group = peer_name(certs[0]["group_key"], certs[0]["group_classifier"])
        invitee = peer_name(certs[-1]["subject_key"], certs[-1]["subject_classifier"])
        expect("group_peer_name", group, v["group_peer_name"])
        expect("invitee", invitee, v["invitee"])
        binary = u8(1) + str16(v["cloud"]) + str16(v["friendly_name"]) + bytes32(chain)
        expect("binary", binary.hex(), v["binary"])
        label = "PEERGROUP GROUP INVITATION"
        doc = cv.document_after(self.markdown, "name: " + v["name"], label)
        headers, armoured = cv.dearmour(doc, label)
        expect("armoured binary", armoured, binary)
        expect("Group-Peer-Name header", headers.get("group-peer-name"), group)
        expect("Invitee header", headers.get("invitee"), invitee)
        expect("Friendly-Name header", headers.get("friendly-name"), v["friendly_name"])
        b64 = base64.b64encode(binary).decode()
        text = (f"-----BEGIN {label}-----\nGroup-Peer-Name: {group}\nInvitee: {invitee}\n"
                f"Friendly-Name: {v['friendly_name']}\n\n"
                + "".join(b64[i:i + 64] + "\n" for i in range(0, len(b64), 64))
                + f"-----END {label}-----\n")
        expect("armoured text", doc, text)

    # ---- §8
    def hello(self, v):
        chain = self.chains[v["chain"]]
        name = v["group_peer_name"].encode()
        exporter = cv.hexval(v, "exporter")
        expect("exporter length", len(exporter), 32)
        message = ADMISSION_DOMAIN + b"\x00" + u16(len(name)) + name + exporter
        expect("binding_message", message.hex(), v["binding_message"])
        seed = self.seeds[v["signer"]]
        binding = ed25519_sign(seed, message)
        expect("binding", binding.hex(), v["binding"])
        leaf = decode_chain(chain)[-1]
        expect("leaf key is the signer's", leaf["subject_key"], ed25519_public(seed))
        expect("binding verifies under the leaf key", ed25519_verify(leaf["subject_key"], message, binding), True)
        hello = u8(1) + str16(v["group_peer_name"]) + bytes32(chain) + binding
        expect("encoding", hello.hex(), v["encoding"])
        body = varint(0) + varint(len(hello)) + hello       # GroupMessage::Hello(bytes)
        frame = u32(1 + len(body)) + u8(1) + body            # wire.md §2
        expect("frame", frame.hex(), v["frame"].replace(" ", ""))

    def group_message(self, v):
        parts = v["message"].split()
        if parts[0] == "Knock":
            expect("message", len(parts), 1)
            body = varint(3)
        else:
            what, code = parts
            expect("message", what, "Refused")
            body = varint(1) + u8(int(code))
        frame = u32(1 + len(body)) + u8(1) + body
        expect("frame", frame.hex(), v["frame"].replace(" ", ""))

    # ---- §13
    def password_invitation(self, v):
        group = v["group_peer_name"]
        cv.parse_peer_name(group)
        if not 1 <= len(v["cloud"].encode()) <= 254:
            raise Mismatch("cloud length")
        binary = u8(1) + str16(group) + str16(v["friendly_name"]) + str16(v["cloud"])
        expect("binary", binary.hex(), v["binary"])
        label = "PEERGROUP GROUP PASSWORD INVITATION"
        doc = cv.document_after(self.markdown, "name: " + v["name"], label)
        headers, armoured = cv.dearmour(doc, label)
        expect("armoured binary", armoured, binary)
        expect("Group-Peer-Name header", headers.get("group-peer-name"), group)
        b64 = base64.b64encode(binary).decode()
        text = (f"-----BEGIN {label}-----\nGroup-Peer-Name: {group}\n"
                f"Friendly-Name: {v['friendly_name']}\n\n"
                + "".join(b64[i:i + 64] + "\n" for i in range(0, len(b64), 64))
                + f"-----END {label}-----\n")
        expect("armoured text", doc, text)

    def password_context(self, v):
        group = v["group_peer_name"].encode()
        key = self.key(v["joiner"])
        expect("joiner_key", key.hex(), v["joiner_key"])
        exporter = cv.hexval(v, "exporter")
        expect("exporter length", len(exporter), 32)
        context = (PASSWORD_CONTEXT_DOMAIN + b"\x00" + u16(len(group)) + group + key
                   + str16(v["joiner_classifier"]) + exporter)
        expect("context", context.hex(), v["context"])
        expect("server_identifier", (PASSWORD_SERVER_DOMAIN + b"\x00" + group).hex(),
               v["server_identifier"])
        expect("client_identifier", (PASSWORD_CLIENT_DOMAIN + b"\x00" + group).hex(),
               v["client_identifier"])
        expect("credential_identifier", group.hex(), v["credential_identifier"])

    def password_message(self, v):
        what = v["message"]
        body = u8(1) + u8(PASSWORD_MESSAGE_TYPES[what])
        if what == "JoinStart":
            ke1 = cv.hexval(v, "ke1")
            expect("ke1 length", len(ke1), 96)
            body += str16(v["group_peer_name"]) + self.key(v["joiner"]) + str16(v["joiner_classifier"]) + ke1
        elif what == "JoinChallenge":
            ke2 = cv.hexval(v, "ke2")
            expect("ke2 length", len(ke2), 320)
            body += u8(int(v["ksf"])) + ke2
        elif what == "JoinFinish":
            ke3 = cv.hexval(v, "ke3")
            expect("ke3 length", len(ke3), 64)
            body += ke3
        elif what == "JoinAccepted":
            chain = self.chains[v["chain"]]
            body += bytes32(chain)
        elif what == "JoinRefused":
            code = int(v["refusal"])
            if not 1 <= code <= 8:
                raise Mismatch("refusal code")
            body += u8(code) + u32(int(v["retry_after"]))
        expect("encoding", body.hex(), v["encoding"])


def protocol_ids(v):
    """§14.1: a group's stream ids and their wire.md §3 preambles."""
    authority, _ = v["group_peer_name"].split(".", 1)
    cv.parse_peer_name(v["group_peer_name"])
    tag = authority[:16]
    for prefix, key in (("group/1", "group"), ("group-join/1", "join")):
        pid = f"{prefix}/{tag}"
        if not 1 <= len(pid) <= 32:
            raise Mismatch("protocol id length")
        expect(f"{key} protocol", v[f"{key}_protocol"], pid)
        expect(f"{key} preamble", v[f"{key}_preamble"], (bytes([len(pid)]) + pid.encode()).hex())


def check(markdown, report=print):
    checker = GroupChecker(markdown)
    kinds = {
        "group-key": checker.group_key, "identity": checker.identity,
        "group-cert": checker.group_cert, "group-chain": checker.group_chain,
        "record-id": checker.record_id, "group-properties": checker.group_properties,
        "membership": checker.membership, "security-data": checker.security_data,
        "revocation": checker.revocation, "invitation": checker.invitation,
        "hello": checker.hello, "group-message": checker.group_message,
        "password-invitation": checker.password_invitation,
        "password-context": checker.password_context,
        "password-message": checker.password_message,
        "protocol-ids": protocol_ids,
    }
    vectors = cv.parse_vectors(markdown)
    failures, seen = 0, set()
    for v in vectors:
        kind, name = v.get("kind"), v.get("name", "?")
        try:
            if kind not in kinds:
                raise Mismatch(f"unknown vector kind {kind!r}")
            kinds[kind](v)
            seen.add(kind)
            report(f"ok    {kind:16} {name}")
        except (Mismatch, Refused, KeyError, ValueError, IndexError) as e:
            failures += 1
            report(f"FAIL  {kind!s:16} {name}: {type(e).__name__}: {e}")
    for kind in kinds:
        if kind not in seen:
            failures += 1
            report(f"FAIL  no passing vector of kind {kind}")
    return len(vectors), failures


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    path = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "group.md")
    with open(path, encoding="utf-8") as f:
        n, failures = check(f.read())
    print(f"{n} group vectors, {failures} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    sys.exit(main())
