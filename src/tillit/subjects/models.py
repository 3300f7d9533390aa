"""A Subject is a person who signed up, held as pseudonymous facts only.

No column here can be read back into a name, an address or a number: the e-mail and phone
appear only as keyed blind indexes, and the rest is what the flow needs (country for routing,
the assigned partner, the state and its dates).
"""

from __future__ import annotations

import uuid

from django.db import models
from django.db.models import Q
from django.utils import timezone


class State(models.TextChoices):
    PENDING = "pending", "waiting for e-mail confirmation"
    ACTIVE = "active", "confirmed and referred"
    EXPIRED = "expired", "never confirmed; shredded"
    ERASED = "erased", "erased on request"


class Subject(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    email_index = models.CharField(max_length=64, db_index=True)
    phone_index = models.CharField(max_length=64, blank=True, db_index=True)
    country = models.CharField(max_length=2)
    language = models.CharField(max_length=5, default="nb")
    partner = models.ForeignKey(
        "partners.Partner", null=True, on_delete=models.PROTECT, related_name="subjects"
    )
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    policy_version = models.CharField(max_length=40)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    confirmed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            # One live account per address; an expired or erased one may sign up again.
            models.UniqueConstraint(
                fields=["email_index"],
                condition=Q(state__in=["pending", "active"]),
                name="one_live_subject_per_email",
            )
        ]

    def __str__(self) -> str:
        return f"subject {self.id}"

    @property
    def ref(self) -> str:
        return f"subject:{self.id}"
