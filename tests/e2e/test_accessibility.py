"""Every public page, in nb and en, with the cookie dialog open and closed, has no WCAG 2.2 A or
AA violation that axe-core finds (axe-playwright-python's bundled axe-core, in headless
Chromium, against a real `tillit web` and worker); and the sign-up, the cookie choice and a
rights request are each done with the keyboard alone; and every console page each role
reaches, in nb and en."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from axe_playwright_python.sync_playwright import Axe

from tests.e2e.conftest import (
    CHROMIUM,
    CONFIRM_LINK,
    Inbox,
    Operator,
    Visitor,
    serving,
    throwaway_database,
    until,
)

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.browser,
    pytest.mark.timeout(600),
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"no Chromium at {CHROMIUM}"),
]

WCAG_22_AA = {
    "runOnly": {
        "type": "tag",
        "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22a", "wcag22aa"],
    },
    "resultTypes": ["violations"],
}
AXE = Axe()
LOCALES = {"nb": "nb-NO", "en": "en-GB"}
ACTIVE = """() => {
  const e = document.activeElement;
  if (!e || e === document.body) return "";
  return e.name || e.id || e.dataset.cc ||
    `${e.tagName.toLowerCase()}${e.type ? "[" + e.type + "]" : ""}`;
}"""


def violations(page: Any) -> list[str]:
    """What axe finds against WCAG 2.2 A and AA, one line per rule with the first places."""
    found = AXE.run(page, options=WCAG_22_AA).response["violations"]
    return [
        f"{page.url}: {v['id']} ({v['impact']}): {v['help']} at "
        f"{[n['target'] for n in v['nodes']][:4]}"
        for v in found
    ]


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Iterator[dict[str, Any]]:
    """A site with a partner for Norway (nothing listens: leads wait), its worker, a real SMTP
    server, and one person signed up and confirmed (for the receipt page)."""
    inbox = Inbox()
    with throwaway_database() as url, serving(inbox):
        site = Operator(tmp_path_factory.mktemp("a11y"), url, inbox.port, {})
        try:
            site.init()
            site.add_unreachable_partner()
            site.start_web()
            site.start_worker()
            person = Visitor(site.url)
            person.sign_up(
                {
                    "name": "Kari Tilgjengelig",
                    "email": "tilgjengelig@example.com",
                    "country": "NO",
                    "phone": "",
                    "consent_partner": "on",
                }
            )
            link = inbox.wait_for("tilgjengelig@example.com").link(CONFIRM_LINK)
            person.confirm(link)
            person.close()
            receipt = site.db.scalar("SELECT receipt_id FROM consent_consentrecord LIMIT 1")
            yield {"site": site, "inbox": inbox, "receipt": str(receipt).replace("-", "")}
        finally:
            site.stop_all()


def pages(world: dict[str, Any], lang: str) -> list[str]:
    prefix = "" if lang == "nb" else "/en"
    receipt = world["receipt"]
    receipt = f"{receipt[:8]}-{receipt[8:12]}-{receipt[12:16]}-{receipt[16:20]}-{receipt[20:]}"
    paths = [
        "/",
        "/sent/",
        "/confirm/not-a-real-token/",
        f"/receipt/{receipt}/",
        "/personvern/",
        "/personvern/endringer/",
        "/personvern/v/1/",
        "/cookies/",
        "/privacy/",
        "/contact/",
        "/offers/stop/not-a-real-token/",
        "/embed/signup/",
        "/embed/signup/sent/",
        "/no-such-page/",
    ]
    return [world["site"].url + prefix + p for p in paths]


@pytest.fixture
def context(browser) -> Iterator[Any]:
    made: list[Any] = []

    def make(lang: str) -> Any:
        made.append(browser.new_context(locale=LOCALES[lang]))
        made[-1].set_default_timeout(15_000)
        return made[-1]

    yield make
    for c in made:
        c.close()


def dialog(page: Any) -> Any:
    return page.locator("#cc")


@pytest.mark.promise("P13")
@pytest.mark.parametrize("lang", ["nb", "en"])
def test_every_public_page_meets_wcag_22_aa_with_the_cookie_dialog_open_and_closed(
    world, context, lang
):
    found: list[str] = []
    page = context(lang).new_page()
    for url in pages(world, lang):
        page.goto(url)
        if "/embed/" not in url:
            dialog(page).wait_for(state="visible")
        found += violations(page)
    # The dialog's second layer (the categories) open.
    page.goto(pages(world, lang)[0])
    dialog(page).locator("[data-cc=choose]").click()
    dialog(page).locator(".cc-choose").wait_for(state="visible")
    found += violations(page)
    # A choice made: the dialog is closed on every page.
    dialog(page).locator("[data-cc=reject]").click()
    dialog(page).wait_for(state="hidden")
    for url in pages(world, lang):
        page.goto(url)
        found += violations(page)
    assert found == [], "\n".join(found)


@pytest.mark.parametrize("lang", ["nb", "en"])
def test_pages_made_by_answers_meet_wcag_22_aa(world, context, lang):
    """The form with its errors, the welcome page, the code step of the privacy centre, the
    contact form's receipt."""
    site, inbox = world["site"], world["inbox"]
    prefix = "" if lang == "nb" else "/en"
    found: list[str] = []
    page = context(lang).new_page()
    page.goto(site.url + prefix + "/")
    dialog(page).locator("[data-cc=reject]").click()
    page.locator("button[type=submit]").click()
    page.locator(".alert").wait_for()
    found += violations(page)
    page.goto(site.url + prefix + "/privacy/")
    page.locator("input[type=radio]").first.check()
    page.locator("input[type=email]").fill("tilgjengelig@example.com")
    page.locator("main button[type=submit]").click()
    page.wait_for_url(re.compile(r"/privacy/verify/"))
    found += violations(page)
    page.goto(site.url + prefix + "/contact/")
    page.locator("main button[type=submit]").click()
    page.locator(".alert").wait_for()
    found += violations(page)
    # A second person's welcome page.
    person = Visitor(site.url)
    address = f"velkommen-{lang}@example.com"
    person.sign_up(
        {"name": "Ola Velkommen", "email": address, "country": "NO", "consent_partner": "on"},
        path=prefix + "/",
    )
    link = inbox.wait_for(address).link(r"http://127\.0\.0\.1:\d+/(?:en/)?confirm/[^\s/]+/")
    person.close()
    page.goto(link)
    page.locator("main button[type=submit]").click()
    page.locator("h1").wait_for()
    found += violations(page)
    assert found == []


