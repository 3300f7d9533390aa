"""A sign-up in two halves: the visitor waits for one sealed INSERT, the worker does the rest.

The web half (`accept`) checks the form's answer can be given (some partner serves the
country) and seals everything the sign-up needs, as typed, in one envelope of purpose
`intake`: one row, one commit. The visitor's next page is the same for a new address and a
known one, so nothing else has to happen before it.

The worker's half (`process`) takes the oldest intakes, opens them and records them as the
form once did in the request, the whole batch in a few statements (`signup.register_all`: the
known-address check, the subjects, the consent evidence, the leads and their deliveries, the
confirmation e-mails, the audit events), then shreds the intakes, all in one transaction per
batch. A batch that cannot be recorded in one go is recorded one by one (`signup.register`),
so that one intake that fails holds up no other. A crash before that commit leaves the intakes
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
from tillit.subjects.signup import NoPartner, Sent, Signup, register, register_all
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
            "gpc": signup.gpc,
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
        opened: list[tuple[Envelope, Sent]] = []
        for intake in batch:
            try:
                opened.append((intake, _sent(intake)))
            except Exception as error:
                _not_recorded(intake, error)
        done = _record_all(opened)
        Envelope.objects.filter(id__in=done).shred()
    return len(done)


def _record_all(opened: list[tuple[Envelope, Sent]]) -> list[object]:
    """The batch in one go (signup.register_all), or, if that fails (an address another
    process registered meanwhile, one intake the batch cannot take), each alone."""
    if not opened:
        return []
    try:
        with transaction.atomic():
            results = register_all([sent for _, sent in opened])
            for (_, sent), result in zip(opened, results, strict=True):
                if result.no_partner:
                    _tell_not_referred(sent.signup, sent.at)
    except Exception as error:
        log.warning("a batch of sign-ups is recorded one by one (%s)", type(error).__name__)
        return _record_one_by_one(opened)
    return [intake.id for intake, _ in opened]


def _record_one_by_one(opened: list[tuple[Envelope, Sent]]) -> list[object]:
    done = []
    for intake, sent in opened:
        try:
            # A savepoint each: one intake that cannot be recorded stays, the rest go on.
            with transaction.atomic():
                try:
                    register(sent.signup, sent.method, policy_label=sent.policy_label, at=sent.at)
                except NoPartner:
                    _tell_not_referred(sent.signup, sent.at)
        except Exception as error:
            _not_recorded(intake, error)
            continue
        done.append(intake.id)
    return done


def _not_recorded(intake: Envelope, error: Exception) -> None:
    # Only the intake's id and the kind of error: an error's text may quote what was typed.
    log.error(
        "intake %s not recorded (%s); it is tried again on the next step",
        intake.id,
        type(error).__name__,
    )


def _sent(intake: Envelope) -> Sent:
    data = {k: v.reveal() for k, v in intake.open().items()}
    signup = Signup(
        name=Pii(data["name"]),
        email=Pii(data["email"]),
        phone=Pii(data["phone"]) if data.get("phone") else None,
        country=data["country"],
        consents={str(k): bool(v) for k, v in data["consents"].items()},
        language=data["language"],
        gpc=bool(data.get("gpc")),
    )
    return Sent(signup, data["method"], policy_label=data["policy"], at=intake.created_at)


def _tell_not_referred(signup: Signup, at: datetime | None) -> None:
    # Every partner for the country filled its cap or left in the seconds since the form was
    # sent. The person is told, and nothing of theirs is kept.
    notice = Envelope.objects.seal({"email": signup.email}, Purpose.NOTICE)
    tasks.send_not_referred.enqueue(str(notice.id), signup.language)
    log.info("a sign-up from %s could not be referred: no partner has room", at and at.date())
