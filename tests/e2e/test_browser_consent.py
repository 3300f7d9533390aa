"""The cookie banner in a real browser (headless Chromium) against a real `tillit web`, with the
Google tag served by a stand-in on 127.0.0.1 so that no request leaves the machine. Each test
checks what a visitor (or a regulator with the browser's developer tools) would: the cookies in
the jar, the requests made, what Google's consent mode was told, and the proof kept."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import (
    CHROMIUM,
    CONFIRM_LINK,
    Console,
    Operator,
    throwaway_database,
    until,
)
from tests.e2e.standins import MEASUREMENT_ID, StandIn

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.browser,
    pytest.mark.timeout(180),
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"no Chromium at {CHROMIUM}"),
]

ESSENTIAL = {"csrftoken", "tillit_consent"}


@pytest.fixture(scope="module")
def google() -> Iterator[StandIn]:
    stand_in = StandIn()
    yield stand_in
    stand_in.close()


def start_site(root: Path, url: str | None, google: StandIn, **env: str) -> Operator:
    operator = Operator(
        root,
        url,
        None,
        {
            "TILLIT_GA_MEASUREMENT_ID": MEASUREMENT_ID,
            "TILLIT_GA_TAG_URL": f"{google.origin}/gtag/js",
            **env,
        },
    )
    operator.init()
    operator.start_web()
    return operator


@pytest.fixture(scope="module")
def site(tmp_path_factory, google) -> Iterator[Operator]:
    with throwaway_database() as url:
        operator = start_site(tmp_path_factory.mktemp("consent"), url, google)
        try:
            yield operator
        finally:
            operator.stop_all()


@pytest.fixture
def visit(browser, google) -> Iterator[Any]:
    """A fresh browser profile (no cookies) per call; `visit(site, path, **context_options)`
    gives the page, its console and the requests it made (`path` may be a whole address)."""
    contexts: list[Any] = []

    def open_page(site: Operator, path: str = "/", **options: Any) -> Any:
        context = browser.new_context(locale="nb-NO", **options)
        context.set_default_timeout(15_000)
        contexts.append(context)
        page = context.new_page()
        page.console = Console(page)
        page.seen = []
        page.on("request", lambda request: page.seen.append(request.url))
        google.requests.clear()
        page.goto(path if path.startswith("http") else site.url + path)
        return page

    yield open_page
    for context in contexts:
        context.close()


def jar(page: Any) -> set[str]:
    return {c["name"] for c in page.context.cookies()}


def consent_commands(page: Any) -> list[list[Any]]:
    return page.evaluate(
        "() => (window.dataLayer || []).map(a => Array.from(a))"
        ".filter(a => a[0] === 'consent' || a[0] === 'config' || a[0] === 'js')"
        ".map(a => a.map(x => x instanceof Date ? 'date' : x))"
    )


def settled_consent(page: Any) -> list[Any] | None:
    """The page's last consent command, or None while it is between two loads."""
    try:
        commands = [c for c in consent_commands(page) if c[0] == "consent"]
    except Exception:  # the page is navigating (it reloads after a withdrawal)
        return None
    return commands[-1] if commands else None


def proofs(site: Operator) -> list[tuple[str, str, list[str]]]:
    rows = site.db.rows("SELECT action, source, granted FROM consent_cookieconsent ORDER BY at, id")
    return [(a, s, json.loads(g) if isinstance(g, str) else g) for a, s, g in rows]


def banner(page: Any) -> Any:
    return page.get_by_role("dialog", name="Informasjonskapsler")


@pytest.mark.promise("P13")
@pytest.mark.promise("P14")
def test_before_any_choice_only_essential_cookies_and_nothing_from_google(site, visit, google):
    page = visit(site)
    dialog = banner(page)
    dialog.wait_for(state="visible")
    # Reject is a first-layer button like accept, in the same style.
    reject = dialog.get_by_role("button", name="Avslå alle")
    accept = dialog.get_by_role("button", name="Godta alle")
    assert reject.is_visible() and accept.is_visible()
    style = (
        "e => { const s = getComputedStyle(e); "
        "return [s.backgroundColor, s.color, s.fontWeight, s.borderColor, s.fontSize] }"
    )
    assert reject.evaluate(style) == accept.evaluate(style)
    page.wait_for_timeout(500)
    assert jar(page) <= ESSENTIAL - {"tillit_consent"}
    assert google.requests == []
    assert not [u for u in page.seen if str(google.port) in u]
    # Consent mode's defaults are set, all denied, and nothing else was sent to the tag.
    assert consent_commands(page) == [
        [
            "consent",
            "default",
            {
                "ad_storage": "denied",
                "ad_user_data": "denied",
                "ad_personalization": "denied",
                "analytics_storage": "denied",
            },
        ]
    ]
    assert page.console.errors == []


