"""Which other sites may use tillit from a browser: the origins the operator lists in the data
map (`[embed] origins`). They alone may frame the sign-up form (CSP frame-ancestors) and read
the public API's answers (CORS); nothing is opened to any other origin, and no answer to
another origin ever carries cookies (no Access-Control-Allow-Credentials)."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils.cache import patch_vary_headers

from tillit import datamap

# What a browser on a listed site may send, and how long it may remember that.
METHODS = "GET, POST, OPTIONS"
HEADERS = "Content-Type"
PREFLIGHT_MAX_AGE = 600


def listed() -> tuple[str, ...]:
    return datamap.load().embed_origins


def own(request: HttpRequest) -> str:
    return f"{request.scheme}://{request.get_host()}"


def origin_of(request: HttpRequest) -> str | None:
    return request.headers.get("Origin")


def may_call(request: HttpRequest) -> bool:
    """A request from a browser on a listed site, on tillit's own pages, or from no browser at
    all (no Origin header: a server, curl). "null" (a sandboxed frame, a file) is refused."""
    origin = origin_of(request)
    return origin is None or origin == own(request) or origin in listed()


def allow(request: HttpRequest, response: HttpResponse) -> HttpResponse:
    """Let a listed site's script read this answer."""
    origin = origin_of(request)
    if origin and origin in listed():
        response["Access-Control-Allow-Origin"] = origin
    patch_vary_headers(response, ["Origin"])
    return response


def preflight(request: HttpRequest) -> HttpResponse:
    """The browser's question before a listed site posts JSON: yes for listed sites only."""
    response = HttpResponse(status=204)
    if origin_of(request) in listed():
        response["Access-Control-Allow-Methods"] = METHODS
        response["Access-Control-Allow-Headers"] = HEADERS
        response["Access-Control-Max-Age"] = str(PREFLIGHT_MAX_AGE)
    return allow(request, response)


def frame_ancestors() -> list[str]:
    """Who may frame the embedded form: the listed sites, and tillit's own pages (the
    console's preview)."""
    return ["'self'", *listed()]


def framed(response: HttpResponse) -> HttpResponse:
    """Only the listed sites may frame this page."""
    response._csp_config = {  # type: ignore[attr-defined]
        **settings.SECURE_CSP,
        "frame-ancestors": frame_ancestors(),
    }
    return response
