"""Every page, public or staff, carries the security headers; staff pages are never cached;
no page needs an inline style or script the Content-Security-Policy would block."""

from __future__ import annotations

import re

import pytest
from django.contrib import admin

from tests.conftest import make_staff, sign_in

pytestmark = pytest.mark.django_db

PUBLIC = [
    "/",
    "/en/",
    "/sent/",
    "/personvern/",
    "/cookies/",
    "/privacy/",
    "/en/privacy/",
    "/contact/",
    "/en/contact/",
    "/does-not-exist/",
    "/console/login/",
]


def console_pages() -> list[str]:
    pages = [
        "/console/",
        "/console/cookie-consent/",
        "/console/audit-verify/",
        "/console/dashboard/",
    ]
    for model in admin.site._registry:
        pages.append(f"/console/{model._meta.app_label}/{model._meta.model_name}/")
    return pages


def check(page, url: str) -> list[str]:
    problems = []
    csp = page.get("Content-Security-Policy", "")
    if "default-src 'self'" not in csp or "frame-ancestors 'none'" not in csp:
        problems.append(f"{url}: CSP {csp!r}")
    if "unsafe-inline" in csp:
        problems.append(f"{url}: the CSP allows inline code")
    if page.get("X-Frame-Options") != "DENY":
        problems.append(f"{url}: X-Frame-Options {page.get('X-Frame-Options')!r}")
    if page.get("X-Content-Type-Options") != "nosniff":
        problems.append(f"{url}: no nosniff")
    if page.get("Referrer-Policy") != "same-origin":
        problems.append(f"{url}: Referrer-Policy {page.get('Referrer-Policy')!r}")
    html = page.content.decode(errors="replace")
    if re.search(r"<[a-z][^>]*\sstyle=\"", html):
        problems.append(f"{url}: an inline style attribute, which the CSP blocks")
    if re.search(r"<[a-z][^>]*\son[a-z]+=\"", html):
        problems.append(f"{url}: an inline event handler, which the CSP blocks")
    return problems


@pytest.mark.promise("P21")
@pytest.mark.promise("P13")
def test_every_page_carries_the_security_headers(client):
    roles = {r: make_staff(f"h-{r}", r) for r in ("support", "privacy_officer", "administrator")}
    problems = []
    for url in PUBLIC:
        problems += check(client.get(url), url)
    for user in roles.values():
        client.logout()
        sign_in(client, user)
        for url in console_pages():
            page = client.get(url)
            if page.status_code != 200:
                continue  # not this role's page (the access matrix covers refusals)
            problems += check(page, url)
            if "no-store" not in page.get("Cache-Control", ""):
                problems.append(f"{url}: a staff page that may be cached")
    assert not problems, "\n".join(problems)


@pytest.mark.promise("P21")
def test_hsts_is_sent_when_configured(client, settings):
    settings.SECURE_HSTS_SECONDS = 31536000
    page = client.get("/", secure=True)
    assert page["Strict-Transport-Security"].startswith("max-age=31536000")
