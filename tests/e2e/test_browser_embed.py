"""The operator's own site, on a second origin, with tillit's two snippets pasted in: the cookie
banner in its <head> before its own Google tag, and the sign-up form in its body. In headless
Chromium against a real `tillit web` and worker, with the operator's page served from
http://localhost:<port> (tillit itself is on 127.0.0.1, another site to the browser), a
stand-in Google tag, and a real SMTP server for the confirmation mail."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import (
    CHROMIUM,
    Console,
    Inbox,
    Operator,
    serving,
    throwaway_database,
    until,
)
from tests.e2e.standins import MEASUREMENT_ID, StandIn
from tests.processes import free_port

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.browser,
    pytest.mark.timeout(240),
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"no Chromium at {CHROMIUM}"),
]

OPERATOR_FILE = Path(__file__).resolve().parents[2] / "src" / "tillit" / "operator.toml"
PAGE = """<!doctype html>
<html lang="nb">
<head>
<meta charset="utf-8">
<title>Eksempel Henvisning</title>
<script src="%(tillit)s/embed/banner.js"></script>
<script>
  window.seenByTheTag = (window.dataLayer || []).map(function (a) { return Array.from(a); });
</script>
<script async src="%(google)s/gtag/js?id=%(id)s"></script>
</head>
<body>
<main id="main">
<h1>Bli med</h1>
<script src="%(tillit)s/embed/signup.js"></script>
<p><a href="#" data-cc-open>Informasjonskapsler</a></p>
</main>
</body>
</html>
"""


def serve_page(port: int, tillit: str, google: str) -> ThreadingHTTPServer:
    """The operator's own web site: one page with the snippets, on localhost:<port>."""
    body = (PAGE % {"tillit": tillit, "google": google, "id": MEASUREMENT_ID}).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Iterator[dict[str, Any]]:
    root = tmp_path_factory.mktemp("embed")
    google, inbox = StandIn(), Inbox()
    # The operator lists one site in its data map; the other is anybody's.
    listed, unlisted = free_port(), free_port()
    operator_file = root / "operator.toml"
    operator_file.write_text(
        OPERATOR_FILE.read_text(encoding="utf-8").replace(
            'origins = ["https://www.example.com"]', f'origins = ["http://localhost:{listed}"]'
        ),
        encoding="utf-8",
    )
    servers: list[ThreadingHTTPServer] = []
    with throwaway_database() as url, serving(inbox):
        site = Operator(root, url, inbox.port, {"TILLIT_OPERATOR_FILE": str(operator_file)})
        try:
            site.init()
            site.add_unreachable_partner()
            site.start_web()
            site.start_worker()
            servers = [serve_page(port, site.url, google.origin) for port in (listed, unlisted)]
            yield {
                "site": site,
                "google": google,
                "inbox": inbox,
                "listed": f"http://localhost:{listed}",
                "unlisted": f"http://localhost:{unlisted}",
            }
        finally:
            site.stop_all()
            for server in servers:
                server.shutdown()
            google.close()


def proofs(site: Operator) -> list[tuple[str, str]]:
    return site.db.rows("SELECT action, source FROM consent_cookieconsent ORDER BY at, id")


DENIED = {
    "ad_storage": "denied",
    "ad_user_data": "denied",
    "ad_personalization": "denied",
    "analytics_storage": "denied",
}


@pytest.mark.promise("P3")
@pytest.mark.promise("P12")
@pytest.mark.promise("P14")
def test_a_visitor_chooses_cookies_and_signs_up_on_the_operators_own_site(world, browser):
    site, google, inbox = world["site"], world["google"], world["inbox"]
    context = browser.new_context(locale="nb-NO")
    context.set_default_timeout(15_000)
    try:
        page = context.new_page()
        console = Console(page)
        page.goto(world["listed"] + "/")
        # Consent mode's defaults were in the data layer before the site's own tag ran.
        seen = page.evaluate("window.seenByTheTag")
        assert seen[0] == ["consent", "default", {**DENIED, "wait_for_update": 500}]
        dialog = page.get_by_role("dialog", name="Informasjonskapsler")
        dialog.wait_for(state="visible")
        assert page.evaluate("document.cookie") == ""
        dialog.get_by_role("button", name="Godta alle").click()
        dialog.wait_for(state="hidden")
        until(lambda: proofs(site), 10, "the choice is recorded by tillit")
        assert proofs(site) == [("accept_all", "banner")]
        # The site keeps the choice in its own cookie; tillit set none in the browser.
        cookies = {c["name"]: c for c in context.cookies()}
        assert set(cookies) >= {"tillit_consent"}
        assert cookies["tillit_consent"]["domain"] == "localhost"
        assert not [c for c in cookies.values() if c["domain"] == "127.0.0.1"]
        updates = [
            c for c in page.evaluate("dataLayer.map(a => Array.from(a))") if c[1] == "update"
        ]
        assert updates[-1] == ["consent", "update", {**DENIED, "analytics_storage": "granted"}]

        # The next page of the site knows the choice before its tag runs: no dialog.
        page.reload()
        seen = page.evaluate("window.seenByTheTag")
        assert seen[2] == ["consent", "update", {**DENIED, "analytics_storage": "granted"}]
        page.wait_for_timeout(300)
        assert page.get_by_role("dialog", name="Informasjonskapsler").is_hidden()
        assert google.tag_requests(), "the site's own tag loads"

        # The sign-up form, framed where its snippet stands.
        form = page.frame_locator("iframe.tillit-signup")
        form.get_by_role("textbox", name="Fullt navn").fill("Kari Innebygd")
        form.locator("#id_email").fill("innebygd@example.com")
        form.locator("#id_country").select_option("NO")
        form.locator("#id_consent_partner").check()
        assert (
            int(page.locator("iframe.tillit-signup").evaluate("f => parseInt(f.style.height)"))
            > 500
        )
        form.get_by_role("button", name="Registrer deg").click()
        form.get_by_role("heading", name="Sjekk e-posten din").wait_for()
        # The frame fits what it shows: shorter now than with the form in it.
        frame = page.locator("iframe.tillit-signup")
        until(lambda: int(frame.evaluate("f => parseInt(f.style.height)") or 0) < 500, 5, "fit")
        mail = inbox.wait_for("innebygd@example.com")
        assert "/confirm/" in mail.text
        assert console.errors == []
    finally:
        context.close()


