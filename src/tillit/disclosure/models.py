"""Requests for a person's data from an authority or a third party (P20, P22, P23), handled
as recorded cases: registered, weighed by the privacy officer, decided, the person told
beforehand (through their partner) unless the law forbids it, what was disclosed recorded,
closed. tillit can disclose only its own records, which hold no name or address: routing,
consent and dates."""

from __future__ import annotations

import uuid

from django.db import models
from django.utils import timezone

from tillit.core import refs


class Requester(models.TextChoices):
    AUTHORITY = "authority", "an authority (e.g. the police)"
    THIRD_PARTY = "third_party", "a third party (e.g. a lawyer, another company)"


class Step(models.TextChoices):
    REGISTERED = "registered", "registered"
    UNDER_REVIEW = "under_review", "weighed, waiting for a decision"
    DECIDED = "decided", "decided"
    NOTIFIED = "notified", "the person has been told"
    WITHHELD = "withheld", "telling the person is forbidden by law"
    DISCLOSED = "disclosed", "disclosed"
    CLOSED = "closed", "closed"


class Decision(models.TextChoices):
    DISCLOSE = "disclose", "disclose"
    REFUSE = "refuse", "refuse"


class DisclosureCase(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    requester_kind = models.CharField(max_length=12, choices=Requester.choices)
    requester = models.CharField("who asks", max_length=200)
    legal_basis = models.CharField("legal basis they cite", max_length=300)
    scope = models.TextField(
        "what they ask for",
        max_length=2000,
        help_text="Describe the records asked for, not the person: no name, address or number "
        "here (the case is linked to the person by tillit's pseudonymous id).",
    )
    deadline = models.DateField("their deadline", null=True, blank=True)
    subject = models.ForeignKey(
        "subjects.Subject", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    step = models.CharField(max_length=12, choices=Step.choices, default=Step.REGISTERED)
    balancing = models.TextField(blank=True)
    decision = models.CharField(max_length=8, choices=Decision.choices, blank=True)
    decision_reason = models.TextField(blank=True)
    prohibition = models.CharField(
        "legal prohibition on telling the person", max_length=300, blank=True
    )
    disclosed = models.JSONField(null=True, blank=True)
    registered_at = models.DateTimeField(default=timezone.now)
    closed_at = models.DateTimeField(null=True, blank=True)
    version = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["closed_at", "-registered_at"]
        verbose_name = "disclosure case"

    def __str__(self) -> str:
        return self.reference

    @property
    def reference(self) -> str:
        return refs.short("D", self.id)
