"""The cookie dialog's content and configuration, for every page of the site."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest
from django.middleware.csrf import get_token
from django.urls import reverse
from django.utils.functional import SimpleLazyObject

from tillit import datamap
from tillit.consent import cookies


def _banner(request: HttpRequest) -> dict[str, Any]:
    dm = datamap.load()
    choice = cookies.read(request, dm)
    ga = (
        {"id": settings.GA_MEASUREMENT_ID, "src": settings.GA_TAG_URL}
        if settings.GA_MEASUREMENT_ID
        else None
    )
    return {
        "title": dm.banner["title"],
        "text": dm.banner["text"],
        "categories": list(dm.cookie_categories.values()),
        "choice": choice,
        "settings_url": reverse("consent:settings"),
        "config": {
            "url": reverse("consent:choose"),
            "csrf": get_token(request),
            "version": cookies.version(dm),
            "categories": dm.optional_cookie_categories(),
            "state": (
                {"id": str(choice.consent_id), "granted": list(choice.granted)} if choice else None
            ),
            "gpc": cookies.gpc(request),
            "ga": ga,
        },
    }


def cookie_banner(request: HttpRequest) -> dict[str, Any]:
    # Lazy: pages that do not show the dialog (the staff console) pay nothing for it.
    return {"cookie_banner": SimpleLazyObject(lambda: _banner(request))}
