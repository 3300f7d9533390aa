"""Key rotation: a new key-encryption key becomes active and every data key is re-wrapped."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, replace

from tillit.vault import keys
from tillit.vault.models import Envelope


@dataclass
class RotationReport:
    new_kek_id: str
    rewrapped: int
    retired: list[str]
    kept: list[str]


def rotate(grace_seconds: float = 2.0) -> RotationReport:
    """Make a new KEK active, re-wrap every envelope under it, then drop unused old KEKs.

    Other processes notice the new keyring file at their next seal. An envelope sealed by one
    of them just before it noticed is caught by a second pass after `grace_seconds`; an old
    key that still wraps anything after that is kept, and the report says so.
    """
    current = keys.load()
    kid = keys.new_kek_id()
    rotated = replace(current, active=kid, keks={**current.keks, kid: secrets.token_bytes(32)})
    keys.write(rotated)
    count = _rewrap_all(rotated)
    time.sleep(grace_seconds)
    count += _rewrap_all(rotated)
    in_use = set(Envelope.objects.values_list("kek_id", flat=True).distinct())
    retired = [k for k in rotated.keks if k != kid and k not in in_use]
    kept = [k for k in rotated.keks if k != kid and k in in_use]
    keys.write(replace(rotated, keks={k: v for k, v in rotated.keks.items() if k not in retired}))
    return RotationReport(new_kek_id=kid, rewrapped=count, retired=retired, kept=kept)


def _rewrap_all(keyring: keys.Keyring) -> int:
    count = 0
    for envelope in Envelope.objects.exclude(kek_id=keyring.active).iterator(chunk_size=500):
        count += envelope.rewrap(keyring)
    return count
