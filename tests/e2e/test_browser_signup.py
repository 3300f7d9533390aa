"""Signing up with the keyboard alone, in a real browser (headless Chromium through Playwright)
against a real `tillit web`: the fields come in order, the hidden honeypot is never reached,
the page answers in the language of the address, and nothing errs in the console."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from tests.e2e.conftest import CHROMIUM, Console, Operator, throwaway_database

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.browser,
    pytest.mark.timeout(120),
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"no Chromium at {CHROMIUM}"),
]

ACTIVE = """() => {
  const e = document.activeElement;
  if (!e || e === document.body) return "";
  return e.name || e.id || `${e.tagName.toLowerCase()}${e.type ? "[" + e.type + "]" : ""}`;
}"""


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Iterator[Operator]:
    """`tillit web` with a partner for Norway. No worker runs: nothing is sent anywhere."""
    with throwaway_database() as url:
        operator = Operator(tmp_path_factory.mktemp("browser"), url, None, {})
        try:
            operator.init()
            operator.add_unreachable_partner()
            operator.start_web()
            yield operator
        finally:
            operator.stop_all()


def tab_to(page, name: str, most: int, passed: list[str]) -> None:
    """Press Tab until `name` has the focus (at most `most` presses), noting every stop."""
    for _ in range(most):
        page.keyboard.press("Tab")
        passed.append(page.evaluate(ACTIVE))
        if passed[-1] == name:
            return
    raise AssertionError(f"Tab never reached {name!r}; it stopped at {passed}")


CASES = {
    "nb": dict(
        path="/",
        locale="nb-NO",
        country="Norge",
        sent="/sent/",
        heading="Sjekk e-posten din",
        email="tastatur.nb@example.com",
    ),
    "en": dict(
        path="/en/",
        locale="en-GB",
        country="Norway",
        sent="/en/sent/",
        heading="Check your e-mail",
        email="keyboard.en@example.com",
    ),
}


@pytest.mark.promise("P3")
@pytest.mark.parametrize("lang", ["nb", "en"])
def test_a_person_signs_up_with_the_keyboard_alone(site, browser, lang):
    case = CASES[lang]
    context = browser.new_context(locale=case["locale"])
    context.set_default_timeout(15_000)
    try:
        page = context.new_page()
        console = Console(page)
        page.goto(site.url + case["path"])
        assert page.locator("html").get_attribute("lang") == lang

        stops: list[str] = []
        # The cookie dialog comes first and holds the focus; a keyboard user answers it.
        page.get_by_role("dialog").wait_for(state="visible")
        tab_to(page, "button[button]", 3, stops)
        assert page.evaluate("document.activeElement.dataset.cc") == "reject"
        page.keyboard.press("Enter")
        page.get_by_role("dialog").wait_for(state="hidden")
        stops.clear()
        # From the top of the page: past the skip link and the header to the first field.
        tab_to(page, "name", 6, stops)
        page.keyboard.type("Kari Tastatur")
        # Each field is the next Tab stop, in the order they are shown.
        for field, text in [
            ("email", case["email"]),
            ("country", case["country"]),
            ("phone", "912 34 567"),
        ]:
            page.keyboard.press("Tab")
            assert page.evaluate(ACTIVE) == field, f"after {stops}, Tab went elsewhere"
            stops.append(field)
            page.keyboard.type(text)
        assert page.locator("#id_country").input_value() == "NO"
        # The honeypot is skipped: the next stop is the first consent box.
        for box in ("consent_partner", "consent_offers"):
            page.keyboard.press("Tab")
            assert page.evaluate(ACTIVE) == box, f"after {stops}, Tab went elsewhere"
            stops.append(box)
            page.keyboard.press("Space")
            assert page.locator(f"#id_{box}").is_checked()
        tab_to(page, "button[submit]", 3, stops)  # past the privacy policy link
        assert "website" not in stops, f"the hidden honeypot took the focus: {stops}"

        page.keyboard.press("Enter")
        page.wait_for_url(re.compile(re.escape(site.url + case["sent"]) + "$"))
        assert page.locator("h1").inner_text() == case["heading"]
        assert page.locator("html").get_attribute("lang") == lang
        assert console.errors == []
    finally:
        context.close()
    # The sign-up was sealed for the worker, which records it in the language the person used.
    assert site.db.scalar("SELECT COUNT(*) FROM vault_envelope WHERE purpose = 'intake'")
    site.command("worker", "--drain")
    assert (lang,) in site.db.rows("SELECT language FROM subjects_subject")


@pytest.mark.promise("P3")
def test_the_language_link_switches_from_norwegian_to_english_in_one_click(site, browser):
    context = browser.new_context(locale="nb-NO")
    context.set_default_timeout(15_000)
    try:
        page = context.new_page()
        console = Console(page)
        page.goto(site.url + "/")
        assert page.locator("h1").inner_text() == "Registrer deg"
        link = page.locator("a.lang")
        assert link.inner_text() == "English"
        link.click()
        page.wait_for_url(site.url + "/en/")
        assert page.locator("html").get_attribute("lang") == "en"
        assert page.locator("h1").inner_text() == "Sign up"
        assert console.errors == []
    finally:
        context.close()
