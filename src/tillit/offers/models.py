"""Offer notifications (P11): a time-limited offer a privacy officer writes, sent to the people
whose consent to offers is active, through the partner that holds each person's contact data.
tillit never holds the address: it sends the partner a person's pseudonymous reference, the
text and a one-click opt-out link."""

from __future__ import annotations

import uuid

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from tillit.core.lifecycle import Lifecycle, Move


class Offer(models.Model):
    title_nb = models.CharField(_("title (bokmål)"), max_length=120)
    title_en = models.CharField(_("title (English)"), max_length=120)
    body_nb = models.TextField(_("text (bokmål)"), max_length=2000)
    body_en = models.TextField(_("text (English)"), max_length=2000)
    valid_until = models.DateField(
        _("valid until"), help_text=_("The offer ends on this day; nothing is sent after.")
    )
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    created_by = models.CharField(_("created by"), max_length=40, blank=True, editable=False)
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True, editable=False)
    recipients = models.PositiveIntegerField(_("recipients"), default=0, editable=False)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("offer")
        verbose_name_plural = _("offers")

    def __str__(self) -> str:
        return self.title_en


class MessageState(models.TextChoices):
    PENDING = "pending", _("waiting to be sent")
    SENT = "sent", _("passed to the partner")
    SKIPPED = "skipped", _("not sent (consent withdrawn, or the partner no longer has the person)")
    FAILED = "failed", _("the partner could not be reached before the offer ended")


ROW_SAYS = "the message's row says when and why; the offer's launch is audited (offer.sent)"
M = MessageState
MESSAGE = Lifecycle(
    "offers.OfferMessage",
    MessageState,
    initial=[M.PENDING],
    moves=[
        Move("send", (M.PENDING,), M.SENT, unaudited=ROW_SAYS),
        Move("retry", (M.PENDING,), M.PENDING, unaudited=ROW_SAYS),
        # Consent withdrawn, a blocking request, or the partner no longer has the person.
        Move("skip", (M.PENDING,), M.SKIPPED, unaudited=ROW_SAYS),
        Move("give_up", (M.PENDING,), M.FAILED, unaudited=ROW_SAYS),
    ],
)
# The move that leads to each outcome of a try.
MOVE_TO = {M.SENT: "send", M.PENDING: "retry", M.SKIPPED: "skip", M.FAILED: "give_up"}
del M


class OfferMessage(models.Model):
    """One offer for one person, on its way to their partner. Its id is the message id the
    partner sees (repeats are idempotent)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    offer = models.ForeignKey(Offer, on_delete=models.CASCADE, related_name="messages")
    subject = models.ForeignKey("subjects.Subject", on_delete=models.CASCADE, related_name="+")
    partner = models.ForeignKey("partners.Partner", on_delete=models.PROTECT, related_name="+")
    state = models.CharField(
        max_length=10, choices=MessageState.choices, default=MessageState.PENDING, db_index=True
    )
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now, db_index=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=200, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["offer", "subject"], name="one_message_per_person")
        ]

    def __str__(self) -> str:
        return f"offer message {self.id} ({self.state})"
