"""E-mail: templated messages, and the demo backend that writes .eml files."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.mail import EmailMessage, EmailMultiAlternatives
from django.core.mail.backends.base import BaseEmailBackend
from django.template.loader import render_to_string
from django.utils import timezone, translation

from tillit import datamap
from tillit.vault.pii import Pii


def send_templated(name: str, to: Pii, context: dict[str, Any], language: str) -> None:
    """Send emails/<name>-{subject,body}.txt and -body.html in the person's language."""
    with translation.override(language):
        ctx = {"operator": datamap.load().operator, "site_url": settings.SITE_URL, **context}
        subject = render_to_string(f"emails/{name}-subject.txt", ctx).strip()
        text = render_to_string(f"emails/{name}-body.txt", ctx)
        html = render_to_string(f"emails/{name}-body.html", ctx)
    message = EmailMultiAlternatives(subject, text, settings.DEFAULT_FROM_EMAIL, [to.reveal()])
    message.attach_alternative(html, "text/html")
    try:
        message.send()
    except Exception as error:
        # SMTP errors quote the refused address, and a failed job's error is stored: raise a
        # new one that names only the kind of failure, with the original's text left behind.
        raise MailNotSent(f"{name} e-mail not sent: {type(error).__name__}") from None


class MailNotSent(Exception):
    pass


class EmlFileBackend(BaseEmailBackend):
    """Writes each message as one .eml file in `directory` (demo mode only)."""

    def __init__(self, *, directory: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.directory = Path(directory)

    def send_messages(self, email_messages: Sequence[EmailMessage]) -> int:
        self.directory.mkdir(parents=True, exist_ok=True)
        for message in email_messages:
            stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
            path = self.directory / f"{stamp}-{uuid.uuid4().hex[:8]}.eml"
            path.write_bytes(message.message().as_bytes())
        return len(email_messages)
