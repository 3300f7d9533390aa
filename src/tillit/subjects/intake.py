"""A sign-up in two halves: the visitor waits for one sealed INSERT, the worker does the rest.

The web half (`accept`) checks the form's answer can be given (some partner serves the
country) and seals everything the sign-up needs, as typed, in one envelope of purpose
`intake`: one row, one commit. The visitor's next page is the same for a new address and a
known one, so nothing else has to happen before it.

The worker's half (`process`) takes the oldest intakes, opens each and records it as the form
once did in the request (`signup.register`: the known-address check, the subject, the consent
evidence, the lead and its delivery, the confirmation e-mail, the audit event), then shreds
the intake, all in one transaction per batch. A crash before that commit leaves the intakes
to be taken again; after it, nothing is left to take: each sign-up the visitor was told of is
recorded exactly once. With more than one worker on PostgreSQL, each takes its batch with
`SKIP LOCKED`; on SQLite, writers take turns.
"""

from __future__ import annotations

import logging
from datetime import datetime

from django.db import transaction

from tillit.core import rows
from tillit.partners import routing
from tillit.policy import versions
from tillit.subjects import tasks
from tillit.subjects.signup import NoPartner, Signup, register
from tillit.vault.models import Envelope, Purpose, sealed
from tillit.vault.pii import Pii

log = logging.getLogger("tillit.subjects")
BATCH = 200


def accept(signup: Signup, method: str = "signup-form") -> None:
    """Seal the sign-up for the worker, or raise NoPartner when no partner serves its country."""
    if signup.country.upper() not in routing.open_countries():
        raise NoPartner(signup.country)
    intake = sealed(
        {
            "name": signup.name,
            "email": signup.email,
            "phone": signup.phone,
            "country": signup.country,
            "language": signup.language,
            "consents": signup.consents,
            "method": method,
            # The version consented under is the one in force when the form was sent.
            "policy": versions.current_label(),
        },
        Purpose.INTAKE,
    )
    rows.insert(intake)


def waiting() -> int:
    return Envelope.objects.filter(purpose=Purpose.INTAKE).count()


def process(limit: int = BATCH) -> int:
    """Record up to `limit` of the oldest intakes; the number taken."""
    with transaction.atomic():
        batch = list(
            Envelope.objects.filter(purpose=Purpose.INTAKE)
            .order_by("created_at", "id")
            .select_for_update(skip_locked=True)[:limit]
        )
        done = []
        for intake in batch:
            try:
                # A savepoint each: one intake that cannot be recorded stays, the rest go on.
                with transaction.atomic():
                    _record(intake)
            except Exception as error:
                log.error(
                    "intake %s not recorded (%s); it is tried again on the next step",
                    intake.id,
                    type(error).__name__,
                )
                continue
            done.append(intake.id)
        Envelope.objects.filter(id__in=done).shred()
    return len(done)


def _record(intake: Envelope) -> None:
    data = {k: v.reveal() for k, v in intake.open().items()}
    signup = Signup(
        name=Pii(data["name"]),
        email=Pii(data["email"]),
        phone=Pii(data["phone"]) if data.get("phone") else None,
        country=data["country"],
        consents={str(k): bool(v) for k, v in data["consents"].items()},
        language=data["language"],
    )
    try:
        register(signup, data["method"], policy_label=data["policy"], at=intake.created_at)
    except NoPartner:
        # Every partner for the country filled its cap or left in the seconds since the form
        # was sent. The person is told, and nothing of theirs is kept.
        _tell_not_referred(signup, intake.created_at)


def _tell_not_referred(signup: Signup, at: datetime) -> None:
    notice = Envelope.objects.seal({"email": signup.email}, Purpose.NOTICE)
    tasks.send_not_referred.enqueue(str(notice.id), signup.language)
    log.info("a sign-up from %s could not be referred: no partner has room", at.date())
