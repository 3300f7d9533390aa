"""The partner side of the lead protocol (docs/partners.md), as a partner would write it.

POST /leads: verify the signature over the raw body first, then parse. The Idempotency-Key
(the lead_id) makes retries safe: a repeat with the same body gets the same receipt and stores
nothing; a repeat with a different body is refused. Every answer is signed.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
from django.conf import settings
from django.db import IntegrityError, transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.clickjacking import xframe_options_exempt
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from tillit.partners import signing
from tillit.reference_partner.models import DsrRequest, Lead, Message

REQUIRED = ("lead_id", "subject_ref", "name", "email", "country", "consents")
TEXT = ("subject_ref", "name", "email", "country")
OPENAPI = Path(__file__).with_name("openapi.json")


def _signed(data: dict[str, object], status: int, purpose: str = "receipt") -> HttpResponse:
    body = json.dumps(data, sort_keys=True, separators=(",", ":")).encode()
    response = HttpResponse(body, status=status, content_type="application/json")
    response[signing.HEADER] = signing.sign(settings.PARTNER_SECRET.encode(), body, purpose=purpose)
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
    problem = _not_a_lead(data)
    if problem:
        return _refuse(422, problem)
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
    if settings.PARTNER_ANSWER_DELAY_MS:
        time.sleep(settings.PARTNER_ANSWER_DELAY_MS / 1000)
    return _receipt(lead, 201)


def _not_a_lead(data: dict[str, Any]) -> str:
    """What is wrong with a lead's fields (openapi.json's Lead), or "". What is stored must
    have the type it is read back as: a consent that is not an object would break every
    message and rights request for the person later."""
    missing = [k for k in REQUIRED if not data.get(k)]
    if missing:
        return f"missing: {', '.join(missing)}"
    wrong = [k for k in TEXT if not isinstance(data[k], str)]
    wrong += [k for k in ("phone", "language") if not isinstance(data.get(k), str | None)]
    consents = data["consents"]
    if not isinstance(consents, list) or not all(
        isinstance(c, dict)
        and isinstance(c.get("purpose"), str)
        and isinstance(c.get("action"), str)
        for c in consents
    ):
        wrong.append("consents")
    return f"wrong type: {', '.join(wrong)}" if wrong else ""


def _repeat(lead: Lead, digest: str) -> HttpResponse:
    if lead.body_sha256 != digest:
        return _refuse(409, "this lead_id was used with a different body")
    return _receipt(lead, 200)


@require_GET
def leads_json(request: HttpRequest) -> JsonResponse:
    _settle()
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


@require_GET
def openapi(request: HttpRequest) -> HttpResponse:
    """The OpenAPI description of the partner API this service implements."""
    return HttpResponse(OPENAPI.read_bytes(), content_type="application/json")


# --- Rights requests from the operator (OpenDSR 2.0 shape, tillit's signature) -------------

DSR = "/opendsr/v2"
TILLIT_TYPES = ["rectification", "withdraw", "stop_offers", "restriction", "objection"]


def _dsr_answer(data: dict[str, object], status: int = 200) -> HttpResponse:
    return _signed(data, status, purpose="dsr-response")


def _dsr_refuse(status: int, reason: str) -> HttpResponse:
    return _dsr_answer({"error": {"code": status, "message": reason}}, status)


def _dsr_verified(request: HttpRequest) -> bool:
    signed = (
        request.body if request.method == "POST" else f"{request.method} {request.path}".encode()
    )
    try:
        signing.verify(
            settings.PARTNER_SECRET.encode(),
            signed,
            request.headers.get(signing.HEADER),
            purpose="dsr",
        )
    except signing.SignatureError:
        return False
    return True


@require_GET
def dsr_discovery(request: HttpRequest) -> HttpResponse:
    if not _dsr_verified(request):
        return _dsr_refuse(401, "signature missing or invalid")
    return _dsr_answer(
        {
            "api_version": "2.0",
            "supported_identities": [
                {"identity_type": "controller_customer_id", "identity_format": "raw"}
            ],
            "supported_subject_request_types": ["access", "portability", "erasure"],
            "tillit_request_types": TILLIT_TYPES,
        }
    )


def _apply(kind: str, leads: Any, changes: dict[str, object] | None = None) -> int:
    """Do what the request asks, to every lead of the person."""
    count = leads.count()
    if kind == "erasure":
        leads.delete()
    elif kind == "restriction":
        leads.update(restricted=True)
    elif kind == "objection":
        leads.update(objected=True)
    elif kind == "rectification":
        allowed = {k: v for k, v in (changes or {}).items() if k in ("name", "phone", "country")}
        leads.update(**{k: str(v)[:200] for k, v in allowed.items()})
    elif kind in ("withdraw", "stop_offers"):
        withdrawn = {"offers"} if kind == "stop_offers" else None
        for lead in leads:
            now = timezone.now().isoformat()
            lead.consents = [
                {**c, "action": "withdrawn", "at": now}
                if c.get("action") == "given" and (withdrawn is None or c["purpose"] in withdrawn)
                else c
                for c in lead.consents
            ]
            lead.save(update_fields=["consents"])
    return count


@csrf_exempt
@require_POST
def dsr_requests(request: HttpRequest) -> HttpResponse:
    if not _dsr_verified(request):
        return _dsr_refuse(401, "signature missing or invalid")
    try:
        data = json.loads(request.body)
        request_id = uuid.UUID(str(data["subject_request_id"]))
        kind = str(data["subject_request_type"])
        if kind == "extension":
            kind = str(data["extensions"]["tillit"]["tillit_request_type"])
        (identity,) = [
            i for i in data["subject_identities"] if i["identity_type"] == "controller_customer_id"
        ]
        subject_ref = str(identity["identity_value"])
        callbacks = [str(u) for u in data.get("status_callback_urls", [])]
        changes = (data.get("extensions") or {}).get("tillit", {}).get("changes")
    except (ValueError, KeyError, TypeError, AttributeError):
        return _dsr_refuse(400, "not an OpenDSR request this partner understands")
    if changes is not None and not isinstance(changes, dict):
        return _dsr_refuse(400, "extensions.tillit.changes must be an object")
    if kind not in ("access", "portability", "erasure", *TILLIT_TYPES):
        return _dsr_refuse(400, f"unsupported request type {kind!r}")
    existing = DsrRequest.objects.filter(subject_request_id=request_id).first()
    if existing:
        return _dsr_answer(existing.status_body(), 200)
    dsr = DsrRequest.objects.create(
        subject_request_id=request_id,
        request_type=kind,
        subject_ref=subject_ref,
        status="pending",
        callback_urls=callbacks,
        changes=changes,
        results_url=(
            request.build_absolute_uri(f"{DSR}/results/{request_id}")
            if kind in ("access", "portability")
            else ""
        ),
    )
    if settings.PARTNER_DSR_HOLD_SECONDS <= 0:
        _carry_out(dsr)
    return _dsr_answer(dsr.status_body(), 201)


def _carry_out(dsr: DsrRequest) -> None:
    """Do what the request asks, mark it completed, and call the operator back."""
    with transaction.atomic():
        fresh = DsrRequest.objects.select_for_update().get(pk=dsr.pk)
        if fresh.status != "pending":
            return
        leads = Lead.objects.filter(subject_ref=fresh.subject_ref)
        if fresh.request_type in ("access", "portability"):
            fresh.results = [lead.as_dict() for lead in leads]
        fresh.leads_affected = _apply(fresh.request_type, leads, fresh.changes)
        fresh.status, fresh.completed_at, fresh.changes = "completed", timezone.now(), None
        fresh.save()
    dsr.refresh_from_db()
    threading.Thread(target=_call_back, args=(dsr,), daemon=True).start()


def _settle() -> None:
    """Carry out the requests whose hold has passed (looked at whenever the API is used)."""
    hold = settings.PARTNER_DSR_HOLD_SECONDS
    if hold <= 0:
        return
    due = timezone.now() - timedelta(seconds=hold)
    for dsr in DsrRequest.objects.filter(status="pending", received_at__lte=due):
        _carry_out(dsr)


def _call_back(dsr: DsrRequest) -> None:
    """Tell the operator the status, as OpenDSR asks: every callback URL, once each."""
    for url in dsr.callback_urls:
        body = json.dumps({**dsr.status_body(), "status_callback_url": url}).encode()
        header = signing.sign(settings.PARTNER_SECRET.encode(), body, purpose="dsr-callback")
        try:
            httpx.post(url, content=body, headers={signing.HEADER: header}, timeout=10)
        except (httpx.HTTPError, httpx.InvalidURL):
            pass  # the operator polls GET /requests/{id} as well


@csrf_exempt
@require_http_methods(["GET", "DELETE"])
def dsr_status(request: HttpRequest, request_id: str) -> HttpResponse:
    """GET: the request's status. DELETE: cancel it, which OpenDSR allows only while it is
    still pending (202); once carried out it cannot be undone (400)."""
    if not _dsr_verified(request):
        return _dsr_refuse(401, "signature missing or invalid")
    _settle()
    dsr = DsrRequest.objects.filter(subject_request_id=_uuid(request_id)).first()
    if dsr is None:
        return _dsr_refuse(404, "no such request")
    if request.method == "DELETE":
        cancelled = DsrRequest.objects.filter(pk=dsr.pk, status="pending").update(
            status="cancelled", changes=None
        )
        if not cancelled:
            return _dsr_refuse(400, f"only a pending request can be cancelled; it is {dsr.status}")
        dsr.refresh_from_db()
        return _dsr_answer(dsr.status_body(), 202)
    return _dsr_answer(dsr.status_body())


@require_GET
def dsr_results(request: HttpRequest, request_id: str) -> HttpResponse:
    """An access or portability request's results, for the operator only (signed both ways)."""
    if not _dsr_verified(request):
        return _dsr_refuse(401, "signature missing or invalid")
    _settle()
    found = _uuid(request_id)
    dsr = DsrRequest.objects.filter(subject_request_id=found, results__isnull=False).first()
    if dsr is None:
        return _dsr_refuse(404, "no results for this request")
    return _dsr_answer({"subject_request_id": str(found), "records": dsr.results})


