"""Public pages: sign-up, confirmation, consent receipt, privacy policy."""

from __future__ import annotations

import json
import logging
import sys
import uuid

from django.conf import settings
from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.utils import translation
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from tillit import datamap
from tillit.consent import cookies, receipts
from tillit.consent.models import ConsentRecord
from tillit.core import brand
from tillit.core.ratelimit import hit
from tillit.embed import origins
from tillit.site.forms import SignupForm, signup_form
from tillit.subjects import confirmation, intake
from tillit.subjects import signup as flow

log = logging.getLogger("tillit.site")
# What a 503 tells the browser (and a proxy or load balancer) about when to ask again.
RETRY_AFTER_SECONDS = 10


def _lang() -> str:
    return (get_language() or "nb")[:2]


class Outcome:
    """What became of a sign-up, for the form, the embedded form and the JSON API alike."""

    ACCEPTED = "accepted"
    BOT = "bot"
    LIMITED = "limited"
    INVALID = "invalid"


def no_partner_message() -> str:
    return _(
        "We have no partner for that country yet, so we cannot "
        "refer you. Nothing you typed has been kept."
    )


def take(request: HttpRequest, form: SignupForm, method: str = "signup-form") -> str:
    """Check a sign-up and keep it: the honeypot, the per-address limit, the fields, and a
    partner for the country. The same rules whichever way it came (P5); the consent records
    say which way (`method`: the form, the framed form, the API)."""
    if form.is_bot():
        log.info("sign-up refused: honeypot field filled")
        return Outcome.BOT
    if not hit(request, "signup", settings.SIGNUPS_PER_IP_PER_HOUR):
        return Outcome.LIMITED
    if not form.is_valid():
        return Outcome.INVALID
    try:
        # One sealed INSERT; the worker records the rest (subjects/intake.py).
        intake.accept(form.signup(_lang(), gpc=cookies.gpc(request)), method)
    except flow.NoPartner:
        form.add_error("country", no_partner_message())
        return Outcome.INVALID
    return Outcome.ACCEPTED


@require_http_methods(["GET", "POST"])
def signup(request: HttpRequest) -> HttpResponse:
    if request.method == "GET":
        return render(request, "site/signup.html", {"form": signup_form()})
    form = signup_form(request.POST)
    outcome = take(request, form)
    if outcome == Outcome.LIMITED:
        return render(request, "site/signup.html", {"form": form, "limited": True}, status=429)
    if outcome == Outcome.INVALID:
        return render(request, "site/signup.html", {"form": form}, status=400)
    # The same answer for a new and a known address (and for a bot): the news goes to the
    # address itself.
    return redirect("site:sent")


def sent(request: HttpRequest) -> HttpResponse:
    return render(request, "site/sent.html", {"hours": settings.UNCONFIRMED_MAX_AGE_HOURS})


@require_http_methods(["GET", "POST"])
def confirm(request: HttpRequest, token: str) -> HttpResponse:
    # Following the link shows a button: link scanners in mail systems fetch links, and a
    # fetch must not act for the person.
    if request.method == "GET":
        return render(request, "site/confirm.html", {"token": token})
    try:
        subject = confirmation.confirm(token)
    except confirmation.ConfirmationInvalid:
        return render(
            request,
            "site/confirm_invalid.html",
            {"hours": settings.UNCONFIRMED_MAX_AGE_HOURS},
            status=400,
        )
    receipt = (
        ConsentRecord.objects.filter(subject=subject)
        .order_by("at")
        .values_list("receipt_id", flat=True)
        .first()
    )
    response = render(
        request, "site/welcome.html", {"partner": subject.partner, "receipt_id": receipt}
    )
    if subject.partner and (origin := subject.partner.embed_origin()):
        # The partner's page may be framed here (once third-party cookies are accepted).
        frames = [*settings.SECURE_CSP["frame-src"], origin]
        response._csp_config = {**settings.SECURE_CSP, "frame-src": frames}  # type: ignore[attr-defined]
    return response


def receipt(request: HttpRequest, receipt_id: uuid.UUID, fmt: str = "html") -> HttpResponse:
    try:
        data = receipts.build(receipt_id)
    except receipts.ReceiptNotFound:
        return render(request, "site/not_found.html", status=404)
    if fmt == "json":
        response = JsonResponse(data, json_dumps_params={"indent": 2, "ensure_ascii": False})
        response["Content-Disposition"] = f'inline; filename="consent-receipt-{receipt_id}.json"'
        return response
    return render(
        request,
        "site/receipt.html",
        {
            "receipt": data,
            "receipt_id": receipt_id,
            "receipt_json": json.dumps(data, indent=2, ensure_ascii=False),
        },
    )


def healthz(request: HttpRequest) -> HttpResponse:
    """Liveness: the process answers (readiness is /healthz/ready, see ops/health.py)."""
    return HttpResponse("ok", content_type="text/plain")


def bad_request(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return render(request, "site/bad_request.html", status=400)


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return render(request, "site/not_found.html", status=404)


def server_error(request: HttpRequest) -> HttpResponse:
    """A failure nobody could have avoided by asking differently. When the database cannot be
    reached or written (PostgreSQL restarting, a full disk, a read-only file), the visitor gets a
    503 saying that nothing was saved and when to try again, not a bare 500. What a form keeps
    is kept in one write (a sign-up: its sealed intake, subjects/intake.py accept), so a failure
    leaves no half-write. The page is drawn without the context processors, which may need the
    database themselves."""
    error = sys.exc_info()[1]
    unavailable = isinstance(error, DatabaseError)
    if unavailable:
        log.warning("database unavailable: %s", type(error).__name__)
    dm = datamap.load()
    shown = brand.kept_or_datamap()
    language = translation.get_language_from_request(request, check_path=True)
    with translation.override(language):
        html = render_to_string(
            "site/unavailable.html",
            {
                "unavailable": unavailable,
                "operator": shown.operator,
                "brand": shown,
                "contacts": dm.contacts,
                "lang": (language or "nb")[:2],
                "retry_after": RETRY_AFTER_SECONDS,
            },
        )
    response = HttpResponse(html, status=503 if unavailable else 500)
    if unavailable:
        response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    if "/embed/" in request.path:
        # The framed form says it in its frame, not as a page the browser refuses to show.
        response.xframe_options_exempt = True  # type: ignore[attr-defined]
        origins.framed(response)
    return response


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    return render(request, "site/csrf_failure.html", status=403)


# A year: each address names the brand's version, so a changed brand is a new address.
FOREVER = "public, max-age=31536000, immutable"


def _versioned(request: HttpRequest, response: HttpResponse, version: str) -> HttpResponse:
    response["Cache-Control"] = FOREVER if request.GET.get("v") == version else "no-cache"
    response["ETag"] = f'"{version}"'
    return response


def brand_css(request: HttpRequest) -> HttpResponse:
    """The brand's colours as the custom properties site.css uses."""
    shown = brand.current()
    return _versioned(request, HttpResponse(shown.css, content_type="text/css"), shown.version)


def brand_logo(request: HttpRequest) -> HttpResponse:
    shown = brand.current()
    if not shown.logo:
        return render(request, "site/not_found.html", status=404)
    response = HttpResponse(shown.logo, content_type=shown.logo_type)
    # An SVG is a document that could hold a script: opened on its own, it runs nothing.
    response["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'; sandbox"
    return _versioned(request, response, shown.version)
