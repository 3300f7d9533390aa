#!/usr/bin/env python3
"""Check a tillit consent receipt with nothing of tillit's: Python 3.8 or newer and openssl.

    python3 verify-receipt.py consent-receipt.json LOG_KEY [WITNESS_KEY ...]

LOG_KEY is the consent log's public key as the operator publishes it (on its privacy policy
page, and in /.well-known/tillit-log.json): name+key id+base64 key. Take it from there, not
from the receipt: a forger would put their own key in the receipt. Each WITNESS_KEY is the
public key a witness publishes; the script says which of them co-signed.

Steps (docs/log.md, "Check your receipt"): the log's key and its key id; the checkpoint's
signature by that key (Ed25519, by openssl); each entry's leaf hash and subject; each entry's
path to the checkpoint's root (RFC 9162 2.1.3.2); the witnesses' cosignatures.
"""

import base64
import hashlib
import json
import os
import subprocess
import sys
import tempfile

ED25519_SPKI_PREFIX = bytes.fromhex("302a300506032b6570032100")


def fail(message):
    sys.exit("NOT VERIFIED: " + message)


def sha256(data):
    return hashlib.sha256(data).digest()


def parse_key(vkey, key_type):
    """name+hex key id+base64(type byte || 32-byte Ed25519 public key), its key id checked."""
    name, key_id, encoded = vkey.split("+", 2)  # a name holds no "+"; base64 may
    raw = base64.b64decode(encoded)
    if len(raw) != 33 or raw[0] != key_type:
        fail(f"{vkey} is not an Ed25519 key of type {key_type}")
    public = raw[1:]
    if sha256(name.encode() + b"\n" + raw)[:4].hex() != key_id.lower():
        fail(f"the key id of {vkey} does not match its key")
    return name, bytes.fromhex(key_id), public


def ed25519_valid(public, message, signature):
    with tempfile.TemporaryDirectory() as folder:
        paths = [os.path.join(folder, n) for n in ("key.der", "message", "signature")]
        for path, data in zip(paths, (ED25519_SPKI_PREFIX + public, message, signature)):
            with open(path, "wb") as f:
                f.write(data)
        done = subprocess.run(
            [
                "openssl",
                "pkeyutl",
                "-verify",
                "-pubin",
                "-keyform",
                "DER",
                "-inkey",
                paths[0],
                "-rawin",
                "-in",
                paths[1],
                "-sigfile",
                paths[2],
            ],
            capture_output=True,
        )
    return done.returncode == 0


def signature_lines(note):
    """The signed text (up to and with the newline before the last blank line) and the
    signatures after it, as (name, raw bytes) pairs."""
    text, separator, signatures = note.rpartition("\n\n")
    if not separator:
        fail("the checkpoint is not a signed note")
    lines = []
    for line in signatures.splitlines():
        if not line.startswith("\u2014 "):
            fail("the checkpoint has a line that is not a signature: " + line)
        name, _, encoded = line[2:].rpartition(" ")
        lines.append((name, base64.b64decode(encoded)))
    return text + "\n", lines


def node(left, right):
    return sha256(b"\x01" + left + right)


def root_from_path(index, size, leaf, path):
    """RFC 9162, section 2.1.3.2: from a leaf and its inclusion path to the tree's root."""
    if not 0 <= index < size:
        fail(f"leaf {index} cannot be in a tree of {size}")
    fn, sn, r = index, size - 1, leaf
    for p in path:
        if sn == 0:
            fail("the inclusion path is too long")
        if fn & 1 or fn == sn:
            r = node(p, r)
            while not fn & 1 and fn:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = node(r, p)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        fail("the inclusion path is too short")
    return r


def main(receipt_file, log_key, *witness_keys):
    with open(receipt_file, encoding="utf-8") as f:
        receipt = json.load(f)
    log = receipt.get("log", {})
    if log.get("status") != "in the log":
        fail("this receipt was made before its events were in the log: download it again")
    # 1. The log's key, and its signature on the checkpoint.
    name, key_id, public = parse_key(log_key, 0x01)
    text, signatures = signature_lines(log["checkpoint"])
    signed = [s for n, s in signatures if n == name and s[:4] == key_id]
    if not signed or not all(ed25519_valid(public, text.encode(), s[4:]) for s in signed):
        fail("the checkpoint is not signed by the log's key")
    origin, size, root = text.splitlines()[:3]
    size, root = int(size), base64.b64decode(root)
    if origin != name:
        fail(f"the checkpoint is of the log {origin!r}, not {name!r}")
    print(f"checkpoint: the log {origin} had {size} entries, signed by its key")
    # 2. Each entry: its leaf hash, whose it is, and its path to the signed root.
    subject = receipt["header"]["pii_principal_id"]
    if not log.get("entries"):
        fail("the receipt's log section lists no entries")
    for item in log["entries"]:
        entry = item["entry"].encode("utf-8")
        leaf = sha256(b"\x00" + entry)
        if base64.b64encode(leaf).decode() != item["leaf_hash"]:
            fail(f"entry {item['leaf_index']} does not hash to its leaf hash")
        event = json.loads(entry)
        if event["target"] != subject:
            fail(f"entry {item['leaf_index']} is about {event['target']}, not {subject}")
        receipt_id = event["data"].get("receipt_id", receipt["header"]["receipt_id"])
        if receipt_id != receipt["header"]["receipt_id"]:
            fail(f"entry {item['leaf_index']} belongs to another receipt")
        path = [base64.b64decode(h) for h in item["inclusion_path"]]
        if root_from_path(item["leaf_index"], size, leaf, path) != root:
            fail(f"entry {item['leaf_index']} is not in the signed tree")
        print(f"entry {item['leaf_index']}: {event['action']} at {event['at']}: in the log")
    # 3. Witnesses: cosignature/v1 over "cosignature/v1\ntime T\n" and the checkpoint's text.
    for witness_key in witness_keys:
        wname, wkey_id, wpublic = parse_key(witness_key, 0x04)
        mine = [s for n, s in signatures if n == wname and s[:4] == wkey_id]
        for s in mine:
            stamp = int.from_bytes(s[4:12], "big")
            message = f"cosignature/v1\ntime {stamp}\n".encode() + text.encode()
            if not ed25519_valid(wpublic, message, s[12:]):
                fail(f"the cosignature of {wname} does not verify")
            print(f"witness {wname} co-signed this checkpoint (at unix time {stamp})")
        if not mine:
            print(f"witness {wname} has not co-signed this checkpoint")
    print("VERIFIED")


if __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    main(*sys.argv[1:])
