"""Sign-up and confirmation: the person's data goes into one envelope, nowhere else."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from django.db import IntegrityError, transaction
from django.utils import timezone

from tillit import datamap
from tillit.audit.models import AuditEvent, new_event, record_all
from tillit.consent.models import Action, ConsentRecord
from tillit.partners import routing
from tillit.partners.models import Delivery, Partner
from tillit.policy import versions
from tillit.subjects import tasks
from tillit.subjects.models import State, Subject
from tillit.vault.blind import email_index, phone_index
from tillit.vault.models import Envelope, Purpose, sealed
from tillit.vault.pii import Pii


class NoPartner(Exception):
    """No compliant partner serves this country (or all are at their cap) today."""


@dataclass(frozen=True)
class Signup:
    name: Pii
    email: Pii
    phone: Pii | None
    country: str
    consents: dict[str, bool]
    language: str
    # The browser sent Global Privacy Control with the form.
    gpc: bool = False


@dataclass(frozen=True)
class Registered:
    subject: Subject | None
    duplicate: bool = False
    # No partner had room when it was recorded: nothing was kept (register() raises NoPartner).
    no_partner: bool = False


@dataclass(frozen=True)
class Sent:
    """A sign-up as the form took it: what was typed, how, and the policy version in force and
    the time when it was sent (the worker records it later: subjects/intake.py)."""

    signup: Signup
    method: str = "signup-form"
    policy_label: str | None = None
    at: datetime | None = None


def register(
    signup: Signup,
    method: str = "signup-form",
    *,
    policy_label: str | None = None,
    at: datetime | None = None,
) -> Registered:
    """Record one sign-up: subject, consent evidence, sealed lead and its delivery job, at once.

    `policy_label` and `at` are the policy version the person consented under and when; they
    default to now."""
    try:
        with transaction.atomic():
            (registered,) = register_all([Sent(signup, method, policy_label, at)])
    except IntegrityError:
        # Someone else registered this address a moment ago.
        _tell_known_address(signup, email_index(signup.email))
        return Registered(subject=None, duplicate=True)
    if registered.no_partner:
        raise NoPartner(signup.country)
    return registered


def register_all(sent: Sequence[Sent]) -> list[Registered]:
    """Record sign-ups in the caller's transaction, in a few statements whatever their number:
    one query for the addresses already known, one for the partners, then one INSERT each for
    the subjects, their consent records, their sealed leads, the deliveries and the audit
    events, and an e-mail job each. An address already known (or twice in the batch) gets
    the known-address e-mail instead; a country without a partner with room gets
    `no_partner`, and nothing is kept of it. Raises IntegrityError when another process
    registered one of the addresses meanwhile: the caller takes the sign-ups one by one."""
    indexes = [email_index(one.signup.email) for one in sent]
    known = set(
        Subject.objects.filter(
            email_index__in=indexes, state__in=[State.PENDING, State.ACTIVE]
        ).values_list("email_index", flat=True)
    )
    rooms = routing.Rooms()
    dm = datamap.load()
    results: list[Registered] = []
    tell: list[tuple[Signup, str]] = []
    rows = _Rows()
    for one, index in zip(sent, indexes, strict=True):
        if index in known:
            tell.append((one.signup, index))
            results.append(Registered(subject=None, duplicate=True))
            continue
        subject_id = uuid.uuid4()
        partner = rooms.assign(subject_id, one.signup.country, one.at)
        if partner is None:
            results.append(Registered(subject=None, no_partner=True))
            continue
        known.add(index)
        results.append(Registered(subject=rows.add(one, subject_id, index, partner, dm)))
    rows.write()
    for signup, index in tell:
        _tell_known_address(signup, index)
    return results


class _Rows:
    """What a batch of new sign-ups writes, gathered, then written one statement per table."""

    def __init__(self) -> None:
        self.subjects: list[Subject] = []
        self.consents: list[ConsentRecord] = []
        self.leads: list[Envelope] = []
        self.deliveries: list[Delivery] = []
        self.events: list[AuditEvent] = []

    def add(
        self, one: Sent, subject_id: uuid.UUID, index: str, partner: Partner, dm: datamap.DataMap
    ) -> Subject:
        signup = one.signup
        policy_label = one.policy_label or versions.current_label()
        subject = Subject(
            id=subject_id,
            email_index=index,
            phone_index=phone_index(signup.phone, signup.country) if signup.phone else "",
            country=signup.country,
            language=signup.language,
            partner=partner,
            policy_version=policy_label,
            created_at=one.at or timezone.now(),
        )
        receipt_id = uuid.uuid4()
        self.consents += _consent_records(subject, signup, dm, one.method, policy_label, receipt_id)
        lead = sealed(
            {
                "name": signup.name,
                "email": signup.email,
                "phone": signup.phone,
                # The partner takes ISO 3166-1 countries; the state (for its law) stays here.
                "country": datamap.iso_country(signup.country),
                "language": signup.language,
            },
            Purpose.LEAD,
        )
        self.subjects.append(subject)
        self.leads.append(lead)
        self.deliveries.append(
            Delivery(subject=subject, partner=partner, envelope=lead, created_at=subject.created_at)
        )
        # The consent log's event, which the person's receipt will prove.
        self.events.append(
            new_event(
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
        )
        return subject

    def write(self) -> None:
        if not self.subjects:
            return
        Subject.objects.bulk_create(self.subjects)
        ConsentRecord.objects.bulk_create(self.consents)
        Envelope.objects.bulk_create(self.leads)
        Delivery.objects.bulk_create(self.deliveries)
        record_all(self.events)
        # In the same transaction: each e-mail job exists if and only if its sign-up does.
        for subject in self.subjects:
            tasks.send_confirmation.enqueue(str(subject.id))


def _consent_records(
    subject: Subject,
    signup: Signup,
    dm: datamap.DataMap,
    method: str,
    policy_label: str,
    receipt_id: uuid.UUID,
) -> list[ConsentRecord]:
    """One record per purpose the form asks about. Where the person's law takes Global
    Privacy Control as an opt-out of sale or sharing (the CCPA), a browser sending it refuses
    every purpose the data map marks as one: a box ticked for it does not count, and the
    purposes the banner asks about are refused for the person too, each record saying why."""
    opted_out = signup.gpc and dm.law(signup.country).gpc_opts_out_of_sale
    asked = dm.consent_purposes()
    by_gpc = [p for p in dm.purposes.values() if opted_out and p.sale_or_sharing]
    return [
        ConsentRecord(
            subject=subject,
            receipt_id=receipt_id,
            purpose=purpose.id,
            lawful_basis=purpose.lawful_basis,
            action=Action.GIVEN
            if signup.consents.get(purpose.id) and purpose not in by_gpc
            else Action.REFUSED,
            policy_version=policy_label,
            text_hash=purpose.text_hash(signup.language, policy_label),
            language=signup.language,
            method="gpc" if purpose in by_gpc else method,
            at=subject.created_at,
        )
        for purpose in asked + [p for p in by_gpc if p not in asked]
    ]


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
