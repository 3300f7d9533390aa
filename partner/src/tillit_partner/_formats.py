"""The formats that signatures cover or travel in: a note's signature line, the text of a
C2SP tlog-checkpoint, and the message a cosignature/v1 signs over a checkpoint.

Internal to tillit_partner.note, which is where these are public.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Self

from tillit_partner._encoding import NoteError, b64decode, b64encode, check_name, check_text

# The spec caps the cosignature timestamp at 2^63 - 1 although it travels as a u64.
MAX_TIMESTAMP = 2**63 - 1
MAX_TREE_SIZE = 2**64 - 1

DASH = "— "
COSIGNATURE_HEADER = "cosignature/v1\n"
_DECIMAL = re.compile(r"0|[1-9][0-9]*")


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
        check_text(line, "signature line")
        if not line.startswith(DASH):
            raise NoteError("A signature line must start with an em dash and a space.")
        name, _, encoded = line[len(DASH) :].partition(" ")
        check_name(name)
        data = b64decode(encoded, f"signature by {name}")
        if len(data) < 5:
            raise NoteError(f"The signature by {name} is too short to hold a key id.")
        return cls(name, data[:4], data[4:])

    @property
    def line(self) -> str:
        return f"{DASH}{self.name} {b64encode(self.key_id + self.signature)}\n"


def cosignature_message(checkpoint_text: str, timestamp: int) -> bytes:
    """The bytes a cosignature/v1 signs: a header line, a time line, the checkpoint text.

    The checkpoint must be well-formed; its extension lines are signed too.
    """
    Checkpoint.parse(checkpoint_text)
    if isinstance(timestamp, bool) or not isinstance(timestamp, int):
        raise NoteError("A cosignature timestamp must be an integer number of seconds.")
    if not 0 <= timestamp <= MAX_TIMESTAMP:
        raise NoteError("A cosignature timestamp must lie between 0 and 2^63 - 1.")
    return f"{COSIGNATURE_HEADER}time {timestamp}\n{checkpoint_text}".encode()


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
            check_text(line, "checkpoint line")
        if isinstance(self.size, bool) or not isinstance(self.size, int):
            raise NoteError("The tree size must be an integer.")
        if not 0 <= self.size <= MAX_TREE_SIZE:
            raise NoteError("The tree size must lie between 0 and 2^64 - 1.")
        if not isinstance(self.root, bytes) or len(self.root) != 32:
            raise NoteError("The root hash must be 32 bytes.")

    def text(self) -> str:
        lines = (self.origin, str(self.size), b64encode(self.root), *self.extensions)
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
        return cls(origin, _parse_size(size), b64decode(root, "root hash"), tuple(extensions))
