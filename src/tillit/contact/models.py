"""Messages from the site's contact form (P4, P10). Everything the person wrote, and every
reply, is sealed in one vault envelope; the row keeps only what the queue needs to show (no
name, no address, no text). The envelope is shredded 30 days after the case is closed."""

from __future__ import annotations

import uuid

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from tillit.core import refs
from tillit.core.lifecycle import Lifecycle, Move


class CaseState(models.TextChoices):
    OPEN = "open", _("open")
    ANSWERED = "answered", _("answered")
    CLOSED = "closed", _("closed")


# A case is answered any number of times until it is closed; a closed case never moves again
# (its messages are shredded CONTACT_RETENTION_DAYS after `closed_at`: contact/cases.py). A
# person who writes again opens a new case.
CONTACT = Lifecycle(
    "contact.ContactMessage",
    CaseState,
    initial=[CaseState.OPEN],
    moves=[
        Move("reply", (CaseState.OPEN, CaseState.ANSWERED), CaseState.ANSWERED,
             event="contact.replied"),
        Move("close", (CaseState.OPEN, CaseState.ANSWERED), CaseState.CLOSED,
             event="contact.closed"),
    ],
)  # fmt: skip


class ContactMessage(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    state = models.CharField(
        _("state"), max_length=10, choices=CaseState.choices, default=CaseState.OPEN
    )
    language = models.CharField(_("language"), max_length=5, default="nb")
    created_at = models.DateTimeField(_("received at"), default=timezone.now, db_index=True)
    answered_at = models.DateTimeField(_("answered at"), null=True, blank=True)
    closed_at = models.DateTimeField(_("closed at"), null=True, blank=True, db_index=True)
    replies = models.PositiveSmallIntegerField(_("replies"), default=0)
    # How the person can be answered, without saying who they are.
    by_email = models.BooleanField(_("by e-mail"), default=False)
    by_phone = models.BooleanField(_("by phone"), default=False)
    envelope = models.ForeignKey(
        "vault.Envelope", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Optimistic locking: two support staff on one case cannot overwrite each other.
    version = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["state", "-created_at"]
        verbose_name = _("contact message")
        verbose_name_plural = _("contact messages")

    def __str__(self) -> str:
        return self.reference

    @property
    def reference(self) -> str:
        return refs.short("K", self.id)
