"""The steps of a disclosure case (DISCLOSURE, disclosure/models.py), each allowed only after
the one before it, each audited, and each refused if someone else moved the case meanwhile."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.db import transaction
from django.db.models import F, Q
from django.tasks import task
from django.utils import timezone
from django.utils.translation import gettext as _

from tillit.audit.models import record
from tillit.disclosure.models import DISCLOSURE, Decision, DisclosureCase, Step
from tillit.partners import messages
from tillit.partners.models import Delivery, DeliveryState


class StepRefused(Exception):
    pass


def _advance(
    case: DisclosureCase, version: int, move: str, actor: str, event: str, **changes: Any
) -> DisclosureCase:
    """Make `move` (DISCLOSURE) on the case as the actor saw it at `version`."""
    rows = DisclosureCase.objects.filter(id=case.id, version=version)
    if move == "close_undisclosed":  # a disclosure about someone is closed once disclosed
        rows = rows.filter(Q(decision=Decision.REFUSE) | Q(subject__isnull=True))
    with transaction.atomic():
        if not DISCLOSURE.apply(rows, move, version=version + 1, **changes):
            raise StepRefused(_("the case was changed meanwhile, or this step does not come next"))
        record(f"disclosure.{event}", actor=actor, target=f"disclosure:{case.id}")
    case.refresh_from_db()
    return case


def register(case: DisclosureCase, actor: str) -> DisclosureCase:
    """A new case, as the requester asked it: it starts registered (DISCLOSURE.initial)."""
    with transaction.atomic():
        case.step = DISCLOSURE.initial[0]
        case.save()
        record("disclosure.registered", actor=actor, target=f"disclosure:{case.id}")
    return case


def _required(text: str, what: str) -> str:
    if not text.strip():
        raise StepRefused(_("%(what)s must be written down") % {"what": what})
    return text.strip()


def weigh(case: DisclosureCase, version: int, balancing: str, actor: str) -> DisclosureCase:
    """The privacy officer's written balancing: the requester's legal basis and need against
    the person's interests and rights."""
    text = _required(balancing, _("the balancing"))
    return _advance(case, version, "weigh", actor, "weighed", balancing=text)


def decide(
    case: DisclosureCase, version: int, decision: str, reason: str, actor: str
) -> DisclosureCase:
    if decision not in Decision.values:
        raise StepRefused(_("decide to disclose or to refuse"))
    return _advance(case, version, f"decide_{decision}", actor, f"decided_{decision}",
                    decision=decision,
                    decision_reason=_required(reason, _("the reason")))  # fmt: skip


def _disclosing(case: DisclosureCase) -> None:
    if case.decision == Decision.REFUSE:
        raise StepRefused(_("the decision was to refuse: close the case"))
    if case.decision != Decision.DISCLOSE:
        raise StepRefused(_("this step does not come next: weigh and decide first"))


def notify(case: DisclosureCase, version: int, actor: str) -> DisclosureCase:
    """Ask the partner holding the person's contact data (tillit has none) to tell them. The
    case waits (`notifying`) until the partner has taken the notice: nothing is disclosed
    before the person is told (P20)."""
    _disclosing(case)
    if case.subject_id is None or partner_of(case) is None:
        raise StepRefused(_("nobody to tell: the case concerns no one whose data a partner holds"))
    with transaction.atomic():
        case = _advance(case, version, "notify", actor, "person_notified")
        send_notice.enqueue(str(case.id))
    return case


def take_back(case: DisclosureCase, version: int, actor: str) -> DisclosureCase:
    """A notice the partner cannot take (it is paused, or keeps failing) is taken back: the
    case is the officer's again, to tell the person again later or record a prohibition. The
    notice's job stops at its next try."""
    return _advance(case, version, "take_back", actor, "notice_taken_back")


def withhold(case: DisclosureCase, version: int, prohibition: str, actor: str) -> DisclosureCase:
    """The law forbids telling the person (e.g. an investigation): the provision is recorded."""
    _disclosing(case)
    return _advance(case, version, "withhold", actor, "notice_withheld",
                    prohibition=_required(prohibition, _("the legal prohibition")))  # fmt: skip


