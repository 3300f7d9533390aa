"""The reference partner as a witness of transparency logs: C2SP tlog-witness, under the
submission and monitoring prefix `<partner endpoint>/witness`.

POST /witness/add-checkpoint takes "old <size>\\n", up to 63 base64 consistency-proof lines, an
empty line and a checkpoint signed by a log this witness is configured with (the checkpoint's
origin is the key name of the log's vkey). It cosigns the checkpoint, with a timestamped
Ed25519 cosignature/v1 of tlog-cosignature, only if it extends the last one it cosigned for
that origin; the answers are the spec's: 404 unknown origin, 403 no good signature by the
log's key, 400 malformed or old size above the checkpoint's, 409 (`text/x.tlog.size`, the
stored size) when old is not the size it holds, 422 when the proof fails (a fork, a rewrite).
The size it holds moves by a conditional UPDATE, so of two racing requests only one wins.

GET /witness/<sha256 hex of the origin>/checkpoint is the spec's monitor retrieval: the last
cosigned checkpoint with the log's signatures and this witness's. GET /witness/state is not
part of the spec: JSON for operators and tests, with the witness's vkey and each log's state.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import logging
import os
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import connection
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from tillit.audit import note, tree

if TYPE_CHECKING:
    from tillit.reference_partner.models import WitnessedLog

# The models are imported where they are used: tests parse and check requests with this module
# under tillit's own settings, where the reference partner's app is not installed.
log = logging.getLogger("tillit.reference_partner.witness")

MAX_PROOF_LINES = 63
# Sizes are stored in a signed 64-bit column; no log comes near it.
MAX_SIZE = 2**63 - 1
SIZE_TYPE = "text/x.tlog.size"
TEXT_TYPE = "text/plain; charset=utf-8"
_DECIMAL = re.compile(r"0|[1-9][0-9]*")
_ORIGIN_HASH = re.compile(r"[0-9a-f]{64}")
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

    def response(self) -> HttpResponse:
        if self.status == 409:
            return HttpResponse(f"{self.stored}\n", status=409, content_type=SIZE_TYPE)
        text = f"{self.reason}: {self.detail}" if self.detail else self.reason
        return HttpResponse(text + "\n", status=self.status, content_type=TEXT_TYPE)

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


def _origin(signed: str) -> str:
    """The checkpoint's origin: the first line of a note whose structure parses."""
    try:
        text = note.parse_note(signed).text
    except note.NoteError as error:
        raise Refused(400, "the checkpoint is not a signed note", detail=str(error)) from None
    return text.split("\n", 1)[0]


def _open(request: AddCheckpoint, origin: str) -> tuple[note.Note, note.Checkpoint]:
    """Verify the log's signature (403), then read the checkpoint it signs (400)."""
    verifiers = witnessed_logs().get(origin)
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


def cosign(body: bytes, now: int) -> str:
    """The whole of add-checkpoint: the cosignature line, once the new state is stored."""
    request = parse_request(body)
    opened, checkpoint = _open(request, _origin(request.note))
    stored = stored_state(checkpoint.origin)
    check(request, checkpoint, stored)
    line = witness_key().cosign(opened.text, now)
    advance(checkpoint, stored, _for_monitors(opened, checkpoint.origin, line), now)
    return line


def _for_monitors(opened: note.Note, origin: str, line: str) -> str:
    """The checkpoint with the log's signatures that verified, and this witness's."""
    known = {(v.name, v.key_id) for v in witnessed_logs()[origin]}
    signatures = [s.line for s in opened.signatures if (s.name, s.key_id) in known]
    return opened.text + "\n" + "".join(signatures) + line


# State


def stored_state(origin: str) -> State:
    from tillit.reference_partner.models import WitnessedLog

    row = WitnessedLog.objects.filter(origin=origin).values_list("size", "root").first()
    if row is None:
        return State(0, tree.EMPTY_ROOT)
    return State(row[0], base64.b64decode(row[1]))


def advance(checkpoint: note.Checkpoint, stored: State, cosigned: str, now: int) -> None:
    """Move the stored state from exactly `stored` to the checkpoint, or refuse with 409 when
    another request moved it first: the UPDATE's condition and row count decide, not a lock
    here, so two racing requests cannot both be cosigned (and one roll back the other)."""
    from tillit.reference_partner.models import WitnessedLog

    WitnessedLog.objects.get_or_create(
        origin=checkpoint.origin, defaults={"size": 0, "root": EMPTY_ROOT}
    )
    with _durable():
        won = WitnessedLog.objects.filter(
            origin=checkpoint.origin,
            size=stored.size,
            root=base64.b64encode(stored.root).decode(),
        ).update(
            size=checkpoint.size,
            root=base64.b64encode(checkpoint.root).decode(),
            checkpoint=cosigned,
            cosigned_at=datetime.fromtimestamp(now, UTC),
        )
    if not won:
        raise Refused(
            409,
            "another request moved the log first",
            origin=checkpoint.origin,
            old=stored.size,
            size=checkpoint.size,
            stored=stored_state(checkpoint.origin).size,
        )


