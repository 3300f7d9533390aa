"""Checking the log section of a consent receipt offline: nothing but the file and the keys.

A receipt's `log` section holds, for each event of the consent (given, confirmed, withdrawn),
the entry's exact bytes (a string), its leaf index, and its inclusion path into the tree of a
signed checkpoint, which the section carries with its witnesses' cosignatures. Checking it:
1. each entry hashes to its leaf hash (SHA-256 of 0x00 and the entry's UTF-8 bytes), and it
   names this receipt;
2. each inclusion path leads from that leaf to the checkpoint's root (RFC 9162 2.1.3.2);
3. the checkpoint is signed by the log's key, and each cosignature by its witness.
docs/log.md walks through the same steps with nothing of ours.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, field
from typing import Any

from tillit_partner import note, tree


class ReceiptInvalid(Exception):
    """The receipt does not prove what it says; the message says why."""


@dataclass
class Report:
    entries: list[str] = field(default_factory=list)
    checkpoint_size: int = 0
    log_key: str = ""
    log_key_from_receipt: bool = False
    witnesses: list[str] = field(default_factory=list)
    pending: bool = False


def check(
    receipt: dict[str, Any], *, log_key: str = "", witness_keys: tuple[str, ...] = ()
) -> Report:
    """Check a receipt's log section; `log_key` pins the log's verifier key (otherwise the one
    the receipt names is used, and the report says so)."""
    section = receipt.get("log")
    if not isinstance(section, dict):
        raise ReceiptInvalid("the receipt has no log section")
    report = Report(log_key=log_key or str(section.get("verifier_key", "")))
    report.log_key_from_receipt = not log_key
    if section.get("status") != "in the log":
        report.pending = True
        return report
    checkpoint_note = str(section.get("checkpoint", ""))
    body = _open_checkpoint(checkpoint_note, report.log_key)
    report.checkpoint_size = body.size
    header = receipt.get("header", {})
    for item in section.get("entries", []):
        report.entries.append(_check_entry(item, body, header))
    if not report.entries:
        raise ReceiptInvalid("the log section lists no entries")
    keys = witness_keys or tuple(w.get("vkey", "") for w in section.get("witnesses", []))
    report.witnesses = _cosigners(checkpoint_note, body, keys)
    return report


def _open_checkpoint(text: str, log_key: str) -> note.Checkpoint:
    try:
        verifier = note.Verifier.from_vkey(log_key)
        return note.Checkpoint.parse(note.open_note(text, [verifier]).text)
    except note.NoteError as error:
        raise ReceiptInvalid(f"the checkpoint is not signed by the log's key: {error}") from None


def _check_entry(item: dict[str, Any], body: note.Checkpoint, header: dict[str, Any]) -> str:
    try:
        entry = str(item["entry"]).encode()
        index, leaf = int(item["leaf_index"]), _b64(item["leaf_hash"])
        path = [_b64(h) for h in item["inclusion_path"]]
    except (KeyError, TypeError, ValueError) as error:
        raise ReceiptInvalid(f"an entry of the log section is incomplete ({error})") from None
    if tree.leaf_hash(entry) != leaf:
        raise ReceiptInvalid(f"entry {index} does not hash to its leaf hash")
    event = json.loads(entry)
    if event.get("target") != header.get("pii_principal_id"):
        raise ReceiptInvalid(f"entry {index} is about someone else than this receipt")
    receipt_id = event.get("data", {}).get("receipt_id", header.get("receipt_id"))
    if receipt_id != header.get("receipt_id"):
        raise ReceiptInvalid(f"entry {index} belongs to another receipt")
    try:
        tree.verify_inclusion(index, body.size, leaf, path, body.root)
    except tree.ProofError as error:
        raise ReceiptInvalid(f"entry {index} is not proven to be in the log: {error}") from None
    return f"{index} {event.get('action')}"


def _cosigners(text: str, body: note.Checkpoint, keys: tuple[str, ...]) -> list[str]:
    signatures = note.parse_note(text).signatures
    valid = []
    for vkey in filter(None, keys):
        verifier = note.CosignatureVerifier.from_vkey(vkey)
        for signature in signatures:
            if (signature.name, signature.key_id) != (verifier.name, verifier.key_id):
                continue
            if verifier.verify(body.text(), signature.signature) is None:
                raise ReceiptInvalid(f"the cosignature of {verifier.name} does not verify")
            valid.append(verifier.name)
    return valid


def _b64(value: Any) -> bytes:
    try:
        raw = base64.b64decode(str(value), validate=True)
    except binascii.Error:
        raise ValueError(f"{value!r} is not base64") from None
    if len(raw) != tree.HASH_SIZE:
        raise ValueError("a hash is 32 bytes")
    return raw
