"""The partner served by Django: `path("tillit/", include(urls(partner)))`.

The views are CSRF-exempt (tillit signs every message instead; nothing rides on a browser's
cookies) and take the path after the mount point as the path tillit signed.
"""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.urls import URLPattern, re_path
from django.views.decorators.csrf import csrf_exempt

from tillit_partner.core import Partner, Request

# The protocol's paths, relative to the endpoint; anything else is left to the site's own URLs.
PATHS = (
    r"^(?P<rest>(?:leads|messages|healthz|opendsr/v2/[^/]+(?:/[^/]+)?"
    r"|witness/add-checkpoint|witness/[0-9a-f]{64}/checkpoint))$"
)


def view(partner: Partner) -> Callable[..., HttpResponse]:
    @csrf_exempt
    def endpoint(request: HttpRequest, rest: str) -> HttpResponse:
        prefix = request.path.removesuffix(rest).rstrip("/")
        answer = partner.handle(
            Request(
                method=request.method or "GET",
                path="/" + rest,
                body=request.body,
                headers=dict(request.headers),
                base_url=request.build_absolute_uri(prefix or "/").rstrip("/"),
            )
        )
        response = HttpResponse(answer.body, status=answer.status, content_type=answer.content_type)
        for name, value in answer.headers.items():
            response[name] = value
        return response

    return endpoint


def urls(partner: Partner) -> list[URLPattern]:
    """The URL patterns of the protocol, to include at the partner's endpoint."""
    return [re_path(PATHS, view(partner), name="tillit-partner")]
