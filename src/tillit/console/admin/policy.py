"""The privacy policy's versions: published ones, never changed, and publishing the next from
the data map and partners as they are now.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest
from django.utils.translation import gettext as _

from tillit.console.admin.base import ReadOnly
from tillit.policy import versions
from tillit.policy.models import PolicyVersion


class PublishForm(forms.ModelForm):
    """Publishing: the data map and partners as they are now become the next version."""

    class Meta:
        model = PolicyVersion
        fields = ["summary_nb", "summary_en", "material"]

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        latest = versions.current()
        if latest is not None and latest.text_hash == versions.digest(versions.snapshot()):
            raise forms.ValidationError(
                _(
                    "Nothing in the policy has changed since version %(number)s: change the "
                    "data map or the partners first."
                )
                % {"number": latest.number}
            )
        return data


@admin.register(PolicyVersion)
class PolicyVersionAdmin(ReadOnly):
    """Published versions, never changed. "Add" publishes the next one, in force at once."""

    list_display = ["number", "published_at", "material", "published_by", "summary_en"]
    form = PublishForm

    def has_add_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("policy.add_policyversion")

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        try:
            published = versions.publish(
                obj.summary_nb, obj.summary_en, f"staff:{request.user.pk}", obj.material
            )
        except versions.NothingChanged as refusal:
            raise PermissionDenied(str(refusal)) from None
        obj.pk, obj.number = published.pk, published.number
        obj._state.adding = False
