"""The console's dashboard: the flow over time, as bar charts drawn on the server (SVG, no
script; axes, dates and a table each, console/charts.py), from counts only: sign-ups,
deliveries and failures, consents and withdrawals, cookie choices per category, rights
requests per kind and against their deadlines."""

from __future__ import annotations

from collections import Counter
from datetime import date, timedelta
from typing import Any

from django.contrib import admin
from django.contrib.auth.decorators import permission_required
from django.db.models import Count, F, Q
from django.db.models.functions import TruncDate
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext as _

from tillit import datamap
from tillit.consent.models import Action, ConsentRecord, CookieConsent
from tillit.console.charts import Series, chart
from tillit.datamap import Kind
from tillit.partners.models import Delivery, DeliveryState
from tillit.rights.models import RightsRequest
from tillit.subjects.models import Subject

PERIODS = (7, 30, 90)


def per_day(queryset: Any, field: str, days: list[date]) -> list[float | None]:
    counts = dict(
        queryset.filter(**{f"{field}__date__gte": days[0]})
        .annotate(day=TruncDate(field, tzinfo=timezone.get_current_timezone()))
        .values("day")
        .annotate(n=Count("pk"))
        .values_list("day", "n")
    )
    return [counts.get(day, 0) for day in days]


def bars(key: str, label: str, queryset: Any, field: str, days: list[date]) -> dict[str, Any]:
    """A chart of one count per day, with axes and its table (console/charts.py)."""
    return chart(key, label, days, [Series(label, per_day(queryset, field, days))])


def share(n: int, of: int) -> str:
    return f"{n / of:.0%}" if of else "–"


def period(request: HttpRequest) -> int:
    """The days the dashboard covers: one of PERIODS, as asked, or 30."""
    asked = request.GET.get("days", "30")
    return int(asked) if asked.isdigit() and int(asked) in PERIODS else 30


def flow(span: list[date]) -> list[dict[str, Any]]:
    """The charts of the flow, one count per day each: sign-ups, leads delivered and
    undeliverable, consents withdrawn, rights requests."""
    delivered = Delivery.objects.filter(state=DeliveryState.DELIVERED)
    failed = Delivery.objects.filter(state=DeliveryState.FAILED)
    withdrawn = ConsentRecord.objects.filter(action=Action.WITHDRAWN)
    return [
        bars("signups", _("Sign-ups"), Subject.objects.all(), "created_at", span),
        bars("delivered", _("Leads delivered"), delivered, "delivered_at", span),
        bars("failed", _("Leads undeliverable (shredded)"), failed, "created_at", span),
        bars("withdrawn", _("Consents withdrawn"), withdrawn, "at", span),
        bars("rights", _("Rights requests"), RightsRequest.objects.all(), "received_at", span),
    ]


def consents_given(signups: Any, total: int) -> list[tuple[str, int, str]]:
    """For each purpose asked at sign-up: how many of these sign-ups consented, and what
    share of them."""
    given = Counter(
        ConsentRecord.objects.filter(subject__in=signups, action=Action.GIVEN).values_list(
            "purpose", flat=True
        )
    )
    return [(str(p.title), given[p.id], share(given[p.id], total))
            for p in datamap.load().consent_purposes()]  # fmt: skip


def cookies_accepted(choices: Any, cookie_total: int) -> list[tuple[str, int, str]]:
    """For each optional cookie category: how many of these cookie choices accepted it, and
    what share of them."""
    accepted: Counter[str] = Counter()
    for granted in choices.values_list("granted", flat=True).iterator(chunk_size=5000):
        accepted.update(granted)
    titles = datamap.load().cookie_categories
    return [(str(titles[c].title), accepted[c], share(accepted[c], cookie_total))
            for c in datamap.load().optional_cookie_categories()]  # fmt: skip


def rights_on_time(since: date) -> list[tuple[Any, ...]]:
    """For each kind of rights request received since then: how many, done in time, done
    late, open, and open past their deadline."""
    now = timezone.now()
    requests = RightsRequest.objects.filter(received_at__date__gte=since)
    late = Q(completed_at__gt=F("due_at"), extended_until__isnull=True) | Q(
        completed_at__gt=F("extended_until")
    )
    overdue = Q(completed_at__isnull=True) & (
        Q(extended_until__isnull=True, due_at__lt=now) | Q(extended_until__lt=now)
    )
    return [
        (
            label,
            requests.filter(kind=kind).count(),
            requests.filter(kind=kind, completed_at__isnull=False).exclude(late).count(),
            requests.filter(kind=kind).filter(late).count(),
            requests.filter(kind=kind, completed_at__isnull=True).count(),
            requests.filter(kind=kind).filter(overdue).count(),
        )
        for kind, label in Kind.choices
    ]


@permission_required("partners.view_delivery", raise_exception=True)
def dashboard(request: HttpRequest) -> HttpResponse:
    days = period(request)
    since = timezone.localdate() - timedelta(days=days - 1)
    span = [since + timedelta(days=i) for i in range(days)]
    charts = flow(span)
    signups = Subject.objects.filter(created_at__date__gte=since)
    total = signups.count()
    choices = CookieConsent.objects.filter(at__date__gte=since)
    cookie_total = choices.count()
    return render(
        request,
        "console/dashboard.html",
        {
            **admin.site.each_context(request),
            "title": _("Dashboard"),
            "days": days,
            "periods": PERIODS,
            "charts": charts,
            "signups": total,
            "consents": consents_given(signups, total),
            "cookie_total": cookie_total,
            "cookies": cookies_accepted(choices, cookie_total),
            "rights": rights_on_time(since),
        },
    )
