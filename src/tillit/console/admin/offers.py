"""The offers' screens: a privacy officer writes a time-limited offer in both languages and
sends it, through their partners, to the people whose consent to offers is active.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import Count, QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy, ngettext

from tillit.audit.models import record
from tillit.console.admin.base import ConsoleAdmin
from tillit.offers import sending
from tillit.offers.models import MessageState, Offer


@admin.register(Offer)
class OfferAdmin(ConsoleAdmin):
    """A privacy officer writes a time-limited offer in both languages and sends it to the
    people whose consent to offers is active, through their partners. Once sent it is fixed."""

    list_display = ["title_en", "valid_until", "sent_at", "recipients", "progress"]
    fields = ["title_nb", "body_nb", "title_en", "body_en", "valid_until"]
    actions = ["send_offer"]

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if obj is not None and obj.sent_at:
            return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description=gettext_lazy("messages"))
    def progress(self, obj: Offer) -> str:
        counts = dict(
            obj.messages.values("state").annotate(n=Count("id")).values_list("state", "n")
        )
        return (
            ", ".join(f"{n} {MessageState(state).label}" for state, n in sorted(counts.items()))
            or "-"
        )

    def save_model(self, request: HttpRequest, obj: Offer, form: Any, change: bool) -> None:
        obj.created_by = obj.created_by or f"staff:{request.user.pk}"
        super().save_model(request, obj, form, change)
        record(
            "offer.changed" if change else "offer.written",
            actor=f"staff:{request.user.pk}",
            target=f"offer:{obj.pk}",
        )

    @admin.action(
        description=gettext_lazy("Send to everyone whose consent to offers is active"),
        permissions=["send"],
    )
    def send_offer(self, request: HttpRequest, queryset: QuerySet[Offer]) -> None:
        for offer in queryset:
            try:
                count = sending.launch(offer, f"staff:{request.user.pk}")
            except sending.CannotSend as refusal:
                self.message_user(request, f"{offer}: {refusal}", messages.ERROR)
            else:
                self.message_user(
                    request,
                    ngettext(
                        "%(offer)s: on its way to %(count)d person",
                        "%(offer)s: on its way to %(count)d people",
                        count,
                    )
                    % {"offer": offer, "count": count},
                )

    def has_send_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("offers.change_offer")
