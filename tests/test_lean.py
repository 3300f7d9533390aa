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
    status, headers, _ = call(
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
    assert CookieConsent.objects.get().action == "reject_all"


def test_the_short_chain_is_the_full_one_less_what_visitors_never_use():
    from tillit.core.lean import PUBLIC_POSTS
    from tillit.wsgi import application

    lean = settings.PUBLIC_POST_MIDDLEWARE
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
