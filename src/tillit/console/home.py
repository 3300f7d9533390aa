"""The console's first page: each role lands on its own work, above Django's menus.

- support: open contact messages, oldest first, and the rights requests by due date (to tell a
  caller where theirs stands);
- the privacy officer: deadlines (overdue, due within a week), the log's open alarms, the
  partners' open tasks, and consent and cookie choices over time;
- the administrator: the partners' health (last delivery, failures, what waits, the secret's
  last rotation), the worker's backlog and the consent log's state.

A person with several roles sees each part. References, counts and dates only: nobody's name,
address or message is on this page."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import date, datetime, timedelta
from typing import Any

from django.conf import settings
from django.db.models import Count, Max, Min, Q
from django.db.models.functions import Coalesce, TruncDate
from django.http import HttpRequest
from django.tasks import TaskResultStatus
from django.utils import timezone
from django.utils.translation import gettext as _
from django_tasks_db.models import DBTaskResult

from tillit import datamap
from tillit.audit import proofs
from tillit.audit.models import AuditEvent, LogAlarm, LogState, Witness
from tillit.consent.models import Action, ConsentRecord, CookieConsent
from tillit.console.charts import Series, chart
from tillit.contact.models import CaseState, ContactMessage
from tillit.ops.health import queue_ages, queue_depths
from tillit.partners.models import Delivery, DeliveryState, Partner
from tillit.rights.models import PartnerTask, RightsRequest, TaskState
from tillit.subjects.models import Subject

PERIODS = (7, 30, 90)
LISTED = 15
SOON = timedelta(days=7)


def period(request: HttpRequest) -> int:
    asked = request.GET.get("days", "30")
    return int(asked) if asked.isdigit() and int(asked) in PERIODS else 30


def _days(days: int) -> list[date]:
    today = timezone.localdate()
    return [today - timedelta(days=days - 1 - i) for i in range(days)]


def _by_day(queryset: Any, field: str, days: list[date]) -> dict[date, int]:
    return dict(
        queryset.filter(**{f"{field}__date__gte": days[0]})
        .annotate(day=TruncDate(field, tzinfo=timezone.get_current_timezone()))
        .values("day")
        .annotate(n=Count("pk"))
        .values_list("day", "n")
    )


def open_requests(now: datetime) -> list[dict[str, Any]]:
    """Open rights requests by their deadline (an extension's, if extended), soonest first."""
    rows = (
        RightsRequest.objects.filter(completed_at__isnull=True)
        .annotate(effective_due=Coalesce("extended_until", "due_at"))
        .order_by("effective_due")[:LISTED]
    )
    return [
        {
            "request": r,
            "deadline": r.effective_due,
            "days_left": (timezone.localtime(r.effective_due).date() - timezone.localdate()).days,
            "overdue": r.effective_due < now,
            "extended": r.extended_until is not None,
        }
        for r in rows
    ]


def _deadlines(now: datetime) -> dict[str, int]:
    open_ = RightsRequest.objects.filter(completed_at__isnull=True).annotate(
        effective_due=Coalesce("extended_until", "due_at")
    )
    return {
        "open": open_.count(),
        "overdue": open_.filter(effective_due__lt=now).count(),
        "soon": open_.filter(effective_due__gte=now, effective_due__lt=now + SOON).count(),
    }


def support(now: datetime) -> dict[str, Any]:
    messages = ContactMessage.objects.filter(state=CaseState.OPEN).order_by("created_at")
    return {
        "messages": list(messages[:LISTED]),
        "messages_open": messages.count(),
        "requests": open_requests(now),
        "deadlines": _deadlines(now),
    }


def partner_tasks() -> list[dict[str, Any]]:
    """Per partner: the rights tasks it has not finished, the oldest, and those it could not
    be reached for."""
    still = [TaskState.WAITING, TaskState.PENDING, TaskState.IN_PROGRESS, TaskState.FAILED]
    rows = (
        PartnerTask.objects.filter(state__in=still)
        .values("partner__name")
        .annotate(
            open=Count("pk"),
            failed=Count("pk", filter=Q(state=TaskState.FAILED)),
            oldest=Min("request__received_at"),
        )
        .order_by("oldest")
    )
    return list(rows)


def _shares(days: list[date]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Per day: the share of sign-ups giving each consent, and of cookie choices accepting
    each category (no share where nobody signed up or chose)."""
    dm = datamap.load()
    signups = _by_day(Subject.objects.all(), "created_at", days)
    given: dict[str, Counter[date]] = defaultdict(Counter)
    records = (
        ConsentRecord.objects.filter(action=Action.GIVEN, subject__created_at__date__gte=days[0])
        .annotate(day=TruncDate("subject__created_at", tzinfo=timezone.get_current_timezone()))
        .values_list("purpose", "day")
    )
    for purpose, day in records.iterator(chunk_size=5000):
        given[purpose][day] += 1
    consent = chart(
        "consents",
        _("Sign-ups giving each consent"),
        days,
        [
            Series(
                str(p.title),
                [100 * given[p.id][d] / signups[d] if signups.get(d) else None for d in days],
            )
            for p in dm.consent_purposes()
        ],
        percent=True,
    )
    choices: Counter[date] = Counter()
    accepted: dict[str, Counter[date]] = defaultdict(Counter)
    rows = (
        CookieConsent.objects.filter(at__date__gte=days[0])
        .annotate(day=TruncDate("at", tzinfo=timezone.get_current_timezone()))
        .values_list("day", "granted")
    )
    for day, granted in rows.iterator(chunk_size=5000):
        choices[day] += 1
        for category in granted:
            accepted[category][day] += 1
    cookies = chart(
        "cookies",
        _("Cookie choices accepting each category"),
        days,
        [
            Series(
                str(dm.cookie_categories[c].title),
                [100 * accepted[c][d] / choices[d] if choices.get(d) else None for d in days],
            )
            for c in dm.optional_cookie_categories()
        ],
        percent=True,
    )
    return consent, cookies


def privacy_officer(now: datetime, days: list[date]) -> dict[str, Any]:
    consent, cookies = _shares(days)
    received = _by_day(RightsRequest.objects.all(), "received_at", days)
    return {
        "requests": open_requests(now),
        "deadlines": _deadlines(now),
        "alarms": list(LogAlarm.objects.filter(resolved_at__isnull=True).order_by("raised_at")),
        "tasks": partner_tasks(),
        "charts": [
            chart(
                "requests",
                _("Rights requests received"),
                days,
                [Series(_("Received"), [received.get(d, 0) for d in days])],
            ),
            consent,
            cookies,
        ],
    }


def partners_health(now: datetime) -> list[dict[str, Any]]:
    week = now - timedelta(days=7)
    rotated = dict(
        AuditEvent.objects.filter(action="partner.secret_rotated")
        .values("target")
        .annotate(at=Max("at"))
        .values_list("target", "at")
    )
    waiting = [DeliveryState.PENDING, DeliveryState.LEASED]
    compliant = set(Partner.objects.compliant().values_list("pk", flat=True))
    rows = []
    for partner in Partner.objects.annotate(
        last_delivery=Max("deliveries__delivered_at"),
        delivered=Count("deliveries", filter=Q(deliveries__delivered_at__gte=week)),
        failed=Count(
            "deliveries",
            filter=Q(deliveries__state=DeliveryState.FAILED, deliveries__created_at__gte=week),
        ),
        waiting=Count("deliveries", filter=Q(deliveries__state__in=waiting)),
        oldest_waiting=Min("deliveries__released_at", filter=Q(deliveries__state__in=waiting)),
    ).order_by("name"):
        error = (
            partner.deliveries.exclude(last_error="")
            .filter(state__in=[*waiting, DeliveryState.FAILED])
            .order_by("-created_at")
            .values_list("last_error", flat=True)
            .first()
        )
        rows.append(
            {
                "partner": partner,
                "compliant": partner.pk in compliant,
                "last_delivery": partner.last_delivery,
                "delivered": partner.delivered,
                "failed": partner.failed,
                "waiting": partner.waiting,
                "oldest_waiting": partner.oldest_waiting,
                "last_error": error or "",
                "rotated": rotated.get(f"partner:{partner.slug}"),
                "overlap_until": partner.previous_secret_until
                if partner.previous_secret_until and partner.previous_secret_until > now
                else None,
            }
        )
    return rows


def backlog(now: datetime) -> list[dict[str, Any]]:
    ages, counts = queue_ages(now), queue_depths()
    # Stuck as /healthz/ready says it: the oldest older than the readiness limit.
    limit = settings.READY_MAX_QUEUE_AGE_SECONDS
    names = {
        "signups": _("Sign-ups waiting to be recorded"),
        "deliveries": _("Leads waiting to be delivered"),
        "email_jobs": _("Jobs waiting (e-mails and others)"),
    }
    failed = DBTaskResult.objects.filter(
        status=TaskResultStatus.FAILED, finished_at__gte=now - timedelta(days=1)
    ).count()
    rows = [
        {
            "name": names[queue],
            "count": counts[queue],
            "oldest": timedelta(seconds=round(ages[queue])) if counts[queue] else None,
            "stuck": ages[queue] > limit,
        }
        for queue in names
    ]
    rows.append(
        {"name": _("Jobs failed in the last day"), "count": failed, "oldest": None, "stuck": False}
    )
    return rows


def log_state(now: datetime) -> dict[str, Any]:
    latest = proofs.latest()
    return {
        "state": LogState.objects.filter(pk=1).first(),
        "waiting": AuditEvent.objects.filter(leaf_index__isnull=True).count(),
        "checkpoint": latest,
        "witnesses": list(Witness.objects.filter(active=True).order_by("name")),
        "alarms": LogAlarm.objects.filter(resolved_at__isnull=True).count(),
    }


def administrator(now: datetime, days: list[date]) -> dict[str, Any]:
    delivered = _by_day(
        Delivery.objects.filter(state=DeliveryState.DELIVERED), "delivered_at", days
    )
    failed = _by_day(Delivery.objects.filter(state=DeliveryState.FAILED), "created_at", days)
    return {
        "partners": partners_health(now),
        "backlog": backlog(now),
        "log": log_state(now),
        "charts": [
            chart(
                "deliveries",
                _("Leads delivered and undeliverable"),
                days,
                [
                    Series(_("Delivered"), [delivered.get(d, 0) for d in days]),
                    Series(_("Undeliverable"), [failed.get(d, 0) for d in days]),
                ],
            )
        ],
    }


def context(request: HttpRequest) -> dict[str, Any]:
    """What the first page shows this staff member, by the permissions their roles hold."""
    user, now = request.user, timezone.now()
    days = period(request)
    span = _days(days)
    work: dict[str, Any] = {"days": days, "periods": PERIODS}
    if user.has_perm("contact.view_contactmessage"):
        work["support"] = support(now)
    if user.has_perm("rights.change_rightsrequest"):
        work["privacy"] = privacy_officer(now, span)
    if user.has_perm("partners.change_partner"):
        work["admin"] = administrator(now, span)
    return {"work": work}
