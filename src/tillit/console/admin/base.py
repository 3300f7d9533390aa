"""The classes every console screen is built on: a list that refuses an action the role may
not take, read-only screens for records that are evidence, and the reference a case is known
by.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest
from django.utils.translation import gettext_lazy


class ConsoleAdmin(admin.ModelAdmin):
    def changelist_view(self, request: HttpRequest, extra_context: Any = None) -> Any:
        """An action the role may not take is refused (403, audited), not quietly ignored."""
        action = request.POST.get("action")
        if request.method == "POST" and action and action not in self.get_actions(request):
            raise PermissionDenied(f"the action {action!r} is not for this role")
        return super().changelist_view(request, extra_context)


class Referenced:
    """The short reference a case is known by (a property of the model, which Django would
    label in English only)."""

    @admin.display(description=gettext_lazy("reference"))
    def reference(self, obj: Any) -> str:
        return str(obj.reference)


class ReadOnly(ConsoleAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
