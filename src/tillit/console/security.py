"""The console's refusals: a 403 is audited, and a lockout gets a page that says what
happened."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth import get_user_model
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

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


def locked_out(
    request: HttpRequest, original_response: object = None, credentials: object = None
) -> HttpResponse:
    """django-axes' lockout: too many failed sign-ins for this user from this address."""
    minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)
    given = credentials if isinstance(credentials, dict) else {}
    username = str(given.get("username") or request.POST.get("username", ""))
    user = get_user_model().objects.filter(username=username).first() if username else None
    record("staff.locked_out", actor="anonymous", target=f"staff:{user.pk}" if user else "")
    return render(request, "console/locked.html", {"minutes": minutes}, status=429)


def signed_in(sender: object, request: HttpRequest, user: object, **kwargs: object) -> None:
    record("staff.signed_in", actor=f"staff:{getattr(user, 'pk', '')}")


def signed_out(sender: object, request: HttpRequest, user: object, **kwargs: object) -> None:
    if user is not None:
        record("staff.signed_out", actor=f"staff:{getattr(user, 'pk', '')}")
