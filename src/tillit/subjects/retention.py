"""A person's retention rules: an unconfirmed sign-up, a lead that could not be delivered, a
single notice's address and an intake that was never recorded are shredded in time. The
worker and `tillit prune` apply them with every other package's (worker/retention.py)."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction

from tillit.audit.models import record
from tillit.partners.delivery import fail
from tillit.partners.models import DELIVERY, Delivery, DeliveryState
from tillit.subjects.models import SUBJECT, State, Subject
from tillit.vault.models import Envelope, Purpose


def shred_unconfirmed(now: datetime) -> int:
    """A sign-up not confirmed within TILLIT_UNCONFIRMED_MAX_AGE_HOURS (48 h) is shredded:
    its lead envelope is destroyed, its delivery cancelled and its blind indexes cleared, so
    nothing is left that could find or describe the person. The consent evidence stays."""
    cutoff = now - timedelta(hours=settings.UNCONFIRMED_MAX_AGE_HOURS)
    count = 0
    for subject_id in Subject.objects.filter(
        state=State.PENDING, created_at__lt=cutoff
    ).values_list("id", flat=True)[:1000]:
        with transaction.atomic():
            won = SUBJECT.apply(
                Subject.objects.filter(id=subject_id), "expire", email_index="", phone_index=""
            )
            if not won:
                continue
            envelope_ids = list(
                Delivery.objects.filter(subject_id=subject_id).values_list("envelope_id", flat=True)
            )
            DELIVERY.apply(
                Delivery.objects.filter(subject_id=subject_id),
                "expire",
                envelope=None,
                last_error="never confirmed",
            )
            Envelope.objects.filter(id__in=[e for e in envelope_ids if e]).shred()
            record("subject.expired", actor="worker", target=f"subject:{subject_id}")
            count += 1
    return count


def fail_undeliverable(now: datetime) -> int:
    """A lead still undelivered TILLIT_DELIVERY_MAX_AGE_HOURS (72 h) after confirmation is
    shredded; the delivery stays as a failed case (who, which partner, why) for staff."""
    cutoff = now - timedelta(hours=settings.DELIVERY_MAX_AGE_HOURS)
    stale = Delivery.objects.filter(
        state__in=DELIVERY.sources("fail"), released_at__lt=cutoff
    ).exclude(state=DeliveryState.LEASED, lease_expires_at__gte=now)
    count = 0
    for delivery in stale[:1000]:
        fail(delivery, delivery.last_error or "undeliverable within the maximum age", now)
        count += 1
    return count


def shred_stale_notices(now: datetime) -> int:
    """An address sealed for a single notice e-mail is shredded after sending; one whose
    e-mail never went out is shredded after TILLIT_UNCONFIRMED_MAX_AGE_HOURS all the same."""
    cutoff = now - timedelta(hours=settings.UNCONFIRMED_MAX_AGE_HOURS)
    return Envelope.objects.filter(purpose=Purpose.NOTICE, created_at__lt=cutoff).shred()


def shred_stale_intake(now: datetime) -> int:
    """A sign-up the worker could not record (subjects/intake.py logs why) is shredded once it
    could no longer be confirmed in time anyway."""
    cutoff = now - timedelta(hours=settings.UNCONFIRMED_MAX_AGE_HOURS)
    return Envelope.objects.filter(purpose=Purpose.INTAKE, created_at__lt=cutoff).shred()
