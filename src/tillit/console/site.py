"""The console's admin site: Django's, plus the pages that show aggregates only."""

from __future__ import annotations

from typing import Any

from django import forms
from django.http import HttpRequest
from django.urls import URLPattern, URLResolver, path, reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django_otp.admin import OTPAdminAuthenticationForm, OTPAdminSite
from django_otp.plugins.otp_totp.models import TOTPDevice

from tillit.audit.models import record


class ConsoleLoginForm(OTPAdminAuthenticationForm):
    """Username, password and the code: each staff member has one authenticator and ten
    recovery codes (console/enrolment.py), so there is no device to choose: the code's form
    says which it is."""

    def _chosen_device(self, user: Any) -> Any:
        from tillit.console.models import RecoveryCodes, normal_code

        chosen = super()._chosen_device(user)
        if chosen is None and normal_code(self.cleaned_data.get("otp_token") or ""):
            codes = RecoveryCodes.objects.select_for_update().filter(user=user, confirmed=True)
            chosen = codes.first()
        # Locked, as django-otp locks a device it verifies: two sign-ins at once cannot both
        # pass one code or slip past the back-off (clean_otp holds the transaction).
        totp = TOTPDevice.objects.select_for_update().filter(user=user, confirmed=True)
        chosen = chosen or totp.first()
        if chosen is None:
            raise forms.ValidationError(
                _("This account has no authenticator: open the link an administrator sent you."),
                code="no_device",
            )
        return chosen

    def clean_otp(self, user: Any) -> None:
        from tillit.console import tasks
        from tillit.console.models import RecoveryCodes

        super().clean_otp(user)
        if user is not None and isinstance(getattr(user, "otp_device", None), RecoveryCodes):
            left = user.otp_device.left()
            record("staff.recovery_code_used", actor=f"staff:{user.pk}", left=left)
            tasks.send_recovery_used.enqueue(user.pk)


class ConsoleSite(OTPAdminSite):
    """Django's admin with a mandatory second factor: a staff member is let in only after a
    password (argon2-hashed; locked after repeated failures) and a TOTP code."""

    site_header = gettext_lazy("tillit console")
    site_title = "tillit"
    login_form = ConsoleLoginForm
    login_template = "console/login.html"
    index_template = "console/home.html"

    def __init__(self, name: str = "admin") -> None:
        super().__init__(name)

    def get_urls(self) -> list[URLResolver | URLPattern]:
        from tillit.console import brand, dashboard, embed, enrol, views

        return [
            path("language/", self.admin_view(views.language), name="language"),
            path("enrol/", enrol.steps, name="enrol"),
            path("enrol/<str:token>/", enrol.start, name="enrol-start"),
            path(
                "cookie-consent/",
                self.admin_view(views.cookie_consent_rates),
                name="cookie-consent-rates",
            ),
            path("audit-verify/", self.admin_view(views.audit_verify), name="audit-verify"),
            path("dashboard/", self.admin_view(dashboard.dashboard), name="dashboard"),
            path("your-site/", self.admin_view(embed.embed), name="embed"),
            path("brand/", self.admin_view(brand.edit), name="brand"),
            path("brand/preview/", self.admin_view(brand.preview), name="brand-preview"),
            path("brand/preview.css", self.admin_view(brand.preview_css), name="brand-preview-css"),
            *super().get_urls(),
        ]

    EXTRA_PAGES = [
        (
            "consent",
            "consent.view_cookieconsent",
            gettext_lazy("Cookie consent rates"),
            "cookie-consent-rates",
        ),
        ("audit", "audit.view_auditevent", gettext_lazy("The consent log"), "audit-verify"),
        ("partners", "partners.view_delivery", gettext_lazy("Dashboard"), "dashboard"),
        ("partners", "partners.change_partner", gettext_lazy("Your own site"), "embed"),
        ("partners", "core.change_brand", gettext_lazy("Your brand"), "brand"),
    ]

    def index(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> Any:
        """The first page: each role's own work (console/home.py), then Django's menus."""
        from tillit.console import home

        return super().index(request, {**home.context(request), **(extra_context or {})})

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
                            "object_name": url_name.title().replace("-", ""),
                            "admin_url": reverse(f"admin:{url_name}"),
                            "view_only": True,
                            "perms": {"view": True},
                        }
                    )
        return apps
