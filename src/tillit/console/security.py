"""The console's guards beyond Django's admin: refusals are audited, idle sessions end, and
lockouts get a page that says what happened."""

from __future__ import annotations

import time
from collections.abc import Callable

from django.conf import settings
from django.contrib.auth import logout
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from tillit.audit.models import record

CONSOLE = "/console/"


def forbidden(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """403 everywhere; in the console, an audit event naming who was refused what."""
    if not request.path.startswith(CONSOLE):
        return render(request, "site/forbidden.html", status=403)
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        record(
            "console.denied",
            actor=f"staff:{user.pk}",
            target=request.path[:200],
            method=request.method,
        )
    return render(request, "console/forbidden.html", status=403)


def locked_out(request: HttpRequest, credentials: object = None, *args: object) -> HttpResponse:
    """django-axes' lockout: too many failed sign-ins for this user from this address."""
    minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)
    return render(request, "console/locked.html", {"minutes": minutes}, status=429)


class IdleTimeout:
    """A staff session ends after TILLIT_STAFF_IDLE_MINUTES without a request (and after
    SESSION_COOKIE_AGE in any case)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path.startswith(CONSOLE) and request.user.is_authenticated:
            now = int(time.time())
            seen = request.session.get("console_seen", now)
            if now - int(seen) > settings.STAFF_IDLE_MINUTES * 60:
                record("staff.session_expired", actor=f"staff:{request.user.pk}")
                logout(request)
                return redirect(f"{CONSOLE}login/?next={request.path}")
            request.session["console_seen"] = now
        return self.get_response(request)
