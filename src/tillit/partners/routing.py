"""Routing: which partner a new person is referred to.

Eligible partners are active, have a DPA and compliance on record (P18), serve the person's
country and are under today's cap. Among them the choice is weighted rendezvous hashing on the
subject's id: each partner's share follows its weight, and the same subject always gets the
same partner while the eligible set is unchanged.
"""

from __future__ import annotations

import hashlib
import math
import time
import uuid
from datetime import datetime
from typing import Any

from django.utils import timezone

from tillit.partners.models import Partner


def _room(
    partner: Partner, now: datetime | None = None, counts: dict[Any, int] | None = None
) -> bool:
    """Takes new people: a weight above 0 and under today's cap. `counts` (leads today by
    partner) is a batch's own tally (Rooms), read once per partner and counted on."""
    if partner.weight <= 0:
        return False
    if partner.daily_cap is None:
        return True
    if counts is None:
        return partner.leads_today(now) < partner.daily_cap
    if partner.pk not in counts:
        counts[partner.pk] = partner.leads_today(now)
    return counts[partner.pk] < partner.daily_cap


class Rooms:
    """The partners as they are now, for assigning many people in one go (the worker's batch
    of sign-ups): partners read once, each capped partner's leads of today counted once, and
    every assignment counted against its cap at once, so that the batch fills a cap exactly as
    the same people one by one would."""

    def __init__(self, now: datetime | None = None) -> None:
        self.now = now
        self.today = timezone.localtime(now).replace(hour=0, minute=0, second=0, microsecond=0)
        self.partners = list(Partner.objects.compliant())
        self.counts: dict[Any, int] = {}

    def assign(
        self, subject_id: uuid.UUID, country: str, at: datetime | None = None
    ) -> Partner | None:
        """The partner for a new person whose lead is dated `at` (default now): a lead dated
        before today does not count against today's cap, as Partner.leads_today counts."""
        country = country.upper()
        candidates = [
            p for p in self.partners if country in p.countries and _room(p, self.now, self.counts)
        ]
        if not candidates:
            return None
        chosen = max(candidates, key=lambda p: _score(subject_id, p))
        if chosen.pk in self.counts and (at is None or at >= self.today):
            self.counts[chosen.pk] += 1
        return chosen


def assign(subject_id: uuid.UUID, country: str, now: datetime | None = None) -> Partner | None:
    """The partner one new person is referred to, or None when none has room."""
    return Rooms(now).assign(subject_id, country)


# The countries some partner can take a new person in: read at most every 2 seconds per process,
# and at once here when a partner is saved (PartnersConfig.ready connects `forget_open`).
_open: dict[str, Any] = {"until": 0.0, "countries": frozenset()}
OPEN_SECONDS = 2.0


def open_countries() -> frozenset[str]:
    """Where `eligible` finds a partner now, as of at most 2 seconds ago. The sign-up form
    answers "no partner for that country" from this without a query; the worker's `assign`,
    which sees every partner and cap as they are when it records the sign-up, decides."""
    if time.monotonic() >= _open["until"]:
        found: set[str] = set()
        for p in Partner.objects.compliant():
            if _room(p):
                found.update(str(c).upper() for c in p.countries)
        _open["countries"] = frozenset(found)
        _open["until"] = time.monotonic() + OPEN_SECONDS
    return _open["countries"]


def forget_open(**_: object) -> None:
    _open["until"] = 0.0


def serves(country: str) -> bool:
    return any(country.upper() in p.countries for p in Partner.objects.compliant())


def _score(subject_id: uuid.UUID, partner: Partner) -> float:
    digest = hashlib.sha256(f"{subject_id}:{partner.slug}".encode()).digest()
    # A uniform number in (0, 1), never exactly 0 or 1.
    u = (int.from_bytes(digest[:8], "big") + 1) / (2**64 + 2)
    return -partner.weight / math.log(u)
