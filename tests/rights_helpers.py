"""The steps of the privacy centre, shared by the rights tests: a person who has signed up
(`kari`), asking for a right, proving the address with the e-mailed code, sending."""

from __future__ import annotations

import re

import pytest
from django.core import mail

from tillit.rights.models import RightsRequest
from tillit.subjects.confirmation import confirmation_token
from tillit.subjects.models import Subject
from tillit.vault.models import Envelope
from tillit.worker.loop import Loop


def drain_tasks() -> None:
    Loop().run_tasks(max_tasks=100)


@pytest.fixture
def kari(client, partner, visitor):
    """Kari has signed up and confirmed (consent to referral and to offers), and her lead has
    gone to the partner (who is not listening: requests passed on to it wait)."""
    from django.utils import timezone

    from tillit.partners.models import Delivery, DeliveryState

    client.post("/", visitor)
    subject = Subject.objects.get()
    client.post(f"/confirm/{confirmation_token(subject)}/")
    drain_tasks()
    lead = Delivery.objects.get().envelope_id
    Delivery.objects.update(
        state=DeliveryState.DELIVERED, envelope=None, delivered_at=timezone.now()
    )
    Envelope.objects.filter(id=lead).shred()
    mail.outbox.clear()
    return subject


def ask(client, kind: str, email: str, lang: str = "") -> str:
    """Start a request; returns the challenge id from the page it leads to."""
    answer = client.post(f"{lang}/privacy/", {"kind": kind, "email": email})
    assert answer.status_code == 302, answer.content
    return re.search(r"/privacy/verify/([0-9a-f-]+)/", answer["Location"]).group(1)


def code_for(address: str) -> str:
    drain_tasks()
    message = next(m for m in reversed(mail.outbox) if m.to == [address])
    return re.search(r"\b(\d{6})\b", message.body).group(1)


def requested(client, kind: str, address: str = "kari@example.com") -> RightsRequest:
    """Ask, prove with the code from the e-mail, send: the request as recorded."""
    challenge = ask(client, kind, address)
    prove(client, challenge, code_for(address))
    send(client, challenge)
    return RightsRequest.objects.get()


def prove(client, challenge_id: str, code: str):
    return client.post(f"/privacy/verify/{challenge_id}/", {"code": code})


def send(client, challenge_id: str):
    return client.post(f"/privacy/confirm/{challenge_id}/")
