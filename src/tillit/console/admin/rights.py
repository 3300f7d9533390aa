"""The rights requests' queue: what each person asked, by when, how far each partner has got,
and the actions on a request for the roles that may take them (extend its deadline, refuse it,
mark an e-mail partner's part done).
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.http import HttpRequest
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from tillit.console.admin.base import ReadOnly, Referenced
from tillit.partners.opendsr import PartnerError
from tillit.rights import actions, fanout
from tillit.rights.models import PartnerTask, RightsRequest, TaskState


class PartnerTaskInline(admin.TabularInline):
    model = PartnerTask
    fields = [
        "partner",
        "state",
        "attempts",
        "reminders",
        "sent_at",
        "completed_at",
        "answer",
        "last_error",
    ]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(RightsRequest)
class RightsRequestAdmin(Referenced, ReadOnly):
    """The queue: what was asked, by when, and how far each partner has got. No address, no
    corrected values, no export: those stay sealed in the vault."""

    list_display = [
        "reference",
        "kind",
        "state",
        "received_at",
        "deadline",
        "days_left",
        "partners",
    ]
    list_filter = ["state", "kind"]
    ordering = ["completed_at", "due_at"]
    fields = [
        "reference",
        "kind",
        "state",
        "outcome",
        "received_at",
        "due_at",
        "extended_until",
        "extension_reason",
        "refusal_reason",
        "completed_at",
        "overdue_alarm_at",
    ]
    readonly_fields = fields
    inlines = [PartnerTaskInline]
    actions = ["extend_deadline", "refuse_request", "complete_by_hand"]

    @admin.action(
        description=gettext_lazy(
            "Mark the e-mail partners' parts done (they answered outside their link)"
        ),
        permissions=["act"],
    )
    def complete_by_hand(self, request: HttpRequest, queryset: Any) -> None:
        for rights_request in queryset:
            waiting = rights_request.tasks.select_related("partner", "request").filter(
                partner__rights_api=False,
                state__in=[TaskState.WAITING, TaskState.PENDING, TaskState.FAILED],
            )
            if not waiting:
                self.message_user(
                    request,
                    _("%(ref)s: no e-mail partner's part is open")
                    % {"ref": rights_request.reference},
                    messages.WARNING,
                )
            for task in waiting:
                names = {"ref": rights_request.reference, "partner": task.partner.name}
                try:
                    fanout.answered(task, "done", None, actor=f"staff:{request.user.pk}")
                except PartnerError:
                    # The partner answered through its link since the list was read.
                    self.message_user(
                        request, _("%(ref)s: %(partner)s had answered already") % names
                    )
                    continue
                self.message_user(request, _("%(ref)s: %(partner)s marked done") % names)

    def has_act_permission(self, request: HttpRequest) -> bool:
        """Extending and refusing: for roles that may change requests (the page stays
        read-only for everyone)."""
        return request.user.has_perm("rights.change_rightsrequest")

    @admin.display(description=gettext_lazy("deadline"))
    def deadline(self, obj: RightsRequest) -> Any:
        return obj.deadline

    @admin.display(description=gettext_lazy("days left"))
    def days_left(self, obj: RightsRequest) -> str:
        if obj.completed_at:
            return _("done")
        left = (obj.deadline - timezone.now()).total_seconds() / 86400
        if left >= 0:
            return f"{left:.0f}"
        return _("OVERDUE by %(days).0f") % {"days": -left}

    @admin.display(description=gettext_lazy("partners done"))
    def partners(self, obj: RightsRequest) -> str:
        tasks = list(obj.tasks.all())
        done = sum(t.state == TaskState.COMPLETED for t in tasks)
        failed = sum(t.state == TaskState.FAILED for t in tasks)
        shown = f"{done}/{len(tasks)}"
        return shown + " " + _("(%(n)d failed)") % {"n": failed} if failed else shown

    @admin.action(
        description=gettext_lazy(
            "Extend the deadline as far as the person's law allows "
            "(with a reason the person is told)"
        ),
        permissions=["act"],
    )
    def extend_deadline(self, request: HttpRequest, queryset: Any) -> Any:
        return self._with_reason(
            request, queryset, "extend_deadline", actions.extend, actions.CannotExtend,
            title=_("Extend the deadline"), button=_("Extend and tell the person"),
            intro=_("Extend by up to two more months (Art. 12(3)). The person is told the new "
                    "date and this reason by e-mail; it is possible only within the first month."),
            done=_("extended, person told"),
        )  # fmt: skip

    @admin.action(
        description=gettext_lazy("Refuse as manifestly unfounded or excessive (with a reason)"),
        permissions=["act"],
    )
    def refuse_request(self, request: HttpRequest, queryset: Any) -> Any:
        return self._with_reason(
            request, queryset, "refuse_request", actions.refuse, actions.CannotRefuse,
            title=_("Refuse a request"), button=_("Refuse and tell the person"),
            intro=_("Refuse a manifestly unfounded or excessive request (Art. 12(5)); the burden "
                    "of showing that is the operator's. The person is told this reason and how "
                    "to complain (Art. 12(4)). Partners that have not yet acted are told to "
                    "withdraw it; what already took effect (withdrawn consents, an erasure here "
                    "or at a partner) stays."),
            done=_("refused, person told"),
        )  # fmt: skip

    def _with_reason(
        self,
        request: HttpRequest,
        queryset: Any,
        action: str,
        act: Any,
        refused: type[Exception],
        *,
        title: str,
        button: str,
        intro: str,
        done: str,
    ) -> Any:
        """An action that needs a reason the person is told: first the form asking for it,
        then the action on each request, with a message for each."""
        if "reason" not in request.POST:
            return render(
                request,
                "console/with_reason.html",
                {
                    **self.admin_site.each_context(request),
                    "title": title,
                    "intro": intro,
                    "action": action,
                    "button": button,
                    "requests": queryset,
                    "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
                },
            )
        for rights_request in queryset:
            try:
                act(rights_request, request.POST["reason"], f"staff:{request.user.pk}")
            except refused as refusal:
                self.message_user(request, f"{rights_request.reference}: {refusal}", messages.ERROR)
            else:
                self.message_user(request, f"{rights_request.reference}: {done}")
        return None
