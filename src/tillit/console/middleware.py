"""The console's middleware: its language, and idle sessions ending."""

from __future__ import annotations

import time
from collections.abc import Callable

from django.conf import settings
from django.contrib.auth import logout
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils import translation

from tillit.audit.models import record
from tillit.console.models import language_of

CONSOLE = "/console/"


class ConsoleLanguage:
    """The console speaks each staff member's own language (chosen when they were invited,
    changed on their account), and before sign-in TILLIT_CONSOLE_LANGUAGE (English by
    default), whatever the site's default language."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path.startswith(CONSOLE):
            user = request.user
            language = language_of(user) if user.is_authenticated else settings.CONSOLE_LANGUAGE
            translation.activate(language)
            request.LANGUAGE_CODE = language
        return self.get_response(request)


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
