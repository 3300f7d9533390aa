"""The partner as a witness of transparency logs (C2SP tlog-witness), under `<endpoint>/witness`.

POST /witness/add-checkpoint takes "old <size>\\n", up to 63 base64 consistency-proof lines, an
empty line and a checkpoint signed by a log this witness is configured with (the checkpoint's
origin is the key name of the log's vkey). It cosigns the checkpoint, with a timestamped
Ed25519 cosignature/v1, only if it extends the last one it cosigned for that origin; the answers
are the spec's: 404 unknown origin, 403 no good signature by the log's key, 400 malformed or old
size above the checkpoint's, 409 (`text/x.tlog.size`, the stored size) when old is not the size
it holds, 422 when the proof fails (a fork, a rewrite). GET /witness/<sha256 hex of the
origin>/checkpoint gives monitors the last cosigned checkpoint.

The witness's whole state is one (size, root) per log, in a `WitnessStore` that moves it only
by a compare-and-set: of two racing requests only one is cosigned. This module needs the
`cryptography` package (`pip install "tillit-partner[witness]"`); the rest of the library
does not.
"""

from __future__ import annotations

import abc
import base64
import binascii
import hashlib
import logging
import re
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from tillit_partner import note, tree

log = logging.getLogger("tillit_partner.witness")

MAX_PROOF_LINES = 63
# Sizes are stored in a signed 64-bit column; no log comes near it.
MAX_SIZE = 2**63 - 1
SIZE_TYPE = "text/x.tlog.size"
TEXT_TYPE = "text/plain; charset=utf-8"
_DECIMAL = re.compile(r"0|[1-9][0-9]*")
ORIGIN_HASH = re.compile(r"[0-9a-f]{64}")
EMPTY_ROOT = base64.b64encode(tree.EMPTY_ROOT).decode()


class Refused(Exception):
    """A request the witness answers with an error and does not cosign. `reason` is ours and
    is what the log gets; `detail` (which may quote the request) goes only to the client."""

    def __init__(
        self,
        status: int,
        reason: str,
        *,
        detail: str = "",
        origin: str = "",
        old: int | None = None,
        size: int | None = None,
        stored: int | None = None,
    ) -> None:
        super().__init__(reason)
        self.status, self.reason, self.detail = status, reason, detail
        self.origin, self.old, self.size, self.stored = origin, old, size, stored

    def answer(self) -> tuple[int, bytes, str]:
        """The status, body and content type the spec gives this refusal."""
        if self.status == 409:
            return 409, f"{self.stored}\n".encode(), SIZE_TYPE
        text = f"{self.reason}: {self.detail}" if self.detail else self.reason
        return self.status, (text + "\n").encode(), TEXT_TYPE

    def log(self) -> None:
        log.warning(
            "witness refused a checkpoint (%d, %s): origin %r, old %s, size %s, stored %s",
            self.status,
            self.reason,
            self.origin,
            self.old,
            self.size,
            self.stored,
        )


@dataclass(frozen=True)
class AddCheckpoint:
    """An add-checkpoint request body, parsed but not yet verified."""

    old: int
    proof: tuple[bytes, ...]
    note: str


@dataclass(frozen=True)
class State:
    """What the witness holds for one log: the size and root of the last tree it cosigned."""

    size: int
    root: bytes

    @property
    def root_b64(self) -> str:
        return base64.b64encode(self.root).decode()


EMPTY = State(0, tree.EMPTY_ROOT)


# Parsing


def parse_size(text: str) -> int:
    """A decimal size without leading zeros (Python's int() would also take "+1", "1_0" and
    non-ASCII digits, none of which the spec allows)."""
    if not _DECIMAL.fullmatch(text):
        raise Refused(400, "the old size is not a decimal number without leading zeros")
    size = int(text)
    if size > MAX_SIZE:
        raise Refused(400, "the old size is larger than this witness can hold")
    return size