@pytest.mark.promise("P14")
def test_after_reject_all_no_analytics_and_the_choice_holds(site, visit, google):
    before = len(proofs(site))
    page = visit(site)
    banner(page).get_by_role("button", name="Avslå alle").click()
    banner(page).wait_for(state="hidden")
    until(lambda: len(proofs(site)) == before + 1, 10, "the refusal is recorded")
    assert proofs(site)[-1] == ("reject_all", "banner", [])
    assert jar(page) <= ESSENTIAL and "tillit_consent" in jar(page)
    page.reload()
    page.wait_for_timeout(500)
    assert banner(page).is_hidden(), "the banner asked again after a refusal"
    assert google.requests == [] and jar(page) <= ESSENTIAL
    assert page.console.errors == []


@pytest.mark.promise("P12")
@pytest.mark.promise("P14")
@pytest.mark.promise("P6")
def test_after_accept_all_the_google_tag_loads_in_consent_mode(site, visit, google):
    page = visit(site)
    banner(page).get_by_role("button", name="Godta alle").click()
    until(lambda: google.tag_requests(), 10, "the Google tag is fetched")
    assert google.tag_requests() == [f"/gtag/js?id={MEASUREMENT_ID}"]
    until(lambda: "_ga" in jar(page), 10, "the analytics cookies are set")
    commands = consent_commands(page)
    assert commands[0][:2] == ["consent", "default"]
    assert commands[1] == [
        "consent",
        "update",
        {
            "ad_storage": "denied",
            "ad_user_data": "denied",
            "ad_personalization": "denied",
            "analytics_storage": "granted",
        },
    ]
    config = next(c for c in commands if c[0] == "config")
    assert config[1] == MEASUREMENT_ID
    assert "user_id" not in json.dumps(config), "analytics must carry no user id"
    assert config[2]["allow_google_signals"] is False
    assert proofs(site)[-1] == ("accept_all", "banner", ["analytics", "third_party"])
    # The next page loads the tag again straight away, without asking.
    google.requests.clear()
    page.reload()
    until(lambda: google.tag_requests(), 10, "the tag loads on the next page")
    assert banner(page).is_hidden()
    assert page.console.errors == []


@pytest.mark.promise("P14")
def test_withdrawing_from_the_footer_removes_the_analytics_cookies(site, visit, google):
    page = visit(site)
    banner(page).get_by_role("button", name="Godta alle").click()
    until(lambda: {"_ga", "_ga_TEST123"} <= jar(page), 10, "the analytics cookies are set")
    page.get_by_role("link", name="Innstillinger for informasjonskapsler").click()
    dialog = banner(page)
    dialog.wait_for(state="visible")
    assert dialog.get_by_role("checkbox", name="Statistikk (Google Analytics)").is_checked()
    dialog.get_by_role("button", name="Avslå alle").click()
    dialog.wait_for(state="hidden")
    until(lambda: not {"_ga", "_ga_TEST123"} & jar(page), 10, "the analytics cookies are gone")
    # The page sends Google the update and then loads itself afresh (so nothing that ran goes
    # on running); either way, the consent state it ends with denies analytics.
    page.wait_for_load_state("load")
    last = until(lambda: settled_consent(page), 10, "the page's consent state after withdrawal")
    assert last[0] == "consent" and last[1] in ("update", "default")
    assert last[2]["analytics_storage"] == "denied"
    assert [p[:2] for p in proofs(site)[-2:]] == [
        ("accept_all", "banner"),
        ("withdraw", "settings"),
    ]
    # Withdrawn stays withdrawn: the next page neither asks nor loads the tag.
    google.requests.clear()
    page.reload()
    page.wait_for_timeout(500)
    assert google.requests == [] and not {"_ga", "_ga_TEST123"} & jar(page)
    assert page.console.errors == []


@pytest.mark.promise("P14")
@pytest.mark.promise("P15")
def test_gpc_sets_everything_optional_off_says_so_and_is_recorded(site, visit, google):
    page = visit(site, extra_http_headers={"Sec-GPC": "1"})
    dialog = banner(page)
    dialog.wait_for(state="visible")
    assert dialog.get_by_text("Global Privacy Control").is_visible()
    until(lambda: proofs(site)[-1][1] == "gpc", 10, "the GPC refusal is recorded")
    assert proofs(site)[-1] == ("reject_all", "gpc", [])
    page.wait_for_timeout(300)
    assert google.requests == [] and jar(page) <= ESSENTIAL
    # GPC never counts as consent, but the visitor may still opt in.
    dialog.get_by_role("button", name="Godta alle").click()
    until(lambda: google.tag_requests(), 10, "the tag loads after an explicit yes")
    assert proofs(site)[-1] == ("accept_all", "banner", ["analytics", "third_party"])


