"""The keyring: key-encryption keys (KEKs) by id, and the blind-index key.

The keyring is one JSON file, readable only by its owner, made by `tillit init`. Each process
reads it lazily and again whenever the file changes, so `tillit keys rotate` in one process is
seen by the others at their next seal.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import threading
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings


class KeyringMissing(Exception):
    pass


@dataclass(frozen=True)
class Keyring:
    active: str
    keks: dict[str, bytes]
    index_key: bytes

    def kek(self, kek_id: str) -> bytes:
        return self.keks[kek_id]

    def to_json(self) -> str:
        return json.dumps(
            {
                "version": 1,
                "active": self.active,
                "keks": {kid: _b64(key) for kid, key in self.keks.items()},
                "index_key": _b64(self.index_key),
            },
            indent=2,
        )

    @classmethod
    def from_json(cls, text: str) -> Keyring:
        raw = json.loads(text)
        return cls(
            active=raw["active"],
            keks={kid: base64.b64decode(key) for kid, key in raw["keks"].items()},
            index_key=base64.b64decode(raw["index_key"]),
        )


def new_kek_id() -> str:
    return "k" + secrets.token_hex(4)


def generate() -> Keyring:
    kid = new_kek_id()
    return Keyring(
        active=kid, keks={kid: secrets.token_bytes(32)}, index_key=secrets.token_bytes(32)
    )


def write(keyring: Keyring, path: Path | None = None) -> None:
    """Write the keyring atomically, readable and writable by its owner only."""
    write_private(path or settings.KEK_FILE, keyring.to_json())
    _cache.clear()


def write_private(path: Path, text: str) -> None:
    """Replace a key file at once (a crash leaves the old one or the new one, never half),
    readable and writable by its owner only. The log's signing key is kept the same way."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


class _Cache:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._stamp: tuple[str, int] | None = None
        self._keyring: Keyring | None = None

    def clear(self) -> None:
        with self._lock:
            self._stamp = None
            self._keyring = None

    def get(self) -> Keyring:
        path: Path = settings.KEK_FILE
        try:
            stat = path.stat()
        except FileNotFoundError:
            raise KeyringMissing(f"no keyring at {path}: run 'tillit init'") from None
        stamp = (str(path), stat.st_mtime_ns)
        with self._lock:
            if self._keyring is None or self._stamp != stamp:
                self._keyring = Keyring.from_json(path.read_text())
                self._stamp = stamp
            return self._keyring


_cache = _Cache()


def load() -> Keyring:
    return _cache.get()


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()
