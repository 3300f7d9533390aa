"""Proving control of an address with a 6-digit code sent to it (EDPB Guidelines 01/2022: the
channel the person already uses, no identity documents).

Starting a challenge does the same work, and gives the same answer, whether or not anyone with
that address is known: the lookup happens only after the code is proven. Codes are compared
as keyed hashes in constant time; each try is counted before it is compared.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import string
import uuid
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from tillit.rights import tasks
from tillit.rights.models import Challenge
from tillit.vault.blind import email_index, normalise_email
from tillit.vault.models import Envelope, Purpose
from tillit.vault.pii import Pii

CODE_TTL = timedelta(minutes=10)
MAX_TRIES = 5
VERIFIED_TTL = timedelta(minutes=30)
ASCII_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)


class CodeRefused(Exception):
    """expired, used, locked (no tries left) or wrong (with tries_left)."""

    def __init__(self, reason: str, tries_left: int = 0) -> None:
        super().__init__(reason)
        self.reason = reason
        self.tries_left = tries_left


def _hash(challenge_id: uuid.UUID, code: str) -> str:
    key = settings.SECRET_KEY.encode()
    return hmac.new(key, f"rights-code:{challenge_id}:{code}".encode(), hashlib.sha256).hexdigest()


def matchable(address: str) -> bool:
    """True when lower-casing the address changes only ASCII letters. A look-alike such as
    'ｋ' (fullwidth) or 'İ' lower-cases to a letter of another inbox's address while mail to it
    goes elsewhere, so it must match nobody. The privacy centre composes (NFC) what was typed
    before it gets here and sends the code to that composed address: a decomposed 'å' is
    Kari's 'å', and the Kelvin sign, which NFC turns into 'K', sends the code to the 'K' inbox
    it stands for, not to the asker's."""
    ascii_lower = address.strip().translate(ASCII_LOWER)
    return normalise_email(address) == ascii_lower


def start(address: str, kind: str, language: str) -> Challenge:
    code = f"{secrets.randbelow(10**6):06d}"
    now = timezone.now()
    with transaction.atomic():
        challenge = Challenge(
            id=uuid.uuid4(),
            kind=kind,
            email_index=email_index(Pii(address)),
            matchable=matchable(address),
            language=language,
            created_at=now,
            expires_at=now + CODE_TTL,
        )
        challenge.code_hash = _hash(challenge.id, code)
        challenge.envelope = Envelope.objects.seal(
            {"email": Pii(address), "code": code}, Purpose.CHALLENGE
        )
        challenge.save(force_insert=True)
        tasks.send_code.enqueue(str(challenge.id))
    return challenge


def check(challenge_id: uuid.UUID, code: str) -> Challenge:
    """The challenge, now verified; or CodeRefused saying why."""
    now = timezone.now()
    challenge = Challenge.objects.filter(id=challenge_id).first()
    if challenge is None or challenge.used_at or challenge.verified_at:
        raise CodeRefused("used")
    if challenge.expires_at <= now:
        raise CodeRefused("expired")
    # Count the try first: two racing guesses cannot both slip under the limit.
    counted = Challenge.objects.filter(id=challenge_id, tries__lt=MAX_TRIES).update(
        tries=F("tries") + 1
    )
    if not counted:
        raise CodeRefused("locked")
    given = "".join(ch for ch in code if not ch.isspace())
    if not hmac.compare_digest(_hash(challenge.id, given), challenge.code_hash):
        left = MAX_TRIES - (challenge.tries + 1)
        raise CodeRefused("wrong" if left > 0 else "locked", tries_left=max(left, 0))
    won = Challenge.objects.filter(id=challenge_id, verified_at__isnull=True).update(
        verified_at=now
    )
    if not won:
        raise CodeRefused("used")
    challenge.verified_at = now
    return challenge


def verified(challenge_id: uuid.UUID) -> Challenge | None:
    """A challenge proven within the last 30 minutes and not yet used for a request."""
    return Challenge.objects.filter(
        id=challenge_id,
        verified_at__gte=timezone.now() - VERIFIED_TTL,
        used_at__isnull=True,
    ).first()


def forget_stale_challenges(now: datetime) -> int:
    """Retention: a challenge's sealed address and code go when it can no longer be used (it
    expired unproven, or was proven but not used within 30 minutes); the row itself, which
    keeps a blind index, goes after a day."""
    dead = Challenge.objects.filter(envelope__isnull=False).filter(
        Q(verified_at__isnull=True, expires_at__lt=now)
        | Q(verified_at__lt=now - VERIFIED_TTL)
        | Q(used_at__isnull=False)
    )
    shredded = Envelope.objects.filter(id__in=dead.values("envelope_id")).shred()
    Challenge.objects.filter(created_at__lt=now - timedelta(days=1)).delete()
    return shredded
