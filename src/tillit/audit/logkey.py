"""The log's signing key: an Ed25519 note key whose name is the log's origin.

It is made by `tillit init` and kept as the keyring is: one JSON file in the data directory,
readable by its owner only, read again by each process whenever the file changes. Its public
half (the verifier key) is also kept in the database (`LogKey`) with every key the log signed
with before, so checkpoints stay verifiable after a rotation.

A rotation (`tillit log rotate-key`) makes a new key and keeps the old one as `previous` until
one checkpoint has been signed by both: that checkpoint is the handover, by which anyone who
trusts the old key can come to trust the new one. Then the old private key is destroyed.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.utils import timezone
from tillit_partner import note

from tillit.vault.keys import write_private


class LogKeyMissing(Exception):
    pass


@dataclass(frozen=True)
class LogKeys:
    active: note.Signer
    previous: note.Signer | None = None

    @property
    def origin(self) -> str:
        return self.active.name

    def signers(self) -> list[note.Signer]:
        return [self.active] + ([self.previous] if self.previous else [])

    def to_json(self) -> str:
        return json.dumps(
            {
                "version": 1,
                "active": self.active.skey,
                "previous": self.previous.skey if self.previous else None,
            },
            indent=2,
        )

    @classmethod
    def from_json(cls, text: str) -> LogKeys:
        raw = json.loads(text)
        previous = raw.get("previous")
        return cls(
            active=note.Signer.from_skey(raw["active"]),
            previous=note.Signer.from_skey(previous) if previous else None,
        )


def write(keys: LogKeys, path: Path | None = None) -> None:
    """Write the key file atomically, readable and writable by its owner only."""
    write_private(path or settings.LOG_KEY_FILE, keys.to_json())
    _cache.clear()


class _Cache:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._stamp: tuple[str, int] | None = None
        self._keys: LogKeys | None = None

    def clear(self) -> None:
        with self._lock:
            self._stamp, self._keys = None, None

    def get(self) -> LogKeys:
        path: Path = settings.LOG_KEY_FILE
        try:
            stamp = (str(path), path.stat().st_mtime_ns)
        except FileNotFoundError:
            raise LogKeyMissing(f"no log signing key at {path}: run 'tillit init'") from None
        with self._lock:
            if self._keys is None or self._stamp != stamp:
                self._keys = LogKeys.from_json(path.read_text())
                self._stamp = stamp
            return self._keys


_cache = _Cache()


def load() -> LogKeys:
    return _cache.get()


def ensure(origin: str | None = None) -> tuple[LogKeys, bool]:
    """The log's keys, made first if there are none; the public half is registered either way."""
    made = False
    try:
        keys = load()
    except LogKeyMissing:
        keys = LogKeys(active=note.Signer.generate(origin or settings.LOG_ORIGIN))
        write(keys)
        made = True
    register(keys.active)
    return keys, made


def register(signer: note.Signer) -> None:
    from tillit.audit.models import LogKey

    LogKey.objects.get_or_create(
        vkey=signer.vkey, defaults={"name": signer.name, "key_id": signer.key_id.hex()}
    )


def rotate() -> LogKeys:
    """A new signing key under the same name; the old one signs until the handover."""
    from tillit.audit.models import LogKey

    old = load()
    keys = LogKeys(active=note.Signer.generate(old.origin), previous=old.active)
    write(keys)
    register(keys.active)
    LogKey.objects.filter(vkey=old.active.vkey).update(retired_at=timezone.now())
    return keys


def handed_over() -> None:
    """A checkpoint signed by both keys exists: destroy the old private key."""
    keys = load()
    if keys.previous is not None:
        write(LogKeys(active=keys.active))


def verifiers() -> list[note.Verifier]:
    """Every key the log has signed with, from the database (the file holds only the current
    one, and a verifier needs no private key)."""
    from tillit.audit.models import LogKey

    return [note.Verifier.from_vkey(v) for v in LogKey.objects.values_list("vkey", flat=True)]
