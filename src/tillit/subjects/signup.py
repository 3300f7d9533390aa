"""Sign-up and confirmation: the person's data goes into one envelope, nowhere else."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core import signing
from django.db import IntegrityError, transaction
from django.utils import timezone

from tillit import datamap
from tillit.audit.models import record
from tillit.consent.models import Action, ConsentRecord
from tillit.partners import routing
from tillit.partners.models import Delivery, DeliveryState
from tillit.policy import versions
from tillit.subjects import tasks
from tillit.subjects.models import State, Subject
from tillit.vault.blind import email_index, phone_index
from tillit.vault.models import Envelope, Purpose
from tillit.vault.pii import Pii

CONFIRM_SALT = "tillit.subjects.confirm"


class NoPartner(Exception):
    """No compliant partner serves this country (or all are at their cap) today."""


class ConfirmationInvalid(Exception):
    pass


@dataclass(frozen=True)
class Signup:
    name: Pii
    email: Pii
    phone: Pii | None
    country: str
    consents: dict[str, bool]
    language: str


@dataclass(frozen=True)
class Registered:
    subject: Subject | None
    duplicate: bool = False


def register(
    signup: Signup,
    method: str = "signup-form",
    *,
    policy_label: str | None = None,
    at: datetime | None = None,
) -> Registered:
    """Record a sign-up: subject, consent evidence, sealed lead and its delivery job, at once.

    `policy_label` and `at` are the policy version the person consented under and when: the
    worker passes those of the moment the form was sent (subjects/intake.py); they default to
    now."""
    index = email_index(signup.email)
    if Subject.objects.filter(email_index=index, state__in=[State.PENDING, State.ACTIVE]).exists():
        _tell_known_address(signup, index)
        return Registered(subject=None, duplicate=True)
    subject_id = uuid.uuid4()
    partner = routing.assign(subject_id, signup.country)
    if partner is None:
        raise NoPartner(signup.country)
    dm = datamap.load()
    policy_label = policy_label or versions.current_label()
    try:
        with transaction.atomic():
            subject = Subject.objects.create(
                id=subject_id,
                email_index=index,
                phone_index=phone_index(signup.phone, signup.country) if signup.phone else "",
                country=signup.country,
                language=signup.language,
                partner=partner,
                policy_version=policy_label,
                created_at=at or timezone.now(),
            )
            receipt_id = _record_consents(subject, signup, dm, method, policy_label)
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
            Delivery.objects.create(
                subject=subject, partner=partner, envelope=lead, created_at=subject.created_at
            )
            # Enqueued in the same transaction: the e-mail job exists if and only if the
            # sign-up does.
            tasks.send_confirmation.enqueue(str(subject.id))
            # One INSERT into the consent log, which the person's receipt will prove.
            record(
                "subject.registered",
                actor="visitor",
                target=subject.ref,
                partner=partner.slug,
                receipt_id=str(receipt_id),
                policy_version=policy_label,
                consents={
                    p.id: Action.GIVEN if signup.consents.get(p.id) else Action.REFUSED
                    for p in dm.consent_purposes()
                },
            )
    except IntegrityError:
        # Someone else registered this address a moment ago.
        _tell_known_address(signup, index)
        return Registered(subject=None, duplicate=True)
    return Registered(subject=subject)


def _record_consents(
    subject: Subject, signup: Signup, dm: datamap.DataMap, method: str, policy_label: str
) -> uuid.UUID:
    receipt_id = uuid.uuid4()
    ConsentRecord.objects.bulk_create(
        ConsentRecord(
            subject=subject,
            receipt_id=receipt_id,
            purpose=purpose.id,
            lawful_basis=purpose.lawful_basis,
            action=Action.GIVEN if signup.consents.get(purpose.id) else Action.REFUSED,
            policy_version=policy_label,
            text_hash=purpose.text_hash(signup.language, policy_label),
            language=signup.language,
            method=method,
            at=subject.created_at,
        )
        for purpose in dm.consent_purposes()
    )
    return receipt_id


def _tell_known_address(signup: Signup, index: str) -> None:
    """Send the news to the address itself; the page a stranger sees says nothing more."""
    existing = Subject.objects.filter(email_index=index).order_by("-created_at").first()
    if existing and existing.state == State.PENDING:
        tasks.send_confirmation.enqueue(str(existing.id))
        return
    with transaction.atomic():
        notice = Envelope.objects.seal({"email": signup.email}, Purpose.NOTICE)
        tasks.send_already_registered.enqueue(
            str(notice.id), signup.language, str(existing.id) if existing else ""
        )


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
        won = Subject.objects.filter(id=subject_id, state=State.PENDING).update(
            state=State.ACTIVE, confirmed_at=now
        )
        if won:
            Delivery.objects.filter(subject_id=subject_id, state=DeliveryState.WAITING).update(
                state=DeliveryState.PENDING, next_attempt_at=now, released_at=now
            )
            record("subject.confirmed", actor="visitor", target=f"subject:{subject_id}")
    subject = Subject.objects.select_related("partner").filter(id=subject_id).first()
    if subject is None or subject.state != State.ACTIVE:
        raise ConfirmationInvalid(token)
    return subject