def disclose(case: DisclosureCase, version: int, actor: str) -> DisclosureCase:
    """Record what goes to the requester: tillit's own records about the person only."""
    from tillit.rights.export import subject_records

    _disclosing(case)
    if case.step == Step.NOTIFYING:
        raise StepRefused(
            _("the person has not been told yet: the notice is still on its way to their partner")
        )
    records = subject_records(case.subject) if case.subject else {}
    records.pop("requests", None)  # the person's own rights requests are not the asker's
    return _advance(case, version, "disclose", actor, "disclosed", disclosed=records)


def close(case: DisclosureCase, version: int, actor: str) -> DisclosureCase:
    """Close a disclosed case; or a decided one that discloses nothing: refused, or about
    nobody in tillit's records (there is nothing to disclose and nobody to tell)."""
    move = "close_undisclosed" if case.step == Step.DECIDED else "close"
    return _advance(case, version, move, actor, "closed", closed_at=timezone.now())


def _notice_answered(case: DisclosureCase, move: str, actor: str) -> None:
    """The partner's answer to the notice moves the case on, once (a notice sent twice, or
    answered after the case moved on, moves nothing)."""
    with transaction.atomic():
        rows = DisclosureCase.objects.filter(id=case.id)
        if DISCLOSURE.apply(rows, move, version=F("version") + 1):
            record(f"disclosure.{move}", actor=actor, target=f"disclosure:{case.id}")


def partner_of(case: DisclosureCase) -> Any:
    delivery = (
        Delivery.objects.select_related("partner")
        .filter(subject_id=case.subject_id, state=DeliveryState.DELIVERED)
        .first()
    )
    return delivery.partner if delivery else None


NOTICE = {
    "nb": (
        "Vi har fått en henvendelse om deg",
        "{requester} har bedt {operator} om opplysninger om deg, med henvisning til "
        "{basis}. Vi har vurdert henvendelsen og vil utlevere dette: {scope}. Vi har ikke navnet "
        "ditt eller kontaktopplysningene dine, bare opplysninger om henvisningen, samtykkene "
        "dine og datoer. Har du spørsmål, skriv til {contact}.",
    ),
    "en": (
        "We have received a request about you",
        "{requester} has asked {operator} for information about you, citing {basis}. We have "
        "weighed the request and will disclose this: {scope}. We do not hold your name or "
        "contact details, only records of your referral, your consents and dates. If you have "
        "questions, write to {contact}.",
    ),
}


@task()
def send_notice(case_id: str) -> None:
    """The notice, as a message the partner delivers (`POST /messages`, kind "notice"); tried
    again in ten minutes if the partner cannot take it now."""
    from tillit import datamap

    case = DisclosureCase.objects.select_related("subject").filter(id=case_id).first()
    partner = partner_of(case) if case else None
    # A case "notified" whose job still runs was told to notify before `notifying` existed
    # (the job kept itself queued until the partner took the notice): it is sent as then.
    told = (Step.NOTIFYING, Step.NOTIFIED)
    if case is None or partner is None or case.subject is None or case.step not in told:
        return
    dm = datamap.load()
    language = case.subject.language if case.subject.language in NOTICE else "nb"
    title, text = NOTICE[language]
    notice = {
        "message_id": str(case.id),
        "subject_ref": str(case.subject_id),
        "language": language,
        "kind": "notice",
        "title": title,
        "text": text.format(
            requester=case.requester,
            operator=dm.operator["name"],
            basis=case.legal_basis,
            scope=case.scope,
            contact=dm.contacts["privacy"],
        ),
        "valid_until": "",
        "opt_out_url": "",
    }
    import httpx  # the worker's: a web process does not load it at start

    try:
        with httpx.Client() as client:
            status = messages.post(client, partner, notice)
    except (httpx.HTTPError, messages.Refused):
        send_notice.using(run_after=timezone.now() + timedelta(minutes=10)).enqueue(case_id)
        return
    outcome = "notice_undeliverable" if status in messages.GONE else "notice_delivered"
    _notice_answered(case, outcome, f"partner:{partner.slug}")
