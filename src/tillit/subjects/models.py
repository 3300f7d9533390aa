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
from django.utils.translation import gettext_lazy as _

from tillit.core.lifecycle import Lifecycle, Move


class State(models.TextChoices):
    PENDING = "pending", _("waiting for e-mail confirmation")
    ACTIVE = "active", _("confirmed and referred")
    EXPIRED = "expired", _("never confirmed; shredded")
    ERASED = "erased", _("erased on request")


SUBJECT = Lifecycle(
    "subjects.Subject",
    State,
    initial=[State.PENDING],
    moves=[
        Move("confirm", (State.PENDING,), State.ACTIVE, event="subject.confirmed"),
        Move("expire", (State.PENDING,), State.EXPIRED, event="subject.expired"),
        Move("erase", (State.PENDING, State.ACTIVE), State.ERASED, event="rights.requested"),
    ],
)


class Subject(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    email_index = models.CharField(max_length=64, db_index=True)
    phone_index = models.CharField(max_length=64, blank=True, db_index=True)
    # ISO 3166-1 alpha-2, or the ISO 3166-2 code of a state whose law applies ("US-CA").
    country = models.CharField(_("country"), max_length=6)
    language = models.CharField(_("language"), max_length=5, default="nb")
    partner = models.ForeignKey(
        "partners.Partner",
        null=True,
        on_delete=models.PROTECT,
        related_name="subjects",
        verbose_name=_("partner"),
    )
    state = models.CharField(
        _("state"), max_length=10, choices=State.choices, default=State.PENDING
    )
    policy_version = models.CharField(_("policy version"), max_length=40)
    created_at = models.DateTimeField(_("signed up at"), default=timezone.now, db_index=True)
    confirmed_at = models.DateTimeField(_("confirmed at"), null=True, blank=True)

    class Meta:
        verbose_name = _("subject")
        verbose_name_plural = _("subjects")
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