@pytest.mark.promise("P12")
def test_a_site_the_operator_did_not_list_can_neither_frame_the_form_nor_record_a_choice(
    world, browser
):
    site = world["site"]
    before = len(proofs(site))
    context = browser.new_context(locale="nb-NO")
    context.set_default_timeout(15_000)
    try:
        page = context.new_page()
        console = Console(page)
        page.goto(world["unlisted"] + "/")
        dialog = page.get_by_role("dialog", name="Informasjonskapsler")
        dialog.wait_for(state="visible")
        dialog.get_by_role("button", name="Godta alle").click()
        # The browser refuses the answer (no CORS for this site) and the banner says so.
        dialog.locator(".cc-failed").wait_for(state="visible")
        # The browser refused to frame the form here, naming the rule (and not for slowness).
        until(lambda: [e for e in console.errors if "frame-ancestors" in e], 15, "framing refused")
        assert page.frame_locator("iframe.tillit-signup").locator("form").count() == 0
    finally:
        context.close()
    assert len(proofs(site)) == before


@pytest.mark.promise("P14")
def test_on_the_operators_site_a_withdrawal_continues_the_same_history(world, browser):
    site = world["site"]
    # The page says lang="nb": the banner speaks bokmål, whatever the browser's language.
    context = browser.new_context(locale="en-GB")
    context.set_default_timeout(15_000)
    try:
        page = context.new_page()
        console = Console(page)
        page.goto(world["listed"] + "/")
        dialog = page.get_by_role("dialog", name="Informasjonskapsler")
        before = len(proofs(site))
        dialog.get_by_role("button", name="Godta alle").click()
        dialog.wait_for(state="hidden")
        until(lambda: len(proofs(site)) == before + 1, 10, "the acceptance is recorded")
        # The site's own link opens the choice again; rejecting all now is a withdrawal,
        # and the page is loaded afresh so that nothing granted keeps running.
        # (From the keyboard: the framed form grows as it loads and moves the link about.)
        with page.expect_navigation():
            page.get_by_role("link", name="Informasjonskapsler").focus()
            page.keyboard.press("Enter")
            dialog.wait_for(state="visible")
            dialog.get_by_role("button", name="Avslå alle").click()
        until(lambda: len(proofs(site)) == before + 2, 10, "the withdrawal is recorded")
        rows = site.db.rows(
            "SELECT consent_id, action FROM consent_cookieconsent ORDER BY at DESC LIMIT 2"
        )
        assert [a for _, a in rows] == ["withdraw", "accept_all"]
        assert rows[0][0] == rows[1][0], "the withdrawal started a new history"
        layer = page.evaluate("window.seenByTheTag")
        assert ["consent", "update", {**DENIED, "analytics_storage": "granted"}] not in layer
        assert console.errors == []
    finally:
        context.close()


@pytest.mark.promise("P14")
def test_on_the_operators_site_global_privacy_control_is_a_recorded_no(world, browser):
    site = world["site"]
    context = browser.new_context(locale="en-GB")
    context.add_init_script(
        "Object.defineProperty(Navigator.prototype, 'globalPrivacyControl', {get: () => true})"
    )
    context.set_default_timeout(15_000)
    try:
        page = context.new_page()
        console = Console(page)
        before = len(proofs(site))
        page.goto(world["listed"] + "/")
        until(lambda: len(proofs(site)) == before + 1, 10, "the refusal is recorded")
        assert proofs(site)[-1] == ("reject_all", "gpc")
        dialog = page.get_by_role("dialog", name="Informasjonskapsler")
        dialog.wait_for(state="visible")
        assert dialog.locator(".cc-gpc").is_visible()
        # Reloaded, the refusal holds: no dialog, nothing recorded again.
        page.reload()
        page.wait_for_timeout(500)
        assert dialog.is_hidden() and len(proofs(site)) == before + 1
        assert console.errors == []
    finally:
        context.close()
