"""Console pages of the console's own: aggregates only (no consent id, no single choice), and
verifying the audit log's chain."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import timedelta

from django.contrib import admin
from django.contrib.auth.decorators import permission_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from tillit import datamap
from tillit.audit.models import record, verify
from tillit.consent.models import CookieAction, CookieConsent, CookieSource

PERIODS = (7, 30, 90, 365)


@permission_required("consent.view_cookieconsent", raise_exception=True)
def cookie_consent_rates(request: HttpRequest) -> HttpResponse:
    """How visitors answer the cookie banner: choices by action and source, and the share of
    choices that accept each category, per day and in total, over the chosen period."""
    asked = request.GET.get("days", "30")
    days = int(asked) if asked.isdigit() and int(asked) in PERIODS else 30
    since = timezone.now() - timedelta(days=days)
    categories = datamap.load().optional_cookie_categories()
    actions: Counter[str] = Counter()
    sources: Counter[str] = Counter()
    accepted: Counter[str] = Counter()
    daily: dict[str, Counter[str]] = defaultdict(Counter)
    rows = CookieConsent.objects.filter(at__gte=since).values_list(
        "at", "action", "source", "granted"
    )
    for at, action, source, granted in rows.iterator(chunk_size=5000):
        day = timezone.localtime(at).date().isoformat()
        actions[action] += 1
        sources[source] += 1
        daily[day]["total"] += 1
        daily[day][action] += 1
        for category in granted:
            accepted[category] += 1
            daily[day][category] += 1
    total = sum(actions.values())

    def share(n: int, of: int) -> str:
        return f"{n / of:.0%}" if of else "–"

    return render(
        request,
        "console/cookie_consent_rates.html",
        {
            **admin.site.each_context(request),
            "title": "Cookie consent rates",
            "days": days,
            "periods": PERIODS,
            "total": total,
            "actions": [
                (label, actions[value], share(actions[value], total))
                for value, label in CookieAction.choices
            ],
            "sources": [
                (label, sources[value], share(sources[value], total))
                for value, label in CookieSource.choices
            ],
            "categories": [(c, accepted[c], share(accepted[c], total)) for c in categories],
            "category_names": categories,
            "daily": [
                (day, counts["total"], [share(counts[c], counts["total"]) for c in categories])
                for day, counts in sorted(daily.items(), reverse=True)
            ],
        },
    )


@permission_required("audit.view_auditevent", raise_exception=True)
def audit_verify(request: HttpRequest) -> HttpResponse:
    """`tillit audit verify` from the console: recompute the hash chain, say where it breaks."""
    verdict = None
    if request.method == "POST":
        verdict = verify()
        record(
            "audit.verified",
            actor=f"staff:{request.user.pk}",
            result="intact" if verdict.ok else "broken",
        )
    return render(
        request,
        "console/audit_verify.html",
        {**admin.site.each_context(request), "title": "Verify the audit chain", "v": verdict},
    )
