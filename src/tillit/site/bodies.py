"""A public form's body is refused before anything reads it, unless it can be read as the
form it claims to be. Django alone would accept three things that it should not: file parts
do not count against TILLIT_MAX_BODY_BYTES, bytes that are not UTF-8 become U+FFFD (a name
kept as "Kari\ufffd\ufffd"), and a body that is not a form reads as an empty form (a request
made without the fields the body named). The answer is the "We could not read that" page
(400), in the visitor's language; nothing is kept.

Placed after LocaleMiddleware (for the language) and before CsrfViewMiddleware (which is the
first to read the body)."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import unquote_to_bytes

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils.csp import build_policy

FORM = "application/x-www-form-urlencoded"
MULTIPART = "multipart/form-data"
# Endpoints with rules of their own: signed JSON from partners, a partner's upload of up to
# 10 MB (rights/answers.py checks its size and type), and the public API, which answers a body
# it cannot read in JSON (embed/api.py).
OWN_RULES = ("/partners/", "/privacy/partner-answer/", "/en/privacy/partner-answer/", "/api/")
# The cookie banner posts JSON.
JSON_TOO = ("/cookies/choice", "/en/cookies/choice")


def readable(request: HttpRequest) -> bool:
    length = request.META.get("CONTENT_LENGTH") or "0"
    if not length.isdigit() or int(length) > settings.DATA_UPLOAD_MAX_MEMORY_SIZE:
        return False
    if request.content_type == "application/json":
        return request.path in JSON_TOO
    if request.content_type not in (FORM, MULTIPART):
        return not request.body
    if request.content_type == MULTIPART:
        boundary = request.content_params.get("boundary", "").encode()
        return bool(boundary) and request.body.rstrip().endswith(b"--" + boundary + b"--")
    try:
        unquote_to_bytes(request.body.replace(b"+", b" ")).decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


POLICY = [""]


def _policy() -> str:
    POLICY[0] = build_policy(settings.SECURE_CSP)
    return POLICY[0]


class ReadableBodies:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if (
            request.method == "POST"
            and not request.path.startswith(OWN_RULES)
            and not readable(request)
        ):
            from tillit.site.views import bad_request

            # Answered before the layers that add these, so it adds them itself.
            response = bad_request(request)
            response.headers.setdefault("X-Frame-Options", "DENY")
            response.headers.setdefault("Content-Security-Policy", POLICY[0] or _policy())
            return response
        return self.get_response(request)