def tab_to(page: Any, wanted: str, most: int) -> list[str]:
    stops = []
    for _ in range(most):
        page.keyboard.press("Tab")
        stops.append(page.evaluate(ACTIVE))
        if stops[-1] == wanted:
            return stops
    raise AssertionError(f"Tab never reached {wanted!r}; it stopped at {stops}")


@pytest.mark.promise("P13")
def test_the_cookie_choice_is_made_with_the_keyboard_alone(world, context):
    site = world["site"]
    before = site.db.scalar("SELECT COUNT(*) FROM consent_cookieconsent")
    page = context("en").new_page()
    page.goto(site.url + "/en/")
    dialog(page).wait_for(state="visible")
    # The dialog comes first: Choose opens the categories, Space ticks one, Save records it.
    tab_to(page, "choose", 6)
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.dataset.category") == "analytics"
    page.keyboard.press("Space")
    tab_to(page, "save", 4)
    page.keyboard.press("Enter")
    dialog(page).wait_for(state="hidden")
    until(
        lambda: site.db.scalar("SELECT COUNT(*) FROM consent_cookieconsent") == before + 1,
        10,
        "the choice is recorded",
    )
    last = site.db.rows("SELECT action, granted FROM consent_cookieconsent ORDER BY at DESC")[0]
    assert last[0] == "custom" and "analytics" in str(last[1])
    # The footer's link opens it again, from the keyboard, and Escape closes it.
    page.locator("[data-cc-open]").focus()
    page.keyboard.press("Enter")
    dialog(page).wait_for(state="visible")
    page.keyboard.press("Escape")
    dialog(page).wait_for(state="hidden")
    assert page.evaluate("document.activeElement.hasAttribute('data-cc-open')")


@pytest.mark.promise("P24")
def test_a_rights_request_is_made_with_the_keyboard_alone(world, context):
    """Access to one's data, asked for and confirmed from the privacy centre with the code
    from the e-mail, without a pointer."""
    site, inbox = world["site"], world["inbox"]
    page = context("en").new_page()
    page.goto(site.url + "/en/privacy/")
    dialog(page).wait_for(state="visible")
    tab_to(page, "reject", 4)
    page.keyboard.press("Enter")
    dialog(page).wait_for(state="hidden")
    # The first radio of the group takes the focus; the arrow keys choose within it.
    radios = page.locator("input[type=radio]")
    first = radios.first.get_attribute("value")
    tab_to(page, "kind", 40)
    assert page.evaluate("document.activeElement.value") == first
    page.keyboard.press("Space")
    assert page.evaluate("document.activeElement.checked")
    tab_to(page, "email", 10)
    page.keyboard.type("tilgjengelig@example.com")

    def codes() -> list[Any]:
        return [m for m in inbox.to("tilgjengelig@example.com") if re.search(r"\b\d{6}\b", m.text)]

    earlier = codes()
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/en/privacy/verify/"))
    mail = until(
        lambda: codes()[len(earlier) :],
        30,
        "the code arrives",
    )[-1]
    code = re.search(r"\b(\d{6})\b", mail.text).group(1)
    tab_to(page, "code", 10)
    page.keyboard.type(code)
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/en/privacy/confirm/"))
    tab_to(page, "button[submit]", 15)
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/en/privacy/requests/"))
    assert re.fullmatch(r"R-[0-9A-F]{4}-[0-9A-F]{4}", page.locator("dd code").inner_text())
    assert (first,) in site.db.rows("SELECT kind FROM rights_rightsrequest")


