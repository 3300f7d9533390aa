"""The reference partner as a witness of transparency logs: the partner library's C2SP
tlog-witness (tillit_partner.witness, served by it under `<partner endpoint>/witness`) with
the reference partner's key file, the logs its settings name, and its state in its database.

GET /witness/state is not part of the spec: JSON for operators and tests, with the witness's
vkey and each log's state.
"""

from __future__ import annotations

import base64
import functools
import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET
from tillit_partner import note
from tillit_partner.witness import (
    EMPTY,
    EMPTY_ROOT,
    AddCheckpoint,
    Refused,
    State,
    Witness,
    WitnessStore,
    check,
    origin_hash,
    parse_request,
)

if TYPE_CHECKING:
    from tillit.reference_partner.models import WitnessedLog

# The models are imported where they are used: tests parse and check requests with this module
# under tillit's own settings, where the reference partner's app is not installed.
__all__ = ["AddCheckpoint", "Refused", "State", "check", "get", "parse_request", "state"]


class DatabaseWitnessStore(WitnessStore):
    def state(self, origin: str) -> State:
        from tillit.reference_partner.models import WitnessedLog

        row = WitnessedLog.objects.filter(origin=origin).values_list("size", "root").first()
        return EMPTY if row is None else State(row[0], base64.b64decode(row[1]))

    def advance(self, origin: str, stored: State, new: State, cosigned: str, now: int) -> bool:
        """The UPDATE's condition and row count decide, not a lock here, so two racing
        requests cannot both be cosigned (and one roll back the other)."""
        from tillit.reference_partner.models import WitnessedLog

        WitnessedLog.objects.get_or_create(origin=origin, defaults={"size": 0, "root": EMPTY_ROOT})
        with _durable():
            won = WitnessedLog.objects.filter(
                origin=origin, size=stored.size, root=stored.root_b64
            ).update(
                size=new.size,
                root=new.root_b64,
                checkpoint=cosigned,
                cosigned_at=datetime.fromtimestamp(now, UTC),
            )
        return won == 1

    def cosigned(self, origin: str) -> str | None:
        from tillit.reference_partner.models import WitnessedLog

        row = WitnessedLog.objects.filter(origin=origin, cosigned_at__isnull=False).first()
        return row.checkpoint if row else None


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


@functools.cache
def get() -> Witness:
    """The witness, made once per process from the settings (the vkeys were checked there)."""
    return Witness(witness_key, tuple(settings.PARTNER_WITNESS_LOGS), DatabaseWitnessStore())


# Keys


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


@require_GET
def state(request: HttpRequest) -> JsonResponse:
    """Not part of tlog-witness: the witness's key and what it holds for each log."""
    from tillit.reference_partner.models import WitnessedLog

    witness = get()
    logs = witness.logs()
    key = witness.key
    rows = {row.origin: row for row in WitnessedLog.objects.filter(origin__in=logs)}
    return JsonResponse(
        {
            "witness": {"name": key.name, "vkey": key.vkey},
            "logs": [_log_state(origin, keys, rows.get(origin)) for origin, keys in logs.items()],
        }
    )


def _log_state(
    origin: str, keys: list[note.Verifier], row: WitnessedLog | None
) -> dict[str, object]:
    cosigned_at = row.cosigned_at if row else None
    return {
        "origin": origin,
        "origin_hash": origin_hash(origin),
        "vkeys": [v.vkey for v in keys],
        "size": row.size if row else 0,
        "root": row.root if row else EMPTY_ROOT,
        "cosigned_at": cosigned_at.isoformat() if cosigned_at else None,
    }
