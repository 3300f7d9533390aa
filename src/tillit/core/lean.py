"""The visitor's two busy POSTs pass only the middleware they need.

A sign-up (`POST /`) and a cookie choice (`POST /cookies/choice`) come from visitors, who have
no session, no staff account and nothing to log in to. Django runs every request through all
of settings.MIDDLEWARE; for these two, the session, authentication, two-factor, console,
lockout, policy-notice, messages and static-file layers would each look and find nothing to do.
`Application` is the WSGI application: it sends those two requests (in either language)
through a handler built from settings.PUBLIC_POST_MIDDLEWARE, which keeps every layer that
protects or shapes the answer (security headers, the language, the body check, CSRF,
X-Frame-Options, the Content-Security-Policy), and everything else through the full one.
The four paths always lead to the same two views, so each is resolved once per process rather
than matched against every URL pattern per request.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from django.conf import settings
from django.core.handlers.wsgi import WSGIHandler
from django.http import HttpRequest
from django.urls import ResolverMatch

PUBLIC_POSTS = frozenset({"/", "/en/", "/cookies/choice", "/en/cookies/choice"})


class PublicPostHandler(WSGIHandler):
    """A WSGIHandler whose middleware is settings.PUBLIC_POST_MIDDLEWARE."""

    def __init__(self) -> None:
        super().__init__()
        self.routes: dict[tuple[str, str], ResolverMatch] = {}

    def resolve_request(self, request: HttpRequest) -> ResolverMatch:
        if hasattr(request, "urlconf"):
            return super().resolve_request(request)
        # The path names the language, so (URL conf, path) always resolves the same way.
        key = (settings.ROOT_URLCONF, request.path_info)
        match = self.routes.get(key)
        if match is None:
            match = self.routes[key] = super().resolve_request(request)
        request.resolver_match = match
        return match

    def load_middleware(self, is_async: bool = False) -> None:
        # Django builds the chain from settings.MIDDLEWARE; it is swapped for the lean list
        # while this handler is built, once, when the process starts.
        full = settings.MIDDLEWARE
        settings.MIDDLEWARE = settings.PUBLIC_POST_MIDDLEWARE
        try:
            super().load_middleware(is_async)
        finally:
            settings.MIDDLEWARE = full


class Application:
    def __init__(self) -> None:
        self.full = WSGIHandler()
        self.public_post = PublicPostHandler()

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        if environ.get("REQUEST_METHOD") == "POST" and environ.get("PATH_INFO") in PUBLIC_POSTS:
            return self.public_post(environ, start_response)
        return self.full(environ, start_response)
