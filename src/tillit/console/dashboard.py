"""The console's dashboard: the flow over time, as bar charts drawn on the server (SVG, no
script), from counts only: sign-ups, deliveries and failures, consents and withdrawals,
cookie choices per category, rights requests per kind and against their deadlines."""

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
from tillit.partners.models import Delivery, DeliveryState
from tillit.rights.models import Kind, RightsRequest
from tillit.subjects.models import Subject

PERIODS = (7, 30, 90)
WIDTH, HEIGHT = 600, 120


def per_day(queryset: Any, field: str, since: date, days: int) -> list[tuple[date, int]]:
    counts = dict(
        queryset.filter(**{f"{field}__date__gte": since})
        .annotate(day=TruncDate(field, tzinfo=timezone.get_current_timezone()))
        .values("day")
        .annotate(n=Count("pk"))
        .values_list("day", "n")
    )
    return [(since + timedelta(days=i), counts.get(since + timedelta(days=i), 0))
            for i in range(days)]  # fmt: skip


def bars(series: list[tuple[date, int]], label: str) -> dict[str, Any]:
    """An SVG bar chart's geometry (the template draws it), with its total and its peak."""
    peak = max((n for _day, n in series), default=0)
    step = WIDTH / max(len(series), 1)
    drawn = []
    for i, (day, n) in enumerate(series):
        h = 0 if not peak else round(n / peak * (HEIGHT - 14), 1)
        drawn.append({"x": round(i * step + 1, 1), "y": round(HEIGHT - h, 1),
                      "w": round(max(step - 2, 1), 1), "h": h, "day": day, "n": n})  # fmt: skip
    total = sum(n for _day, n in series)
    return {"label": label, "bars": drawn, "total": total, "peak": peak,
            "width": WIDTH, "height": HEIGHT}  # fmt: skip


def share(n: int, of: int) -> str:
    return f"{n / of:.0%}" if of else "–"


@permission_required("partners.view_delivery", raise_exception=True)
def dashboard(request: HttpRequest) -> HttpResponse:
    asked = request.GET.get("days", "30")
    days = int(asked) if asked.isdigit() and int(asked) in PERIODS else 30
    since = timezone.localdate() - timedelta(days=days - 1)
    signups = Subject.objects.filter(created_at__date__gte=since)
    charts = [
        bars(per_day(Subject.objects.all(), "created_at", since, days), _("Sign-ups")),
        bars(
            per_day(
                Delivery.objects.filter(state=DeliveryState.DELIVERED), "delivered_at", since, days
            ),
            _("Leads delivered"),
        ),  # fmt: skip
        bars(
            per_day(Delivery.objects.filter(state=DeliveryState.FAILED), "created_at", since, days),
            _("Leads undeliverable (shredded)"),
        ),  # fmt: skip
        bars(
            per_day(ConsentRecord.objects.filter(action=Action.WITHDRAWN), "at", since, days),
            _("Consents withdrawn"),
        ),
        bars(
            per_day(RightsRequest.objects.all(), "received_at", since, days), _("Rights requests")
        ),
    ]
    total = signups.count()
    given = Counter(
        ConsentRecord.objects.filter(subject__in=signups, action=Action.GIVEN).values_list(
            "purpose", flat=True
        )
    )
    consents = [(str(p.title), given[p.id], share(given[p.id], total))
                for p in datamap.load().consent_purposes()]  # fmt: skip
    choices = CookieConsent.objects.filter(at__date__gte=since)
    cookie_total = choices.count()
    accepted: Counter[str] = Counter()
    for granted in choices.values_list("granted", flat=True).iterator(chunk_size=5000):
        accepted.update(granted)
    cookies = [(c, accepted[c], share(accepted[c], cookie_total))
               for c in datamap.load().optional_cookie_categories()]  # fmt: skip
    now = timezone.now()
    requests = RightsRequest.objects.filter(received_at__date__gte=since)
    late = Q(completed_at__gt=F("due_at"), extended_until__isnull=True) | Q(
        completed_at__gt=F("extended_until")
    )
    overdue = Q(completed_at__isnull=True) & (
        Q(extended_until__isnull=True, due_at__lt=now) | Q(extended_until__lt=now)
    )
    rights = [
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
            "consents": consents,
            "cookie_total": cookie_total,
            "cookies": cookies,
            "rights": rights,
        },
    )
