"""The support queue: messages sent through the contact form, each opened (and decrypted,
audited) one at a time, answered by e-mail or closed from its page.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _

from tillit.console.admin.base import ReadOnly, Referenced
from tillit.contact import cases
from tillit.contact.forms import ReplyForm
from tillit.contact.models import ContactMessage


@admin.register(ContactMessage)
class ContactMessageAdmin(Referenced, ReadOnly):
    """The support queue. The list shows no one's name, address or words; opening a case
    decrypts it, and that is an audit event. Support answers by e-mail from here, or calls."""

    list_display = ["reference", "state", "created_at", "language", "by_email", "by_phone"]
    list_filter = ["state", "by_email", "by_phone"]
    ordering = ["closed_at", "-created_at"]

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: Any = None
    ) -> Any:
        message = self.get_object(request, object_id)
        if message is None or not self.has_view_permission(request, message):
            raise PermissionDenied("not for this role")
        form = ReplyForm(request.POST or None, initial={"version": message.version})
        if request.method == "POST":
            if not request.user.has_perm("contact.change_contactmessage"):
                raise PermissionDenied("not for this role")
            try:
                version = int(request.POST.get("version", "-1"))
                if "close" in request.POST:
                    cases.close(message, version, request.user.pk)
                    self.message_user(request, _("%(ref)s: closed") % {"ref": message.reference})
                elif form.is_valid():
                    cases.reply(message, form.cleaned_data["reply"], version, request.user.pk)
                    self.message_user(
                        request, _("%(ref)s: answer sent by e-mail") % {"ref": message.reference}
                    )
                else:
                    raise ValueError(_("write an answer first"))
            except (cases.StaleCase, ValueError) as problem:
                self.message_user(request, f"{message.reference}: {problem}", messages.ERROR)
            return redirect(request.path)
        return render(
            request,
            "console/contact_message.html",
            {
                **self.admin_site.each_context(request),
                "title": _("Message %(ref)s") % {"ref": message.reference},
                "m": message,
                "case": cases.read(message, request.user.pk),
                "form": form,
                "can_answer": request.user.has_perm("contact.change_contactmessage"),
                "opts": self.model._meta,
            },
        )
