"""A contact-form message as a support case (CONTACT, contact/models.py): received, opened
(audited), answered by e-mail from the console, closed, and shredded 30 days after closing."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from tillit.audit.models import record
from tillit.contact import tasks
from tillit.contact.models import CONTACT, ContactMessage
from tillit.vault.models import Envelope, Purpose
from tillit.vault.pii import Pii


class StaleCase(Exception):
    """Someone else changed the case since this page was opened."""


def receive(data: dict[str, str], language: str) -> ContactMessage:
    now = timezone.now()
    with transaction.atomic():
        envelope = Envelope.objects.seal(
            {
                "name": Pii(data.get("name", "")),
                "email": Pii(data.get("email", "")),
                "phone": Pii(data.get("phone", "")),
                "thread": [{"from": "person", "at": now.isoformat(), "text": data["message"]}],
            },
            Purpose.CONTACT,
        )
        message = ContactMessage.objects.create(
            language=language,
            created_at=now,
            by_email=bool(data.get("email")),
            by_phone=bool(data.get("phone")),
            envelope=envelope,
        )
        record("contact.received", actor="visitor", target=f"contact:{message.id}")
        if message.by_email:
            tasks.send_received.enqueue(str(message.id))
    return message


def read(message: ContactMessage, staff_id: object) -> dict[str, Any]:
    """What the person wrote and what was answered; every look is an audit event."""
    if message.envelope is None:
        return {}
    record("contact.opened", actor=f"staff:{staff_id}", target=f"contact:{message.id}")
    return {k: v.reveal() for k, v in message.envelope.open().items()}


def _claim(message: ContactMessage, version: int, move: str, **changes: Any) -> None:
    """Make CONTACT's `move` on the case as the page saw it at `version`."""
    rows = ContactMessage.objects.filter(id=message.id, version=version)
    if not CONTACT.apply(rows, move, version=version + 1, **changes):
        now = ContactMessage.objects.filter(id=message.id).values_list("state", flat=True).first()
        if now is not None and not CONTACT.allows(now, move):
            raise ValueError(_("the case is closed"))
        raise StaleCase(_("the case was changed by someone else; reload it"))


def reply(message: ContactMessage, text: str, version: int, staff_id: object) -> None:
    if not message.by_email or message.envelope is None:
        raise ValueError(_("this person gave no e-mail address: call them instead"))
    if not CONTACT.allows(message.state, "reply"):
        raise ValueError(_("the case is closed"))
    now = timezone.now()
    with transaction.atomic():
        sealed = {k: v.reveal() for k, v in message.envelope.open().items()}
        sealed["thread"] = [
            *sealed["thread"],
            {"from": "support", "at": now.isoformat(), "text": text.strip()},
        ]
        old = message.envelope_id
        envelope = Envelope.objects.seal(sealed, Purpose.CONTACT)
        _claim(
            message,
            version,
            "reply",
            envelope=envelope,
            answered_at=now,
            replies=message.replies + 1,
        )
        Envelope.objects.filter(id=old).shred()
        record("contact.replied", actor=f"staff:{staff_id}", target=f"contact:{message.id}")
        tasks.send_reply.enqueue(str(message.id))


def close(message: ContactMessage, version: int, staff_id: object) -> None:
    with transaction.atomic():
        _claim(message, version, "close", closed_at=timezone.now())
        record("contact.closed", actor=f"staff:{staff_id}", target=f"contact:{message.id}")


def forget_closed_contacts(now: datetime) -> int:
    """Retention: a closed case's messages go TILLIT_CONTACT_RETENTION_DAYS after closing."""
    cutoff = now - timedelta(days=settings.CONTACT_RETENTION_DAYS)
    done = ContactMessage.objects.filter(closed_at__lt=cutoff, envelope__isnull=False)
    return Envelope.objects.filter(id__in=done.values("envelope_id")).shred()
