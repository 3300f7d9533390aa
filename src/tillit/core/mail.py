"""E-mail: templated messages, and the demo backend that writes .eml files."""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from email.errors import HeaderParseError
from email.headerregistry import HeaderRegistry
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.mail import EmailMessage, EmailMultiAlternatives
from django.core.mail.backends.base import BaseEmailBackend
from django.template import Context, Engine
from django.template.loader import render_to_string
from django.utils import timezone, translation

from tillit.vault.pii import Pii

# An address of letters, digits and . _ % + - on both sides of one @: nothing in it can start
# an encoded-word, a display name, a group or a second address, so no header parser is needed.
PLAIN_ADDRESS = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+", re.ASCII)


def header_safe(address: str) -> bool:
    """True for one bare address that an e-mail's To header carries exactly as it is.

    False for a line break, a display name or a second address, and for an RFC 2047
    encoded-word: Python's e-mail package decodes those while it writes the header, so the
    valid-looking "=?utf-8?q?x=2C_evil=40example.invalid?=@example.com" would put two
    recipients in the To header."""
    if PLAIN_ADDRESS.fullmatch(address):
        return True  # dot-atom characters only: no space, quote, comma, "=?" or line break
    if "\r" in address or "\n" in address:
        return False
    try:
        parsed = HeaderRegistry()("To", address).addresses
    except (HeaderParseError, ValueError, IndexError, TypeError):
        return False
    return [one.addr_spec for one in parsed] == [address]


def send_templated(name: str, to: Pii, context: dict[str, Any], language: str) -> None:
    """Send emails/<name>-{subject,body}.txt and -body.html in the person's language, to an
    address that cannot carry a header of its own (see header_safe)."""
    if not header_safe(to.reveal()):
        # The forms refuse such addresses; this is the last line, for one that got past them.
        raise MailNotSent(f"{name} e-mail not sent: the address is not one plain address")
    with translation.override(language):
        from tillit.core import brand  # the brand reads the database: imported when sent

        shown = brand.current()
        ctx = {"operator": shown.operator, "brand": shown, "site_url": settings.SITE_URL, **context}
        subject = plain(f"emails/{name}-subject.txt", ctx).strip()
        text = plain(f"emails/{name}-body.txt", ctx)
        html = render_to_string(f"emails/{name}-body.html", ctx)
    message = EmailMultiAlternatives(subject, text, settings.DEFAULT_FROM_EMAIL, [to.reveal()])
    message.attach_alternative(html, "text/html")
    try:
        message.send()
    except Exception as error:
        # SMTP errors quote the refused address, and a failed job's error is stored: raise a
        # new one that names only the kind of failure, with the original's text left behind.
        raise MailNotSent(f"{name} e-mail not sent: {type(error).__name__}") from None


def plain(template: str, context: dict[str, Any]) -> str:
    """A subject or a text body: plain text, which HTML escaping would only garble ("2 &lt; 3",
    "O&#x27;Brien"). The HTML body is escaped as every page is."""
    found = Engine.get_default().get_template(template)
    return found.render(Context(context, autoescape=False))


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
