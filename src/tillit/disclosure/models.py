"""Requests for a person's data from an authority or a third party (P20, P22, P23), handled
as recorded cases: registered, weighed by the privacy officer, decided, the person told
beforehand (through their partner) unless the law forbids it, what was disclosed recorded,
closed. tillit can disclose only its own records, which hold no name or address: routing,
consent and dates."""

from __future__ import annotations

import uuid

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from tillit.core import refs
from tillit.core.lifecycle import Lifecycle, Move


class Requester(models.TextChoices):
    AUTHORITY = "authority", _("an authority (e.g. the police)")
    THIRD_PARTY = "third_party", _("a third party (e.g. a lawyer, another company)")


class Step(models.TextChoices):
    REGISTERED = "registered", _("registered")
    UNDER_REVIEW = "under_review", _("weighed, waiting for a decision")
    DECIDED = "decided", _("decided")
    NOTIFYING = "notifying", _("the person is being told (the notice is on its way)")
    NOTIFIED = "notified", _("the person has been told")
    WITHHELD = "withheld", _("telling the person is forbidden by law")
    DISCLOSED = "disclosed", _("disclosed")
    CLOSED = "closed", _("closed")


class Decision(models.TextChoices):
    DISCLOSE = "disclose", _("disclose")
    REFUSE = "refuse", _("refuse")


# A case's steps (disclosure/steps.py makes them). Telling the person is two moves: the
# officer asks (`notify`), and the case waits until the partner holding the person's contact
# data has taken the notice (`notice_delivered`); only then may anything be disclosed. A
# notice the partner can no longer deliver takes the case back to the officer.
DISCLOSURE = Lifecycle(
    "disclosure.DisclosureCase",
    Step,
    initial=[Step.REGISTERED],
    field="step",
    moves=[
        Move("weigh", (Step.REGISTERED,), Step.UNDER_REVIEW, event="disclosure.weighed"),
        Move("decide_disclose", (Step.UNDER_REVIEW,), Step.DECIDED,
             event="disclosure.decided_disclose"),
        Move("decide_refuse", (Step.UNDER_REVIEW,), Step.DECIDED,
             event="disclosure.decided_refuse"),
        Move("notify", (Step.DECIDED,), Step.NOTIFYING, event="disclosure.person_notified"),
        Move("notice_delivered", (Step.NOTIFYING,), Step.NOTIFIED,
             event="disclosure.notice_delivered"),
        Move("notice_undeliverable", (Step.NOTIFYING,), Step.DECIDED,
             event="disclosure.notice_undeliverable"),
        # The officer takes back a notice the partner cannot take (paused, or failing).
        Move("take_back", (Step.NOTIFYING,), Step.DECIDED, event="disclosure.notice_taken_back"),
        Move("withhold", (Step.DECIDED,), Step.WITHHELD, event="disclosure.notice_withheld"),
        Move("disclose", (Step.NOTIFIED, Step.WITHHELD), Step.DISCLOSED,
             event="disclosure.disclosed"),
        # A refusal is closed once decided, and so is a case about nobody in tillit's records
        # (nothing to disclose, nobody to tell); a disclosure once it is recorded.
        Move("close_undisclosed", (Step.DECIDED,), Step.CLOSED, event="disclosure.closed"),
        Move("close", (Step.DISCLOSED,), Step.CLOSED, event="disclosure.closed"),
    ],
)  # fmt: skip


class DisclosureCase(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    requester_kind = models.CharField(
        _("kind of requester"), max_length=12, choices=Requester.choices
    )
    requester = models.CharField(_("who asks"), max_length=200)
    legal_basis = models.CharField(_("legal basis they cite"), max_length=300)
    scope = models.TextField(
        _("what they ask for"),
        max_length=2000,
        help_text=_(
            "Describe the records asked for, not the person: no name, address or number "
            "here (the case is linked to the person by tillit's pseudonymous id)."
        ),
    )
    deadline = models.DateField(_("their deadline"), null=True, blank=True)
    subject = models.ForeignKey(
        "subjects.Subject",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("subject"),
    )
    step = models.CharField(_("step"), max_length=12, choices=Step.choices, default=Step.REGISTERED)
    balancing = models.TextField(_("balancing"), blank=True)
    decision = models.CharField(_("decision"), max_length=8, choices=Decision.choices, blank=True)
    decision_reason = models.TextField(_("reason for the decision"), blank=True)
    prohibition = models.CharField(
        _("legal prohibition on telling the person"), max_length=300, blank=True
    )
    disclosed = models.JSONField(_("disclosed"), null=True, blank=True)
    registered_at = models.DateTimeField(_("registered at"), default=timezone.now)
    closed_at = models.DateTimeField(_("closed at"), null=True, blank=True)
    version = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["closed_at", "-registered_at"]
        verbose_name = _("disclosure case")
        verbose_name_plural = _("disclosure cases")

    def __str__(self) -> str:
        return self.reference

    @property
    def reference(self) -> str:
        return refs.short("D", self.id)
