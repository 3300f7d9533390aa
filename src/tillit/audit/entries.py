"""How an audit event becomes the bytes of a log entry (docs/log.md, "The entries").

An entry is the event as JSON in the canonical form of RFC 8785 (JCS): object keys sorted, no
white space, strings in UTF-8 with only the escapes JSON requires, numbers as ECMAScript writes
them. For events without fractions (strings, integers of at most 53 bits, booleans, null, lists
and objects with ASCII keys) that is exactly what Python's json module writes with sorted keys
and no ASCII escaping, so its C encoder does the work; an event holding a float goes through
the `rfc8785` package, whose numbers are JCS's own (24.0 is written 24, as the database may
give it back). The tests compare both paths with that package on generated events.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import secrets
from typing import Any

import rfc8785

ENTRY_VERSION = 1
MAX_SAFE_INTEGER = 2**53 - 1


class UnloggableValue(TypeError):
    """A value whose canonical form is not certain (a float, a huge integer, a non-ASCII key)."""


def canonical(value: Any) -> bytes:
    if check(value):
        return rfc8785.dumps(value)
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode()


def check(value: Any, where: str = "data") -> bool:
    """Refuse what has no certain canonical form; say whether there is a float in it."""
    if value is None or isinstance(value, (bool, str)):
        return False
    if isinstance(value, int):
        if abs(value) > MAX_SAFE_INTEGER:
            raise UnloggableValue(f"{where}: integers in the log must fit in 53 bits")
        return False
    if isinstance(value, float):
        if not math.isfinite(value):
            raise UnloggableValue(f"{where}: a number in the log must be finite")
        return True
    if isinstance(value, list):
        return any([check(item, f"{where}[{n}]") for n, item in enumerate(value)])
    if isinstance(value, dict):
        floats = False
        for key, item in value.items():
            if not isinstance(key, str) or not key.isascii():
                raise UnloggableValue(f"{where}: keys in the log are ASCII strings")
            floats = check(item, f"{where}.{key}") or floats
        return floats
    raise UnloggableValue(f"{where}: a {type(value).__name__} has no canonical form in the log")


def timestamp(at: dt.datetime) -> str:
    """UTC to the microsecond, always with all six digits: 2026-12-06T19:38:00.000000Z."""
    return at.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def encode(
    *, at: dt.datetime, action: str, actor: str, target: str, data: dict[str, Any], nonce: str
) -> bytes:
    """The entry of an event. The nonce (128 random bits) is there because leaf hashes are
    public: without it, an entry with little in it (a staff sign-in) could be found by trying
    every microsecond of the minute it happened in."""
    return canonical(
        {
            "v": ENTRY_VERSION,
            "at": timestamp(at),
            "action": action,
            "actor": actor,
            "target": target,
            "data": data,
            "nonce": nonce,
        }
    )


def new_nonce() -> str:
    return secrets.token_hex(16)


def decode(entry: bytes) -> dict[str, Any]:
    """The event an entry describes; raises ValueError unless it is canonical."""
    value = json.loads(entry.decode())
    if not isinstance(value, dict) or canonical(value) != entry:
        raise ValueError("not a canonical log entry")
    return value
