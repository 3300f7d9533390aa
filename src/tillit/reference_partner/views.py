"""The reference partner: the partner library (partner/, `tillit_partner`) over its own
database, which is all a partner needs for the protocol (docs/partners.md), and the pages a
partner has besides: its list of leads, its privacy policy, a page for the welcome page."""

from __future__ import annotations

import uuid
from pathlib import Path

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.clickjacking import xframe_options_exempt
from django.views.decorators.http import require_GET
from tillit_partner import Partner

from tillit.reference_partner import witness
from tillit.reference_partner.models import Lead, Message
from tillit.reference_partner.store import DatabaseStore

OPENAPI = Path(__file__).with_name("openapi.json")

# The secret is read at every request, so a test or an operator can rotate it by settings.
PARTNER = Partner(
    secret=lambda: [settings.PARTNER_SECRET],
    store=DatabaseStore(),
    hold_seconds=settings.PARTNER_DSR_HOLD_SECONDS,
    witness=witness.get(),
)


@require_GET
def leads_json(request: HttpRequest) -> JsonResponse:
    PARTNER.settle()
    return JsonResponse(
        {
            "partner": settings.PARTNER_NAME,
            "leads": [lead.as_dict() for lead in Lead.objects.all()[:1000]],
            "count": Lead.objects.count(),
        }
    )


@require_GET
def index(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "reference_partner/index.html",
        {
            "partner": settings.PARTNER_NAME,
            "leads": Lead.objects.all()[:200],
            "count": Lead.objects.count(),
        },
    )


@require_GET
def privacy(request: HttpRequest) -> HttpResponse:
    return render(request, "reference_partner/privacy.html", {"partner": settings.PARTNER_NAME})


@require_GET
@xframe_options_exempt
def embed(request: HttpRequest) -> HttpResponse:
    """The partner's own page, made to be framed by the operator's welcome page. It sets a
    cookie of its own, as a partner's page would: a third-party cookie on the operator's site."""
    response = render(request, "reference_partner/embed.html", {"partner": settings.PARTNER_NAME})
    visitor = request.COOKIES.get("partner_visitor") or uuid.uuid4().hex
    # A cookie set inside another site's frame: SameSite=None with Secure (which browsers
    # accept on localhost), and Partitioned (CHIPS), since browsers that block third-party
    # cookies still keep partitioned ones, apart for each site that frames the page. Neither
    # Django nor Python 3.13's cookie module knows the Partitioned attribute, hence by hand.
    response.headers["Set-Cookie"] = (
        f"partner_visitor={visitor}; Max-Age={30 * 86400}; Path=/; Secure; HttpOnly; "
        "SameSite=None; Partitioned"
    )
    return response


@require_GET
def openapi(request: HttpRequest) -> HttpResponse:
    """The OpenAPI description of the partner API this service implements."""
    return HttpResponse(OPENAPI.read_bytes(), content_type="application/json")


@require_GET
def messages_json(request: HttpRequest) -> JsonResponse:
    """The partner's mailbox (tests and the demo read it)."""
    return JsonResponse({"messages": [m.as_dict() for m in Message.objects.all()[:1000]]})
