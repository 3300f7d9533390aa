"""The public API, version 1: a sign-up and a cookie choice as JSON, for an operator's own site.

The same rules as the form and the banner (site/views.py take, consent/cookies.py check): the
declared fields only (P5), the per-address limit, a partner for the country, the same answer
for a new and a known address; the same choice checks and proof. What differs is only the
envelope: JSON in, JSON out, messages in the language asked for (`language`, or the browser's
Accept-Language), and CORS for the sites listed in the data map (embed/origins.py). A body
must be sent as application/json, so a page on any other site cannot post one at all (its
browser asks first, and is told no). The OpenAPI document (embed/openapi.py) describes it.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.conf import settings
from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse
from django.utils import translation
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt

from tillit import datamap
from tillit.consent import cookies
from tillit.consent.views import reason_for
from tillit.core import lean
from tillit.embed import origins
from tillit.site.forms import signup_form
from tillit.site.views import RETRY_AFTER_SECONDS, Outcome, take

log = logging.getLogger("tillit.embed")

VERSION = "1"
SIGNUP_KEYS = frozenset({"name", "email", "phone", "country", "consents", "language"})
TEXT_KEYS = ("name", "email", "phone", "country")
CHOICE_KEYS = cookies.FIELDS | {"token", "language"}
# A sign-up's fields are at most some 700 characters; the rest is room for the JSON around them.
MAX_BODY = 4096
WINDOW_SECONDS = 3600


class Refusal(Exception):
    """A request the API answers with an error: its status, a stable code for programs, a
    message for people in the language asked for, and the fields it is about."""

    def __init__(
        self, status: int, code: str, message: str, fields: list[str] = (), detail: str = ""
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.fields, self.detail = status, code, list(fields), detail

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"error": self.code, "message": str(self)}
        if self.fields:
            body["fields"] = {f: [{"code": self.code, "message": str(self)}] for f in self.fields}
        if self.detail:
            body["detail"] = self.detail
        return body


def answer(request: HttpRequest, status: int, body: dict[str, Any]) -> HttpResponse:
    response = HttpResponse(
        json.dumps(body, ensure_ascii=False),
        status=status,
        content_type="application/json; charset=utf-8",
    )
    return origins.allow(request, response)


def language(asked: object = None) -> str:
    """The language asked for in the body, else the one the request negotiated (nb by default)."""
    if isinstance(asked, str) and asked[:2] in datamap.LANGS:
        return asked[:2]
    current = (get_language() or "nb")[:2]
    return current if current in datamap.LANGS else "nb"


def endpoint(view: Callable[[HttpRequest], HttpResponse]) -> Callable[[HttpRequest], HttpResponse]:
    """What every API endpoint does first: the preflight, the method, the calling site; and
    what it does last: a refusal or an unreachable database as JSON, never an HTML page."""

    @csrf_exempt  # no cookies are read or set: JSON bodies and CORS do what CSRF would
    @lean.never_cache
    @wraps(view)
    def wrapped(request: HttpRequest) -> HttpResponse:
        if request.method == "OPTIONS":
            return origins.preflight(request)
        try:
            if not origins.may_call(request):
                raise Refusal(
                    403,
                    "origin_not_allowed",
                    _("This site may not use the sign-up. Its owner can list it in tillit."),
                )
            return view(request)
        except Refusal as refusal:
            log.info("api refused: %s", refusal.code)
            return answer(request, refusal.status, refusal.body())
        except DatabaseError as error:
            log.warning("database unavailable: %s", type(error).__name__)
            response = answer(
                request,
                503,
                {
                    "error": "unavailable",
                    "message": _("We cannot save anything just now. Nothing was saved."),
                },
            )
            response["Retry-After"] = str(RETRY_AFTER_SECONDS)
            return response

    return wrapped


def json_body(request: HttpRequest, keys: frozenset[str] | set[str]) -> dict[str, Any]:
    if request.method != "POST":
        raise Refusal(405, "method_not_allowed", _("Send this with POST."))
    if request.content_type != "application/json":
        raise Refusal(415, "not_json", _("Send the body as JSON (Content-Type: application/json)."))
    length = request.META.get("CONTENT_LENGTH") or "0"
    if not length.isdigit() or int(length) > MAX_BODY:
        raise Refusal(413, "too_large", _("What was sent was too large."))
    try:
        data = json.loads(request.body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise Refusal(400, "malformed", _("The body is not valid JSON.")) from None
    if not isinstance(data, dict):
        raise Refusal(400, "malformed", _("The body must be a JSON object."))
    unknown = sorted(set(data) - keys)
    if unknown:
        # Only the names: a value may be personal data.
        raise Refusal(
            400,
            "unknown_field",
            _("Unknown fields: %(names)s. Nothing was saved.") % {"names": ", ".join(unknown)},
            fields=unknown,
        )
    return data


def form_data(data: dict[str, Any], dm: datamap.DataMap) -> dict[str, str]:
    """The JSON sign-up as the form's fields: texts as they are, consents as ticked boxes."""
    fields = {}
    for key in TEXT_KEYS:
        value = data.get(key)
        if value is None:
            continue
        if not isinstance(value, str):
            raise Refusal(
                400, "bad_type", _("%(field)s must be a text.") % {"field": key}, fields=[key]
            )
        fields[key] = value
    consents = data.get("consents", {})
    purposes = {p.id: p for p in dm.consent_purposes()}
    if not isinstance(consents, dict):
        raise Refusal(400, "bad_type", _("consents must be an object."), fields=["consents"])
    unknown = sorted(set(consents) - set(purposes))
    if unknown:
        raise Refusal(
            400,
            "unknown_consent",
            _("Unknown consents: %(names)s.") % {"names": ", ".join(unknown)},
            fields=[f"consents.{name}" for name in unknown],
        )
    for purpose_id, given in consents.items():
        if not isinstance(given, bool):
            raise Refusal(
                400,
                "bad_type",
                _("A consent is true or false."),
                fields=[f"consents.{purpose_id}"],
            )
        if given:
            fields[purposes[purpose_id].field] = "on"
    return fields


