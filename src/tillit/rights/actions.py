"""What a verified request does at once in tillit, and the record it leaves."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from tillit import datamap
from tillit.audit.models import record
from tillit.consent.models import Action, ConsentRecord
from tillit.datamap import Kind
from tillit.partners.models import DELIVERY, Delivery
from tillit.policy import versions
from tillit.rights import deadlines, fanout, tasks
from tillit.rights.models import PARTNER_TASK, RIGHTS_REQUEST, Challenge, PartnerTask, RightsRequest
from tillit.subjects.models import SUBJECT, Subject
from tillit.subjects.models import State as SubjectState
from tillit.vault.blind import phone_index
from tillit.vault.models import Envelope, Purpose
from tillit.vault.pii import Pii


def open_request(
    challenge: Challenge, kind: str, changes: dict[str, str] | None = None
) -> RightsRequest:
    """Record the request the verified address asked for, apply its effect in tillit, and
    tell the person (reference and due date) by e-mail."""
    now = timezone.now()
    with transaction.atomic():
        used = Challenge.objects.filter(id=challenge.id, used_at__isnull=True).update(used_at=now)
        if not used:
            raise ValueError("this verification has been used already")
        subject = None
        if challenge.matchable:
            subject = Subject.objects.filter(
                email_index=challenge.email_index,
                state__in=[SubjectState.PENDING, SubjectState.ACTIVE],
            ).first()
        sealed = challenge.envelope.open() if challenge.envelope else {}
        contact = (
            Envelope.objects.seal({"email": sealed["email"]}, Purpose.REQUEST)
            if "email" in sealed
            else None
        )
        if challenge.envelope:
            Envelope.objects.filter(id=challenge.envelope_id).shred()
        details = (
            Envelope.objects.seal(dict(changes), Purpose.REQUEST) if changes and subject else None
        )
        law = deadlines.law_for(subject.country if subject else None)
        request = RightsRequest.objects.create(
            kind=kind,
            subject=subject,
            language=challenge.language,
            received_at=now,
            due_at=deadlines.due(now, law, kind),
            contact=contact,
            details=details,
        )
        if subject is None:
            _complete(request, "no_data")
        else:
            # Read first: an erasure cancels a lead in flight, which may be at the partner.
            partners = fanout.recipients(subject.id)
            EFFECTS.get(kind, _in_progress)(request, subject)
            fanout.plan(request, partners)
        record("rights.requested", actor="visitor", target=f"request:{request.id}", kind=kind)
        tasks.send_received.enqueue(str(request.id))
    return request


def opt_out_of_offers(subject: Subject) -> RightsRequest | None:
    """The opt-out link in an offer: the consent to offers is withdrawn here at once, and the
    partner is told as for a stop-offers request (Art. 7(3), 21(2)). None if there was no
    consent left to withdraw."""
    now = timezone.now()
    with transaction.atomic():
        if not _withdraw(subject, ["offers"], method="offer-opt-out-link"):
            return None
        request = RightsRequest.objects.create(
            kind=Kind.STOP_OFFERS,
            subject=subject,
            language=subject.language,
            received_at=now,
            due_at=deadlines.due(now, deadlines.law_for(subject.country), Kind.STOP_OFFERS),
        )
        RIGHTS_REQUEST.take(request, "start")
        fanout.plan(request)
        record(
            "rights.requested",
            actor="visitor",
            target=f"request:{request.id}",
            kind=Kind.STOP_OFFERS,
            via="offer-link",
        )
    return request


def _complete(request: RightsRequest, outcome: str) -> None:
    """Answered at once: nobody with this address is known here, so nobody holds data."""
    RIGHTS_REQUEST.take(request, "complete", outcome=outcome, completed_at=timezone.now())
    record("rights.completed", actor="visitor", target=f"request:{request.id}", outcome=outcome)


def _in_progress(request: RightsRequest, subject: Subject) -> None:
    """Partners must act (they hold the data): the request waits for them."""
    RIGHTS_REQUEST.take(request, "start")


def _withdraw(subject: Subject, purposes: list[str], method: str = "privacy-centre") -> list[str]:
    """Append a withdrawal for each purpose whose latest record is a consent given."""
    dm = datamap.load()
    withdrawn = []
    for purpose_id in purposes:
        latest = (
            ConsentRecord.objects.filter(subject=subject, purpose=purpose_id)
            .order_by("-at")
            .first()
        )
        if latest is None or latest.action != Action.GIVEN:
            continue
        purpose = dm.purposes[purpose_id]
        ConsentRecord.objects.create(
            subject=subject,
            receipt_id=latest.receipt_id,
            purpose=purpose_id,
            lawful_basis=purpose.lawful_basis,
            action=Action.WITHDRAWN,
            policy_version=versions.current_label(),
            text_hash=latest.text_hash,
            language=subject.language,
            method=method,
        )
        withdrawn.append(purpose_id)
        receipt_id = latest.receipt_id
    if withdrawn:
        # In the consent log, where the person's receipt proves it.
        record(
            "consent.withdrawn",
            actor="visitor",
            target=subject.ref,
            receipt_id=str(receipt_id),
            purposes=withdrawn,
            method=method,
        )
    return withdrawn


def _stop_offers(request: RightsRequest, subject: Subject) -> None:
    _withdraw(subject, ["offers"])
    _in_progress(request, subject)


def _withdraw_all(request: RightsRequest, subject: Subject) -> None:
    _withdraw(subject, [p.id for p in datamap.load().consent_purposes()])
    _in_progress(request, subject)


def _erase(request: RightsRequest, subject: Subject) -> None:
    """tillit's part: nothing left that could find or describe the person. A lead not yet
    delivered is destroyed and its delivery cancelled; the blind indexes go; the consent
    evidence stays (it holds no readable data) as the proof we must keep."""
    deliveries = Delivery.objects.filter(subject=subject)
    envelopes = [e for e in deliveries.values_list("envelope_id", flat=True) if e]
    DELIVERY.apply(deliveries, "cancel", envelope=None, last_error="erased on request")
    Envelope.objects.filter(id__in=envelopes).shred()
    SUBJECT.apply(Subject.objects.filter(id=subject.id), "erase", email_index="", phone_index="")
    _withdraw(subject, [p.id for p in datamap.load().consent_purposes()])
    _in_progress(request, subject)


def _rectify(request: RightsRequest, subject: Subject) -> None:
    """tillit's part: the country it keeps, and the phone's blind index."""
    changes = {k: v.reveal() for k, v in request.details.open().items()} if request.details else {}
    if changes.get("country"):
        subject.country = changes["country"]
    if changes.get("phone"):
        subject.phone_index = phone_index(Pii(changes["phone"]), subject.country)
    subject.save(update_fields=["country", "phone_index"])
    _in_progress(request, subject)


EFFECTS: dict[str, Any] = {
    Kind.RECTIFICATION: _rectify,
    Kind.STOP_OFFERS: _stop_offers,
    Kind.WITHDRAW: _withdraw_all,
    Kind.ERASURE: _erase,
}


class CannotExtend(Exception):
    pass


def extend(request: RightsRequest, reason: str, actor: str) -> RightsRequest:
    """As far as the person's law allows (GDPR Art. 12(3): two more months; CCPA: 45 more
    days), only with a reason, told to the person before the first deadline."""
    reason = reason.strip()
    now = timezone.now()
    law = deadlines.law_for(request.subject.country if request.subject else None)
    until = deadlines.latest_extension(request.received_at, law, request.kind)
    if not reason:
        raise CannotExtend(_("an extension needs a reason, which the person is told"))
    closed = _("the request is closed or extended already")
    if not RIGHTS_REQUEST.allows(request.state, "extend") or request.extended_until:
        raise CannotExtend(closed)
    if until is None:
        raise CannotExtend(_("the person's law allows no extension of this request"))
    if now >= request.due_at:
        raise CannotExtend(_("the first deadline has passed: it is too late to extend"))
    if request.contact_id is None:
        raise CannotExtend(_("there is no address to tell the person"))
    with transaction.atomic():
        # Once: of two members of staff extending at the same moment, one does.
        won = RIGHTS_REQUEST.apply(
            RightsRequest.objects.filter(id=request.id, extended_until__isnull=True),
            "extend",
            extended_until=until,
            extension_reason=reason,
        )
        if not won:
            raise CannotExtend(closed)
        record("rights.extended", actor=actor, target=f"request:{request.id}")
        tasks.send_extended.enqueue(str(request.id))
    request.refresh_from_db()
    return request


def refuse(request: RightsRequest, reason: str, actor: str) -> RightsRequest:
    """Art. 12(5): refuse a manifestly unfounded or excessive request, telling the person why
    and how to complain (Art. 12(4)). What the partners have not yet carried out is withdrawn
    from them; what already took effect (here or there) stays."""
    reason = reason.strip()
    if not reason:
        raise CannotRefuse(_("a refusal needs a reason, which the person is told"))
    if request.contact_id is None:
        raise CannotRefuse(_("there is no address to tell the person"))
    if not RIGHTS_REQUEST.allows(request.state, "refuse"):
        raise CannotRefuse(_("the request is closed already"))
    now = timezone.now()
    with transaction.atomic():
        closed = RIGHTS_REQUEST.apply(
            RightsRequest.objects.filter(id=request.id),
            "refuse",
            outcome="refused",
            refusal_reason=reason,
            completed_at=now,
        )
        if not closed:
            raise CannotRefuse(_("the request is closed already"))
        tasks_left = PartnerTask.objects.filter(request_id=request.id)
        # A partner with an API is asked to withdraw what it may have started; the rest is
        # dropped here (an e-mail partner's link then says so).
        PARTNER_TASK.apply(
            tasks_left.filter(partner__rights_api=True), "withdraw", next_attempt_at=now
        )
        PARTNER_TASK.apply(tasks_left, "drop")
        if request.details_id:
            Envelope.objects.filter(id=request.details_id).shred()
        record("rights.refused", actor=actor, target=f"request:{request.id}")
        tasks.send_refused.enqueue(str(request.id))
    request.refresh_from_db()
    return request


class CannotRefuse(Exception):
    pass


def alarm_overdue(now: Any) -> int:
    """Open requests past their deadline: the privacy officer hears of each once."""
    unalarmed = RightsRequest.objects.filter(
        state__in=RIGHTS_REQUEST.sources("alarm"), overdue_alarm_at__isnull=True
    )
    late = unalarmed.filter(
        Q(extended_until__isnull=True, due_at__lte=now) | Q(extended_until__lte=now)
    ).values_list("id", flat=True)
    count = 0
    for request_id in list(late):
        with transaction.atomic():
            # Once, whoever else runs this rule at the same moment.
            if not RIGHTS_REQUEST.apply(
                unalarmed.filter(id=request_id), "alarm", overdue_alarm_at=now
            ):
                continue
            record("rights.overdue", actor="worker", target=f"request:{request_id}")
            tasks.send_overdue_alarm.enqueue(str(request_id))
        count += 1
    return count
