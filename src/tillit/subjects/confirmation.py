"""Double opt-in: the link in the confirmation e-mail, and what following it does.

A sign-up stays pending, its lead held back, until the person follows the signed link sent to
the address they gave (within TILLIT_UNCONFIRMED_MAX_AGE_HOURS); following it activates the
account and releases the lead to the worker. Following it twice is fine.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.core import signing
from django.db import transaction
from django.utils import timezone

from tillit.audit.models import record
from tillit.partners.models import DELIVERY, Delivery
from tillit.subjects.models import SUBJECT, State, Subject

CONFIRM_SALT = "tillit.subjects.confirm"


class ConfirmationInvalid(Exception):
    """The link is not one tillit signed, has expired, or its sign-up is gone."""


def confirmation_token(subject: Subject) -> str:
    return signing.dumps(str(subject.id), salt=CONFIRM_SALT, compress=False)


def confirm(token: str) -> Subject:
    """Activate the account and release its lead to the worker. Following the link twice is fine."""
    max_age = timedelta(hours=settings.UNCONFIRMED_MAX_AGE_HOURS)
    try:
        subject_id = signing.loads(token, salt=CONFIRM_SALT, max_age=max_age)
    except signing.BadSignature:
        raise ConfirmationInvalid(token) from None
    now = timezone.now()
    with transaction.atomic():
        won = SUBJECT.apply(Subject.objects.filter(id=subject_id), "confirm", confirmed_at=now)
        if won:
            DELIVERY.apply(
                Delivery.objects.filter(subject_id=subject_id),
                "release",
                next_attempt_at=now,
                released_at=now,
            )
            record("subject.confirmed", actor="visitor", target=f"subject:{subject_id}")
    subject = Subject.objects.select_related("partner").filter(id=subject_id).first()
    if subject is None or subject.state != State.ACTIVE:
        raise ConfirmationInvalid(token)
    return subject