def field_errors(form: Any, dm: datamap.DataMap) -> dict[str, list[dict[str, str]]]:
    """The form's errors under the API's names (a consent box is consents.<purpose>)."""
    names = {p.field: f"consents.{p.id}" for p in dm.consent_purposes()}
    return {
        names.get(field, "_form" if field == "__all__" else field): [
            {"code": e.get("code") or "invalid", "message": e["message"]} for e in errors
        ]
        for field, errors in form.errors.get_json_data().items()
    }


@endpoint
def signups(request: HttpRequest) -> HttpResponse:
    data = json_body(request, SIGNUP_KEYS)
    dm = datamap.load()
    with translation.override(language(data.get("language"))):
        form = signup_form(form_data(data, dm))
        outcome = take(request, form, f"api-v{VERSION}")
        if outcome == Outcome.LIMITED:
            response = answer(
                request,
                429,
                {
                    "error": "rate_limited",
                    "message": _(
                        "Too many sign-ups have come from your network in the last hour. "
                        "Please try again later. Nothing you typed has been kept."
                    ),
                },
            )
            response["Retry-After"] = str(WINDOW_SECONDS - int(time.time()) % WINDOW_SECONDS)
            return response
        if outcome == Outcome.INVALID:
            return answer(
                request,
                400,
                {
                    "error": "invalid",
                    "message": _("Please check the form. Nothing has been saved."),
                    "fields": field_errors(form, dm),
                },
            )
        hours = settings.UNCONFIRMED_MAX_AGE_HOURS
        # The same answer for a new and a known address: the news goes to the address itself.
        return answer(
            request,
            202,
            {
                "status": "accepted",
                "message": _(
                    "We have sent a message to the address you gave. Follow the link in it to "
                    "confirm your sign-up within %(hours)s hours."
                )
                % {"hours": hours},
                "confirm_within_hours": hours,
            },
        )


@endpoint
def cookie_choices(request: HttpRequest) -> HttpResponse:
    data = json_body(request, CHOICE_KEYS)
    raw = data.pop("token", None)
    lang = language(data.pop("language", None))
    if raw is not None and not isinstance(raw, str):
        raise Refusal(400, "bad_token", _("token must be a text."), fields=["token"])
    # A token we did not sign, or one altered, is no token: the browser is asked as a new one.
    known = cookies.unsigned(raw)
    dm = datamap.load()
    try:
        checked = cookies.check(data, known, dm)
    except cookies.BadChoice as refusal:
        with translation.override(lang):
            message = reason_for(refusal.code)
        # The message for people; the detail (English) for the developer, unless it would
        # repeat what was sent.
        echoes = refusal.code in ("unknown_field", "unknown_category")
        raise Refusal(400, refusal.code, message, detail="" if echoes else str(refusal)) from None
    proof = cookies.record(checked, known, dm, lang)
    return answer(
        request,
        201,
        {
            **proof.as_proof(),
            "token": cookies.token(proof),
            "max_age": int(cookies.max_age().total_seconds()),
        },
    )


@endpoint
def signup_form_description(request: HttpRequest) -> HttpResponse:
    """What a site needs to draw its own sign-up form: fields, countries, consents, policy."""
    if request.method != "GET":
        raise Refusal(405, "method_not_allowed", _("Ask for this with GET."))
    dm = datamap.load()
    lang = language(request.GET.get("language"))
    with translation.override(lang):
        form = signup_form()
        body = {
            "language": lang,
            "fields": [
                {
                    "name": name,
                    "label": str(form.fields[name].label),
                    "required": form.fields[name].required,
                    "type": {"email": "email", "phone": "tel", "country": "choice"}.get(
                        name, "text"
                    ),
                }
                for name in TEXT_KEYS
                if name in form.fields
            ],
            "countries": [
                {"code": code, "name": name}
                for code, name in form.fields["country"].choices  # type: ignore[attr-defined]
                if code
            ],
            "consents": [
                {"id": p.id, "text": str(p.consent_text), "required": p.required}
                for p in dm.consent_purposes()
            ],
            "policy": {
                "version": dm.policy_version,
                "url": settings.SITE_URL + dm.policy_path,
            },
        }
    return answer(request, 200, body)


@endpoint
def cookie_banner(request: HttpRequest) -> HttpResponse:
    """The banner's texts, categories and version, for a site that draws its own banner."""
    if request.method != "GET":
        raise Refusal(405, "method_not_allowed", _("Ask for this with GET."))
    dm = datamap.load()
    lang = language(request.GET.get("language"))
    with translation.override(lang):
        body = {
            "language": lang,
            "version": cookies.version(dm),
            "title": str(dm.banner["title"]),
            "text": str(dm.banner["text"]),
            "categories": [
                {
                    "id": c.id,
                    "title": str(c.title),
                    "description": str(c.description),
                    "essential": c.essential,
                }
                for c in dm.cookie_categories.values()
            ],
            "max_age": int(cookies.max_age().total_seconds()),
        }
    return answer(request, 200, body)