def test_the_check_finds_what_it_looks_for(world, context):
    """The check can fail: a picture without words and pale text are found on the same page."""
    page = context("nb").new_page()
    page.goto(world["site"].url + "/cookies/")
    page.evaluate(
        """() => {
          const img = document.createElement("img");
          img.src = "/static/nothing.png";
          document.querySelector("main").append(img);
          const pale = document.createElement("p");
          pale.textContent = "Blek tekst";
          pale.style.color = "#dddddd";
          document.querySelector("main").append(pale);
        }"""
    )
    found = " ".join(violations(page))
    assert "image-alt" in found and "color-contrast" in found


# --- The console -----------------------------------------------------------------------------

SKIP = re.compile(r"/console/(logout|password_change|r)/|/delete/|/history/")


@pytest.fixture(scope="module")
def staffed(world) -> dict[str, Any]:
    """The site of `world` with one staff member per role, a contact message and a rights
    request (so the lists have a row to open)."""
    from tests.e2e.conftest import StaffMember

    site = world["site"]
    person = Visitor(site.url)
    form = person.http.get("/contact/")
    from tests.e2e.conftest import csrf_token

    person.http.post(
        "/contact/",
        data={
            "email": "tilgjengelig@example.com",
            "message": "Et spørsmål om kontoen min.",
            "csrfmiddlewaretoken": csrf_token(form.text),
        },
    )
    person.close()
    return {
        **world,
        "staff": {
            role: StaffMember(site, name, role)
            for role, name in (
                ("support", "a11y-support"),
                ("privacy_officer", "a11y-personvern"),
                ("administrator", "a11y-drift"),
            )
        },
    }


def console_pages(page: Any, site_url: str) -> list[str]:
    """Every console page a role reaches from its menus: each list, the first thing in it,
    and the form to add one."""
    page.goto(site_url + "/console/")
    menus = page.eval_on_selector_all(
        "#content-main a[href^='/console/']", "links => links.map(a => a.getAttribute('href'))"
    )
    seen: list[str] = ["/console/"]
    for href in dict.fromkeys(menus):
        if SKIP.search(href) or href in seen:
            continue
        seen.append(href)
        page.goto(site_url + href)
        for selector in ("#result_list tbody th a", "#result_list tbody td a", "a.addlink"):
            more = page.locator(selector).first
            if more.count():
                target = more.get_attribute("href")
                if target and target.startswith("/console/") and target not in seen:
                    seen.append(target.split("?")[0] if "add" in target else target)
    return seen


@pytest.mark.parametrize("lang", ["nb", "en"])
@pytest.mark.parametrize("role", ["support", "privacy_officer", "administrator"])
def test_every_console_page_meets_wcag_22_aa(staffed, browser, role, lang):
    site, member = staffed["site"], staffed["staff"][role]
    # Each starts in English (the sign-in helper reads English); nb is one button away. The
    # same code may sign in again within its 30 seconds (a code is otherwise taken once).
    for table, column in (("console_staffprofile", None), ("otp_totp_totpdevice", "last_t")):
        verb = f"UPDATE {table} SET {column} = -1" if column else f"DELETE FROM {table}"
        site.db.execute(
            f"{verb} WHERE user_id = (SELECT id FROM auth_user WHERE username = %s)",
            member.username,
        )
    context, page = member.sign_in(browser, site.url)
    try:
        if lang == "nb":
            page.locator(".console-language button").click()
            page.wait_for_load_state()
        found: list[str] = []
        visited = console_pages(page, site.url)
        for path in visited:
            page.goto(site.url + path)
            found += violations(page)
        assert len(visited) > 3, visited
        assert found == [], "\n".join(found)
    finally:
        context.close()


def test_the_consoles_sign_in_meets_wcag_22_aa(world, context):
    page = context("en").new_page()
    page.goto(world["site"].url + "/console/login/")
    found = violations(page)
    page.locator("input[type=submit]").click()
    page.wait_for_load_state()
    assert found + violations(page) == []
