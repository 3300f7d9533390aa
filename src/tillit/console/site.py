"""The console's admin site: Django's, plus the pages that show aggregates only."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.urls import URLPattern, URLResolver, path, reverse


class ConsoleSite(admin.AdminSite):
    site_header = "tillit console"
    site_title = "tillit"

    def get_urls(self) -> list[URLResolver | URLPattern]:
        from tillit.console import views

        return [
            path(
                "cookie-consent/",
                self.admin_view(views.cookie_consent_rates),
                name="cookie-consent-rates",
            ),
            *super().get_urls(),
        ]

    def get_app_list(self, request: HttpRequest, app_label: str | None = None) -> list[Any]:
        apps = super().get_app_list(request, app_label)
        if app_label in (None, "consent") and request.user.has_perm("consent.view_cookieconsent"):
            for app in apps:
                if app["app_label"] == "consent":
                    app["models"].append(
                        {
                            "name": "Cookie consent rates",
                            "object_name": "CookieConsentRates",
                            "admin_url": reverse("admin:cookie-consent-rates"),
                            "view_only": True,
                            "perms": {"view": True},
                        }
                    )
        return apps