@contextmanager
def _durable() -> Iterator[None]:
    """Commit with a sync to disk. The partner's SQLite runs WAL with synchronous=NORMAL, where
    a commit can be lost at a power cut; a witness that forgot a cosigned size could then
    cosign a fork of it, so the spec asks for the state to be persisted before the answer."""
    if connection.vendor != "sqlite":
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA synchronous")
        before = int(cursor.fetchone()[0])
        cursor.execute("PRAGMA synchronous=FULL")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"PRAGMA synchronous={before}")


# Keys


def witnessed_logs() -> dict[str, list[note.Verifier]]:
    return _verifiers_by_origin(tuple(settings.PARTNER_WITNESS_LOGS))


@functools.cache
def _verifiers_by_origin(vkeys: tuple[str, ...]) -> dict[str, list[note.Verifier]]:
    """Each log's keys under its origin, which is the keys' name (as in Go's sumdb)."""
    logs: dict[str, list[note.Verifier]] = {}
    for vkey in vkeys:
        verifier = note.Verifier.from_vkey(vkey)
        logs.setdefault(verifier.name, []).append(verifier)
    return logs


def witness_key() -> note.Cosigner:
    return _key(settings.PARTNER_WITNESS_KEY_FILE, settings.PARTNER_WITNESS_NAME)


@functools.cache
def _key(path: Path, name: str) -> note.Cosigner:
    """The witness's key from its file, made there first if there is none."""
    try:
        skey = path.read_text().strip()
    except FileNotFoundError:
        skey = _make_key(path, name)
    try:
        key = note.Cosigner.from_skey(skey)
    except note.NoteError as error:
        raise ImproperlyConfigured(f"PARTNER_WITNESS_KEY_FILE {path}: {error}") from None
    if key.name != name:
        # The name is half of the witness's identity; logs know it by both.
        raise ImproperlyConfigured(
            f"PARTNER_WITNESS_KEY_FILE {path} holds a key named {key.name}, "
            f"but PARTNER_WITNESS_NAME is {name}"
        )
    return key


def _make_key(path: Path, name: str) -> str:
    """Write a new key readable by its owner only. It is linked into place, which fails if
    another process made one meanwhile: then that one is the key."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    skey = note.Cosigner.generate(name).skey
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(skey + "\n")
            f.flush()
            os.fsync(f.fileno())
        os.link(tmp, path)
    except FileExistsError:
        return path.read_text().strip()
    finally:
        tmp.unlink(missing_ok=True)
    return skey


# Views


@csrf_exempt
@require_POST
def add_checkpoint(request: HttpRequest) -> HttpResponse:
    try:
        line = cosign(request.body, now=int(time.time()))
    except Refused as refusal:
        refusal.log()
        return refusal.response()
    return HttpResponse(line, content_type=TEXT_TYPE)


@require_GET
def checkpoint(request: HttpRequest, origin_hash: str) -> HttpResponse:
    """The spec's monitor retrieval: the last checkpoint cosigned for the origin so hashed."""
    from tillit.reference_partner.models import WitnessedLog

    if not _ORIGIN_HASH.fullmatch(origin_hash):
        raise Http404
    origins = {_origin_hash(origin): origin for origin in witnessed_logs()}
    row = WitnessedLog.objects.filter(
        origin=origins.get(origin_hash, ""), cosigned_at__isnull=False
    ).first()
    if row is None:
        raise Http404
    return HttpResponse(row.checkpoint, content_type=TEXT_TYPE)


@require_GET
def state(request: HttpRequest) -> JsonResponse:
    """Not part of tlog-witness: the witness's key and what it holds for each log."""
    from tillit.reference_partner.models import WitnessedLog

    key = witness_key()
    rows = {row.origin: row for row in WitnessedLog.objects.filter(origin__in=witnessed_logs())}
    return JsonResponse(
        {
            "witness": {"name": key.name, "vkey": key.vkey},
            "logs": [_log_state(origin, rows.get(origin)) for origin in witnessed_logs()],
        }
    )


def _log_state(origin: str, row: WitnessedLog | None) -> dict[str, object]:
    cosigned_at = row.cosigned_at if row else None
    return {
        "origin": origin,
        "origin_hash": _origin_hash(origin),
        "vkeys": [v.vkey for v in witnessed_logs()[origin]],
        "size": row.size if row else 0,
        "root": row.root if row else EMPTY_ROOT,
        "cosigned_at": cosigned_at.isoformat() if cosigned_at else None,
    }


def _origin_hash(origin: str) -> str:
    return hashlib.sha256(origin.encode()).hexdigest()
