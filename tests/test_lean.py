"""The visitor's two busy POSTs pass a shorter middleware chain (core/lean.py) and a web process
loads only what it serves. These tests call the real WSGI application, as the servers do:
Django's test client would build its own handler with the full chain."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
from http.cookies import SimpleCookie

import pytest
from django.conf import settings

from tillit.vault.models import Envelope, Purpose

pytestmark = pytest.mark.django_db(transaction=True)


def call(method: str, path: str, body: bytes = b"", **headers: str) -> tuple[int, dict, str]:
    from tillit.wsgi import application

    environ = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "SERVER_NAME": "testserver",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_HOST": "127.0.0.1",
        "REMOTE_ADDR": "127.0.0.1",
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.input": io.BytesIO(body),
        "wsgi.url_scheme": "http",
        **{"HTTP_" + k.upper(): v for k, v in headers.items() if k != "content_type"},
    }
    if "content_type" in headers:
        environ["CONTENT_TYPE"] = headers["content_type"]
    answer: dict = {}

    def start_response(status: str, header_list: list, exc_info: object = None) -> None:
        answer["status"] = int(status.split()[0])
        answer["headers"] = header_list

    text = b"".join(application(environ, start_response)).decode()
    headers_seen: dict = {}
    for name, value in answer["headers"]:
        headers_seen.setdefault(name.lower(), []).append(value)
    return answer["status"], headers_seen, text


@pytest.fixture
def csrf(partner) -> tuple[str, str]:
    status, headers, page = call("GET", "/")
    assert status == 200
    cookie = SimpleCookie()
    for line in headers["set-cookie"]:
        cookie.load(line)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
    assert token
    return cookie["csrftoken"].value, token.group(1)


def form(visitor: dict[str, str], token: str) -> bytes:
    from urllib.parse import urlencode

    return urlencode({**visitor, "csrfmiddlewaretoken": token}).encode()


FORM = "application/x-www-form-urlencoded"


@pytest.mark.promise("P3")
@pytest.mark.promise("P9")
def test_a_sign_up_through_the_short_chain_keeps_every_protective_header(csrf, visitor):
    cookie, token = csrf
    status, headers, _ = call(
        "POST", "/", form(visitor, token), content_type=FORM, cookie=f"csrftoken={cookie}"
    )
    assert status == 302 and headers["location"] == ["/sent/"]
    assert "frame-ancestors 'none'" in headers["content-security-policy"][0]
    assert headers["x-frame-options"] == ["DENY"]
    assert headers["x-content-type-options"] == ["nosniff"]
    assert headers["referrer-policy"] == ["same-origin"]
    assert not any("sessionid" in c for c in headers.get("set-cookie", []))
    assert Envelope.objects.filter(purpose=Purpose.INTAKE).count() == 1


@pytest.mark.promise("P3")
def test_the_short_chain_still_refuses_a_post_without_its_csrf_token(csrf, visitor):
    cookie, _ = csrf
    status, _, page = call(
        "POST", "/", form(visitor, "x" * 64), content_type=FORM, cookie=f"csrftoken={cookie}"
    )
    assert status == 403
    assert not Envelope.objects.filter(purpose=Purpose.INTAKE).exists()


@pytest.mark.promise("P3")
def test_the_short_chain_still_refuses_an_unreadable_body_in_the_visitors_language(csrf, visitor):
    cookie, token = csrf
    body = form(visitor, token) + b"&name=%FF%FE"
    status, _, page = call("POST", "/en/", body, content_type=FORM, cookie=f"csrftoken={cookie}")
    assert status == 400 and 'lang="en"' in page
    assert not Envelope.objects.filter(purpose=Purpose.INTAKE).exists()


@pytest.mark.promise("P14")
def test_a_cookie_choice_through_the_short_chain_is_recorded_and_remembered(csrf):
    from tillit.consent.models import CookieConsent

    cookie, token = csrf
    _, _, page = call("GET", "/")
    version = json.loads(page.split('type="application/json">', 1)[1].split("</script>", 1)[0])
    body = json.dumps(
        {"action": "reject_all", "source": "banner", "granted": [], "version": version["version"]}
    ).encode()
    status, headers, answer = call(
        "POST",
        "/cookies/choice",
        body,
        content_type="application/json",
        cookie=f"csrftoken={cookie}",
        x_csrftoken=token,
    )
    assert status == 200
    assert any(c.startswith("tillit_consent=") for c in headers["set-cookie"])
    assert headers["cache-control"][0].startswith("max-age=0")
    assert headers["content-type"] == ["application/json"]
    assert headers["vary"] == ["Accept-Language"] and headers["content-language"] == ["nb"]
    stored = CookieConsent.objects.get()
    assert stored.action == "reject_all"
    # The proof as JsonResponse writes it, for the record that was stored.
    from django.http import JsonResponse

    assert answer == JsonResponse(stored.as_proof()).content.decode()


def test_the_short_chain_is_the_full_one_less_what_visitors_never_use():
    from tillit.core.lean import PUBLIC_POSTS
    from tillit.wsgi import application

    # PathLanguage stands in for LocaleMiddleware (its answers are the same: the test below).
    stand_ins = {
        "tillit.core.lean.PathLanguage": "django.middleware.locale.LocaleMiddleware",
        "tillit.core.lean.PolicyOnce": "django.middleware.csp.ContentSecurityPolicyMiddleware",
    }
    lean = [stand_ins.get(m, m) for m in settings.PUBLIC_POST_MIDDLEWARE]
    assert [m for m in settings.MIDDLEWARE if m in lean] == lean  # same layers, same order
    assert {"/", "/en/", "/cookies/choice", "/en/cookies/choice"} == set(PUBLIC_POSTS)
    chain = application.public_post._middleware_chain
    assert chain is not application.full._middleware_chain


def test_a_web_process_loads_no_worker_browser_or_redis_code():
    """What the web process imports at start and once its URLs are loaded: the HTTP client
    (the worker's), Redis (unless it is the cache), Playwright and Babel stay out."""
    code = (
        "import sys, tillit.wsgi; from django.urls import get_resolver; "
        "get_resolver().url_patterns; "
        "print(' '.join(m for m in ('httpx', 'redis', 'playwright', 'babel') if m in sys.modules))"
    )
    env = {k: v for k, v in os.environ.items() if k != "TILLIT_REDIS_URL"}
    found = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert found.stdout.strip() == ""


@pytest.mark.promise("P14")
@pytest.mark.parametrize("path", ["/", "/en/", "/cookies/choice", "/en/cookies/choice"])
@pytest.mark.parametrize(
    "browser",
    [
        {},
        {"HTTP_ACCEPT_LANGUAGE": "en-GB,en;q=0.8"},
        {"HTTP_ACCEPT_LANGUAGE": "nb"},
        {"HTTP_COOKIE": "django_language=en"},
    ],
)
def test_path_language_answers_as_django_locale_middleware_does(rf, path, browser):
    """The same language for the request and the same Vary and Content-Language headers,
    whatever the browser asks for: on these paths the path alone decides."""
    from django.http import HttpResponse
    from django.middleware.locale import LocaleMiddleware
    from django.utils import translation

    from tillit.core.lean import PathLanguage

    seen = []
    for middleware in (LocaleMiddleware, PathLanguage):
        request = rf.post(path, **browser)

        def view(request, seen=seen):
            return HttpResponse(translation.get_language())

        response = middleware(view)(request)
        seen.append(
            (
                request.LANGUAGE_CODE,
                response.content,
                response.get("Vary"),
                response["Content-Language"],
            )
        )
        translation.deactivate()
    assert seen[0] == seen[1]
    assert seen[1][0] == ("en" if path.startswith("/en/") else "nb")


@pytest.mark.parametrize("already", [{}, {"Cache-Control": "public, max-age=60"}])
def test_the_lean_never_cache_writes_djangos_headers(rf, already):
    import time_machine
    from django.http import JsonResponse
    from django.views.decorators.cache import never_cache

    from tillit.core import lean

    def view(request):
        response = JsonResponse({"ok": True})
        for name, value in already.items():
            response[name] = value
        return response

    with time_machine.travel("2026-12-07 06:00:00.7+00:00", tick=False):
        theirs = never_cache(view)(rf.post("/cookies/choice"))
        ours = lean.never_cache(view)(rf.post("/cookies/choice"))
    assert dict(ours.headers) == dict(theirs.headers)
    assert theirs["Expires"] == "Mon, 07 Dec 2026 06:00:00 GMT"


def test_a_consent_cookie_expires_as_set_cookie_would_write_it(rf):
    import time_machine
    from django.http import HttpResponse

    from tillit.consent import cookies
    from tillit.core import lean

    seconds = int(cookies.max_age().total_seconds())
    with time_machine.travel("2026-12-07 06:00:00.9+00:00", tick=False):
        theirs = HttpResponse()
        theirs.set_cookie("x", "1", max_age=seconds)
        ours = HttpResponse()
        ours.set_cookie("x", "1", max_age=seconds, expires=lean.date_in(seconds))
    assert ours.cookies["x"].output() == theirs.cookies["x"].output()


@pytest.mark.promise("P3")
@pytest.mark.parametrize("answer", ["json", "nonce", "own", "report-only"])
def test_policy_once_writes_the_policy_django_would(rf, answer, settings):
    """The same Content-Security-Policy headers as Django's middleware: built once for a plain
    answer, and as Django builds them when the answer uses a nonce or sets its own policy."""
    from django.http import HttpResponse
    from django.middleware.csp import ContentSecurityPolicyMiddleware
    from django.utils.csp import CSP

    from tillit.core.lean import PolicyOnce

    if answer == "report-only":
        settings.SECURE_CSP_REPORT_ONLY = {"default-src": [CSP.SELF], "report-uri": "/r"}

    def view(request):
        response = HttpResponse("{}", content_type="application/json")
        if answer == "nonce":
            response.content = f"<script nonce='{request._csp_nonce}'></script>".encode()
        if answer == "own":
            response._csp_config = {**settings.SECURE_CSP, "frame-src": ["https://a.example.com"]}
        return response

    seen = []
    for middleware in (ContentSecurityPolicyMiddleware, PolicyOnce):
        chain = middleware(view)
        for _ in range(2):  # the second answer comes from what was built for the first
            response = chain(rf.post("/cookies/choice"))
            headers = {k: v for k, v in response.headers.items() if "Security-Policy" in k}
            seen.append(headers if answer != "nonce" else {k: len(v) for k, v in headers.items()})
            if answer == "nonce":
                assert "'nonce-" in response["Content-Security-Policy"]
    assert seen[0] == seen[1] == seen[2] == seen[3] and seen[0]
    assert answer == "nonce" or "frame-ancestors 'none'" in seen[0]["Content-Security-Policy"]


def test_one_path_language_serves_every_path_and_browser_as_django_does(rf, settings):
    """One instance, as in a web process: what it worked out for one request is right for the
    next, whatever that one's path or browser, and a new default language is followed."""
    from django.http import HttpResponse
    from django.middleware.locale import LocaleMiddleware
    from django.utils import translation

    from tillit.core.lean import PathLanguage

    def view(request):
        return HttpResponse(translation.get_language())

    ours, theirs = PathLanguage(view), LocaleMiddleware(view)
    browsers = [{}, {"HTTP_ACCEPT_LANGUAGE": "en"}, {"HTTP_COOKIE": "django_language=en"}]
    for default in ("nb", "en"):
        settings.LANGUAGE_CODE = default
        for path in ["/", "/en/", "/cookies/choice", "/en/cookies/choice"] * 2:
            for browser in browsers:
                seen = []
                for chain in (theirs, ours):
                    request = rf.post(path, **browser)
                    response = chain(request)
                    seen.append((request.LANGUAGE_CODE, response.content, response.get("Vary")))
                    translation.deactivate()
                assert seen[0] == seen[1], (default, path, browser)


def test_policy_once_follows_a_new_policy_in_the_settings(rf, settings):
    from django.http import HttpResponse
    from django.utils.csp import CSP

    from tillit.core.lean import PolicyOnce

    chain = PolicyOnce(lambda request: HttpResponse("{}"))
    first = chain(rf.post("/cookies/choice"))["Content-Security-Policy"]
    assert chain(rf.post("/cookies/choice"))["Content-Security-Policy"] == first
    settings.SECURE_CSP = {"default-src": [CSP.SELF], "frame-ancestors": [CSP.NONE]}
    after = chain(rf.post("/cookies/choice"))["Content-Security-Policy"]
    assert after == "default-src 'self'; frame-ancestors 'none'" != first
