"""The e-mail job queue's own upkeep (django-tasks' database backend): a job whose worker died
while running it is made ready again, and one that failed for a reason that passes is tried
again, later each time. Both are retention rules (worker/retention.py)."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.tasks import TaskResultStatus
from django_tasks_db.models import DBTaskResult

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
