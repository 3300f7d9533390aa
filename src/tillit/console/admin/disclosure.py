"""The disclosure cases' screens: registering a request from an authority or a third party,
and the case's page, where it moves step by step (weighed, decided, notified, disclosed,
closed; see disclosure/steps.py).
"""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from tillit.audit.models import AuditEvent, record
from tillit.console.admin.base import ConsoleAdmin, Referenced
from tillit.disclosure import steps as disclosure
from tillit.disclosure.models import DisclosureCase
from tillit.subjects.models import Subject
from tillit.vault.blind import email_index
from tillit.vault.pii import Pii


class DisclosureCaseForm(forms.ModelForm):
    """Registering a request: who asks, on what basis, for what, by when, and about whom (by
    tillit's pseudonymous id, or by an e-mail address looked up by its blind index and not
    kept)."""

    subject_ref = forms.UUIDField(
        required=False, label=gettext_lazy("The person's pseudonymous id")
    )
    email = forms.EmailField(
        required=False, label=gettext_lazy("Or the person's e-mail address (not kept)")
    )

    class Meta:
        model = DisclosureCase
        fields = ["requester_kind", "requester", "legal_basis", "scope", "deadline"]

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        ref, email = data.get("subject_ref"), data.get("email")
        subject = None
        if ref:
            subject = Subject.objects.filter(id=ref).first()
        elif email:
            subject = Subject.objects.filter(email_index=email_index(Pii(email))).first()
        if (ref or email) and subject is None:
            raise forms.ValidationError(_("Nobody with that id or address is in tillit's records."))
        self.instance.subject = subject
        data.pop("email", None)
        return data


@admin.register(DisclosureCase)
class DisclosureCaseAdmin(Referenced, ConsoleAdmin):
    """Requests from authorities and third parties, handled step by step (see the case
    page); support may register them, the privacy officer weighs, decides and discloses."""

    form = DisclosureCaseForm
    list_display = ["reference", "requester_kind", "requester", "step", "deadline"]
    list_filter = ["step", "requester_kind"]

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        # Only new cases come here: a case's page (change_view) moves it by its steps.
        disclosure.register(obj, actor=f"staff:{request.user.pk}")

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: Any = None
    ) -> Any:
        case = self.get_object(request, object_id)
        if case is None or not self.has_view_permission(request, case):
            raise PermissionDenied("not for this role")
        may_act = request.user.has_perm("disclosure.change_disclosurecase")
        if request.method == "POST":
            if not may_act:
                raise PermissionDenied("not for this role")
            post, actor = request.POST, f"staff:{request.user.pk}"
            try:
                version = int(post.get("version", "-1"))
                step = post.get("step")
                if step == "weigh":
                    disclosure.weigh(case, version, post.get("balancing", ""), actor)
                elif step == "decide":
                    disclosure.decide(
                        case, version, post.get("decision", ""), post.get("reason", ""), actor
                    )
                elif step == "notify":
                    disclosure.notify(case, version, actor)
                elif step == "withhold":
                    disclosure.withhold(case, version, post.get("prohibition", ""), actor)
                elif step == "take_back":
                    disclosure.take_back(case, version, actor)
                elif step == "disclose":
                    disclosure.disclose(case, version, actor)
                elif step == "close":
                    disclosure.close(case, version, actor)
                else:
                    raise disclosure.StepRefused(_("no such step"))
                self.message_user(request, f"{case.reference}: {case.get_step_display()}")
            except (disclosure.StepRefused, ValueError) as refusal:
                self.message_user(request, f"{case.reference}: {refusal}", messages.ERROR)
            return redirect(request.path)
        record(
            "disclosure.opened", actor=f"staff:{request.user.pk}", target=f"disclosure:{case.pk}"
        )
        return render(
            request,
            "console/disclosure_case.html",
            {
                **self.admin_site.each_context(request),
                "title": _("Disclosure case %(ref)s") % {"ref": case.reference},
                "case": case,
                "may_act": may_act,
                "disclosed": json.dumps(case.disclosed, indent=2) if case.disclosed else "",
                "events": AuditEvent.objects.filter(target=f"disclosure:{case.pk}").order_by("seq"),
                "opts": self.model._meta,
            },
        )
