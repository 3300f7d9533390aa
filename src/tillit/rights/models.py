"""Rights requests and the one-time codes that prove a person controls an address.

Neither holds a readable address: a challenge keeps the address's blind index and a keyed hash
of its code; the address itself waits in a vault envelope only as long as it is needed (to send
the code; to answer the request), then is shredded.
"""

from __future__ import annotations

import uuid

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from tillit.core import refs
from tillit.core.lifecycle import Lifecycle, Move
from tillit.datamap import Kind


class Challenge(models.Model):
    """A 6-digit code sent to an address: valid 10 minutes, 5 tries, used once."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    kind = models.CharField(max_length=20, choices=Kind.choices)
    email_index = models.CharField(max_length=64, db_index=True)
    # False when the address typed is not the one a blind index would stand for (for example
    # a Unicode look-alike that lower-cases to it): it then matches nobody.
    matchable = models.BooleanField(default=True)
    code_hash = models.CharField(max_length=64)
    language = models.CharField(max_length=5, default="nb")
    tries = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    expires_at = models.DateTimeField()
    verified_at = models.DateTimeField(null=True, blank=True)
    used_at = models.DateTimeField(null=True, blank=True)
    # The address and the code, sealed for the e-mail job and shredded once it is sent; after
    # a successful check the address is moved to the request it opens.
    envelope = models.ForeignKey(
        "vault.Envelope", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    def __str__(self) -> str:
        return f"challenge {self.id}"


class State(models.TextChoices):
    RECEIVED = "received", _("received")
    IN_PROGRESS = "in_progress", _("in progress")
    COMPLETED = "completed", _("completed")
    REFUSED = "refused", _("refused")


# A request is received and, in the same transaction, either answered at once (nobody found)
# or started: tillit's own part is done and the partners' parts are planned. It closes once,
# completed or refused, and never changes state again. An extension and an overdue alarm are
# facts on the row (`extended_until`, `overdue_alarm_at`), each recorded once: self-moves of an
# open request, so that their conditional UPDATE refuses a closed one.
R = State
RIGHTS_REQUEST = Lifecycle(
    "rights.RightsRequest",
    State,
    initial=[R.RECEIVED],
    moves=[
        Move("start", (R.RECEIVED,), R.IN_PROGRESS, event="rights.requested"),
        Move("complete", (R.RECEIVED, R.IN_PROGRESS), R.COMPLETED, event="rights.completed"),
        Move("refuse", (R.RECEIVED, R.IN_PROGRESS), R.REFUSED, event="rights.refused"),
        Move(
            "extend",
            (R.IN_PROGRESS,),
            R.IN_PROGRESS,
            event="rights.extended",
            marks="extended_until",
        ),
        Move(
            "alarm",
            (R.IN_PROGRESS,),
            R.IN_PROGRESS,
            event="rights.overdue",
            marks="overdue_alarm_at",
        ),
    ],
)
del R


class RightsRequest(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices)
    state = models.CharField(
        _("state"), max_length=12, choices=State.choices, default=State.RECEIVED
    )
    subject = models.ForeignKey(
        "subjects.Subject",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="rights_requests",
        verbose_name=_("subject"),
    )
    language = models.CharField(_("language"), max_length=5, default="nb")
    received_at = models.DateTimeField(_("received at"), default=timezone.now, db_index=True)
    due_at = models.DateTimeField(_("due at"))
    extended_until = models.DateTimeField(_("extended until"), null=True, blank=True)
    extension_reason = models.TextField(_("reason for the extension"), blank=True)
    # Art. 12(4)-(5): a refused request, with the reason the person was told.
    refusal_reason = models.TextField(_("reason for the refusal"), blank=True)
    completed_at = models.DateTimeField(_("completed at"), null=True, blank=True)
    overdue_alarm_at = models.DateTimeField(_("overdue alarm at"), null=True, blank=True)
    outcome = models.CharField(_("outcome"), max_length=40, blank=True)
    # Where to answer: the verified address, sealed until the request is closed.
    contact = models.ForeignKey(
        "vault.Envelope", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Rectification: the corrected values, sealed until the partners have applied them.
    details = models.ForeignKey(
        "vault.Envelope", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Access and portability: the answer, sealed until downloaded once or 7 days old.
    export = models.ForeignKey(
        "vault.Envelope", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Portability to another company: the copy for the recipient the person named (their
    # name and address wait in `details`), with its own one-time link.
    transfer = models.ForeignKey(
        "vault.Envelope", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-received_at"]
        verbose_name = _("rights request")
        verbose_name_plural = _("rights requests")

    def __str__(self) -> str:
        return f"{self.kind} request {self.reference}"

    @property
    def reference(self) -> str:
        """What the person quotes: short, and not their data."""
        return refs.short("R", self.id)

    @property
    def wants_export(self) -> bool:
        return self.kind in (Kind.ACCESS, Kind.PORTABILITY)

    @property
    def deadline(self) -> object:
        return self.extended_until or self.due_at


class TaskState(models.TextChoices):
    WAITING = "waiting", _("waiting to be sent")
    PENDING = "pending", _("sent, waiting for the partner")
    IN_PROGRESS = "in_progress", _("the partner is working on it")
    COMPLETED = "completed", _("done by the partner")
    FAILED = "failed", _("the partner could not be reached")
    CANCELLING = "cancelling", _("being withdrawn from the partner")
    CANCELLED = "cancelled", _("withdrawn before the partner acted")


T = TaskState
# What the row shows (the partner's own progress report) needs no event of its own: its
# taking the request, its answer and every giving up are recorded.
PROGRESS_ONLY = "the partner's progress report, told by the row; taking and answering are audited"
PARTNER_TASK = Lifecycle(
    "rights.PartnerTask",
    TaskState,
    initial=[T.WAITING],
    moves=[
        # A partner without a rights API: e-mailed a one-time link, then reminded.
        Move("mail", (T.WAITING,), T.PENDING, event="rights.partner_mailed"),
        Move(
            "remind",
            (T.PENDING, T.IN_PROGRESS),
            T.PENDING,
            event="rights.partner_reminded",
            marks="reminders",
        ),
        # A partner with a rights API took the request (OpenDSR POST /requests).
        Move("accept", (T.WAITING,), T.PENDING, event="rights.partner_sent"),
        # Its status, from its answer, a poll or a callback (which may come before the answer).
        Move(
            "progress",
            (T.WAITING, T.PENDING, T.CANCELLING),
            T.IN_PROGRESS,
            unaudited=PROGRESS_ONLY,
        ),
        Move("wait", (T.IN_PROGRESS,), T.PENDING, unaudited=PROGRESS_ONLY),
        # Done: the partner's status, its answer through the link, or staff for it. A late
        # answer counts (after the give-up, or while the request was being withdrawn).
        Move(
            "done",
            (T.WAITING, T.PENDING, T.IN_PROGRESS, T.FAILED, T.CANCELLING),
            T.COMPLETED,
            event="rights.partner_done",
        ),
        # 14 days without an answer: the privacy officer takes over.
        Move(
            "give_up",
            (T.WAITING, T.PENDING, T.IN_PROGRESS, T.CANCELLING),
            T.FAILED,
            event="rights.partner_failed",
        ),
        # A refused request: what a partner with an API may have started is withdrawn from it
        # (OpenDSR DELETE); what was never sent, or sent by e-mail, is dropped at once.
        Move("withdraw", (T.PENDING, T.IN_PROGRESS), T.CANCELLING, event="rights.refused"),
        Move(
            "drop",
            (T.WAITING, T.PENDING, T.IN_PROGRESS, T.FAILED),
            T.CANCELLED,
            event="rights.refused",
        ),
        Move("withdrawn", (T.CANCELLING,), T.CANCELLED, event="rights.partner_cancelled"),
    ],
)
del T


class PartnerTask(models.Model):
    """A request passed on to one partner that received the person's data (Art. 19). Its id
    is the `subject_request_id` the partner sees."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    request = models.ForeignKey(
        RightsRequest,
        on_delete=models.CASCADE,
        related_name="tasks",
        verbose_name=_("rights request"),
    )
    partner = models.ForeignKey(
        "partners.Partner", on_delete=models.PROTECT, related_name="+", verbose_name=_("partner")
    )
    state = models.CharField(
        _("state"), max_length=12, choices=TaskState.choices, default=TaskState.WAITING
    )
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    next_attempt_at = models.DateTimeField(
        _("next attempt at"), default=timezone.now, db_index=True
    )
    last_error = models.CharField(_("last error"), max_length=200, blank=True)
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)
    expected_completion_at = models.DateTimeField(
        _("expected completion at"), null=True, blank=True
    )
    completed_at = models.DateTimeField(_("completed at"), null=True, blank=True)
    results_url = models.URLField(_("results URL"), max_length=500, blank=True)
    # Partners without a rights API: reminders sent by e-mail, what they answered through
    # their one-time link, and the file they uploaded (sealed until it is in the export).
    reminders = models.PositiveSmallIntegerField(_("reminders"), default=0)
    answer = models.CharField(_("answer"), max_length=20, blank=True)
    answer_file = models.ForeignKey(
        "vault.Envelope", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["request", "partner"]
        verbose_name = _("partner's task")
        verbose_name_plural = _("partners' tasks")

    def __str__(self) -> str:
        return f"{self.request.kind} at {self.partner}"