def parse_hash(line: str) -> bytes:
    """One proof line: a 32-byte hash in canonical standard base64."""
    try:
        value = base64.b64decode(line, validate=True)
    except (binascii.Error, ValueError):
        raise Refused(400, "a consistency proof line is not base64") from None
    if len(value) != tree.HASH_SIZE or base64.b64encode(value).decode() != line:
        raise Refused(400, "a consistency proof line is not one hash in canonical base64")
    return value


def parse_request(body: bytes) -> AddCheckpoint:
    """Split the body into the old size, the proof and the signed checkpoint. The first empty
    line ends the proof: neither the old size line nor a hash can be empty."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise Refused(400, "the body is not UTF-8") from None
    head, blank, signed = text.partition("\n\n")
    if not blank:
        raise Refused(400, "no empty line after the old size and the proof")
    first, *proof_lines = head.split("\n")
    if not first.startswith("old "):
        raise Refused(400, "the body does not start with an old size line")
    old = parse_size(first.removeprefix("old "))
    if len(proof_lines) > MAX_PROOF_LINES:
        raise Refused(400, f"more than {MAX_PROOF_LINES} consistency proof lines", old=old)
    return AddCheckpoint(old, tuple(parse_hash(line) for line in proof_lines), signed)


# Checking


def check(request: AddCheckpoint, checkpoint: note.Checkpoint, stored: State) -> None:
    """The spec's checks of a verified checkpoint against the witness's state, in its order:
    the old size may not exceed the new (400) and must be the stored one (409); the empty tree
    has one root, a proof from it is empty, and the proof must verify (422)."""
    sizes = {"origin": checkpoint.origin, "old": request.old, "size": checkpoint.size}
    if request.old > checkpoint.size:
        raise Refused(400, "the old size is larger than the checkpoint's", **sizes)
    if request.old != stored.size:
        raise Refused(409, "the old size is not the one last cosigned", stored=stored.size, **sizes)
    if checkpoint.size == 0 and checkpoint.root != tree.EMPTY_ROOT:
        raise Refused(422, "an empty tree with another root than the empty tree's", **sizes)
    if request.old == 0 and request.proof:
        raise Refused(422, "a consistency proof from the empty tree must be empty", **sizes)
    try:
        tree.verify_consistency(
            request.old, checkpoint.size, stored.root, checkpoint.root, request.proof
        )
    except tree.ProofError as error:
        raise Refused(
            422, "the checkpoint does not extend the last one cosigned", detail=str(error), **sizes
        ) from None


def origin_hash(origin: str) -> str:
    return hashlib.sha256(origin.encode()).hexdigest()


# State


class WitnessStore(abc.ABC):
    """The witness's state per log, which must survive a restart and a power cut before the
    cosignature is given: a witness that forgot a size could cosign a fork of it."""

    @abc.abstractmethod
    def state(self, origin: str) -> State:
        """The last state cosigned for the log (EMPTY before the first)."""

    @abc.abstractmethod
    def advance(self, origin: str, stored: State, new: State, cosigned: str, now: int) -> bool:
        """Move the log's state from exactly `stored` to `new`, keeping `cosigned` (the
        checkpoint with its signatures, for monitors), durably; False if it was not `stored`
        any more (another request moved it first: a conditional UPDATE's row count)."""

    @abc.abstractmethod
    def cosigned(self, origin: str) -> str | None:
        """The last cosigned checkpoint for monitors, or None before the first."""


class MemoryWitnessStore(WitnessStore):
    """In memory: for tests only (a witness that forgets at a restart can be made to cosign
    a fork)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._logs: dict[str, tuple[State, str]] = {}

    def state(self, origin: str) -> State:
        with self._lock:
            return self._logs.get(origin, (EMPTY, ""))[0]

    def advance(self, origin: str, stored: State, new: State, cosigned: str, now: int) -> bool:
        with self._lock:
            if self._logs.get(origin, (EMPTY, ""))[0] != stored:
                return False
            self._logs[origin] = (new, cosigned)
            return True

    def cosigned(self, origin: str) -> str | None:
        with self._lock:
            held = self._logs.get(origin)
            return held[1] if held else None


class Witness:
    """A witness with its key (a note signer key, `note.Cosigner`), the logs it witnesses
    (their vkeys, whose key names are the logs' origins; several per origin while a log
    rotates its key; or a function returning them) and its store."""

    def __init__(
        self,
        key: note.Cosigner | Callable[[], note.Cosigner],
        logs: Iterable[str] | Callable[[], Iterable[str]],
        store: WitnessStore,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._key, self.store, self._clock = key, store, clock
        # Parsed once when given as a list; a function is asked (and parsed) at every request.
        self._logs = logs if callable(logs) else _by_origin(tuple(logs))

    @property
    def key(self) -> note.Cosigner:
        return self._key() if callable(self._key) else self._key

    def logs(self) -> dict[str, list[note.Verifier]]:
        """Each log's keys under its origin, which is the keys' name (as in Go's sumdb)."""
        return _by_origin(tuple(self._logs())) if callable(self._logs) else self._logs

    def cosign(self, body: bytes) -> str:
        """The whole of add-checkpoint: the cosignature line, once the new state is stored;
        or Refused."""
        now = int(self._clock())
        request = parse_request(body)
        logs = self.logs()
        opened, checkpoint = _open(request, _origin(request.note), logs)
        stored = self.store.state(checkpoint.origin)
        check(request, checkpoint, stored)
        line = self.key.cosign(opened.text, now)
        known = {(v.name, v.key_id) for v in logs[checkpoint.origin]}
        signatures = [s.line for s in opened.signatures if (s.name, s.key_id) in known]
        for_monitors = opened.text + "\n" + "".join(signatures) + line
        new = State(checkpoint.size, checkpoint.root)
        if not self.store.advance(checkpoint.origin, stored, new, for_monitors, now):
            raise Refused(
                409,
                "another request moved the log first",
                origin=checkpoint.origin,
                old=stored.size,
                size=checkpoint.size,
                stored=self.store.state(checkpoint.origin).size,
            )
        return line

    def checkpoint(self, hashed: str) -> str | None:
        """The spec's monitor retrieval: the last checkpoint cosigned for the origin with this
        SHA-256 (lowercase hex), or None."""
        if not ORIGIN_HASH.fullmatch(hashed):
            return None
        origins = {origin_hash(origin): origin for origin in self.logs()}
        origin = origins.get(hashed)
        return self.store.cosigned(origin) if origin else None


def _by_origin(vkeys: tuple[str, ...]) -> dict[str, list[note.Verifier]]:
    logs: dict[str, list[note.Verifier]] = {}
    for vkey in vkeys:
        verifier = note.Verifier.from_vkey(vkey)
        logs.setdefault(verifier.name, []).append(verifier)
    return logs


def _origin(signed: str) -> str:
    """The checkpoint's origin: the first line of a note whose structure parses."""
    try:
        text = note.parse_note(signed).text
    except note.NoteError as error:
        raise Refused(400, "the checkpoint is not a signed note", detail=str(error)) from None
    return text.split("\n", 1)[0]


def _open(
    request: AddCheckpoint, origin: str, logs: dict[str, list[note.Verifier]]
) -> tuple[note.Note, note.Checkpoint]:
    """Verify the log's signature (403), then read the checkpoint it signs (400)."""
    verifiers = logs.get(origin)
    if not verifiers:
        raise Refused(404, "this witness does not witness that origin", origin=origin)
    try:
        opened = note.open_note(request.note, verifiers)
    except note.NoteError as error:
        raise Refused(
            403, "no valid signature by the log's key", detail=str(error), origin=origin
        ) from None
    try:
        checkpoint = note.Checkpoint.parse(opened.text)
    except note.NoteError as error:
        raise Refused(
            400, "the note is not a checkpoint", detail=str(error), origin=origin, old=request.old
        ) from None
    if checkpoint.size > MAX_SIZE:
        raise Refused(400, "the checkpoint is larger than this witness can hold", origin=origin)
    return opened, checkpoint
