"""The audit log's screens: the events, read-only, to filter and search, and the witnesses of
the consent log, which an administrator adds with the key each publishes.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.http import HttpRequest
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from tillit_partner import note

from tillit.audit.models import AuditEvent, Witness, record
from tillit.console.admin.base import ReadOnly


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnly):
    """The audit viewer: filter by action, actor and date; search by target. The log's state
    and its verification are one click away (Audit → The consent log)."""

    list_display = ["seq", "leaf_index", "at", "action", "actor", "target"]
    list_filter = ["action", "actor", ("at", admin.DateFieldListFilter)]
    search_fields = ["target", "actor"]
    date_hierarchy = "at"


class WitnessForm(forms.ModelForm):
    class Meta:
        model = Witness
        fields = ["name", "url", "vkey", "partner", "active"]
        help_texts = {
            "url": gettext_lazy("The witness's address; checkpoints go to <url>/add-checkpoint."),
            "vkey": gettext_lazy("Its cosignature verifier key: name+key id+base64 key."),
        }

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        try:
            verifier = note.CosignatureVerifier.from_vkey(data.get("vkey", ""))
        except note.NoteError as error:
            raise forms.ValidationError(
                {"vkey": _("not a witness verifier key: %(error)s") % {"error": error}}
            ) from None
        if verifier.name != data.get("name"):
            raise forms.ValidationError(
                {"vkey": _("this key is named %(name)r") % {"name": verifier.name}}
            )
        return data


@admin.register(Witness)
class WitnessAdmin(admin.ModelAdmin):
    """Witnesses of the consent log: added by an administrator with the key the witness
    publishes; each is then sent every new checkpoint (audit/witnesses.py)."""

    form = WitnessForm
    list_display = ["name", "url", "active", "size", "cosigned_at", "last_error"]
    readonly_fields = ["size", "cosigned_at", "last_error", "added_at"]

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # its cosignatures refer to it: deactivate it instead

    def save_model(self, request: HttpRequest, obj: Witness, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        action = "log.witness_changed" if change else "log.witness_added"
        record(action, actor=f"staff:{request.user.pk}", target=f"witness:{obj.name}")
