"""A partner's way from testing to live in the console: its latest conformance reports on its
page, running the suite again, and the Go live and Back to testing buttons and actions
(partners/sandbox.py decides whether it may go live).
"""

from __future__ import annotations

import json
from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponseNotAllowed
from django.shortcuts import redirect
from django.urls import URLPattern, path, reverse
from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from tillit.audit.models import record
from tillit.console.admin.base import ConsoleAdmin
from tillit.partners import sandbox
from tillit.partners.models import Partner, PartnerCheck, PartnerState


def _shown(value: Any) -> str:
    """A value of a conformance report as a person reads it: text as it is, the rest as
    indented JSON."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True)


def _report(check: PartnerCheck) -> dict[str, Any]:
    failures = [
        {key: _shown(result.get(key)) for key in ("id", "title", "sent", "received", "required")}
        for result in check.failures()
    ]
    return {"check": check, "counts": check.counts(), "failures": failures}


class SandboxAdmin(ConsoleAdmin):
    """A partner's page and list, from testing to live: the page shows the latest conformance
    reports and what keeps the partner from going live, with buttons to go live, go back to
    testing or run the suite again; the list has the same as actions. The partner screens
    (partners.py) are built on it."""

    # The reports shown on a partner's page, latest first.
    REPORTS_SHOWN = 5

    @admin.display(description=gettext_lazy("last conformance report"))
    def last_check(self, obj: Partner) -> str:
        check = obj.last_check()
        if check is None:
            return "-"
        said = _("passed %(when)s") if check.passed else _("failed %(when)s")
        return said % {"when": f"{check.ran_at:%Y-%m-%d %H:%M}"}

    def get_urls(self) -> list[Any]:
        def on(view: Any, name: str) -> URLPattern:
            return path(
                f"<path:object_id>/{name}/",
                self.admin_site.admin_view(view),
                name=f"partners_partner_{name.replace('-', '_')}",
            )

        return [on(self.go_live_view, "go-live"), on(self.testing_view, "testing"),
                on(self.conformance_view, "conformance"), *super().get_urls()]  # fmt: skip

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: Any = None
    ) -> Any:
        partner = self.get_object(request, admin.utils.unquote(object_id))
        extra = dict(extra_context or {})
        if partner is not None:
            checks = partner.checks.all()[: self.REPORTS_SHOWN]
            extra["sandbox"] = {
                "state": partner.state,
                "live": partner.state == PartnerState.LIVE,
                "testing": partner.testing,
                "blockers": sandbox.go_live_blockers(partner),
                "reports": [_report(check) for check in checks],
                "may_change": self.has_change_permission(request, partner),
            }
        return super().change_view(request, object_id, form_url, extra)

    def go_live_view(self, request: HttpRequest, object_id: str) -> Any:
        return self._on_page(request, object_id, self.put_live)

    def testing_view(self, request: HttpRequest, object_id: str) -> Any:
        return self._on_page(request, object_id, self.put_in_testing)

    def conformance_view(self, request: HttpRequest, object_id: str) -> Any:
        return self._on_page(request, object_id, self._run_conformance)

    def _run_conformance(self, request: HttpRequest, queryset: QuerySet[Partner]) -> None:
        """The suite takes seconds and waits for the partner's callbacks: the worker runs it,
        and its report appears on the partner's page."""
        from tillit.partners.tasks import conformance_check

        actor = f"staff:{request.user.pk}"
        for partner in queryset:
            conformance_check.enqueue(partner.pk, actor, translation.get_language() or "en")
            record("partner.conformance_requested", actor=actor, target=f"partner:{partner.slug}")
            said = _(
                "%(name)s: the conformance suite runs in the background (a few seconds); "
                "reload this page for its report."
            )
            self.message_user(request, said % {"name": partner.name})

    def _on_page(self, request: HttpRequest, object_id: str, act: Any) -> Any:
        """A button on the partner's page: the same as its action in the list, for this one."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        partner = self.get_object(request, admin.utils.unquote(object_id))
        if partner is None:
            raise Http404("no such partner")
        if not self.has_change_permission(request, partner):
            raise PermissionDenied("not for this role")
        act(request, Partner.objects.filter(pk=partner.pk))
        return redirect(reverse("admin:partners_partner_change", args=[partner.pk]))

    @admin.action(
        description=gettext_lazy("Go live (once the last conformance report passed)"),
        permissions=["change"],
    )
    def go_live(self, request: HttpRequest, queryset: QuerySet[Partner]) -> None:
        self.put_live(request, queryset)

    @admin.action(
        description=gettext_lazy("Back to testing: assign these partners nobody new"),
        permissions=["change"],
    )
    def back_to_testing(self, request: HttpRequest, queryset: QuerySet[Partner]) -> None:
        self.put_in_testing(request, queryset)

    def put_live(self, request: HttpRequest, queryset: QuerySet[Partner]) -> None:
        for partner in queryset:
            try:
                went = sandbox.go_live(partner, f"staff:{request.user.pk}")
            except sandbox.CannotGoLive as refusal:
                said = _("%(name)s stays in testing: %(blockers)s")
                blockers = " ".join(refusal.blockers)
                self.message_user(
                    request, said % {"name": partner.name, "blockers": blockers}, messages.ERROR
                )
                continue
            said = _("%(name)s: live, it receives leads") if went else _("%(name)s: live already")
            self.message_user(request, said % {"name": partner.name})

    def put_in_testing(self, request: HttpRequest, queryset: QuerySet[Partner]) -> None:
        for partner in queryset:
            moved = sandbox.to_testing(partner, f"staff:{request.user.pk}")
            said = (
                _("%(name)s: in testing, nobody new is assigned to it")
                if moved
                else _("%(name)s: in testing already")
            )
            self.message_user(request, said % {"name": partner.name})
