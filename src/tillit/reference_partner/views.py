"""The partner side of the lead protocol (docs/partners.md), as a partner would write it.

POST /leads: verify the signature over the raw body first, then parse. The Idempotency-Key
(the lead_id) makes retries safe: a repeat with the same body gets the same receipt and stores
nothing; a repeat with a different body is refused. Every answer is signed.
"""

from __future__ import annotations

import hashlib
import json
import uuid

from django.conf import settings
from django.db import IntegrityError, transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.clickjacking import xframe_options_exempt
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from tillit.partners import signing
from tillit.reference_partner.models import Lead

REQUIRED = ("lead_id", "subject_ref", "name", "email", "country", "consents")


def _signed(data: dict[str, object], status: int) -> HttpResponse:
    body = json.dumps(data, sort_keys=True, separators=(",", ":")).encode()
    response = HttpResponse(body, status=status, content_type="application/json")
    response[signing.HEADER] = signing.sign(
        settings.PARTNER_SECRET.encode(), body, purpose="receipt"
    )
    return response


def _receipt(lead: Lead, status: int) -> HttpResponse:
    return _signed(
        {
            "lead_id": str(lead.lead_id),
            "partner_lead_id": str(lead.id),
            "status": "accepted",
            "received_at": lead.received_at.isoformat(),
        },
        status,
    )


def _refuse(status: int, reason: str) -> HttpResponse:
    return _signed({"status": "refused", "reason": reason}, status)


@csrf_exempt
@require_POST
def leads(request: HttpRequest) -> HttpResponse:
    body = request.body
    try:
        signing.verify(
            settings.PARTNER_SECRET.encode(),
            body,
            request.headers.get(signing.HEADER),
            purpose="lead",
        )
    except signing.SignatureError as error:
        return _refuse(401, str(error))
    try:
        data = json.loads(body)
        lead_id = uuid.UUID(str(data["lead_id"]))
    except (ValueError, KeyError, TypeError):
        return _refuse(400, "body is not a lead")
    if request.headers.get(signing.IDEMPOTENCY_HEADER) != str(lead_id):
        return _refuse(400, "Idempotency-Key must equal lead_id")
    missing = [k for k in REQUIRED if not data.get(k)]
    if missing:
        return _refuse(422, f"missing: {', '.join(missing)}")
    digest = hashlib.sha256(body).hexdigest()
    existing = Lead.objects.filter(lead_id=lead_id).first()
    if existing:
        return _repeat(existing, digest)
    try:
        with transaction.atomic():
            lead = Lead.objects.create(
                lead_id=lead_id,
                body_sha256=digest,
                subject_ref=str(data["subject_ref"])[:64],
                name=str(data["name"])[:200],
                email=str(data["email"])[:254],
                phone=str(data.get("phone") or "")[:40],
                country=str(data["country"])[:2],
                language=str(data.get("language") or "nb")[:5],
                consents=data["consents"],
            )
    except IntegrityError:
        # Two attempts raced; the other one stored it.
        return _repeat(Lead.objects.get(lead_id=lead_id), digest)
    return _receipt(lead, 201)


def _repeat(lead: Lead, digest: str) -> HttpResponse:
    if lead.body_sha256 != digest:
        return _refuse(409, "this lead_id was used with a different body")
    return _receipt(lead, 200)


@require_GET
def leads_json(request: HttpRequest) -> JsonResponse:
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
def healthz(request: HttpRequest) -> HttpResponse:
    return HttpResponse("ok", content_type="text/plain")
