"""The encodings and text rules that signed notes, their keys and checkpoints share (C2SP
signed-note): strict, canonical base64; text that is UTF-8 without control characters but
newline; key names and their 4-byte key ids; the parts of an encoded key; and NoteError, what
every refusal raises.

Internal to tillit_partner.note, which is where NoteError and key_id are public.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re

_HEX_KEY_ID = re.compile(r"[0-9a-fA-F]{8}")


class NoteError(ValueError):
    """A note, key or checkpoint is malformed, or a signature on it does not verify."""


def b64encode(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def b64decode(text: str, what: str) -> bytes:
    """Decode strict, canonical base64: one value has exactly one accepted spelling."""
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise NoteError(f"The {what} is not valid base64.") from None
    # Go accepts non-zero padding bits; refusing them keeps every line byte-unique.
    if not text or b64encode(data) != text:
        raise NoteError(f"The {what} is not canonical base64.")
    return data


def check_text(text: str, what: str) -> None:
    """Refuse what a note may not contain: invalid UTF-8 and control characters but newline."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise NoteError(f"The {what} is not valid UTF-8.") from None
    for char in text:
        if char < " " and char != "\n":
            raise NoteError(f"The {what} contains a control character other than newline.")


def check_name(name: str) -> None:
    """Key names are non-empty and have no Unicode spaces and no plus signs.

    Python's isspace() is Go's unicode.IsSpace plus U+001C..U+001F, which are control
    characters and so never appear in a valid note anyway.
    """
    if not isinstance(name, str) or not name:
        raise NoteError("A key name must be a non-empty string.")
    check_text(name, "key name")
    if "+" in name or any(char.isspace() for char in name):
        raise NoteError(f"The key name {name!r} contains a space or a plus sign.")


def key_id(name: str, key_type: int, public_key: bytes) -> bytes:
    """The 4-byte key id: SHA-256(name || 0x0A || type || public key)[:4]."""
    check_name(name)
    material = name.encode("utf-8") + b"\n" + bytes([key_type]) + public_key
    return hashlib.sha256(material).digest()[:4]


def split_key(key: str, parts: int, what: str) -> list[str]:
    """Split an encoded key on its first parts-1 plus signs (base64 may hold more)."""
    if not isinstance(key, str):
        raise NoteError(f"The {what} must be a string.")
    fields = key.split("+", parts - 1)
    if len(fields) != parts:
        raise NoteError(f"The {what} does not have the form {'+'.join(['…'] * parts)}.")
    return fields


def decode_key(name: str, hex_id: str, material: str, key_type: int, what: str) -> bytes:
    """Check an encoded key's name, id syntax and type; return its 32 key bytes."""
    check_name(name)
    # int(…, 16) would also take "0x", "_" and spaces; Go's ParseUint takes none of them.
    if not _HEX_KEY_ID.fullmatch(hex_id):
        raise NoteError(f"The {what} for {name} has a key id that is not 8 hex digits.")
    data = b64decode(material, f"key material of the {what} for {name}")
    if len(data) != 33:
        raise NoteError(f"The {what} for {name} does not hold a 32-byte Ed25519 key.")
    if data[0] != key_type:
        raise NoteError(
            f"The {what} for {name} has signature type 0x{data[0]:02x}, "
            f"but 0x{key_type:02x} is needed here."
        )
    return data[1:]


def check_note_text(text: str) -> None:
    if not isinstance(text, str) or not text.endswith("\n"):
        raise NoteError("The text of a note must end in a newline.")
    check_text(text, "note text")
