"""The partners' screens: each partner's agreements, endpoint and shares of the leads,
pausing and resuming it, checking it, and its signing secret (shown once, when it is made or
rotated); and the deliveries of leads to partners, read-only. The way from testing to live is
in sandbox.py.
"""

from __future__ import annotations

import copy
from datetime import timedelta
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from tillit.audit.models import record
from tillit.console import checks
from tillit.console.admin.base import ReadOnly
from tillit.console.admin.sandbox import SandboxAdmin
from tillit.partners import sandbox
from tillit.partners.models import DEFAULT_SECRET_OVERLAP_HOURS, Delivery, Partner, overlap_text

# How long a rotated-out signing secret may stay good, in hours (0: shredded at once).
OVERLAP_CHOICES = (0, 1, 24, 72, 168)


class PartnerForm(forms.ModelForm):
    """The partner form. Unticking *testing* is going live, under the same rule as the Go live
    button (partners/sandbox.py): refused, with what keeps the partner from it."""

    class Meta:
        model = Partner
        fields = [
            "slug", "name", "privacy_policy_url", "endpoint", "embed_url", "privacy_email",
            "language", "rights_api", "countries", "weight", "daily_cap", "dpa_signed_on",
            "dpa_reference", "compliance_attested_on", "active", "testing", "created_at",
        ]  # fmt: skip

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        adding = self.instance._state.adding
        if "testing" not in self.fields or data.get("testing", True):
            return data
        if adding:
            self.add_error(
                "testing",
                _(
                    "A new partner starts in testing: it goes live from its page once its "
                    "conformance report passed."
                ),
            )
        elif self.instance.testing:
            # The partner as it would be saved: a new endpoint needs a report of its own.
            candidate = copy.copy(self.instance)
            for name in ("endpoint", "dpa_signed_on", "compliance_attested_on"):
                if name in data:
                    setattr(candidate, name, data[name])
            if blockers := sandbox.go_live_blockers(candidate):
                self.add_error("testing", blockers)
        return data


