"""Readiness and metrics for operators and their monitoring (no personal data in either).

- `/healthz` is liveness: the process answers (and the benchmarks' baseline).
- `/healthz/ready` is readiness: the database answers, the keyring opens, and the queues are
  not stuck (the oldest sign-up waiting to be recorded, the oldest lead waiting for delivery
  and the oldest e-mail job are younger than
  TILLIT_READY_MAX_QUEUE_AGE_SECONDS). 200 or 503 with a JSON body naming each check.
- `/metrics` is Prometheus text: sign-ups, deliveries by outcome, queue depth and oldest age,
  rights requests by state and overdue, cookie choices by action. Not public: it answers 404
  unless TILLIT_METRICS_TOKEN is set, and then only to `Authorization: Bearer <token>`.
"""

from __future__ import annotations

import hmac
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import connection
from django.db.models import Count, Min, Q
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.tasks import TaskResultStatus
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django_tasks_db.models import DBTaskResult

from tillit.consent.models import CookieConsent
from tillit.partners.models import Delivery, DeliveryState
from tillit.rights.models import RightsRequest
from tillit.subjects.models import Subject
from tillit.vault import keys
from tillit.vault.models import Envelope, Purpose


def _age(oldest: datetime | None, now: datetime) -> float:
    return max((now - oldest).total_seconds(), 0.0) if oldest else 0.0


def queue_ages(now: datetime) -> dict[str, float]:
    waiting = Delivery.objects.filter(state__in=[DeliveryState.PENDING, DeliveryState.LEASED])
    oldest_lead = waiting.aggregate(t=Min("released_at"))["t"]
    ready = DBTaskResult.objects.filter(status=TaskResultStatus.READY)
    oldest_job = ready.aggregate(t=Min("enqueued_at"))["t"]
    intake = Envelope.objects.filter(purpose=Purpose.INTAKE)
    oldest_signup = intake.aggregate(t=Min("created_at"))["t"]
    return {
        "signups": _age(oldest_signup, now),
        "deliveries": _age(oldest_lead, now),
        "email_jobs": _age(oldest_job, now),
    }


def queue_depths() -> dict[str, int]:
    """Work waiting in each queue (the console's first page and /metrics both show it)."""
    return {
        "signups": Envelope.objects.filter(purpose=Purpose.INTAKE).count(),
        "deliveries": Delivery.objects.filter(
            state__in=[DeliveryState.PENDING, DeliveryState.LEASED]
        ).count(),
        "email_jobs": DBTaskResult.objects.filter(status=TaskResultStatus.READY).count(),
    }


@never_cache
def ready(request: HttpRequest) -> HttpResponse:
    checks: dict[str, Any] = {}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        checks["database"] = "ok"
    except Exception as error:  # the answer is the point: name the failure, do not raise
        checks["database"] = f"failing: {type(error).__name__}"
    try:
        keys.load()
        checks["keys"] = "ok"
    except Exception as error:
        checks["keys"] = f"failing: {type(error).__name__}"
    if checks["database"] == "ok":
        limit = settings.READY_MAX_QUEUE_AGE_SECONDS
        for queue, age in queue_ages(timezone.now()).items():
            checks[f"{queue}_oldest_seconds"] = round(age)
            if age > limit:
                checks[queue] = f"stuck: the oldest is older than {limit} s"
    ok = all(v == "ok" or isinstance(v, int) for v in checks.values())
    response = JsonResponse({"ready": ok, "checks": checks}, status=200 if ok else 503)
    if not ok:
        response["Retry-After"] = "30"
    return response


def _allowed(request: HttpRequest) -> bool:
    token = settings.METRICS_TOKEN
    given = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
    return bool(token) and hmac.compare_digest(given.encode(), token.encode())


@never_cache
def metrics(request: HttpRequest) -> HttpResponse:
    if not _allowed(request):
        return HttpResponse("not found\n", status=404, content_type="text/plain")
    now = timezone.now()
    lines: list[str] = []

    def metric(name: str, kind: str, text: str, rows: list[tuple[dict[str, str], float]]) -> None:
        lines.append(f"# HELP tillit_{name} {text}")
        lines.append(f"# TYPE tillit_{name} {kind}")
        for labels, value in rows:
            tags = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
            lines.append(
                f"tillit_{name}{{{tags}}} {value:g}" if tags else f"tillit_{name} {value:g}"
            )

    by_state = dict(Subject.objects.order_by().values_list("state").annotate(n=Count("pk")))
    metric("signups", "gauge", "People by state (erased and expired included).",
           [({"state": s}, n) for s, n in sorted(by_state.items())])  # fmt: skip
    deliveries = dict(Delivery.objects.order_by().values_list("state").annotate(n=Count("pk")))
    metric("deliveries", "gauge", "Deliveries by state.",
           [({"state": s}, n) for s, n in sorted(deliveries.items())])  # fmt: skip
    metric("queue_depth", "gauge", "Work waiting.",
           [({"queue": q}, n) for q, n in queue_depths().items()])  # fmt: skip
    metric("queue_oldest_seconds", "gauge", "Age of the oldest waiting item.",
           [({"queue": q}, age) for q, age in queue_ages(now).items()])  # fmt: skip
    requests = dict(RightsRequest.objects.order_by().values_list("state").annotate(n=Count("pk")))
    metric("rights_requests", "gauge", "Rights requests by state.",
           [({"state": s}, n) for s, n in sorted(requests.items())])  # fmt: skip
    overdue = RightsRequest.objects.filter(completed_at__isnull=True).filter(
        Q(extended_until__isnull=True, due_at__lt=now) | Q(extended_until__lt=now)
    )
    metric("rights_requests_overdue", "gauge", "Open rights requests past their deadline.",
           [({}, overdue.count())])  # fmt: skip
    choices = dict(CookieConsent.objects.order_by().values_list("action").annotate(n=Count("pk")))
    metric("cookie_choices", "counter", "Cookie choices by action.",
           [({"action": a}, n) for a, n in sorted(choices.items())])  # fmt: skip
    _log_metrics(metric, now)
    return HttpResponse("\n".join(lines) + "\n", content_type="text/plain; version=0.0.4")


def _log_metrics(metric: Any, now: Any) -> None:
    """The consent log: its size, what waits, the latest checkpoint's age, open alarms."""
    from tillit.audit.models import AuditEvent, Checkpoint, LogAlarm, LogState

    size = LogState.objects.filter(pk=1).values_list("size", flat=True).first() or 0
    metric("log_entries", "gauge", "Entries in the consent log's tree.", [({}, size)])
    waiting = AuditEvent.objects.filter(leaf_index__isnull=True).count()
    metric("log_waiting", "gauge", "Events waiting to be integrated.", [({}, waiting)])
    signed = Checkpoint.objects.order_by("-id").values_list("signed_at", flat=True).first()
    if signed is not None:
        age = (now - signed).total_seconds()
        metric("log_checkpoint_age_seconds", "gauge", "Age of the latest checkpoint.",
               [({}, age)])  # fmt: skip
    alarms = LogAlarm.objects.filter(resolved_at__isnull=True).count()
    metric("log_alarms_open", "gauge", "Witness alarms not yet resolved.", [({}, alarms)])
