"""Signed notes, checkpoints and witness cosignatures for the consent transparency log.

Byte-compatible with Go's golang.org/x/mod/sumdb/note and the C2SP specifications
signed-note, tlog-checkpoint and tlog-cosignature (the Ed25519 "cosignature/v1" type).

    note        text (ending in "\\n") || "\\n" || one or more signature lines
    line        "— " || key name || " " || base64(key id || signature) || "\\n"
    key id      SHA-256(key name || 0x0A || type || 32-byte public key)[:4]
    vkey        <key name>+<hex key id>+<base64(type || 32-byte public key)>
    skey        PRIVATE+KEY+<key name>+<hex key id>+<base64(type || 32-byte Ed25519 seed)>

    type 0x01   Ed25519 note signature: signs the note text, signature = 64 bytes.
    type 0x04   Ed25519 cosignature/v1: signs
                "cosignature/v1\\ntime <decimal seconds>\\n" || checkpoint text,
                signature = 8-byte big-endian timestamp || 64 bytes.

    checkpoint  origin "\\n" size "\\n" base64(32-byte root) "\\n" *(extension line "\\n")

Base64 is standard RFC 4648 with padding; only canonical encodings are accepted.

This module is the public one: the notes themselves are here, and it gives the keys
(_keys.py), the signature line, checkpoint and cosignature message (_formats.py) and the
shared encodings and NoteError (_encoding.py).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from tillit_partner._encoding import NoteError, check_note_text, check_text, key_id
from tillit_partner._formats import (
    MAX_TIMESTAMP,
    MAX_TREE_SIZE,
    Checkpoint,
    Signature,
    cosignature_message,
)
from tillit_partner._keys import (
    TYPE_COSIGNATURE_V1,
    TYPE_ED25519,
    CosignatureVerifier,
    Cosigner,
    Signer,
    Verifier,
)

__all__ = [
    "MAX_SIGNATURES",
    "MAX_TIMESTAMP",
    "MAX_TREE_SIZE",
    "TYPE_COSIGNATURE_V1",
    "TYPE_ED25519",
    "AnyVerifier",
    "Checkpoint",
    "CosignatureVerifier",
    "Cosigner",
    "Note",
    "NoteError",
    "Signature",
    "Signer",
    "Verifier",
    "cosignature_message",
    "key_id",
    "open_note",
    "parse_note",
    "sign_note",
]

# Go's sumdb/note refuses a note with more than 100 signatures; the spec only asks that
# verifiers accept at least 16.
MAX_SIGNATURES = 100


@dataclass(frozen=True)
class Note:
    """A note's text and signatures; verified names the keys that open_note checked."""

    text: str
    signatures: tuple[Signature, ...]
    verified: tuple[str, ...] = ()

    def format(self) -> str:
        """The note again: text, blank line, signature lines."""
        return self.text + "\n" + "".join(signature.line for signature in self.signatures)


def sign_note(text: str, *signers: Signer) -> str:
    """The signed note: text, a blank line, one signature line per distinct signer."""
    if not signers:
        raise NoteError("A note needs at least one signer.")
    check_note_text(text)
    unique = {(signer.name, signer.key_id): signer for signer in signers}
    return text + "\n" + "".join(signer.sign(text) for signer in unique.values())


def _decode_note(note: str | bytes) -> str:
    if isinstance(note, bytes):
        try:
            return note.decode("utf-8")
        except UnicodeDecodeError:
            raise NoteError("The note is not valid UTF-8.") from None
    if not isinstance(note, str):
        raise NoteError("A note must be text or bytes.")
    return note


def parse_note(note: str | bytes) -> Note:
    """Split a note into text and signatures, checking structure only.

    The text ends at the last blank line; every line after it is a signature line and the
    note ends in a newline. Repeated identical lines are kept once, as Go does.
    """
    note = _decode_note(note)
    check_text(note, "note")
    split = note.rfind("\n\n")
    if split < 0:
        raise NoteError("The note has no blank line between its text and its signatures.")
    text, block = note[: split + 1], note[split + 2 :]
    if not block.endswith("\n"):
        raise NoteError("The note does not end in a newline after its last signature.")
    lines = block[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise NoteError(f"The note has more than {MAX_SIGNATURES} signatures.")
    signatures = dict.fromkeys(Signature.parse(line) for line in lines)
    return Note(text, tuple(signatures))


AnyVerifier = Verifier | CosignatureVerifier


def _index(verifiers: Iterable[AnyVerifier]) -> dict[tuple[str, bytes], AnyVerifier]:
    index: dict[tuple[str, bytes], AnyVerifier] = {}
    for verifier in verifiers:
        known = index.setdefault((verifier.name, verifier.key_id), verifier)
        if known != verifier:
            raise NoteError(f"Two different keys are named {verifier.name} with one key id.")
    return index


def _accepts(verifier: AnyVerifier, text: str, signature: bytes) -> bool:
    if isinstance(verifier, CosignatureVerifier):
        return verifier.verify(text, signature) is not None
    return verifier.verify(text, signature)


def open_note(note: str | bytes, verifiers: Iterable[AnyVerifier]) -> Note:
    """Parse a note and verify every signature whose name and key id match a known key.

    A bad signature from a known key refuses the whole note, and so does a note with no
    good signature from a known key. Signatures from unknown keys are kept, unverified.
    """
    parsed = parse_note(note)
    index = _index(verifiers)
    verified: dict[str, None] = {}
    for signature in parsed.signatures:
        verifier = index.get((signature.name, signature.key_id))
        if verifier is None:
            continue
        if not _accepts(verifier, parsed.text, signature.signature):
            raise NoteError(
                f"The signature by {signature.name}+{signature.key_id.hex()} does not verify."
            )
        verified[signature.name] = None
    if not verified:
        raise NoteError("The note has no signature from a known key.")
    return Note(parsed.text, parsed.signatures, tuple(verified))
