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
        from tillit.console import dashboard, views

        return [
            path(
                "cookie-consent/",
                self.admin_view(views.cookie_consent_rates),
                name="cookie-consent-rates",
            ),
            path("audit-verify/", self.admin_view(views.audit_verify), name="audit-verify"),
            path("dashboard/", self.admin_view(dashboard.dashboard), name="dashboard"),
            *super().get_urls(),
        ]

    EXTRA_PAGES = [
        ("consent", "consent.view_cookieconsent", "Cookie consent rates", "cookie-consent-rates"),
        ("audit", "audit.view_auditevent", "The consent log", "audit-verify"),
        ("partners", "partners.view_delivery", "Dashboard", "dashboard"),
    ]

    def get_app_list(self, request: HttpRequest, app_label: str | None = None) -> list[Any]:
        """Django's menus, plus the console's own pages for those allowed to see them."""
        apps = super().get_app_list(request, app_label)
        for label, permission, name, url_name in self.EXTRA_PAGES:
            if app_label not in (None, label) or not request.user.has_perm(permission):
                continue
            for app in apps:
                if app["app_label"] == label:
                    app["models"].append(
                        {
                            "name": name,
                            "object_name": name.title().replace(" ", ""),
                            "admin_url": reverse(f"admin:{url_name}"),
                            "view_only": True,
                            "perms": {"view": True},
                        }
                    )
        return apps
