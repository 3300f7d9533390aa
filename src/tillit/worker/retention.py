"""Retention is code: every rule that forgets, shreds or retries in time is a named function in
the package whose data it keeps (its docstring states the rule), and this is the list the
worker applies each minute and `tillit prune` applies at once, in this order."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from django.utils import timezone

from tillit.audit.sequencer import thin_checkpoints
from tillit.contact.cases import forget_closed_contacts
from tillit.core.ratelimit import forget_spent_attempts
from tillit.partners.models import forget_old_secrets
from tillit.rights.actions import alarm_overdue
from tillit.rights.export import forget_stale_exports
from tillit.rights.verification import forget_stale_challenges
from tillit.subjects.retention import (
    fail_undeliverable,
    shred_stale_intake,
    shred_stale_notices,
    shred_unconfirmed,
)
from tillit.worker.jobs import requeue_stranded_jobs, retry_failed_mail

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
