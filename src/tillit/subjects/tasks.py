"""E-mail jobs. Their arguments are ids only: the address is read from the vault when sent."""

from __future__ import annotations

from django.conf import settings
from django.tasks import task
from django.urls import reverse
from django.utils import translation

from tillit.core.mail import send_templated
from tillit.vault.models import Envelope


@task()
def send_confirmation(subject_id: str) -> None:
    from tillit.partners.models import Delivery
    from tillit.subjects.confirmation import confirmation_token
    from tillit.subjects.models import State, Subject

    subject = Subject.objects.filter(id=subject_id, state=State.PENDING).first()
    delivery = Delivery.objects.filter(subject_id=subject_id, envelope__isnull=False).first()
    if subject is None or delivery is None or delivery.envelope is None:
        return  # Confirmed, expired or shredded meanwhile: nothing to send.
    lead = delivery.envelope.open()
    with translation.override(subject.language):
        path = reverse("site:confirm", args=[confirmation_token(subject)])
    send_templated(
        "confirm",
        lead["email"],
        {"confirm_url": settings.SITE_URL + path, "hours": settings.UNCONFIRMED_MAX_AGE_HOURS},
        subject.language,
    )


@task()
def send_already_registered(notice_id: str, language: str, subject_id: str) -> None:
    from tillit.subjects.models import Subject

    notice = Envelope.objects.filter(id=notice_id).first()
    if notice is None:
        return
    subject = Subject.objects.select_related("partner").filter(id=subject_id).first()
    send_templated(
        "already-registered",
        notice.open()["email"],
        {"partner": subject.partner if subject else None},
        language,
    )
    notice.shred()


@task()
def send_not_referred(notice_id: str, language: str) -> None:
    """No partner could take the person after all: they are told, and the address goes."""
    notice = Envelope.objects.filter(id=notice_id).first()
    if notice is None:
        return
    send_templated("not-referred", notice.open()["email"], {}, language)
    notice.shred()
