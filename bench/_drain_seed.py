"""How bench/drain.py (and bench/scale.py) seed N confirmed leads in this process.

`setup_django` points this process's Django at the bench site. `seed` goes through the real
domain functions, register() then confirm() for each sign-up, a batch per transaction. `seed_bulk`
writes the same rows, through the product's own seal, blind index, routing and consent-record
functions, a statement per table and batch, without the audit events and e-mail jobs of a
sign-up: about ten times faster, for large backlogs.
"""

from __future__ import annotations

import os
import time
import uuid
from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tillit.partners.models import Delivery
    from tillit.subjects.models import Subject
    from tillit.subjects.signup import Signup


def setup_django(env: dict[str, str]) -> None:
    for key in [
        k for k in os.environ if k.startswith(("TILLIT_", "DJANGO_")) or k == "DATABASE_URL"
    ]:
        del os.environ[key]
    os.environ.update(
        {k: v for k, v in env.items() if k.startswith("TILLIT_") or k == "DATABASE_URL"}
    )
    os.environ["DJANGO_SETTINGS_MODULE"] = "tillit.settings"
    import django

    django.setup()


def bench_signup(prefix: str, i: int, consents: dict) -> Signup:
    """Sign-up i of a run, as the form makes it with consent_partner=on."""
    from tillit.subjects.signup import Signup
    from tillit.vault.pii import Pii

    return Signup(
        name=Pii("Bench Lead"),
        email=Pii(f"bench-{prefix}-{i}@example.com"),
        phone=None,
        country="NO",
        consents=consents,
        language="nb",
    )


def seed(n: int, batch: int, prefix: str) -> float:
    """register + confirm n sign-ups; returns the seconds it took."""
    from django.db import transaction

    from tillit import datamap
    from tillit.subjects.confirmation import confirm, confirmation_token
    from tillit.subjects.signup import register

    purposes = datamap.load().consent_purposes()
    # As the form makes it with consent_partner=on and consent_offers left off.
    consents = {p.id: p.field == "consent_partner" for p in purposes}
    started = time.perf_counter()
    done = 0
    while done < n:
        size = min(batch, n - done)
        with transaction.atomic():
            for i in range(done, done + size):
                result = register(bench_signup(prefix, i, consents))
                assert result.subject is not None and not result.duplicate
                confirm(confirmation_token(result.subject))
        done += size
    return time.perf_counter() - started


def seed_bulk(n: int, batch: int, prefix: str) -> float:
    """The rows of n confirmed sign-ups, batch at a time; returns the seconds it took.

    Each lead is sealed by `Envelope.objects.seal`, indexed by `email_index`, routed by
    `routing.assign` and given its consent records by the sign-up's own `_consent_records`, as
    register() does; the subject is active and the delivery released, as confirm() leaves
    them. Left out: the two audit events and the confirmation e-mail job of each sign-up."""
    from django.db import transaction
    from django.utils import timezone

    from tillit import datamap
    from tillit.policy import versions

    dm = datamap.load()
    consents = {p.id: p.field == "consent_partner" for p in dm.consent_purposes()}
    label = versions.current_label()
    started = time.perf_counter()
    done = 0
    while done < n:
        size = min(batch, n - done)
        now = timezone.now()
        with transaction.atomic():
            people, deliveries = [], []
            for i in range(done, done + size):
                subject, signup, delivery = bulk_lead(bench_signup(prefix, i, consents), label, now)
                people.append((subject, signup))
                deliveries.append(delivery)
            bulk_create(people, deliveries, dm, label)
        done += size
    return time.perf_counter() - started


def bulk_lead(signup: Signup, label: str, now: datetime) -> tuple[Subject, Signup, Delivery]:
    """One confirmed sign-up's subject and released delivery, its lead sealed (not yet saved:
    the subject and delivery are written in bulk)."""
    from tillit.partners import routing
    from tillit.partners.models import Delivery, DeliveryState
    from tillit.subjects.models import State, Subject
    from tillit.vault.blind import email_index
    from tillit.vault.models import Envelope, Purpose

    subject_id = uuid.uuid4()
    partner = routing.assign(subject_id, signup.country)
    subject = Subject(
        id=subject_id,
        email_index=email_index(signup.email),
        country=signup.country,
        language=signup.language,
        partner=partner,
        policy_version=label,
        created_at=now,
        state=State.ACTIVE,
        confirmed_at=now,
    )
    lead = Envelope.objects.seal(
        {
            "name": signup.name,
            "email": signup.email,
            "phone": signup.phone,
            "country": signup.country,
            "language": signup.language,
        },
        Purpose.LEAD,
    )
    delivery = Delivery(
        subject=subject,
        partner=partner,
        envelope=lead,
        created_at=now,
        state=DeliveryState.PENDING,
        next_attempt_at=now,
        released_at=now,
    )
    return subject, signup, delivery


def bulk_create(
    people: list[tuple[Subject, Signup]], deliveries: list[Delivery], dm: object, label: str
) -> None:
    """A batch's subjects, their consent records and their deliveries, a statement each."""
    from tillit.consent.models import ConsentRecord
    from tillit.partners.models import Delivery
    from tillit.subjects.models import Subject
    from tillit.subjects.signup import _consent_records

    Subject.objects.bulk_create([subject for subject, _ in people])
    ConsentRecord.objects.bulk_create(
        record
        for subject, signup in people
        for record in _consent_records(subject, signup, dm, "signup-form", label, uuid.uuid4())
    )
    Delivery.objects.bulk_create(deliveries)
