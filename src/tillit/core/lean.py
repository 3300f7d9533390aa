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

`PathLanguage` is Django's LocaleMiddleware for these paths, where the language follows from
the path alone; `PolicyOnce` is Django's Content-Security-Policy middleware with the policy of
the settings built once when the answer uses no nonce; `never_cache` is Django's decorator with
the date it writes made once a second. The same headers, without parsing Accept-Language,
joining the policy or formatting a date per answer.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Callable, Iterable
from functools import wraps
from typing import Any

from django.conf import settings
from django.conf.urls.i18n import is_language_prefix_patterns_used
from django.core.handlers.wsgi import WSGIHandler
from django.http import HttpRequest, HttpResponse
from django.middleware.csp import ContentSecurityPolicyMiddleware, get_nonce
from django.middleware.locale import LocaleMiddleware
from django.urls import ResolverMatch
from django.utils import translation
from django.utils.cache import add_never_cache_headers, patch_vary_headers
from django.utils.csp import CSP, build_policy
from django.utils.http import http_date

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


class PathLanguage(LocaleMiddleware):
    """LocaleMiddleware where the URL conf uses i18n_patterns without a prefix for the default
    language: then the language is the path's, or the default, never the browser's, so it is
    worked out once per path. Other URL confs are left to LocaleMiddleware."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        super().__init__(get_response)
        # (URL conf, path, default language) -> (the language, whether the path names it)
        self.paths: dict[tuple[str, str, str], tuple[str, bool]] = {}

    def _language(self, request: HttpRequest) -> tuple[str, bool] | None:
        urlconf = getattr(request, "urlconf", settings.ROOT_URLCONF)
        key = (urlconf, request.path_info, settings.LANGUAGE_CODE)
        known = self.paths.get(key)
        if known is None:
            used, prefixed_default = is_language_prefix_patterns_used(urlconf)
            if not used or prefixed_default or len(self.paths) > 64:
                return None
            named = translation.get_language_from_path(request.path_info)
            known = self.paths[key] = (named or settings.LANGUAGE_CODE, bool(named))
        return known

    def process_request(self, request: HttpRequest) -> None:
        known = self._language(request)
        if known is None:
            return super().process_request(request)
        translation.activate(known[0])
        request.LANGUAGE_CODE = translation.get_language()
        return None

    def process_response(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        known = self._language(request)
        if known is None:
            return super().process_response(request, response)
        if not known[1]:
            if response.has_header("Vary"):
                patch_vary_headers(response, ("Accept-Language",))
            else:
                response.headers["Vary"] = "Accept-Language"
        response.headers.setdefault("Content-Language", translation.get_language())
        return response


class PolicyOnce(ContentSecurityPolicyMiddleware):
    """ContentSecurityPolicyMiddleware, the policy built once per settings object for answers
    that use no nonce and set no policy of their own (a JSON answer, a redirect). The settings'
    CSP is never changed in place (a view that needs more sets its own, site/views.py)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        super().__init__(get_response)
        self.built: dict[str, tuple[object, str]] = {}

    def process_response(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        own = hasattr(response, "_csp_config") or hasattr(response, "_csp_ro_config")
        if own or get_nonce(request):
            return super().process_response(request, response)
        for header, config in (
            (CSP.HEADER_ENFORCE, settings.SECURE_CSP),
            (CSP.HEADER_REPORT_ONLY, settings.SECURE_CSP_REPORT_ONLY),
        ):
            if config and header not in response:
                known = self.built.get(header)
                if known is None or known[0] is not config:
                    known = self.built[header] = (config, build_policy(config))
                response.headers[str(header)] = known[1]
        return response


_dates: dict[int, str] = {}


def date_in(seconds: int) -> str:
    """http_date(now + seconds), made once per second of the clock."""
    at = int(time.time()) + seconds
    value = _dates.get(at)
    if value is None:
        if len(_dates) > 8:
            _dates.clear()
        value = _dates[at] = http_date(at)
    return value


NEVER = "max-age=0, no-cache, no-store, must-revalidate, private"


def never_cache(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """django.views.decorators.cache.never_cache, for the visitor's hot POST: the same
    Expires and Cache-Control headers, the date made once a second (for plain views)."""
    if inspect.iscoroutinefunction(view):
        raise TypeError("lean.never_cache is for plain views; use Django's for async ones")

    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        response = view(request, *args, **kwargs)
        if response.has_header("Expires") or response.has_header("Cache-Control"):
            add_never_cache_headers(response)
        else:
            response.headers["Expires"] = date_in(0)
            response.headers["Cache-Control"] = NEVER
        return response

    return wrapped
