"""The delivery outbox: one row for each lead on its way to a partner, and the lifecycle
it goes through (waiting for the person's confirmation, queued, being sent, then delivered,
failed or cancelled)."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy

from tillit.core.lifecycle import Lifecycle, Move
from tillit.partners.models.partner import Partner
from tillit.vault.models import Envelope


class DeliveryState(models.TextChoices):
    WAITING = "waiting", gettext_lazy("waiting for the person's confirmation")
    PENDING = "pending", gettext_lazy("queued")
    LEASED = "leased", gettext_lazy("being sent")
    DELIVERED = "delivered", gettext_lazy("delivered")
    FAILED = "failed", gettext_lazy("undeliverable; shredded")
    CANCELLED = "cancelled", gettext_lazy("never confirmed, or erased; shredded")


S = DeliveryState
LEASE_ONLY = "a lease: the row counts the attempt and names its holder"
DELIVERY = Lifecycle(
    "partners.Delivery",
    DeliveryState,
    initial=[S.WAITING],
    moves=[
        Move("release", (S.WAITING,), S.PENDING, event="subject.confirmed"),
        # A lease whose worker went away is taken again, by another worker or the same.
        Move("claim", (S.PENDING, S.LEASED), S.LEASED, unaudited=LEASE_ONLY),
        Move("deliver", (S.LEASED,), S.DELIVERED, event="lead.delivered"),
        Move("retry", (S.LEASED,), S.PENDING, unaudited="the row keeps the error and the next try"),
        Move("fail", (S.PENDING, S.LEASED), S.FAILED, event="lead.failed"),
        Move("expire", (S.WAITING,), S.CANCELLED, event="subject.expired"),
        # Erasure: a lead on its way is cancelled (a leased one may reach the partner all the
        # same; the erasure is passed on to every partner that may have it).
        Move("cancel", (S.WAITING, S.PENDING, S.LEASED), S.CANCELLED, event="rights.requested"),
    ],
)
del S


class DeliveryQuerySet(models.QuerySet["Delivery"]):
    def due(self, now: datetime) -> DeliveryQuerySet:
        """Queued jobs whose time has come, and leased ones whose worker went away."""
        return self.filter(
            Q(state=DeliveryState.PENDING, next_attempt_at__lte=now)
            | Q(state=DeliveryState.LEASED, lease_expires_at__lt=now)
        )


class Delivery(models.Model):
    """One lead on its way to one partner. Its id is the idempotency key the partner sees."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    subject = models.ForeignKey(
        "subjects.Subject",
        on_delete=models.PROTECT,
        related_name="deliveries",
        verbose_name=gettext_lazy("subject"),
    )
    partner = models.ForeignKey(
        Partner,
        on_delete=models.PROTECT,
        related_name="deliveries",
        verbose_name=gettext_lazy("partner"),
    )
    envelope = models.ForeignKey(
        Envelope, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    state = models.CharField(
        gettext_lazy("state"),
        max_length=10,
        choices=DeliveryState.choices,
        default=DeliveryState.WAITING,
        db_index=True,
    )
    attempts = models.PositiveIntegerField(gettext_lazy("attempts"), default=0)
    next_attempt_at = models.DateTimeField(
        gettext_lazy("next attempt at"), null=True, blank=True, db_index=True
    )
    lease_expires_at = models.DateTimeField(gettext_lazy("lease expires at"), null=True, blank=True)
    lease_token = models.CharField(max_length=32, blank=True)
    created_at = models.DateTimeField(
        gettext_lazy("created at"), default=timezone.now, db_index=True
    )
    released_at = models.DateTimeField(gettext_lazy("released at"), null=True, blank=True)
    delivered_at = models.DateTimeField(gettext_lazy("delivered at"), null=True, blank=True)
    partner_reference = models.CharField(
        gettext_lazy("partner's reference"), max_length=100, blank=True
    )
    receipt_hash = models.CharField(gettext_lazy("receipt hash"), max_length=64, blank=True)
    last_error = models.CharField(gettext_lazy("last error"), max_length=200, blank=True)

    objects = DeliveryQuerySet.as_manager()

    class Meta:
        verbose_name = gettext_lazy("delivery")
        verbose_name_plural = gettext_lazy("deliveries")
        ordering = ["-created_at"]
        indexes = [
            # claim() reads the queue in the order it falls due, along these.
            models.Index(fields=["state", "next_attempt_at"], name="delivery_queue"),
            models.Index(fields=["state", "lease_expires_at"], name="delivery_leases"),
        ]

    def __str__(self) -> str:
        return f"delivery {self.id} → {self.partner_id} ({self.state})"

    def age(self, now: datetime | None = None) -> timedelta:
        return (now or timezone.now()) - (self.released_at or self.created_at)
