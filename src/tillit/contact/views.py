"""The contact page (P35) with its form (P4): how to reach the operator, and a message that
lands in the support queue, sealed."""

from __future__ import annotations

import logging

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import get_language
from django.views.decorators.http import require_http_methods

from tillit.contact import cases
from tillit.contact.forms import ContactForm
from tillit.contact.models import ContactMessage
from tillit.core.ratelimit import hit

log = logging.getLogger("tillit.contact")


@require_http_methods(["GET", "POST"])
def contact(request: HttpRequest) -> HttpResponse:
    if request.method == "GET":
        return render(request, "contact/form.html", {"form": ContactForm()})
    form = ContactForm(request.POST)
    if form.is_bot():
        log.info("contact message refused: honeypot field filled")
        return render(request, "contact/sent.html", {"reference": None})
    if not hit(request, "contact", settings.CONTACT_MESSAGES_PER_IP_PER_HOUR):
        return render(request, "contact/form.html", {"form": form, "limited": True}, status=429)
    if not form.is_valid():
        return render(request, "contact/form.html", {"form": form}, status=400)
    message = cases.receive(form.cleaned_data, (get_language() or "nb")[:2])
    return redirect("contact:sent", message.id)


def sent(request: HttpRequest, message_id: str) -> HttpResponse:
    message = ContactMessage.objects.filter(id=message_id).first()
    if message is None:
        return render(request, "site/not_found.html", status=404)
    return render(request, "contact/sent.html", {"reference": message.reference, "m": message})
