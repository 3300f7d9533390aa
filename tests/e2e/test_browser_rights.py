"""The privacy centre in a real browser: a person who signed up stops offer notifications,
proving the address with the code from a real SMTP server, using the keyboard and the page's
own words only."""

from __future__ import annotations

import re

import pytest

from tests.e2e.conftest import CHROMIUM, CONFIRM_LINK, Console, until

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.browser,
    pytest.mark.timeout(180),
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"no Chromium at {CHROMIUM}"),
]


@pytest.mark.promise("P31")
@pytest.mark.promise("P11")
def test_a_person_stops_offers_from_the_privacy_centre(
    make_operator, reference, smtp, visitors, browser
):
    site = make_operator(smtp_port=smtp.port)
    site.add_reference_partner(reference)
    site.start_web()
    site.start_worker()
    person = visitors(site.url)
    person.sign_up(
        {
            "name": "Kari Rettighet",
            "email": "rettighet@example.com",
            "country": "NO",
            "phone": "",
            "consent_partner": "on",
            "consent_offers": "on",
        }
    )
    person.confirm(smtp.wait_for("rettighet@example.com").link(CONFIRM_LINK))

    context = browser.new_context(locale="nb-NO")
    context.set_default_timeout(15_000)
    try:
        page = context.new_page()
        console = Console(page)
        page.goto(site.url + "/")
        page.get_by_role("dialog").get_by_role("button", name="Avslå alle").click()
        page.get_by_role("link", name="Dine personvernrettigheter").click()
        page.get_by_role("heading", name="Dine personvernrettigheter").wait_for()
        # Where to complain (also named under the person's law, further up the page).
        complaints = page.get_by_role("listitem").filter(has_text="Datatilsynet, Postboks 458")
        assert complaints.is_visible()
        page.get_by_role("radio", name="Stoppe varsler om tilbud").check()
        page.get_by_label("E-postadressen din").fill("rettighet@example.com")
        page.get_by_role("button", name="Send meg en kode").click()
        page.get_by_role("heading", name="Skriv inn koden").wait_for()
        mail = until(
            lambda: [m for m in smtp.to("rettighet@example.com") if "Koden din" in m.subject],
            30,
            "the code arrives",
        )[-1]
        code = re.search(r"\b(\d{6})\b", mail.text).group(1)
        field = page.get_by_label("Koden fra e-posten")
        field.fill(code)
        field.press("Enter")
        page.get_by_role("button", name="Send forespørselen").click()
        page.get_by_role("heading", name="Forespørselen er mottatt").wait_for()
        reference = page.locator("dd code").inner_text()
        assert re.fullmatch(r"R-[0-9A-F]{4}-[0-9A-F]{4}", reference)
        assert console.errors == []
    finally:
        context.close()
    offers = site.db.rows(
        "SELECT action FROM consent_consentrecord WHERE purpose = 'offers' ORDER BY at"
    )
    assert [a for (a,) in offers] == ["given", "withdrawn"]
    received = until(
        lambda: [m for m in smtp.to("rettighet@example.com") if reference in m.subject],
        30,
        "the receipt of the request arrives",
    )
    assert received
