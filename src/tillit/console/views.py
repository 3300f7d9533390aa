"""Console pages of the console's own: aggregates only (no consent id, no single choice), and
the consent log's state and verification."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import timedelta

from django.conf import settings
from django.contrib import admin
from django.contrib.auth.decorators import permission_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from tillit import datamap
from tillit.audit import proofs
from tillit.audit.models import AuditEvent, LogAlarm, LogKey, LogState, Witness, record
from tillit.audit.verify import verify
from tillit.consent.models import CookieAction, CookieConsent, CookieSource
from tillit.console.models import StaffProfile

PERIODS = (7, 30, 90, 365)


@require_POST
def language(request: HttpRequest) -> HttpResponse:
    """A staff member's own choice of language for the console and their e-mails."""
    chosen = request.POST.get("language", "")
    if chosen in dict(settings.LANGUAGES):
        StaffProfile.objects.update_or_create(user=request.user, defaults={"language": chosen})
    back = request.POST.get("next", "")
    safe = url_has_allowed_host_and_scheme(back, allowed_hosts=None) and back.startswith(
        "/console/"
    )
    return redirect(back if safe else "admin:index")


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
            "title": _("Cookie consent rates"),
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
    """The consent log: its size, its latest checkpoint and how old it is, the witnesses and
    their latest cosignatures, any alarm (resolved here, with a reason, once understood), and
    `tillit audit verify` on demand."""
    verdict = None
    actor = f"staff:{request.user.pk}"
    problem = ""
    if request.method == "POST" and "resolve" in request.POST:
        problem = _resolve(request, actor)
    elif request.method == "POST":
        verdict = verify()
        record("audit.verified", actor=actor, result="intact" if verdict.ok else "broken")
    latest = proofs.latest()
    return render(
        request,
        "console/audit_verify.html",
        {
            **admin.site.each_context(request),
            "title": _("The consent log"),
            "v": verdict,
            "problem": problem,
            "state": LogState.objects.filter(pk=1).first(),
            "waiting": AuditEvent.objects.filter(leaf_index__isnull=True).count(),
            "checkpoint": latest,
            "published": proofs.published(latest) if latest else "",
            "witnesses": Witness.objects.filter(active=True).order_by("name"),
            "alarms": LogAlarm.objects.filter(resolved_at__isnull=True).select_related("witness"),
            "keys": LogKey.objects.order_by("-made_at"),
        },
    )


def _resolve(request: HttpRequest, actor: str) -> str:
    """Mark an alarm resolved, with what was found; only roles that may change alarms."""
    if not request.user.has_perm("audit.change_logalarm"):
        raise PermissionDenied
    alarm, reason = request.POST.get("resolve", ""), request.POST.get("reason", "").strip()
    if not alarm.isascii() or not alarm.isdigit():
        return _("No such alarm.")
    if not reason:
        return _("Say what you found before you resolve the alarm.")
    won = LogAlarm.objects.filter(pk=int(alarm), resolved_at__isnull=True).update(
        resolved_at=timezone.now(), resolved_by=actor, resolution=reason[:300]
    )
    if won:
        record("log.alarm_resolved", actor=actor, target=f"alarm:{alarm}")
    return ""
