"""Retention rules. Each is run by the worker and by `tillit prune`."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.tasks import TaskResultStatus
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from tillit.audit.models import record
from tillit.audit.sequencer import thin_checkpoints
from tillit.contact.cases import forget_closed_contacts
from tillit.core.ratelimit import forget_spent_attempts
from tillit.partners.delivery import fail
from tillit.partners.models import DELIVERY, Delivery, DeliveryState, forget_old_secrets
from tillit.rights.actions import alarm_overdue
from tillit.rights.export import forget_stale_exports
from tillit.rights.verification import forget_stale_challenges
from tillit.subjects.models import SUBJECT, State, Subject
from tillit.vault.models import Envelope, Purpose


def shred_unconfirmed(now: datetime) -> int:
    """A sign-up not confirmed within TILLIT_UNCONFIRMED_MAX_AGE_HOURS (48 h) is shredded:
    its lead envelope is destroyed, its delivery cancelled and its blind indexes cleared, so
    nothing is left that could find or describe the person. The consent evidence stays."""
    cutoff = now - timedelta(hours=settings.UNCONFIRMED_MAX_AGE_HOURS)
    count = 0
    for subject_id in Subject.objects.filter(
        state=State.PENDING, created_at__lt=cutoff
    ).values_list("id", flat=True)[:1000]:
        with transaction.atomic():
            won = SUBJECT.apply(
                Subject.objects.filter(id=subject_id), "expire", email_index="", phone_index=""
            )
            if not won:
                continue
            envelope_ids = list(
                Delivery.objects.filter(subject_id=subject_id).values_list("envelope_id", flat=True)
            )
            DELIVERY.apply(
                Delivery.objects.filter(subject_id=subject_id),
                "expire",
                envelope=None,
                last_error="never confirmed",
            )
            Envelope.objects.filter(id__in=[e for e in envelope_ids if e]).shred()
            record("subject.expired", actor="worker", target=f"subject:{subject_id}")
            count += 1
    return count


def fail_undeliverable(now: datetime) -> int:
    """A lead still undelivered TILLIT_DELIVERY_MAX_AGE_HOURS (72 h) after confirmation is
    shredded; the delivery stays as a failed case (who, which partner, why) for staff."""
    cutoff = now - timedelta(hours=settings.DELIVERY_MAX_AGE_HOURS)
    stale = Delivery.objects.filter(
        state__in=DELIVERY.sources("fail"), released_at__lt=cutoff
    ).exclude(state=DeliveryState.LEASED, lease_expires_at__gte=now)
    count = 0
    for delivery in stale[:1000]:
        fail(delivery, delivery.last_error or "undeliverable within the maximum age", now)
        count += 1
    return count


def shred_stale_notices(now: datetime) -> int:
    """An address sealed for a single notice e-mail is shredded after sending; one whose
    e-mail never went out is shredded after TILLIT_UNCONFIRMED_MAX_AGE_HOURS all the same."""
    cutoff = now - timedelta(hours=settings.UNCONFIRMED_MAX_AGE_HOURS)
    return Envelope.objects.filter(purpose=Purpose.NOTICE, created_at__lt=cutoff).shred()


def shred_stale_intake(now: datetime) -> int:
    """A sign-up the worker could not record (subjects/intake.py logs why) is shredded once it
    could no longer be confirmed in time anyway."""
    cutoff = now - timedelta(hours=settings.UNCONFIRMED_MAX_AGE_HOURS)
    return Envelope.objects.filter(purpose=Purpose.INTAKE, created_at__lt=cutoff).shred()


# A job runs for seconds (an SMTP exchange is bounded by a 20 s timeout); one still "running"
# after this long lost its worker (SIGKILL, power cut) and would otherwise never run again.
STRANDED_JOB_AGE = timedelta(minutes=15)


def requeue_stranded_jobs(now: datetime) -> int:
    """An e-mail job whose worker died while running it is made ready again, so the person
    still gets their e-mail (at least once; a repeat is harmless, a loss is not)."""
    return DBTaskResult.objects.filter(
        status=TaskResultStatus.RUNNING, started_at__lt=now - STRANDED_JOB_AGE
    ).update(status=TaskResultStatus.READY, started_at=None)


# An e-mail that did not go for a reason that passes (the mail server away or answering 4xx,
# the mail spool's disk read-only or full) is tried again after 1, 2, 4 … up to 60 minutes.
MAIL_RETRY_FIRST = timedelta(minutes=1)
MAIL_RETRY_CAP = timedelta(minutes=60)
NOT_SENT = "tillit.core.mail.MailNotSent"
# A reason that does not pass: an address that cannot carry an e-mail. (A refused recipient
# may be greylisting, 4xx, or gone for good, 5xx; MailNotSent keeps only the kind, so it is
# tried again like the rest, for the bounded time below.)
FOR_GOOD = ("not one plain address",)


def retry_failed_mail(now: datetime) -> int:
    """An e-mail job that failed for a reason that passes is made ready again, each time after
    a longer wait (1 minute, doubling, at most an hour), for as long as the e-mail can still
    serve: TILLIT_UNCONFIRMED_MAX_AGE_HOURS, after which a confirmation link has expired and
    the sign-up is shredded. Without this, a mail server away for a minute, or a full disk,
    left every sign-up in that minute without its link for good."""
    failed = DBTaskResult.objects.filter(
        status=TaskResultStatus.FAILED,
        exception_class_path=NOT_SENT,
        enqueued_at__gte=now - timedelta(hours=settings.UNCONFIRMED_MAX_AGE_HOURS),
    )
    for reason in FOR_GOOD:
        failed = failed.exclude(traceback__contains=reason)
    due = [
        job.id
        for job in failed.only("id", "finished_at", "worker_ids")[:1000]
        if job.finished_at is None
        or job.finished_at
        <= now - min(MAIL_RETRY_CAP, MAIL_RETRY_FIRST * 2 ** max(len(job.worker_ids) - 1, 0))
    ]
    # The status is read again: a job another worker retried meanwhile is left alone.
    return DBTaskResult.objects.filter(id__in=due, status=TaskResultStatus.FAILED).update(
        status=TaskResultStatus.READY, started_at=None, finished_at=None
    )


RULES: list[Callable[[datetime], int]] = [
    requeue_stranded_jobs,
    retry_failed_mail,
    forget_stale_challenges,
    forget_stale_exports,
    alarm_overdue,
    shred_unconfirmed,
    fail_undeliverable,
    shred_stale_notices,
    shred_stale_intake,
    forget_closed_contacts,
    forget_old_secrets,
    thin_checkpoints,
    forget_spent_attempts,
]


def run_all(now: datetime | None = None) -> dict[str, int]:
    now = now or timezone.now()
    return {rule.__name__: rule(now) for rule in RULES}
