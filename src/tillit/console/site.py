"""The console's admin site: Django's, plus the pages that show aggregates only."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.urls import URLPattern, URLResolver, path, reverse
from django_otp.admin import OTPAdminAuthenticationForm, OTPAdminSite
from django_otp.plugins.otp_totp.models import TOTPDevice


class ConsoleLoginForm(OTPAdminAuthenticationForm):
    """Username, password and the code: each staff member has one authenticator (enrolled by
    `tillit staff`), so there is no device to choose."""

    def _chosen_device(self, user: Any) -> Any:
        chosen = super()._chosen_device(user)
        return chosen or TOTPDevice.objects.filter(user=user, confirmed=True).first()


class ConsoleSite(OTPAdminSite):
    """Django's admin with a mandatory second factor: a staff member is let in only after a
    password (argon2-hashed; locked after repeated failures) and a TOTP code."""

    site_header = "tillit console"
    site_title = "tillit"
    login_form = ConsoleLoginForm
    login_template = "console/login.html"

    def __init__(self, name: str = "admin") -> None:
        super().__init__(name)

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
