"""Messages from the site's contact form (P4, P10). Everything the person wrote, and every
reply, is sealed in one vault envelope; the row keeps only what the queue needs to show (no
name, no address, no text). The envelope is shredded 30 days after the case is closed."""

from __future__ import annotations

import uuid

from django.db import models
from django.utils import timezone

from tillit.core import refs


class CaseState(models.TextChoices):
    OPEN = "open", "open"
    ANSWERED = "answered", "answered"
    CLOSED = "closed", "closed"


class ContactMessage(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    state = models.CharField(max_length=10, choices=CaseState.choices, default=CaseState.OPEN)
    language = models.CharField(max_length=5, default="nb")
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    answered_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True, db_index=True)
    replies = models.PositiveSmallIntegerField(default=0)
    # How the person can be answered, without saying who they are.
    by_email = models.BooleanField(default=False)
    by_phone = models.BooleanField(default=False)
    envelope = models.ForeignKey(
        "vault.Envelope", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Optimistic locking: two support staff on one case cannot overwrite each other.
    version = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["state", "-created_at"]
        verbose_name = "contact message"

    def __str__(self) -> str:
        return self.reference

    @property
    def reference(self) -> str:
        return refs.short("K", self.id)
