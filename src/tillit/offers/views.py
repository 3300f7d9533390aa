"""The opt-out link in every offer: a page with one button (mail scanners fetch links; a
fetch must not act for the person), and the consent withdrawn when it is pressed."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from tillit.offers import sending
from tillit.rights import actions


@never_cache
@require_http_methods(["GET", "POST"])
def opt_out(request: HttpRequest, token: str) -> HttpResponse:
    subject = sending.subject_for(token)
    if subject is None:
        return render(request, "offers/opt_out_invalid.html", status=400)
    if request.method == "GET":
        return render(request, "offers/opt_out.html")
    stopped = actions.opt_out_of_offers(subject)
    return render(request, "offers/opted_out.html", {"already": stopped is None})