@admin.register(Partner)
class PartnerAdmin(SandboxAdmin):
    form = PartnerForm
    change_form_template = "console/partner_change_form.html"
    list_display = [
        "name",
        "slug",
        "state",
        "last_check",
        "dpa_signed_on",
        "compliance_attested_on",
        "weight",
        "daily_cap",
        "endpoint",
        "rights_api",
    ]
    list_filter = ["testing", "active", "rights_api"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}
    actions = ["go_live", "back_to_testing", "pause", "resume", "check_partner", "rotate_secret"]

    @admin.display(description=gettext_lazy("state"))
    def state(self, obj: Partner) -> str:
        return str(obj.state.label)

    def get_changeform_initial_data(self, request: HttpRequest) -> dict[str, Any]:
        # A partner added here starts in testing: it gets test traffic only until it goes live.
        return {"testing": True, **super().get_changeform_initial_data(request)}

    def save_model(self, request: HttpRequest, obj: Partner, form: Any, change: bool) -> None:
        actor = f"staff:{request.user.pk}"
        if change:
            # Only what the form changed: a rotation committed while the form was open (its
            # secrets are not on the form) must not be written back over. Testing and active
            # are the partner's state (PARTNER): changed by its moves, after the rest (a new
            # endpoint, agreements) is saved.
            moves = {"testing", "active"}
            obj.save(update_fields=[f for f in form.changed_data if f not in moves])
        else:
            super().save_model(request, obj, form, change)
            # A new partner gets its signing secret now; response_add shows it once.
            request.new_partner_secret = obj.set_secret()  # type: ignore[attr-defined]
        record(
            "partner.changed" if change else "partner.added",
            actor=actor,
            target=f"partner:{obj.slug}",
            fields=",".join(sorted(form.changed_data)),
            **({} if change else {"testing": obj.testing}),
        )
        if change and "active" in form.changed_data:
            self._set_active(request, Partner.objects.filter(pk=obj.pk), obj.active)
        if change and "testing" in form.changed_data:
            if obj.testing:
                self.put_in_testing(request, Partner.objects.filter(pk=obj.pk))
            else:
                self.put_live(request, Partner.objects.filter(pk=obj.pk))

    def response_add(
        self, request: HttpRequest, obj: Partner, post_url_continue: Any = None
    ) -> Any:
        secret = getattr(request, "new_partner_secret", None)
        if secret is None:
            return super().response_add(request, obj, post_url_continue)
        response = render(
            request,
            "console/rotate_secret.html",
            {
                **self.admin_site.each_context(request),
                "title": _("The new partner's secret"),
                "rotated": [(obj, secret, _("none: a new partner"))],
            },
        )
        response["Cache-Control"] = "no-store"
        return response

    @admin.action(
        description=gettext_lazy("Pause: send these partners nothing new"), permissions=["change"]
    )
    def pause(self, request: HttpRequest, queryset: QuerySet[Partner]) -> None:
        self._set_active(request, queryset, False)

    @admin.action(description=gettext_lazy("Resume"), permissions=["change"])
    def resume(self, request: HttpRequest, queryset: QuerySet[Partner]) -> None:
        self._set_active(request, queryset, True)

    def _set_active(self, request: HttpRequest, queryset: QuerySet[Partner], on: bool) -> None:
        for partner in queryset:
            sandbox.set_active(partner, on, f"staff:{request.user.pk}")
            done = _("%(name)s: resumed") if on else _("%(name)s: paused")
            self.message_user(request, done % {"name": partner.name})
            if on and partner.testing:
                self.message_user(
                    request,
                    _("%(name)s is in testing: it receives no leads until it goes live")
                    % {"name": partner.name},
                    messages.WARNING,
                )

    @admin.action(
        description=gettext_lazy("Check: health, signed discovery, agreements"),
        permissions=["view"],
    )
    def check_partner(self, request: HttpRequest, queryset: QuerySet[Partner]) -> None:
        for partner in queryset:
            for ok, text in checks.run(partner):
                self.message_user(
                    request, f"{partner.name}: {text}", messages.SUCCESS if ok else messages.ERROR
                )

    @admin.action(
        description=gettext_lazy("Rotate the signing secret (shown once; give it to the partner)"),
        permissions=["change"],
    )
    def rotate_secret(self, request: HttpRequest, queryset: QuerySet[Partner]) -> Any:
        if "confirm" not in request.POST:
            return render(
                request,
                "console/rotate_secret.html",
                {
                    **self.admin_site.each_context(request),
                    "title": _("Rotate signing secrets"),
                    "partners": queryset,
                    "overlap_choices": OVERLAP_CHOICES,
                    "overlap_default": DEFAULT_SECRET_OVERLAP_HOURS,
                    "overlapping": [p for p in queryset if p.in_overlap()],
                    "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
                },
            )
        try:
            hours = int(request.POST.get("overlap_hours", ""))
        except ValueError:
            hours = -1
        if hours not in OVERLAP_CHOICES:
            self.message_user(
                request, _("Choose how long the old secret stays good."), messages.ERROR
            )
            return None
        rotated = []
        for partner in queryset:
            secret = partner.set_secret(overlap=timedelta(hours=hours))
            rotated.append((partner, secret, overlap_text(partner)))
            record(
                "partner.secret_rotated",
                actor=f"staff:{request.user.pk}",
                target=f"partner:{partner.slug}",
                overlap_hours=hours,
            )
        response = render(
            request,
            "console/rotate_secret.html",
            {
                **self.admin_site.each_context(request),
                "title": _("New secrets"),
                "rotated": rotated,
            },
        )
        response["Cache-Control"] = "no-store"
        return response


@admin.register(Delivery)
class DeliveryAdmin(ReadOnly):
    list_display = [
        "id",
        "partner",
        "state",
        "attempts",
        "created_at",
        "delivered_at",
        "last_error",
    ]
    list_filter = ["state", "partner"]
    exclude = ["envelope", "lease_token"]