def _uuid(text: str) -> uuid.UUID | None:
    """A request id from a path; None (which finds nothing) for anything else."""
    try:
        return uuid.UUID(text)
    except ValueError:
        return None


def _message_receipt(message: Message, status: int) -> HttpResponse:
    body = {"message_id": str(message.message_id), "status": "delivered"}
    return _signed(body, status, purpose="message-receipt")


@csrf_exempt
@require_POST
def messages(request: HttpRequest) -> HttpResponse:
    """Deliver the operator's message (an offer, or a notice the law requires) to the person,
    here into the partner's own mailbox. 404 when the partner holds nobody by that reference;
    410 when the person may not get offers (consent withdrawn, use restricted or objected
    to)."""
    try:
        signing.verify(
            settings.PARTNER_SECRET.encode(),
            request.body,
            request.headers.get(signing.HEADER),
            purpose="message",
        )
    except signing.SignatureError as error:
        return _signed({"status": "refused", "reason": str(error)}, 401, "message-receipt")
    try:
        data = json.loads(request.body)
        message_id = uuid.UUID(str(data["message_id"]))
        fields = {k: str(data[k]) for k in ("title", "text", "valid_until", "opt_out_url")}
        subject_ref = str(data["subject_ref"])
    except (ValueError, KeyError, TypeError):
        return _signed({"status": "refused", "reason": "not a message"}, 400, "message-receipt")
    existing = Message.objects.filter(message_id=message_id).first()
    if existing:
        return _message_receipt(existing, 200)
    lead = Lead.objects.filter(subject_ref=subject_ref).first()
    if lead is None:
        return _signed({"status": "refused", "reason": "no such person"}, 404, "message-receipt")
    offers = [c for c in lead.consents if c.get("purpose") == "offers"]
    marketing = str(data.get("kind", "offer")) == "offer"  # a legal notice is not an offer
    consented = bool(offers) and offers[-1].get("action") == "given"
    if marketing and (lead.restricted or lead.objected or not consented):
        return _signed(
            {"status": "refused", "reason": "this person gets no offers"}, 410, "message-receipt"
        )
    message = Message.objects.create(
        message_id=message_id,
        lead=lead,
        to=lead.email,
        language=str(data.get("language", lead.language))[:5],
        **{k: v[:500] if k != "text" else v for k, v in fields.items()},
    )
    return _message_receipt(message, 201)


@require_GET
def messages_json(request: HttpRequest) -> JsonResponse:
    """The partner's mailbox (tests and the demo read it)."""
    return JsonResponse({"messages": [m.as_dict() for m in Message.objects.all()[:1000]]})
