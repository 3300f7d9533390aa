"""Sending an offer: who may get it (decided when it is sent, and again for each person just
before their message goes), the messages to the partners, and the opt-out link in each."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core import signing as django_signing
from django.db import transaction
from django.db.models import OuterRef, QuerySet, Subquery
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from tillit.audit.models import record
from tillit.consent.models import Action, ConsentRecord
from tillit.datamap import Kind
from tillit.offers.models import MESSAGE, MOVE_TO, MessageState, Offer, OfferMessage
from tillit.partners import messages
from tillit.partners.models import Delivery, DeliveryState
from tillit.rights.models import RightsRequest, State
from tillit.subjects.models import State as SubjectState
from tillit.subjects.models import Subject

if TYPE_CHECKING:
    import httpx

log = logging.getLogger("tillit.offers")
OPT_OUT_SALT = "tillit.offers.opt-out"
OPT_OUT_LIFETIME = timedelta(days=400)
# Requests after which a person gets no offers, whatever their consent says.
BLOCKING = [Kind.RESTRICTION, Kind.OBJECTION, Kind.ERASURE, Kind.WITHDRAW, Kind.STOP_OFFERS]


class CannotSend(Exception):
    pass


def consenting() -> QuerySet[Subject]:
    """Active people whose latest offers consent is a consent given, whose data a partner
    holds, and who have not asked for restriction, objection, erasure or an end to offers."""
    latest = (
        ConsentRecord.objects.filter(subject=OuterRef("pk"), purpose="offers")
        .order_by("-at", "-id")
        .values("action")[:1]
    )
    blocked = RightsRequest.objects.filter(kind__in=BLOCKING).exclude(state=State.REFUSED)
    held = Delivery.objects.filter(state=DeliveryState.DELIVERED)
    return (
        Subject.objects.filter(state=SubjectState.ACTIVE)
        .annotate(offers=Subquery(latest))
        .filter(offers=Action.GIVEN, id__in=held.values("subject_id"))
        .exclude(id__in=blocked.values("subject_id"))
    )


def launch(offer: Offer, actor: str) -> int:
    """Queue the offer for everyone consenting now; once per offer."""
    now = timezone.now()
    if offer.valid_until < timezone.localdate():
        raise CannotSend(_("the offer has ended"))
    with transaction.atomic():
        if not Offer.objects.filter(id=offer.id, sent_at__isnull=True).update(sent_at=now):
            raise CannotSend(_("the offer has been sent already"))
        partner_of = dict(
            Delivery.objects.filter(state=DeliveryState.DELIVERED).values_list(
                "subject_id", "partner_id"
            )
        )
        messages = [
            OfferMessage(offer=offer, subject_id=s, partner_id=partner_of[s], next_attempt_at=now)
            for s in consenting().values_list("id", flat=True)
        ]
        OfferMessage.objects.bulk_create(messages, batch_size=500)
        Offer.objects.filter(id=offer.id).update(recipients=len(messages))
        record("offer.sent", actor=actor, target=f"offer:{offer.id}", recipients=len(messages))
    return len(messages)


def opt_out_token(subject_id: object) -> str:
    return django_signing.dumps(str(subject_id), salt=OPT_OUT_SALT, compress=False)


def subject_for(token: str) -> Subject | None:
    try:
        subject_id = django_signing.loads(token, salt=OPT_OUT_SALT, max_age=OPT_OUT_LIFETIME)
    except django_signing.BadSignature:
        return None
    return Subject.objects.filter(id=subject_id).first()


def body(message: OfferMessage) -> dict[str, Any]:
    offer, subject = message.offer, message.subject
    english = subject.language == "en"
    with translation.override(subject.language):
        opt_out = settings.SITE_URL + reverse("offers:opt-out", args=[opt_out_token(subject.id)])
    return {
        "message_id": str(message.id),
        "subject_ref": str(subject.id),
        "language": subject.language,
        "kind": "offer",
        "title": offer.title_en if english else offer.title_nb,
        "text": offer.body_en if english else offer.body_nb,
        "valid_until": offer.valid_until.isoformat(),
        "opt_out_url": opt_out,
    }


def _send(client: httpx.Client, message: OfferMessage) -> tuple[str, str]:
    """(new state, error)."""
    import httpx  # the worker's: a web process does not load it at start

    try:
        status = messages.post(client, message.partner, body(message))
    except httpx.HTTPError as error:
        return MessageState.PENDING, f"network: {type(error).__name__}"
    except messages.Refused as error:
        return MessageState.PENDING, str(error)
    if status in messages.GONE:
        return MessageState.SKIPPED, "the partner no longer holds this person, or may not send"
    return MessageState.SENT, ""


def step(client: httpx.Client, batch: int = 50, now: datetime | None = None) -> int:
    now = now or timezone.now()
    due = list(
        OfferMessage.objects.select_related("offer", "subject", "partner").filter(
            state=MessageState.PENDING, next_attempt_at__lte=now
        )[:batch]
    )
    still = set(
        consenting().filter(id__in=[m.subject_id for m in due]).values_list("id", flat=True)
    )
    for message in due:
        if message.subject_id not in still:
            state, error = MessageState.SKIPPED, "consent withdrawn before sending"
        elif message.offer.valid_until < timezone.localdate(now):
            state, error = MessageState.FAILED, "the offer ended before the partner was reached"
        else:
            state, error = _send(client, message)
        attempts = message.attempts + 1
        MESSAGE.apply(
            OfferMessage.objects.filter(id=message.id),
            MOVE_TO[state],
            attempts=attempts,
            last_error=error[:200],
            sent_at=now if state == MessageState.SENT else None,
            next_attempt_at=now + min(timedelta(seconds=30 * 2**attempts), timedelta(hours=6)),
        )
        if error and state == MessageState.PENDING:
            log.warning("offer message %s to %s: %s", message.id, message.partner.slug, error)
    return len(due)
