"""Telling a returning visitor, once, that the policy has materially changed since they last
gave or saw their consent. "Returning" means the browser holds our consent cookie (or has been
told of an earlier version); the version they consented under is in the consent log. When the
notice has been shown, the essential cookie `tillit_policy_seen` remembers the version, so the
same change is never shown twice."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django.http import HttpRequest, HttpResponse

from tillit.consent.cookies import COOKIE_NAME, held
from tillit.consent.models import CookieConsent
from tillit.policy import versions
from tillit.policy.models import PolicyVersion

SEEN_COOKIE = "tillit_policy_seen"
SEEN_LIFETIME = timedelta(days=365)
SKIP = ("/console/", "/static/", "/healthz", "/partners/")


def _number(label: object) -> int:
    text = str(label or "")
    return int(text) if text.isdigit() else 0


def pending(request: HttpRequest) -> dict[str, Any] | None:
    """The material changes published since this browser last consented or was told. A
    browser with neither cookie is on its first visit and costs nothing here."""
    seen_text = request.COOKIES.get(SEEN_COOKIE, "")
    if not seen_text and COOKIE_NAME not in request.COOKIES:
        return None
    latest = versions.latest_material()
    if latest is None:
        return None
    if seen_text.isdigit():
        seen = int(seen_text)
    else:
        choice = held(request)
        if choice is None:
            return None  # a first visit: there is nothing earlier to compare with
        label = (
            CookieConsent.objects.filter(consent_id=choice.consent_id)
            .order_by("-at")
            .values_list("policy_version", flat=True)
            .first()
        )
        seen = _number(label)
    if seen >= latest:
        return None
    changed = list(PolicyVersion.objects.filter(number__gt=seen, material=True).order_by("number"))
    return {"since": max(seen, changed[0].number - 1), "to": latest, "versions": changed}


class PolicyNotice:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        notice = None
        if request.method == "GET" and not request.path.startswith(SKIP):
            notice = pending(request)
        request.policy_notice = notice  # type: ignore[attr-defined]
        response = self.get_response(request)
        shown = response.status_code == 200 and response.get("Content-Type", "").startswith(
            "text/html"
        )
        if notice and shown:
            response.set_cookie(
                SEEN_COOKIE,
                str(notice["to"]),
                max_age=int(SEEN_LIFETIME.total_seconds()),
                secure=request.is_secure(),
                httponly=True,
                samesite="Lax",
            )
        return response


def context(request: HttpRequest) -> dict[str, Any]:
    return {"policy_notice": getattr(request, "policy_notice", None)}
