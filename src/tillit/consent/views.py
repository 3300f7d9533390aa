"""Cookie settings, the consent endpoint and the visitor's own consent history."""

from __future__ import annotations

import json
import logging

from django.core.serializers.json import DjangoJSONEncoder
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from tillit import datamap
from tillit.consent import cookies
from tillit.core import lean

log = logging.getLogger("tillit.consent")


def _lang() -> str:
    return (get_language() or "nb")[:2]


def reason_for(code: str) -> str:
    """A refused choice, told in the visitor's language."""
    return {
        "stale": _("The cookie settings changed while the page was open. Please choose again."),
        "too_large": _("What was sent was too large."),
    }.get(code, _("We could not read that choice. Nothing was changed."))


@never_cache
@require_GET
def settings_page(request: HttpRequest) -> HttpResponse:
    return _settings(request)


def _settings(request: HttpRequest, error: str = "", status: int = 200) -> HttpResponse:
    dm = datamap.load()
    categories = [
        {
            "category": category,
            "cookies": [c for c in dm.cookies if c["category"] == category.id],
            "hosts": [
                t
                for t in [*dm.third_parties, *cookies.embed_hosts()]
                if t["category"] == category.id
            ],
        }
        for category in dm.cookie_categories.values()
    ]
    return render(
        request,
        "consent/settings.html",
        {
            "categories": categories,
            "choice": cookies.read(request, dm),
            "history": cookies.history(request),
            "titles": {key: str(c.title) for key, c in dm.cookie_categories.items()},
            "version": cookies.version(dm),
            "error": error,
        },
        status=status,
    )


@lean.never_cache
@require_POST
def choose(request: HttpRequest) -> HttpResponse:
    """Record a choice (JSON from the banner, or the settings page's form without script)."""
    dm = datamap.load()
    known = cookies.held(request)
    as_json = request.content_type == "application/json"
    try:
        checked = cookies.check(cookies.parse(request, known), known, dm)
    except cookies.BadChoice as refusal:
        log.info("cookie choice refused: %s", refusal.code)
        if as_json:
            return JsonResponse({"error": refusal.code, "reason": str(refusal)}, status=400)
        return _settings(request, error=reason_for(refusal.code), status=400)
    proof = cookies.record(checked, known, dm, _lang())
    if as_json:
        # What JsonResponse writes, without its layers.
        response: HttpResponse = HttpResponse(
            json.dumps(proof.as_proof(), cls=DjangoJSONEncoder), content_type="application/json"
        )
    else:
        response = redirect("consent:settings")
    cookies.remember(response, request, proof)
    return response


@never_cache
@require_GET
def history_json(request: HttpRequest) -> HttpResponse:
    records = [r.as_proof() for r in cookies.history(request)]
    response = JsonResponse(
        {"consent_id": records[0]["consent_id"] if records else None, "choices": records},
        json_dumps_params={"indent": 2, "ensure_ascii": False},
    )
    response["Content-Disposition"] = 'attachment; filename="cookie-consent-history.json"'
    return response
