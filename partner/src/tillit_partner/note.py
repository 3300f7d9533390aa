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
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import ClassVar, Self

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

TYPE_ED25519 = 0x01
TYPE_COSIGNATURE_V1 = 0x04

# Go's sumdb/note refuses a note with more than 100 signatures; the spec only asks that
# verifiers accept at least 16.
MAX_SIGNATURES = 100

# The spec caps the cosignature timestamp at 2^63 - 1 although it travels as a u64.
MAX_TIMESTAMP = 2**63 - 1
MAX_TREE_SIZE = 2**64 - 1

_DASH = "— "
_COSIGNATURE_HEADER = "cosignature/v1\n"
_HEX_KEY_ID = re.compile(r"[0-9a-fA-F]{8}")
_DECIMAL = re.compile(r"0|[1-9][0-9]*")


class NoteError(ValueError):
    """A note, key or checkpoint is malformed, or a signature on it does not verify."""


# Encodings


def _b64encode(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _b64decode(text: str, what: str) -> bytes:
    """Decode strict, canonical base64: one value has exactly one accepted spelling."""
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise NoteError(f"The {what} is not valid base64.") from None
    # Go accepts non-zero padding bits; refusing them keeps every line byte-unique.
    if not text or _b64encode(data) != text:
        raise NoteError(f"The {what} is not canonical base64.")
    return data


def _check_text(text: str, what: str) -> None:
    """Refuse what a note may not contain: invalid UTF-8 and control characters but newline."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise NoteError(f"The {what} is not valid UTF-8.") from None
    for char in text:
        if char < " " and char != "\n":
            raise NoteError(f"The {what} contains a control character other than newline.")


def _check_name(name: str) -> None:
    """Key names are non-empty and have no Unicode spaces and no plus signs.

    Python's isspace() is Go's unicode.IsSpace plus U+001C..U+001F, which are control
    characters and so never appear in a valid note anyway.
    """
    if not isinstance(name, str) or not name:
        raise NoteError("A key name must be a non-empty string.")
    _check_text(name, "key name")
    if "+" in name or any(char.isspace() for char in name):
        raise NoteError(f"The key name {name!r} contains a space or a plus sign.")


def key_id(name: str, key_type: int, public_key: bytes) -> bytes:
    """The 4-byte key id: SHA-256(name || 0x0A || type || public key)[:4]."""
    _check_name(name)
    material = name.encode("utf-8") + b"\n" + bytes([key_type]) + public_key
    return hashlib.sha256(material).digest()[:4]


def _split_key(key: str, parts: int, what: str) -> list[str]:
    """Split an encoded key on its first parts-1 plus signs (base64 may hold more)."""
    if not isinstance(key, str):
        raise NoteError(f"The {what} must be a string.")
    fields = key.split("+", parts - 1)
    if len(fields) != parts:
        raise NoteError(f"The {what} does not have the form {'+'.join(['…'] * parts)}.")
    return fields


def _decode_key(name: str, hex_id: str, material: str, key_type: int, what: str) -> bytes:
    """Check an encoded key's name, id syntax and type; return its 32 key bytes."""
    _check_name(name)
    # int(…, 16) would also take "0x", "_" and spaces; Go's ParseUint takes none of them.
    if not _HEX_KEY_ID.fullmatch(hex_id):
        raise NoteError(f"The {what} for {name} has a key id that is not 8 hex digits.")
    data = _b64decode(material, f"key material of the {what} for {name}")
    if len(data) != 33:
        raise NoteError(f"The {what} for {name} does not hold a 32-byte Ed25519 key.")
    if data[0] != key_type:
        raise NoteError(
            f"The {what} for {name} has signature type 0x{data[0]:02x}, "
            f"but 0x{key_type:02x} is needed here."
        )
    return data[1:]


def _public_bytes(private: Ed25519PrivateKey) -> bytes:
    return private.public_key().public_bytes_raw()


# Keys


@dataclass(frozen=True)
class _VerifierKey:
    """An Ed25519 public key under a name, for one signature type."""

    key_type: ClassVar[int]
    name: str
    key_id: bytes
    public_key: bytes

    def __post_init__(self) -> None:
        if not isinstance(self.public_key, bytes) or len(self.public_key) != 32:
            raise NoteError(f"The public key for {self.name} is not 32 bytes.")
        if self.key_id != key_id(self.name, self.key_type, self.public_key):
            raise NoteError(f"The key id for {self.name} does not match its public key.")

    @classmethod
    def from_vkey(cls, vkey: str) -> Self:
        """Parse a vkey; a key id that does not match the key is refused."""
        name, hex_id, material = _split_key(vkey, 3, "verifier key")
        public_key = _decode_key(name, hex_id, material, cls.key_type, "verifier key")
        return cls(name, bytes.fromhex(hex_id), public_key)

    @classmethod
    def from_public_key(cls, name: str, public_key: bytes) -> Self:
        return cls(name, key_id(name, cls.key_type, public_key), public_key)

    @property
    def vkey(self) -> str:
        material = _b64encode(bytes([self.key_type]) + self.public_key)
        return f"{self.name}+{self.key_id.hex()}+{material}"

    def _verify_ed25519(self, message: bytes, signature: bytes) -> bool:
        if len(signature) != 64:
            return False
        try:
            Ed25519PublicKey.from_public_bytes(self.public_key).verify(signature, message)
        except InvalidSignature:
            return False
        return True


@dataclass(frozen=True)
class _SignerKey:
    """An Ed25519 private key (its 32-byte seed) under a name, for one signature type."""

    key_type: ClassVar[int]
    name: str
    key_id: bytes
    seed: bytes = field(repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.seed, bytes) or len(self.seed) != 32:
            raise NoteError(f"The private key for {self.name} is not a 32-byte Ed25519 seed.")
        if self.key_id != key_id(self.name, self.key_type, self.public_key):
            raise NoteError(f"The key id for {self.name} does not match its key.")

    @classmethod
    def generate(cls, name: str) -> Self:
        return cls.from_seed(name, Ed25519PrivateKey.generate().private_bytes_raw())

    @classmethod
    def from_seed(cls, name: str, seed: bytes) -> Self:
        if not isinstance(seed, bytes) or len(seed) != 32:
            raise NoteError(f"The private key for {name} is not a 32-byte Ed25519 seed.")
        public_key = _public_bytes(Ed25519PrivateKey.from_private_bytes(seed))
        return cls(name, key_id(name, cls.key_type, public_key), seed)

    @classmethod
    def from_skey(cls, skey: str) -> Self:
        """Parse a PRIVATE+KEY+… signer key; the key id must match the derived public key."""
        private, label, name, hex_id, material = _split_key(skey, 5, "signer key")
        if (private, label) != ("PRIVATE", "KEY"):
            raise NoteError("A signer key must start with PRIVATE+KEY+.")
        seed = _decode_key(name, hex_id, material, cls.key_type, "signer key")
        # Go, too, derives the public key from the seed before it checks the key id.
        return cls(name, bytes.fromhex(hex_id), seed)

    @property
    def public_key(self) -> bytes:
        return _public_bytes(self._private)

    @property
    def _private(self) -> Ed25519PrivateKey:
        return Ed25519PrivateKey.from_private_bytes(self.seed)

    @property
    def skey(self) -> str:
        material = _b64encode(bytes([self.key_type]) + self.seed)
        return f"PRIVATE+KEY+{self.name}+{self.key_id.hex()}+{material}"

    @property
    def vkey(self) -> str:
        material = _b64encode(bytes([self.key_type]) + self.public_key)
        return f"{self.name}+{self.key_id.hex()}+{material}"

    def _line(self, signature: bytes) -> str:
        return Signature(self.name, self.key_id, signature).line


@dataclass(frozen=True)
class Verifier(_VerifierKey):
    """Checks Ed25519 note signatures (type 0x01) by one named key."""

    key_type: ClassVar[int] = TYPE_ED25519

    def verify(self, text: str, signature: bytes) -> bool:
        """Whether signature (the bytes after the key id) signs text."""
        return self._verify_ed25519(text.encode("utf-8"), signature)


@dataclass(frozen=True)
class Signer(_SignerKey):
    """Makes Ed25519 note signatures (type 0x01) with one named key."""

    key_type: ClassVar[int] = TYPE_ED25519

    @property
    def verifier(self) -> Verifier:
        return Verifier(self.name, self.key_id, self.public_key)

    def sign(self, text: str) -> str:
        """One signature line for text, which must end in a newline."""
        _check_note_text(text)
        return self._line(self._private.sign(text.encode("utf-8")))


@dataclass(frozen=True)
class CosignatureVerifier(_VerifierKey):
    """Checks a witness's cosignature/v1 signatures (type 0x04) on checkpoints."""

    key_type: ClassVar[int] = TYPE_COSIGNATURE_V1

    @classmethod
    def from_note_vkey(cls, vkey: str) -> Self:
        """The cosignature verifier for a witness that publishes its key as a type 0x01 vkey.

        transparency-dev's witness tooling does this; the key id is then derived afresh
        with type 0x04, as its VKeyToCosignatureV1 does.
        """
        note_key = Verifier.from_vkey(vkey)
        return cls.from_public_key(note_key.name, note_key.public_key)

    def verify(self, checkpoint_text: str, signature: bytes) -> int | None:
        """The cosignature's timestamp if signature (after the key id) is valid, else None."""
        if len(signature) != 8 + 64:
            return None
        timestamp = int.from_bytes(signature[:8], "big")
        try:
            message = cosignature_message(checkpoint_text, timestamp)
        except NoteError:
            return None
        return timestamp if self._verify_ed25519(message, signature[8:]) else None


@dataclass(frozen=True)
class Cosigner(_SignerKey):
    """Makes a witness's cosignature/v1 signatures (type 0x04) on checkpoints."""

    key_type: ClassVar[int] = TYPE_COSIGNATURE_V1

    @property
    def verifier(self) -> CosignatureVerifier:
        return CosignatureVerifier(self.name, self.key_id, self.public_key)

    def cosign(self, checkpoint_text: str, timestamp: int) -> str:
        """One signature line to append to the checkpoint's note."""
        message = cosignature_message(checkpoint_text, timestamp)
        signature = timestamp.to_bytes(8, "big") + self._private.sign(message)
        return self._line(signature)


def cosignature_message(checkpoint_text: str, timestamp: int) -> bytes:
    """The bytes a cosignature/v1 signs: a header line, a time line, the checkpoint text.

    The checkpoint must be well-formed; its extension lines are signed too.
    """
    Checkpoint.parse(checkpoint_text)
    if isinstance(timestamp, bool) or not isinstance(timestamp, int):
        raise NoteError("A cosignature timestamp must be an integer number of seconds.")
    if not 0 <= timestamp <= MAX_TIMESTAMP:
        raise NoteError("A cosignature timestamp must lie between 0 and 2^63 - 1.")
    return f"{_COSIGNATURE_HEADER}time {timestamp}\n{checkpoint_text}".encode()


# Notes


@dataclass(frozen=True)
class Signature:
    """One signature line of a note, verified or not."""

    name: str
    key_id: bytes
    signature: bytes

    @classmethod
    def parse(cls, line: str) -> Self:
        """Parse one line, with or without its final newline (a witness sends them bare)."""
        line = line.removesuffix("\n")
        if "\n" in line:
            raise NoteError("A signature line must be a single line.")
        _check_text(line, "signature line")
        if not line.startswith(_DASH):
            raise NoteError("A signature line must start with an em dash and a space.")
        name, _, encoded = line[len(_DASH) :].partition(" ")
        _check_name(name)
        data = _b64decode(encoded, f"signature by {name}")
        if len(data) < 5:
            raise NoteError(f"The signature by {name} is too short to hold a key id.")
        return cls(name, data[:4], data[4:])

    @property
    def line(self) -> str:
        return f"{_DASH}{self.name} {_b64encode(self.key_id + self.signature)}\n"


@dataclass(frozen=True)
class Note:
    """A note's text and signatures; verified names the keys that open_note checked."""

    text: str
    signatures: tuple[Signature, ...]
    verified: tuple[str, ...] = ()

    def format(self) -> str:
        """The note again: text, blank line, signature lines."""
        return self.text + "\n" + "".join(signature.line for signature in self.signatures)


def _check_note_text(text: str) -> None:
    if not isinstance(text, str) or not text.endswith("\n"):
        raise NoteError("The text of a note must end in a newline.")
    _check_text(text, "note text")


def sign_note(text: str, *signers: Signer) -> str:
    """The signed note: text, a blank line, one signature line per distinct signer."""
    if not signers:
        raise NoteError("A note needs at least one signer.")
    _check_note_text(text)
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
    _check_text(note, "note")
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


# Checkpoints


def _parse_size(line: str) -> int:
    # A regex rather than isdigit(), which also accepts non-ASCII digits such as "٣".
    if not _DECIMAL.fullmatch(line):
        raise NoteError("The tree size is not a decimal number without leading zeros.")
    size = int(line)
    if size > MAX_TREE_SIZE:
        raise NoteError("The tree size does not fit in 64 bits.")
    return size


@dataclass(frozen=True)
class Checkpoint:
    """The text of a C2SP tlog-checkpoint: origin, tree size, root hash, extension lines."""

    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for line in (self.origin, *self.extensions):
            if not isinstance(line, str) or not line or "\n" in line:
                raise NoteError("Checkpoint lines must be non-empty single lines of text.")
            _check_text(line, "checkpoint line")
        if isinstance(self.size, bool) or not isinstance(self.size, int):
            raise NoteError("The tree size must be an integer.")
        if not 0 <= self.size <= MAX_TREE_SIZE:
            raise NoteError("The tree size must lie between 0 and 2^64 - 1.")
        if not isinstance(self.root, bytes) or len(self.root) != 32:
            raise NoteError("The root hash must be 32 bytes.")

    def text(self) -> str:
        lines = (self.origin, str(self.size), _b64encode(self.root), *self.extensions)
        return "".join(line + "\n" for line in lines)

    @classmethod
    def parse(cls, text: str) -> Self:
        """Parse checkpoint text strictly; it is the text of a note, without signatures."""
        if not isinstance(text, str) or not text.endswith("\n"):
            raise NoteError("A checkpoint must end in a newline.")
        lines = text[:-1].split("\n")
        if len(lines) < 3:
            raise NoteError("A checkpoint needs an origin, a tree size and a root hash.")
        origin, size, root, *extensions = lines
        return cls(origin, _parse_size(size), _b64decode(root, "root hash"), tuple(extensions))