@pytest.mark.promise("P13")
def test_the_banner_is_operated_by_keyboard_alone(site, visit):
    page = visit(site)
    dialog = banner(page)
    dialog.wait_for(state="visible")
    assert page.evaluate("document.activeElement.id") == "cc", "the dialog did not take the focus"
    focused = "() => document.activeElement.textContent.trim()"
    names = []
    for _ in range(4):
        page.keyboard.press("Tab")
        names.append(page.evaluate(focused))
    assert names == [
        "Hvilke informasjonskapsler, og hvorfor",
        "Avslå alle",
        "Godta alle",
        "Velg selv",
    ]
    page.keyboard.press("Enter")
    # The choices open, and the focus goes to the first switch.
    analytics = dialog.get_by_role("checkbox", name="Statistikk (Google Analytics)")
    assert page.evaluate("document.activeElement.dataset.category") == "analytics"
    page.keyboard.press("Space")
    assert analytics.is_checked()
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.dataset.category") == "third_party"
    for _ in range(4):
        page.keyboard.press("Tab")
        if page.evaluate(focused) == "Lagre valgene mine":
            break
    page.keyboard.press("Enter")
    dialog.wait_for(state="hidden")
    until(lambda: proofs(site)[-1][0] == "custom", 10, "the custom choice is recorded")
    assert proofs(site)[-1] == ("custom", "banner", ["analytics"])
    # Reopened from the footer by keyboard, Escape closes it and gives the focus back.
    page.get_by_role("link", name="Innstillinger for informasjonskapsler").focus()
    page.keyboard.press("Enter")
    dialog.wait_for(state="visible")
    page.keyboard.press("Escape")
    dialog.wait_for(state="hidden")
    assert page.evaluate(focused) == "Innstillinger for informasjonskapsler"
    assert page.console.errors == []


@pytest.mark.promise("P13")
def test_a_new_banner_version_asks_again(tmp_path, google, visit):
    shipped = Path(__file__).resolve().parents[2] / "src" / "tillit" / "operator.toml"
    datamap_file = tmp_path / "operator.toml"
    datamap_file.write_text(shipped.read_text())
    with throwaway_database() as url:
        site = start_site(tmp_path / "op", url, google, TILLIT_OPERATOR_FILE=str(datamap_file))
        try:
            page = visit(site)
            banner(page).get_by_role("button", name="Avslå alle").click()
            banner(page).wait_for(state="hidden")
            page.reload()
            page.wait_for_timeout(300)
            assert banner(page).is_hidden()
            # A cookie is added to the list: every visitor is asked again.
            datamap_file.write_text(
                shipped.read_text().replace('name = "_ga_*"', 'name = "_gid"', 1)
            )
            page.reload()
            banner(page).wait_for(state="visible")
        finally:
            site.stop_all()


@pytest.mark.promise("P15")
@pytest.mark.promise("P19")
def test_the_partners_page_loads_only_after_third_party_consent(
    make_operator, reference, smtp, visitors, visit
):
    embed = f"http://localhost:{reference.port}/embed"
    site = make_operator(smtp_port=smtp.port)
    site.add_reference_partner(reference, embed_url=embed)
    site.start_web()
    site.start_worker()
    visitors(site.url).sign_up(
        {
            "name": "Kari Innebygd",
            "email": "innebygd@example.com",
            "country": "NO",
            "phone": "",
            "consent_partner": "on",
        }
    )
    link = smtp.wait_for("innebygd@example.com").link(CONFIRM_LINK)
    page = visit(site, link.removeprefix(site.url))
    banner(page).get_by_role("button", name="Avslå alle").click()
    banner(page).wait_for(state="hidden")
    page.get_by_role("button", name="Bekreft og fortsett").click()
    holder = page.locator(".cc-embed")
    holder.wait_for(state="visible")
    assert "Megler Eksempel AS" in holder.inner_text()
    page.wait_for_timeout(500)
    assert not [u for u in page.seen if u.startswith(embed)], "the partner's page loaded early"
    assert "partner_visitor" not in jar(page)
    # One click: consent to third parties (recorded as such), and the page appears.
    holder.get_by_role("button").click()
    frame = page.frame_locator("iframe.cc-frame")
    frame.get_by_role("heading").wait_for()
    assert "welcomes you" in frame.get_by_role("heading").inner_text()
    until(lambda: "partner_visitor" in jar(page), 10, "the partner sets its own cookie")
    assert proofs(site)[-1] == ("custom", "embed", ["third_party"])
    assert page.console.errors == []


@pytest.mark.promise("P14")
def test_withdrawing_in_the_settings_form_removes_cookies_on_the_parent_domain(
    tmp_path, google, visit
):
    """On www.tillit.localhost, Google's tag puts _ga on tillit.localhost, where the server's
    own Set-Cookie cannot reach it: the page's script removes it, even after a choice made in
    the plain settings form."""
    with throwaway_database() as url:
        site = start_site(
            tmp_path / "www", url, google, TILLIT_ALLOWED_HOSTS="127.0.0.1,.tillit.localhost"
        )
        try:
            www = f"http://www.tillit.localhost:{site.port}"
            page = visit(site, www + "/")
            banner(page).get_by_role("button", name="Godta alle").click()
            until(lambda: "_ga" in jar(page), 10, "the analytics cookies are set")
            domains = {c["domain"] for c in page.context.cookies() if c["name"].startswith("_ga")}
            assert domains == {".tillit.localhost"}
            page.goto(www + "/cookies/")
            page.get_by_role("button", name="Avslå alle").click()
            page.wait_for_url(www + "/cookies/")
            until(lambda: not {"_ga", "_ga_TEST123"} & jar(page), 10, "_ga is gone")
            assert proofs(site)[-1] == ("withdraw", "settings", [])
            assert page.console.errors == []
        finally:
            site.stop_all()
